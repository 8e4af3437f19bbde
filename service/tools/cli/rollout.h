// popguard-cli rollout: reads GET /rollout from a popguard admin port
// (service/authn/rollout_report.h), or the sum of several /metrics pages
// (rollout_fleet.h), and prints, per route, what requiring
// each binding would deny now and which report-only routes are ready to
// enforce (README "Rollout readiness").
#ifndef POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_H_
#define POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/common/json.h"
#include "service/config/config.h"

namespace popguard {

// FormatRolloutReport renders a parsed /rollout answer as text; an error when
// `report` is not one (names what is missing).
absl::StatusOr<std::string> FormatRolloutReport(const JsonValue& report);

// RunRollout fetches `admin` (http://host:port) + "/rollout" and prints the
// report to stdout; errors go to stderr. Returns the exit code: 0 printed,
// 2 unreachable or not a popguard admin port.
int RunRollout(const std::string& admin);

// RunFleetRollout reads every URL of `metrics` (Prometheus text: a replica's
// /metrics or a /federate answer), sums their counters (rollout_fleet.h) and
// prints the same report for the whole fleet, judging readiness with
// `readiness`. Exit code 0 printed, 2 an URL unreachable, given twice or not
// popguard's metrics.
int RunFleetRollout(const std::vector<std::string>& metrics, const RolloutConfig& readiness);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_CLI_ROLLOUT_H_
