#include "service/ops/rollout_metrics.h"

#include <string>

namespace popguard {
namespace {

void Append(const std::string& route, const std::string& client, const ArrivalCounts& counts,
            std::vector<Sample>* out) {
  for (Arrival a : kAllArrivals) {
    const uint64_t n = counts[static_cast<size_t>(a)];
    if (n == 0) continue;
    out->push_back({{route, client, std::string(ArrivalName(a))}, static_cast<double>(n)});
  }
}

}  // namespace

std::vector<Sample> RolloutSamples(const RolloutStats& stats) {
  std::vector<Sample> out;
  for (const RolloutStats::RouteCounts& rc : stats.Snapshot()) {
    for (const RolloutStats::ClientCounts& c : rc.labelled) {
      Append(rc.route, c.client.empty() ? "(unidentified)" : c.client, c.counts, &out);
    }
    Append(rc.route, "(others)", rc.labelled_others.counts, &out);
  }
  return out;
}

std::vector<Sample> RouteInfoSamples(const Config& config) {
  std::vector<Sample> out;
  auto add = [&out](const std::string& route, BindingRequirement binding, bool report_only) {
    out.push_back(
        {{route, std::string(BindingRequirementName(binding)), report_only ? "true" : "false"},
         1.0});
  };
  for (const RouteConfig& r : config.routes) add(r.name, r.binding, r.report_only);
  add("default", config.default_binding, config.default_report_only);
  return out;
}

}  // namespace popguard
