// Tests for service/authn/config_warnings.h: each risky or dead configuration, as
// a YAML snippet, gives exactly its warning text; safe ones give none.
#include "service/authn/config_warnings.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/config/config.h"
#include "tests/testing/test_env.h"

namespace popguard {
namespace {

struct Case {
  const char* name;
  std::string yaml;
  std::vector<std::string> want;
};

TEST(ConfigRiskWarningsTest, EachRiskHasItsOwnWarning) {
  const std::vector<Case> cases = {
      {"safe: bound default, prefixed routes, no xfcc",
       "routes:\n"
       "  - {name: public, match: {path_prefix: /public}, binding: bearer}\n"
       "  - {name: api, match: {host: api.example}, binding: dpop}\n",
       {}},
      {"no routes at all", "", {}},
      {"catch-all route first shadows the routes after it",
       "routes:\n"
       "  - {name: all, match: {path_prefix: /}, binding: dpop}\n"
       "  - {name: admin, match: {path_prefix: /admin}, binding: mtls}\n"
       "  - {name: users, match: {path_prefix: /users}, binding: mtls}\n",
       {"route \"all\" (routes[0]) matches every request (no host, path_prefix or route_key): "
        "the 2 routes after it can never match"}},
      {"a catch-all with no match keys at all, last but one",
       "routes:\n"
       "  - {name: admin, match: {path_prefix: /admin}, binding: mtls}\n"
       "  - {name: everything, binding: dpop}\n"
       "  - {name: late, match: {path_prefix: /late}, binding: mtls}\n",
       {"route \"everything\" (routes[1]) matches every request (no host, path_prefix or "
        "route_key): the 1 route after it can never match"}},
      {"a catch-all as the last route shadows nothing",
       "routes:\n"
       "  - {name: admin, match: {path_prefix: /admin}, binding: mtls}\n"
       "  - {name: rest, match: {path_prefix: /}, binding: dpop}\n",
       {}},
      {"a bearer route on every path",
       "routes:\n"
       "  - {name: admin, match: {path_prefix: /admin}, binding: mtls}\n"
       "  - {name: open, binding: bearer}\n",
       {"route \"open\" (routes[1]) accepts unbound bearer tokens on every path: a stolen token "
        "works there; give bearer routes a path_prefix"}},
      {"a bearer route on every path of one host",
       "routes:\n"
       "  - {name: legacy, match: {host: legacy.example, path_prefix: /}, binding: bearer}\n",
       {"route \"legacy\" (routes[0]) accepts unbound bearer tokens on every path of host "
        "legacy.example: a stolen token works there; give bearer routes a path_prefix"}},
      {"default_binding bearer",
       "default_binding: bearer\n",
       {"default_binding is bearer: a request no route matches is allowed with an unbound "
        "(stealable) token; list the bearer paths as routes and keep the default dpop, mtls or "
        "bound"}},
      {"trusted_xfcc true",
       "trusted_xfcc: true\n",
       {"trusted_xfcc is true: x-forwarded-client-cert is taken as the client's certificate, so "
        "the gateway must remove it from every client request and set it itself (a client that "
        "can send it can claim any certificate)"}},
      {"trusted_xfcc false", "trusted_xfcc: false\n", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = LoadConfigYaml(e2e::QuickstartYaml(c.yaml), "/");
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(ConfigRiskWarnings(*config), c.want);
  }
}

}  // namespace
}  // namespace popguard
