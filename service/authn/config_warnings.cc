#include "service/authn/config_warnings.h"

#include "absl/strings/str_cat.h"

namespace popguard {
namespace {

bool EveryPath(const RouteMatch& m) { return m.path_prefix.empty() || m.path_prefix == "/"; }

std::string RouteName(const std::vector<RouteConfig>& routes, size_t i) {
  return absl::StrCat("route \"", routes[i].name, "\" (routes[", i, "])");
}

}  // namespace

std::vector<std::string> ConfigRiskWarnings(const Config& config) {
  std::vector<std::string> out;
  const std::vector<RouteConfig>& routes = config.routes;
  // First match wins, so everything after a catch-all is dead config that
  // reads as if it protected something.
  for (size_t i = 0; i + 1 < routes.size(); ++i) {
    const RouteMatch& m = routes[i].match;
    if (!m.host.empty() || !m.route_key.empty() || !EveryPath(m)) continue;
    const size_t after = routes.size() - i - 1;
    out.push_back(absl::StrCat(
        RouteName(routes, i), " matches every request (no host, path_prefix or route_key): the ",
        after, after == 1 ? " route" : " routes", " after it can never match"));
    break;
  }
  // A bearer token is usable by whoever holds it; a route that makes a whole
  // host (or everything) bearer is rarely what was meant.
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteMatch& m = routes[i].match;
    if (routes[i].binding != BindingRequirement::kBearer || !m.route_key.empty() || !EveryPath(m)) {
      continue;
    }
    out.push_back(absl::StrCat(RouteName(routes, i), " accepts unbound bearer tokens on every path",
                               m.host.empty() ? "" : absl::StrCat(" of host ", m.host),
                               ": a stolen token works there; give bearer routes a path_prefix"));
  }
  if (config.default_binding == BindingRequirement::kBearer) {
    out.push_back(
        "default_binding is bearer: a request no route matches is allowed with an unbound "
        "(stealable) token; list the bearer paths as routes and keep the default dpop, mtls or "
        "bound");
  }
  if (config.trusted_xfcc) {
    out.push_back(
        "trusted_xfcc is true: x-forwarded-client-cert is taken as the client's certificate, so "
        "the gateway must remove it from every client request and set it itself (a client that "
        "can send it can claim any certificate)");
  }
  return out;
}

}  // namespace popguard
