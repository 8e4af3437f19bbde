// Policy: which route, and so which binding and scopes, applies to a request.
//
// Routes are tried in config order and the first match wins. A route matches
// when every non-empty field of its RouteMatch matches:
//   host         case-insensitive exact match against the request host with
//                any ":port" and one trailing "." removed, or "*.example.com",
//                which matches any strict subdomain (a.example.com,
//                a.b.example.com) but not example.com itself;
//   path_prefix  segment-aware prefix of the normalised request path: "/admin"
//                matches "/admin" and "/admin/x", not "/administrator"; a
//                prefix ending in "/" matches any path starting with it;
//   route_key    exact.
// A request no route matches gets the default route: name "default", binding
// Config::default_binding, report_only Config::default_report_only, no scopes.
#ifndef POPGUARD_SERVICE_POLICY_H_
#define POPGUARD_SERVICE_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "service/config.h"

namespace popguard {

class Policy {
 public:
  // Policy copies the routes of `config`; the config need not outlive it.
  explicit Policy(const Config& config);

  // Match returns the route for a request. `host` is the Host / :authority
  // value as received (any case, optional port); `normalized_path` must
  // already be normalised (service/url.h NormalizePath), since matching a raw
  // path would let "/public/../admin" pick the "/public" route. The returned
  // reference lives as long as this Policy.
  const RouteConfig& Match(std::string_view host, std::string_view normalized_path,
                           std::string_view route_key) const;

  // default_route returns the route used when none matches.
  const RouteConfig& default_route() const { return default_route_; }

 private:
  std::vector<RouteConfig> routes_;  // match.host lower-cased, trailing "." removed
  RouteConfig default_route_;
};

// ScopesSatisfied returns true if every scope in `required` is in `granted`
// (exact, case-sensitive comparison; an empty `required` is always satisfied).
bool ScopesSatisfied(const std::vector<std::string>& required,
                     const std::vector<std::string>& granted);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_POLICY_H_
