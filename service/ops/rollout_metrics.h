// RolloutSamples: the samples of popguard_rollout_requests_total{route,client,arrival}
// (docs/metrics.md), read from RolloutStats at scrape time.
//
// `client` is one of the first rollout.metric_clients clients of the route
// (service/authn/rollout_stats.h: labels are given first-come and never taken
// back, so every series only grows), "(others)" for every client after them
// and "(unidentified)" for requests without a verified token or whose token
// has neither client_id nor azp. Only non-zero series are exported.
//
// RouteInfoSamples: popguard_route_info{route,binding,report_only} = 1 for
// every route of the running config and "default" (what a request no route
// matches gets), so a reader of /metrics alone (popguard-cli rollout
// --metrics) knows each route's binding and mode.
#ifndef POPGUARD_SERVICE_OPS_ROLLOUT_METRICS_H_
#define POPGUARD_SERVICE_OPS_ROLLOUT_METRICS_H_

#include <vector>

#include "service/authn/rollout_stats.h"
#include "service/config/config.h"
#include "service/ops/metrics.h"

namespace popguard {

std::vector<Sample> RolloutSamples(const RolloutStats& stats);
std::vector<Sample> RouteInfoSamples(const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_OPS_ROLLOUT_METRICS_H_
