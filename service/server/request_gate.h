// RequestGate: the in-flight limit (limits.max_inflight) and the per-request
// metrics of the gRPC services.
//
//   if (!gate->TryEnter(Api::kCheck)) -> shed now (before the message is parsed)
//   ... parse, decide ...
//   gate->Record(Api::kCheck, decision, start)   // metrics, once per decision
//   gate->Leave()                                // exactly once per TryEnter
//
// A call holds its slot from the moment its handler first sees it, before its
// message is parsed (the services take raw bytes, server.cc), until its
// decision is made, so a shed call costs neither parsing nor deciding.
// Shedding at the door keeps an overloaded replica fast: a request that cannot
// be decided soon is refused in microseconds (the gateway can retry another
// replica) instead of queueing until the gateway's own timeout.
#ifndef POPGUARD_SERVICE_REQUEST_GATE_H_
#define POPGUARD_SERVICE_REQUEST_GATE_H_

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/authn/decision.h"
#include "service/ops/popguard_metrics.h"

namespace popguard {

class RequestGate {
 public:
  explicit RequestGate(size_t max_inflight) : max_(static_cast<int64_t>(max_inflight)) {}

  // TryEnter admits one request, or counts it as shed and returns false.
  bool TryEnter(Api api) {
    if (inflight_.fetch_add(1, std::memory_order_acq_rel) >= max_) {
      inflight_.fetch_sub(1, std::memory_order_acq_rel);
      PopguardMetrics::Get().RecordShed(api);
      return false;
    }
    PopguardMetrics::Get().inflight()->Add(1);
    return true;
  }

  // Record counts the decision and its latency.
  void Record(Api api, const Decision& d, absl::Time start) {
    PopguardMetrics::Get().RecordDecision(api, d, absl::Now() - start);
  }

  // Leave releases the slot.
  void Leave() {
    PopguardMetrics::Get().inflight()->Add(-1);
    inflight_.fetch_sub(1, std::memory_order_acq_rel);
  }

  int64_t inflight() const { return inflight_.load(std::memory_order_relaxed); }

 private:
  const int64_t max_;
  std::atomic<int64_t> inflight_{0};
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REQUEST_GATE_H_
