// The config value checks of service/config/validate.h, called directly: each
// table lists values with the exact error (empty: accepted). The same checks
// seen through whole config files are in config_test.cc.
#include "service/config/validate.h"

#include <string>

#include "gtest/gtest.h"

namespace popguard::config_internal {
namespace {

struct StatusCase {
  std::string value;
  std::string error;  // "" when the value is accepted
};

std::string ErrorOf(const absl::Status& status) {
  return status.ok() ? "" : std::string(status.message());
}

TEST(ConfigValidateTest, CheckListen) {
  const StatusCase kCases[] = {
      {"127.0.0.1:9001", ""},
      {"[::]:0", ""},
      {"popguard-0.svc:65535", ""},
      {"127.0.0.1", "listen: \"127.0.0.1\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
      {"127.0.0.1:65536",
       "listen: \"127.0.0.1:65536\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
      {"a:b:1", "listen: \"a:b:1\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
      {"[::1]9001", "listen: \"[::1]9001\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
      {":9001", "listen: \":9001\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
      {"[zz]:1", "listen: \"[zz]:1\" is not host:port (e.g. 127.0.0.1:9001, [::]:9001)"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckListen(c.value, "listen")), c.error);
  }
}

TEST(ConfigValidateTest, IsHostAndPortRefusesPortZeroUnlessAllowed) {
  EXPECT_TRUE(IsHostAndPort("redis:6379", /*allow_zero_port=*/false));
  EXPECT_FALSE(IsHostAndPort("redis:0", /*allow_zero_port=*/false));
  EXPECT_TRUE(IsHostAndPort("redis:0", /*allow_zero_port=*/true));
  EXPECT_FALSE(IsHostAndPort("redis", /*allow_zero_port=*/true));
}

TEST(ConfigValidateTest, CheckLogLevel) {
  const StatusCase kCases[] = {
      {"debug", ""},
      {"info", ""},
      {"warn", ""},
      {"error", ""},
      {"INFO", "log_level: \"INFO\" is not one of debug, info, warn, error"},
      {"", "log_level: \"\" is not one of debug, info, warn, error"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckLogLevel(c.value, "log_level")), c.error);
  }
}

TEST(ConfigValidateTest, CheckIssuer) {
  const StatusCase kCases[] = {
      {"https://issuer.example", ""},
      {"http://issuer.example/tenant?x", ""},
      {"", "iss: must not be empty"},
      {"issuer.example", "iss: \"issuer.example\" must be an https:// (or http://) URL"},
      {"HTTPS://issuer.example",
       "iss: \"HTTPS://issuer.example\" must be an https:// (or http://) URL"},
      {"https:///x", "iss: \"https:///x\" has no host"},
      {"https://issuer.example/a b", "iss: must not contain whitespace"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckIssuer(c.value, "iss")), c.error);
  }
}

TEST(ConfigValidateTest, CheckFetchUrl) {
  const StatusCase kCases[] = {
      {"https://keys.example/jwks.json", ""},
      {"https://keys.example/jwks?v=2", ""},
      {"http://keys.example/jwks",
       "u: \"http://keys.example/jwks\" is plain http://; use https:// (allow_http: true is for "
       "local testing only)"},
      {"ftp://keys.example", "u: \"ftp://keys.example\" must be an https:// URL"},
      {"https://?x", "u: \"https://?x\" has no host"},
      {"https://user:pw@keys.example/", "u: must not carry userinfo (user:password@)"},
      {"https://keys.example/jwks#frag", "u: must not have a fragment"},
      {"https://keys.example/a\tb", "u: must not contain whitespace"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckFetchUrl(c.value, /*allow_http=*/false, "u")), c.error);
  }
  EXPECT_EQ(ErrorOf(CheckFetchUrl("http://127.0.0.1:8080/jwks", /*allow_http=*/true, "u")), "");
}

TEST(ConfigValidateTest, CheckResourceUrl) {
  const StatusCase kCases[] = {
      {"https://api.example", ""},
      {"https://api.example:8443/v1/", ""},
      {"https://api.example/v1?", "r: must not have a query"},
      {"https://api.example/?a=1", "r: must not have a query"},
      {"https://api.example/#a", "r: must not have a fragment"},
      {"http://api.example", "r: \"http://api.example\" must be an https:// URL"},
      {"api.example", "r: \"api.example\" must be an https:// URL"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckResourceUrl(c.value, "r")), c.error);
  }
}

TEST(ConfigValidateTest, NormalizeOrigin) {
  struct Case {
    std::string value;
    std::string origin;  // "" when refused
  };
  const Case kCases[] = {
      {"https://api.example", "https://api.example"},
      {"HTTPS://API.Example:443/", "https://api.example"},
      {"http://api.example:80", "http://api.example"},
      {"https://api.example:8443", "https://api.example:8443"},
      {"https://[::1]:8443", "https://[::1]:8443"},
      {"https://api.example/v1", ""},
      {"https://api.example//", ""},
      {"https://api.example?x", ""},
      {"https://api.example#x", ""},
      {"https://u@api.example", ""},
      {"ftp://api.example", ""},
      {"https://api.example:0", ""},
      {"https://api.example:", ""},
      {"https://api example", ""},
      {"https://", ""},
      {"https://[1:2]", ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.value);
    absl::StatusOr<NormalizedUrl> url = NormalizeOrigin(c.value, "external_origin");
    if (c.origin.empty()) {
      ASSERT_FALSE(url.ok());
      EXPECT_EQ(url.status().message(),
                "external_origin: \"" + c.value +
                    "\" must be http(s)://host[:port] with no path, query or user");
    } else {
      ASSERT_TRUE(url.ok()) << url.status();
      EXPECT_EQ(url->Origin(), c.origin);
      EXPECT_EQ(url->path, "/");
    }
  }
}

TEST(ConfigValidateTest, CheckPathPrefix) {
  const StatusCase kCases[] = {
      {"", ""},
      {"/api/v1", ""},
      {"/files/%20x/", ""},
      {"api", "p: must start with \"/\" (route \"r\")"},
      {"/a?b", "p: must be a path only (no query, fragment, spaces or non-ASCII) (route \"r\")"},
      {"/a;b",
       "p: must not contain '\\' or ';' (upstreams read them as a separator or parameters, so "
       "the prefix could never match) (route \"r\")"},
      {"/a//b",
       "p: must not contain \"//\" (merged by upstreams, so it could never match) (route \"r\")"},
      {"/a%2fb",
       "p: must not contain %2F or %5C (decoded as separators by upstreams, so the prefix could "
       "never match) (route \"r\")"},
      {"/a%zz", "p: percent-encoding must be %XX with upper-case hex digits (route \"r\")"},
      {"/a%41",
       "p: must not percent-encode letters, digits or -._~ (write them as is) (route \"r\")"},
      {"/a/../b", "p: must not contain . or .. segments (route \"r\")"},
  };
  for (const StatusCase& c : kCases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ErrorOf(CheckPathPrefix(c.value, "p", "r")), c.error);
  }
}

struct NameCase {
  std::string value;
  bool valid;
};

TEST(ConfigValidateTest, Names) {
  const NameCase kHeaders[] = {{"x-user", true},  {"X_Tenant.1", true}, {"", false},
                               {"x user", false}, {"x:y", false},       {"x\"y", false}};
  for (const NameCase& c : kHeaders) {
    SCOPED_TRACE("header " + c.value);
    EXPECT_EQ(IsValidHeaderName(c.value), c.valid);
  }
  const NameCase kForbidden[] = {
      {"authorization", true}, {"dpop", true}, {"x-forwarded-for", true}, {"x-user", false}};
  for (const NameCase& c : kForbidden) {
    SCOPED_TRACE("upstream header " + c.value);
    EXPECT_EQ(IsForbiddenUpstreamHeader(c.value), c.valid);
  }
  const NameCase kRouteHosts[] = {
      {"api.example", true}, {"*.example", true}, {"[::1]", true}, {"api.example:443", false},
      {".example", false},   {"*.", false},       {"", false}};
  for (const NameCase& c : kRouteHosts) {
    SCOPED_TRACE("route host " + c.value);
    EXPECT_EQ(IsValidRouteHost(c.value), c.valid);
  }
  const NameCase kScopes[] = {{"read:files", true}, {"a!#[]~", true}, {"", false},
                              {"a b", false},       {"a\"b", false},  {"a\\b", false}};
  for (const NameCase& c : kScopes) {
    SCOPED_TRACE("scope " + c.value);
    EXPECT_EQ(IsValidScopeToken(c.value), c.valid);
  }
  const NameCase kRouteNames[] = {
      {"api-v1_x.y", true}, {"", false}, {"a b", false}, {"a/b", false}};
  for (const NameCase& c : kRouteNames) {
    SCOPED_TRACE("route name " + c.value);
    EXPECT_EQ(IsValidRouteName(c.value), c.valid);
  }
}

}  // namespace
}  // namespace popguard::config_internal
