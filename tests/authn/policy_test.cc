// Tests for service/authn/policy.h: route selection (first match wins, every
// non-empty match field must match) and scope checks.
#include "service/authn/policy.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace popguard {
namespace {

RouteConfig Route(std::string name, std::string host, std::string path_prefix,
                  std::string route_key, BindingRequirement binding = BindingRequirement::kBound) {
  RouteConfig r;
  r.name = std::move(name);
  r.match.host = std::move(host);
  r.match.path_prefix = std::move(path_prefix);
  r.match.route_key = std::move(route_key);
  r.binding = binding;
  return r;
}

Config TestConfig() {
  Config config;
  config.routes = {
      Route("admin-host", "admin.example", "", ""),
      Route("wild", "*.tenants.example", "/api", ""),
      Route("admin-path", "", "/admin", ""),
      Route("static", "", "/static/", ""),
      Route("keyed", "", "", "grpc-payments"),
      Route("combo", "api.example", "/v1", "k1"),
      Route("ipv6", "[::1]", "", ""),
  };
  config.default_binding = BindingRequirement::kDpop;
  config.default_report_only = true;
  return config;
}

TEST(PolicyTest, MatchTable) {
  const Policy policy(TestConfig());
  const struct {
    std::string host, path, route_key, want;
  } cases[] = {
      // host: exact, case-insensitive, port and one trailing dot ignored.
      {"admin.example", "/anything", "", "admin-host"},
      {"ADMIN.Example:8443", "/", "", "admin-host"},
      {"admin.example.", "/", "", "admin-host"},
      {"admin.example.:443", "/", "", "admin-host"},
      {"xadmin.example", "/", "", "default"},
      {"admin.example.com", "/", "", "default"},
      // First match wins: admin-host precedes admin-path.
      {"admin.example", "/admin", "", "admin-host"},
      // Wildcard: strict subdomains only, and the path must match too.
      {"x.tenants.example", "/api/v1", "", "wild"},
      {"A.B.Tenants.Example:443", "/api", "", "wild"},
      {"tenants.example", "/api", "", "default"},
      {"xtenants.example", "/api", "", "default"},
      {".tenants.example", "/api", "", "default"},
      {"x.tenants.example", "/apix", "", "default"},
      {"x.tenants.example", "/", "", "default"},
      // Segment-aware prefix.
      {"other.example", "/admin", "", "admin-path"},
      {"other.example", "/admin/", "", "admin-path"},
      {"other.example", "/admin/users", "", "admin-path"},
      {"other.example", "/administrator", "", "default"},
      {"other.example", "/admin%2Fx", "", "default"},
      {"other.example", "/Admin", "", "default"},
      {"", "/admin", "", "admin-path"},
      // A prefix ending in "/" needs the slash.
      {"other.example", "/static/app.css", "", "static"},
      {"other.example", "/static/", "", "static"},
      {"other.example", "/static", "", "default"},
      {"other.example", "/staticx", "", "default"},
      // route_key: exact.
      {"other.example", "/", "grpc-payments", "keyed"},
      {"other.example", "/", "GRPC-PAYMENTS", "default"},
      {"other.example", "/", "grpc-payments2", "default"},
      // Every non-empty field must match.
      {"api.example", "/v1/x", "k1", "combo"},
      {"api.example:443", "/v1", "k1", "combo"},
      {"api.example", "/v1/x", "", "default"},
      {"api.example", "/v2", "k1", "default"},
      {"www.api.example", "/v1", "k1", "default"},
      // IPv6 literal with and without port.
      {"[::1]:8080", "/", "", "ipv6"},
      {"[::1]", "/", "", "ipv6"},
      {"[::2]", "/", "", "default"},
      {"", "/", "", "default"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.host + " " + c.path + " " + c.route_key);
    EXPECT_EQ(policy.Match(c.host, c.path, c.route_key).name, c.want);
  }
}

TEST(PolicyTest, DefaultRouteComesFromConfig) {
  const Policy policy(TestConfig());
  const RouteConfig& route = policy.Match("nowhere.example", "/", "");
  EXPECT_EQ(&route, &policy.default_route());
  EXPECT_EQ(route.name, "default");
  EXPECT_EQ(route.binding, BindingRequirement::kDpop);
  EXPECT_TRUE(route.report_only);
  EXPECT_TRUE(route.scopes.empty());
  EXPECT_TRUE(route.match.host.empty());

  const Policy strict{Config()};
  EXPECT_EQ(strict.Match("a", "/", "").binding, BindingRequirement::kBound);
  EXPECT_FALSE(strict.Match("a", "/", "").report_only);
}

TEST(PolicyTest, EmptyMatchMatchesEverything) {
  Config config;
  config.routes = {Route("all", "", "", "", BindingRequirement::kBearer),
                   Route("never", "", "", "")};
  const Policy policy(config);
  EXPECT_EQ(policy.Match("", "", "").name, "all");
  EXPECT_EQ(policy.Match("x.example", "/deep/path", "key").name, "all");
}

TEST(PolicyTest, RootPrefixMatchesAllPaths) {
  Config config;
  config.routes = {Route("root", "", "/", "")};
  const Policy policy(config);
  EXPECT_EQ(policy.Match("a", "/", "").name, "root");
  EXPECT_EQ(policy.Match("a", "/x/y", "").name, "root");
}

TEST(PolicyTest, CopiesRoutesAndLowerCasesHandBuiltHosts) {
  std::unique_ptr<Policy> policy;
  {
    Config config;
    RouteConfig r = Route("upper", "API.Example.", "/x", "", BindingRequirement::kMtls);
    r.scopes = {"read", "write"};
    r.report_only = true;
    config.routes = {r};
    policy = std::make_unique<Policy>(config);
  }  // config destroyed: Policy must not refer to it
  const RouteConfig& route = policy->Match("api.example", "/x", "");
  EXPECT_EQ(route.name, "upper");
  EXPECT_EQ(route.binding, BindingRequirement::kMtls);
  EXPECT_EQ(route.scopes, (std::vector<std::string>{"read", "write"}));
  EXPECT_TRUE(route.report_only);
  EXPECT_EQ(policy->Match("*.example", "/x", "").name, "default");
}

TEST(RouteWarningsTest, ShadowedRoutes) {
  auto ci = [](RouteConfig r) {
    r.match.case_insensitive = true;
    return r;
  };
  const struct {
    const char* name;
    std::vector<RouteConfig> routes;
    std::vector<std::string> shadowed;  // names of the routes warned about
  } cases[] = {
      {"identical",
       {Route("a", "h.example", "/x", "k"), Route("b", "h.example", "/x", "k")},
       {"b"}},
      {"catch-all first", {Route("all", "", "", ""), Route("b", "h.example", "/x", "")}, {"b"}},
      {"slash prefix first", {Route("all", "", "/", ""), Route("b", "", "/x", "")}, {"b"}},
      {"deeper prefix", {Route("a", "", "/admin", ""), Route("b", "", "/admin/users", "")}, {"b"}},
      {"slash-ended deeper", {Route("a", "", "/admin", ""), Route("b", "", "/admin/", "")}, {"b"}},
      {"wildcard covers host",
       {Route("a", "*.example", "", ""), Route("b", "x.example", "", "")},
       {"b"}},
      {"wildcard covers wildcard",
       {Route("a", "*.example", "", ""), Route("b", "*.x.example", "", "")},
       {"b"}},
      {"case-insensitive first",
       {ci(Route("a", "", "/Admin", "")), Route("b", "", "/admin/x", "")},
       {"b"}},
      // Not shadowed.
      {"more specific first",
       {Route("a", "", "/admin/users", ""), Route("b", "", "/admin", "")},
       {}},
      {"sibling prefix", {Route("a", "", "/admin", ""), Route("b", "", "/administrator", "")}, {}},
      {"slash-ended first", {Route("a", "", "/admin/", ""), Route("b", "", "/admin", "")}, {}},
      {"other host", {Route("a", "a.example", "", ""), Route("b", "b.example", "", "")}, {}},
      {"wildcard not apex", {Route("a", "*.example", "", ""), Route("b", "example", "", "")}, {}},
      {"any host later", {Route("a", "a.example", "/x", ""), Route("b", "", "/x", "")}, {}},
      {"route key", {Route("a", "", "/x", "k1"), Route("b", "", "/x", "k2")}, {}},
      {"case-insensitive later",
       {Route("a", "", "/admin", ""), ci(Route("b", "", "/admin", ""))},
       {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Config config;
    config.routes = c.routes;
    std::vector<std::string> warnings;
    AppendRouteWarnings(config, &warnings);
    std::vector<std::string> want;
    for (const std::string& name : c.shadowed) {
      const size_t index = name == "b" ? 1 : 0;
      want.push_back("route \"" + name + "\" (routes[" + std::to_string(index) +
                     "]) can never match: earlier route \"" + c.routes[0].name +
                     "\" takes every request it matches");
    }
    EXPECT_EQ(warnings, want);
  }
}

TEST(IssuerAllowedTest, Table) {
  RouteConfig any;
  RouteConfig listed;
  listed.issuers = {"https://a.example", "https://b.example"};
  EXPECT_TRUE(IssuerAllowed(any, "https://x.example"));
  EXPECT_TRUE(IssuerAllowed(listed, "https://b.example"));
  EXPECT_FALSE(IssuerAllowed(listed, "https://x.example"));
  EXPECT_FALSE(IssuerAllowed(listed, "https://A.example"));  // exact, like issuers[].issuer
  EXPECT_FALSE(IssuerAllowed(listed, "https://a.example/"));
}

TEST(ScopesSatisfiedTest, Table) {
  using V = std::vector<std::string>;
  const struct {
    V required, granted;
    bool want;
  } cases[] = {
      {{}, {}, true},
      {{}, {"read"}, true},
      {{"read"}, {}, false},
      {{"read"}, {"read"}, true},
      {{"read"}, {"write", "read"}, true},
      {{"read", "write"}, {"read"}, false},
      {{"read", "write"}, {"write", "admin", "read"}, true},
      {{"read"}, {"READ"}, false},
      {{"read"}, {"read:all"}, false},
      {{"read"}, {"read write"}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.required) + " in " +
                 ::testing::PrintToString(c.granted));
    EXPECT_EQ(ScopesSatisfied(c.required, c.granted), c.want);
  }
}

}  // namespace
}  // namespace popguard
