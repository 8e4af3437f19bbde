// Policy: which route, and so which binding and scopes, applies to a request.
//
// Routes are tried in config order and the first match wins. A route matches
// when every non-empty field of its RouteMatch matches:
//   host         case-insensitive exact match against the request host with
//                any ":port" and one trailing "." removed, or "*.example.com",
//                which matches any strict subdomain (a.example.com,
//                a.b.example.com) but not example.com itself;
//   path_prefix  segment-aware prefix of the request path: "/admin" matches
//                "/admin" and "/admin/x", not "/administrator"; a prefix
//                ending in "/" matches any path starting with it. Exact case
//                unless match.case_insensitive, then ASCII case is ignored;
//   route_key    exact.
// A request path is matched in every reading of service/authn/route_path.h (as
// sent, RFC 3986 normalised, with %2F/%5C/'\' as separators, without
// ";params"); MatchAll refuses a path whose readings select different routes.
// A request no route matches gets the default route: name "default", binding
// Config::default_binding, report_only Config::default_report_only, no scopes.
#ifndef POPGUARD_SERVICE_POLICY_H_
#define POPGUARD_SERVICE_POLICY_H_

#include <string>
#include <string_view>
#include <vector>

#include "service/authn/route_path.h"
#include "service/config/config.h"

namespace popguard {

class Policy {
 public:
  // Policy copies the routes of `config`; the config need not outlive it.
  explicit Policy(const Config& config);

  // Match returns the route for one reading of a request path. `host` is the
  // request's own Host / :authority (or the trusted forwarded host), any case,
  // optional port; never external_origin. Requests are routed with MatchAll:
  // one reading alone would let "/public/../admin" pick the "/public" route.
  // The returned reference lives as long as this Policy.
  const RouteConfig& Match(std::string_view host, std::string_view path,
                           std::string_view route_key) const;

  // MatchAll returns the route that every reading of the path selects, or
  // nullptr when two readings select different routes (or the readings are
  // not valid): the request is then ambiguous (Reason::kPathAmbiguous).
  // `host` as for Match. The returned route lives as long as this Policy.
  const RouteConfig* MatchAll(std::string_view host, const RoutePathReadings& paths,
                              std::string_view route_key) const;

  // default_route returns the route used when none matches.
  const RouteConfig& default_route() const { return default_route_; }

 private:
  std::vector<RouteConfig> routes_;  // match.host lower-cased, trailing "." removed
  RouteConfig default_route_;
};

// IssuerAllowed returns true if `route` accepts tokens from `iss` (its
// issuers list is empty or holds `iss` exactly).
bool IssuerAllowed(const RouteConfig& route, std::string_view iss);

// AppendRouteWarnings appends to *warnings one line per route that can never
// match because an earlier route takes every request it would match.
void AppendRouteWarnings(const Config& config, std::vector<std::string>* warnings);

// ScopesSatisfied returns true if every scope in `required` is in `granted`
// (exact, case-sensitive comparison; an empty `required` is always satisfied).
bool ScopesSatisfied(const std::vector<std::string>& required,
                     const std::vector<std::string>& granted);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_POLICY_H_
