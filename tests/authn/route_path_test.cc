// Tests for service/authn/route_path.h (the readings of a request path) and
// Policy::MatchAll (one route for every reading, or path_ambiguous), with a
// property test against the naive model in tests/testing/route_path_reference.h.
#include "service/authn/route_path.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/authn/policy.h"
#include "tests/testing/route_path_reference.h"
#include "tests/testing/test_seed.h"

namespace popguard {
namespace {

std::vector<std::string> ReadingsOf(std::string_view path) {
  const RoutePathReadings readings(path);
  std::vector<std::string> out;
  if (!readings.valid()) return out;
  for (size_t i = 0; i < readings.size(); ++i) out.emplace_back(readings[i]);
  return out;
}

class RoutePathTest : public ::testing::Test {
 protected:
  // The two routes, plus a case-insensitive one and a "/"-ended one.
  static Config TestConfig() {
    Config config;
    auto route = [](std::string name, std::string prefix, bool case_insensitive) {
      RouteConfig r;
      r.name = std::move(name);
      r.match.path_prefix = std::move(prefix);
      r.match.case_insensitive = case_insensitive;
      return r;
    };
    config.routes = {route("public", "/public", false), route("admin", "/admin", false),
                     route("secure", "/secure", true), route("static", "/static/", false)};
    return config;
  }
  static std::vector<reference::Route> ReferenceRoutes() {
    std::vector<reference::Route> out;
    for (const RouteConfig& r : TestConfig().routes) {
      out.push_back({r.name, r.match.path_prefix, r.match.case_insensitive});
    }
    return out;
  }
  // The route name MatchAll picks, or "path_ambiguous".
  std::string Selected(std::string_view path) const {
    const RouteConfig* route = policy_.MatchAll("api.example", RoutePathReadings(path), "");
    return route == nullptr ? "path_ambiguous" : route->name;
  }

