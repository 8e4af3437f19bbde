// The fleet-wide rollout report of popguard-cli rollout --metrics: the
// counters of several /metrics expositions (one per replica, or a Prometheus
// /federate answer holding many) are summed and turned into the report GET
// /rollout answers (service/authn/rollout_report.h), so the same formatter
// prints it.
//
// Read from each exposition:
//  - popguard_rollout_requests_total{route,client,arrival}: the counts. Its
//    client labels become the report's clients (exact counts; a client that
//    has a label on one replica and is "(others)" on another counts only where
//    it has one), "(others)" its other clients, "(unidentified)" itself.
//  - popguard_route_info{route,binding,report_only}: which routes exist, their
//    binding and mode, in the order first seen ("default" last). Replicas
//    that disagree (a config rollout in progress) are an error: readiness of a
//    route whose binding differs per replica means nothing.
//  - popguard_decisions_total{result,reason,route}: the "failing now" reasons,
//    the denials and would-denials except binding_required (counted by the
//    token's binding instead) and diagnostics probes (not traffic), as
//    RolloutStats counts them.
// Routes with counts but no route_info (removed from the config) are left out,
// as GET /rollout leaves them out; route "none" is the unrouted count.
#ifndef POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_FLEET_H_
#define POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_FLEET_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/config/config.h"

namespace popguard {

struct Exposition {
  std::string source;  // the URL it came from, for errors
  std::string text;
};

// FleetRolloutJson returns the GET /rollout report (JSON) of the sum of
// `expositions`, judged with `readiness` (ready_min_requests,
// ready_max_deny_ratio); InvalidArgument "SOURCE: why" when one is not
// Prometheus text, has no popguard rollout family or holds a value that is not
// a count.
absl::StatusOr<std::string> FleetRolloutJson(const std::vector<Exposition>& expositions,
                                             const RolloutConfig& readiness);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_FLEET_H_
