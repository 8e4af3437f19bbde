// RolloutReport: what GET /rollout on the admin port answers (docs/config.md
// "rollout", README "Rollout readiness"): per configured route, how its
// requests arrived (rollout_stats.h), what requiring each binding would deny
// now and whether a report-only route is ready to enforce.
//
// Would-deny for a binding counts the requests that did not fail for another
// reason but whose token lacks that binding: requiring dpop denies bearer and
// mtls arrivals, mtls denies bearer and dpop, bound (any binding) denies
// bearer. Enforcing a route as configured would deny its failed requests plus
// the would-deny of its own binding; a report-only route is ready when it saw
// at least rollout.ready_min_requests requests and that share is at most
// rollout.ready_max_deny_ratio. The counts are this replica's, since it
// started.
#ifndef POPGUARD_SERVICE_AUTHN_ROLLOUT_REPORT_H_
#define POPGUARD_SERVICE_AUTHN_ROLLOUT_REPORT_H_

#include <string>
#include <vector>

#include "service/authn/rollout_stats.h"
#include "service/config/config.h"

namespace popguard {

// Satisfies returns true if a request that arrived as `arrival` meets
// `binding` (false for kFailed).
bool Satisfies(BindingRequirement binding, Arrival arrival);

// RolloutJson renders the report of `routes` (RolloutStats::Snapshot) for the
// routes of `config` (in config order, then "default"; requests denied before
// a route was chosen are "unrouted").
std::string RolloutJson(const std::vector<RolloutStats::RouteCounts>& routes, const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHN_ROLLOUT_REPORT_H_
