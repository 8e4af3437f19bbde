// Helpers for tests that run several real popguard replicas around one shared
// Redis replay window (e2e_redis_test, chaos_*_test): readiness polling, the
// replay: YAML, proofs whose Redis key is known, and a tally of decisions.
#ifndef POPGUARD_TESTS_TESTING_REPLAY_REPLICAS_H_
#define POPGUARD_TESTS_TESTING_REPLAY_REPLICAS_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {

inline constexpr int kServing = 1;     // grpc.health.v1 SERVING
inline constexpr int kNotServing = 2;  // grpc.health.v1 NOT_SERVING

// WaitForHealth polls the replica's overall gRPC health until it is `want`.
bool WaitForHealth(RunningServer& server, int want, absl::Duration timeout);

// StartServingReplica starts a popguard replica (RunningServer::Start) and
// waits up to `timeout` until it reports SERVING. On failure it records a
// test failure (with the replica's log) and returns null.
std::unique_ptr<RunningServer> StartServingReplica(const std::string& name,
                                                   const ConfigOptions& options,
                                                   absl::Duration timeout);

// HealthWatch samples the overall gRPC health (what /readyz also reports)
// of each server every `interval` on a thread of its own, from construction
// until Stop (or destruction), and counts the samples and the changes.
class HealthWatch {
 public:
  HealthWatch(std::vector<RunningServer*> servers, absl::Duration interval);
  ~HealthWatch();
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  void Stop();
  struct Counts {
    int samples = 0;
    int serving = 0;      // samples that said SERVING
    int transitions = 0;  // changes between consecutive samples
  };
  // counts of servers[i]; call after Stop.
  Counts counts(size_t i) const { return counts_[i]; }

 private:
  std::vector<RunningServer*> servers_;
  std::vector<Counts> counts_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// RedisReplayYaml returns a top-level `replay:` block for a Redis window at
// `addresses` with `failure_policy` and `extra` (indented redis keys, each
// line ending in "\n"), breaker_open 200ms.
std::string RedisReplayYaml(const std::vector<std::string>& addresses,
                            const std::string& failure_policy, const std::string& extra = "");

// A DPoP request and the Redis key its proof's replay entry lives under.
struct ReplayProof {
  HttpSpec spec;
  std::string redis_key;
};

// MintReplayProof mints a token and a proof (unique jti) for GET /dpop/orders
// issued at `iat`, and its Redis key as the validator computes it:
// key_prefix + hex of the first 16 bytes of SHA-256(jkt || 0x00 || jti).
ReplayProof MintReplayProof(absl::Time iat, const std::string& key_prefix = "popguard:dpop:");

// ReasonTally counts decisions by reason code, and the ALLOWs among them.
class ReasonTally {
 public:
  void Add(const popguard::v1::VerifyResponse& r);
  int allowed() const { return allowed_; }
  int Count(const std::string& reason) const;
  // Text renders "reason=n ..." for failure messages.
  std::string Text() const;

 private:
  std::map<std::string, int> by_reason_;
  int allowed_ = 0;
};

}  // namespace popguard::e2e

#endif  // POPGUARD_TESTS_TESTING_REPLAY_REPLICAS_H_