  const Policy policy_{TestConfig()};
};

TEST_F(RoutePathTest, Readings) {
  const struct {
    const char* path;
    std::vector<std::string> want;  // distinct readings, in order; empty: not valid
  } cases[] = {
      // Plain paths: one reading, the path itself.
      {"/admin/x", {"/admin/x"}},
      {"/admin/x?q=%2F..;", {"/admin/x"}},
      {"", {"/"}},
      {"/", {"/"}},
      {"/a.b/..c/.../c.", {"/a.b/..c/.../c."}},
      // Dot segments: as sent, and resolved.
      {"/public/../admin", {"/public/../admin", "/admin"}},
      {"/admin/./x", {"/admin/./x", "/admin/x"}},
      // Unreserved triplets decoded by RFC 3986 only.
      {"/%61dmin", {"/%61dmin", "/admin"}},
      // Encoded separators: kept by RFC 3986, separators for some upstreams.
      {"/admin/..%2Fpublic/x", {"/admin/..%2Fpublic/x", "/public/x"}},
      {"/admin/%2e%2e%2Fpublic/x",
       {"/admin/%2e%2e%2Fpublic/x", "/admin/..%2Fpublic/x", "/public/x"}},
      {"/admin/..%5Cpublic/x", {"/admin/..%5Cpublic/x", "/public/x"}},
      {"/a%2fb", {"/a%2fb", "/a%2Fb", "/a/b"}},
      // ";params" dropped per segment.
      {"/admin/..;/public/x", {"/admin/..;/public/x", "/public/x"}},
      {"/admin;/../public/x", {"/admin;/../public/x", "/public/x"}},
      {"/a;p=1/b", {"/a;p=1/b", "/a/b"}},
      // Repeated slashes merged by the separator readings.
      {"//admin", {"//admin", "/admin"}},
      {"/x/..%2F..%2Fpublic", {"/x/..%2F..%2Fpublic", "/public"}},
      // Not valid: bad percent-encoding, or a '\' (not a URL path character).
      {"/a%2", {}},
      {"/a%zz", {}},
      {"/admin\\..\\public", {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    EXPECT_EQ(ReadingsOf(c.path), c.want);
  }
}

TEST_F(RoutePathTest, PathAsSent) {
  const struct {
    const char* url;
    const char* want;
  } cases[] = {
      {"https://api.example/admin/..%2Fx?q=1#f", "/admin/..%2Fx"},
      {"https://api.example", ""},
      {"https://api.example?q=/x", ""},
      {"HTTP://api.example:8080//a", "//a"},
      {"no-authority/x", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    EXPECT_EQ(PathAsSent(c.url), c.want);
  }
}

// The attack paths of issue 10 item 1 (each ALLOWED as route "public" before)
// and their honest neighbours.
TEST_F(RoutePathTest, MatchAll) {
  const struct {
    const char* path;
    const char* want;
  } cases[] = {
      {"/admin/..%2Fpublic/x", "path_ambiguous"},
      {"/admin/%2e%2e%2Fpublic/x", "path_ambiguous"},
      {"/admin/..;/public/x", "path_ambiguous"},
      {"/admin/..%5Cpublic/x", "path_ambiguous"},
      {"/admin;/../public/x", "path_ambiguous"},
      {"/admin/x/..%2F..%2Fpublic", "path_ambiguous"},
      {"/public/../admin", "path_ambiguous"},
      {"/%61dmin", "path_ambiguous"},
      {"//admin", "path_ambiguous"},
      {"/admin%2Fx", "path_ambiguous"},
      {"/a%2", "path_ambiguous"},
      // ";params" on the prefix segment: "/admin;jsessionid=1" is not "/admin"
      // as sent, but is once params are dropped.
      {"/admin;jsessionid=1/x", "path_ambiguous"},
      // Readings that differ but agree on the route.
      {"/admin/a%2Fb", "admin"},
      {"/admin/x/../y", "admin"},
      {"/admin/x;v=1", "admin"},
      {"/public//x", "public"},
      {"/public/%7Euser", "public"},
      {"/other/..%2Fnothing", "default"},
      // Case: exact unless the route says case_insensitive.
      {"/ADMIN/x", "default"},
      {"/SECURE/x", "secure"},
      {"/Secure", "secure"},
      {"/securex", "default"},
      // Plain paths, as before.
      {"/admin", "admin"},
      {"/admin/x?next=/public", "admin"},
      {"/administrator", "default"},
      {"/static/app.css", "static"},
      {"/static", "default"},
      {"", "default"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    EXPECT_EQ(Selected(c.path), c.want);
  }
}

// Property: for random paths rich in separators, dots, encodings, params and
// route names in several cases, MatchAll returns the route that every
// reading selects in the reference model, and refuses exactly the paths
// whose readings disagree. The seed is TestSeed()'s (POPGUARD_TEST_SEED
// reproduces a run; POPGUARD_LONG_TESTS=1 draws a million paths).
TEST_F(RoutePathTest, PropertyEveryReadingSelectsTheChosenRoute) {
  std::mt19937_64 rng(testing_support::TestSeed());
  static const std::vector<std::string> kPieces = {
      "/",       "/",      "/",      ".",      "..",     "%2F",    "%2f",   "%5C",
      "%5c",     "\\",     ";",      ";x=1",   "%2e",    "%2E%2e", "admin", "ADMIN",
      "Admin",   "public", "PUBLIC", "secure", "SeCuRe", "static", "x",     "%61",
      "%41dmin", "%3B",    "%25",    "?",      "~"};
  const std::vector<reference::Route> routes = ReferenceRoutes();
  int ambiguous = 0;
  const int kPaths = testing_support::LongTests() ? 1000000 : 20000;
  for (int i = 0; i < kPaths; ++i) {
    std::string path = "/";
    const int pieces = std::uniform_int_distribution<int>(0, 10)(rng);
    for (int p = 0; p < pieces; ++p) {
      path += kPieces[std::uniform_int_distribution<size_t>(0, kPieces.size() - 1)(rng)];
    }
    const std::string path_only = path.substr(0, path.find('?'));
    const std::optional<std::string> want = reference::ExpectedRoute(routes, path_only);
    const std::string got = Selected(path);
    ASSERT_EQ(got, want.value_or("path_ambiguous")) << "path " << path;
    ambiguous += got == "path_ambiguous";
  }
  // The generator must exercise both outcomes.
  EXPECT_GT(ambiguous, kPaths / 20);
  EXPECT_LT(ambiguous, kPaths - kPaths / 20);
}

}  // namespace
}  // namespace popguard
