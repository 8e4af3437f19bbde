#include "service/policy.h"

#include <algorithm>

#include "absl/strings/ascii.h"

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

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(x) == absl::ascii_tolower(y);
         });
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

// PathHasPrefix is the segment-aware prefix rule of service/url.h's
// PathHasPrefixSegment, kept here so policy does not depend on url.cc.
// TODO(lead): use PathHasPrefixSegment once url.cc is in.
bool PathHasPrefix(std::string_view path, std::string_view prefix) {
  if (prefix.empty() || prefix == "/") return true;
  if (!path.starts_with(prefix)) return false;
  // "/admin" must not match "/administrator": the prefix has to end at a
  // segment boundary, unless it already ends with "/".
  return prefix.ends_with("/") || path.size() == prefix.size() || path[prefix.size()] == '/';
}

bool RouteMatches(const RouteMatch& match, std::string_view host, std::string_view path,
                  std::string_view route_key) {
  if (!match.host.empty() && !HostMatches(host, match.host)) return false;
  if (!match.path_prefix.empty() && !PathHasPrefix(path, match.path_prefix)) return false;
  if (!match.route_key.empty() && match.route_key != route_key) return false;
  return true;
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

const RouteConfig& Policy::Match(std::string_view host, std::string_view normalized_path,
                                 std::string_view route_key) const {
  const std::string_view bare_host = HostWithoutPort(host);
  for (const RouteConfig& route : routes_) {
    if (RouteMatches(route.match, bare_host, normalized_path, route_key)) return route;
  }
  return default_route_;
}

bool ScopesSatisfied(const std::vector<std::string>& required,
                     const std::vector<std::string>& granted) {
  for (const std::string& scope : required) {
    if (std::find(granted.begin(), granted.end(), scope) == granted.end()) return false;
  }
  return true;
}

}  // namespace popguard
