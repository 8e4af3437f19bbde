#include "service/authn/policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/common/strings.h"
#include "service/common/url.h"

namespace popguard {
namespace {

// HostWithoutPort removes ":port" from a Host value ("[::1]:8443" -> "[::1]",
// "a.example:80" -> "a.example"); a bare IPv6 address without brackets is left
// alone. One trailing "." is removed as well: "api.example." names the same
// host as "api.example", and letting it fall through to another route (or the
// default) would let a client pick a weaker policy by adding a dot.
std::string_view HostWithoutPort(std::string_view host) {
  if (host.starts_with("[")) {
    const size_t close = host.find(']');
    if (close != std::string_view::npos) host = host.substr(0, close + 1);
  } else {
    const size_t colon = host.find(':');
    if (colon != std::string_view::npos && host.find(':', colon + 1) == std::string_view::npos) {
      host = host.substr(0, colon);
    }
  }
  if (host.ends_with(".")) host.remove_suffix(1);
  return host;
}

// HostMatches compares a request host (port already removed) with a route
// host, which is lower-case: exact, or "*.suffix" for strict subdomains.
bool HostMatches(std::string_view request_host, std::string_view route_host) {
  if (route_host.starts_with("*.")) {
    const std::string_view suffix = route_host.substr(1);  // ".example.com"
    return request_host.size() > suffix.size() &&
           EqualsIgnoreCase(request_host.substr(request_host.size() - suffix.size()), suffix);
  }
  return EqualsIgnoreCase(request_host, route_host);
}

bool RouteMatches(const RouteMatch& match, std::string_view host, std::string_view path,
                  std::string_view route_key) {
  if (!match.host.empty() && !HostMatches(host, match.host)) return false;
  if (!match.path_prefix.empty() &&
      !PathHasPrefixSegment(path, match.path_prefix, match.case_insensitive)) {
    return false;
  }
  if (!match.route_key.empty() && match.route_key != route_key) return false;
  return true;
}

// HostCovers: every request host `inner` matches also matches `outer` (both
// route hosts, lower-case; empty matches any host).
bool HostCovers(std::string_view outer, std::string_view inner) {
  if (outer.empty()) return true;
  if (inner.empty()) return false;
  if (!outer.starts_with("*.")) return outer == inner;
  // "*.example" covers "a.example", "*.example" and "*.a.example".
  const std::string_view suffix = outer.substr(1);  // ".example"
  if (inner.starts_with("*.")) inner.remove_prefix(1);
  return inner == suffix || (inner.size() > suffix.size() && inner.ends_with(suffix));
}

// Shadows: every request `later` matches is taken by `earlier`.
bool Shadows(const RouteMatch& earlier, const RouteMatch& later) {
  if (!HostCovers(earlier.host, later.host)) return false;
  if (!earlier.route_key.empty() && earlier.route_key != later.route_key) return false;
  if (earlier.path_prefix.empty() || earlier.path_prefix == "/") return true;
  if (later.path_prefix.empty()) return false;
  // A case-insensitive later route also takes other spellings, which a
  // case-sensitive earlier one does not.
  if (later.case_insensitive && !earlier.case_insensitive) return false;
  return PathHasPrefixSegment(later.path_prefix, earlier.path_prefix, earlier.case_insensitive);
}

}  // namespace

Policy::Policy(const Config& config) : routes_(config.routes) {
  for (RouteConfig& route : routes_) {
    absl::AsciiStrToLower(&route.match.host);
    if (route.match.host.ends_with(".")) route.match.host.pop_back();
  }
  default_route_.name = "default";
  default_route_.binding = config.default_binding;
  default_route_.report_only = config.default_report_only;
}

const RouteConfig& Policy::Match(std::string_view host, std::string_view path,
                                 std::string_view route_key) const {
  const std::string_view bare_host = HostWithoutPort(host);
  for (const RouteConfig& route : routes_) {
    if (RouteMatches(route.match, bare_host, path, route_key)) return route;
  }
  return default_route_;
}

const RouteConfig* Policy::MatchAll(std::string_view host, const RoutePathReadings& paths,
                                    std::string_view route_key) const {
  if (!paths.valid()) return nullptr;
  const RouteConfig* route = &Match(host, paths[0], route_key);
  // Security: the proxy may route on one reading and the upstream serve
  // another, and popguard cannot know which policy applies, so readings that
  // disagree deny the request whatever the routes' report_only flags (no
  // honest client sends such a path). The strictest route over all readings
  // would not do: "strictest" is not an order when routes differ in binding,
  // scopes and issuers at once.
  for (size_t i = 1; i < paths.size(); ++i) {
    if (&Match(host, paths[i], route_key) != route) return nullptr;
  }
  return route;
}

bool IssuerAllowed(const RouteConfig& route, std::string_view iss) {
  return route.issuers.empty() ||
         std::find(route.issuers.begin(), route.issuers.end(), iss) != route.issuers.end();
}

void AppendRouteWarnings(const Config& config, std::vector<std::string>* warnings) {
  const std::vector<RouteConfig>& routes = config.routes;
  for (size_t later = 0; later < routes.size(); ++later) {
    for (size_t earlier = 0; earlier < later; ++earlier) {
      if (!Shadows(routes[earlier].match, routes[later].match)) continue;
      warnings->push_back(absl::StrCat("route \"", routes[later].name, "\" (routes[", later,
                                       "]) can never match: earlier route \"", routes[earlier].name,
                                       "\" takes every request it matches"));
      break;
    }
  }
}

bool ScopesSatisfied(const std::vector<std::string>& required,
                     const std::vector<std::string>& granted) {
  for (const std::string& scope : required) {
    if (std::find(granted.begin(), granted.end(), scope) == granted.end()) return false;
  }
  return true;
}

}  // namespace popguard
