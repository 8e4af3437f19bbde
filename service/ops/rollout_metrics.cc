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

}  // namespace popguard
