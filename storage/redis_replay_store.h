// RedisReplayStore: the DPoP jti replay window shared by every replica,
// in Redis (a single server or a Redis Cluster).
//
// One proof is one atomic command:
//   SET <key_prefix><hex(replay key)> 1 NX PX <ms until the proof expires>
// "OK" means no replica has seen the key inside its window (kFresh); a nil
// reply means one has (kReplayed). The TTL is relative, so the replicas'
// clocks never have to agree with Redis's.
//
// Commands go through RedisClient (pipelined connections, cluster slots,
// MOVED/ASK, reconnects). Around it:
// - a CircuitBreaker per Redis node that owns slots (NodeBreakers, issue
//   11.5): after breaker_failures consecutive failures (timeouts, connection
//   errors, error replies) of checks whose keys live on that node, those
//   checks fail fast for breaker_open, then one probe goes through; any
//   success closes it again. Checks whose keys live on other nodes are not
//   affected. A background thread sends that probe itself (a SET on a key
//   of that node's slots) when no request does, so that recovery never
//   waits for traffic: a replica reported not ready receives none;
// - the failure policy for every call that gets no answer from Redis:
//   kFailClosed answers kUnavailable (the request is denied with
//   replay_store_unavailable, HTTP 503, so clients retry);
//   kLocalFallback answers from this replica's MemoryReplayStore instead (a
//   warn log line when entering and leaving that degraded mode, and a counter).
//   The degraded/recovered pair is rate-limited (FlapLog, storage/flap_guard.h):
//   at most one pair per 10 s, the next line counting the changes not logged.
//   With kLocalFallback every key Redis reports fresh is also recorded
//   locally, so that during an outage this replica still rejects replays of
//   the proofs it accepted itself, and a proof accepted locally during an
//   outage is still rejected here after Redis returns.
//   Write-back: every key accepted locally during an outage is also queued,
//   and once its node answers again the background thread writes each one there
//   (SET NX PX <its remaining lifetime>) before the store reports itself
//   ready or recovered, so that other replicas see it too. A key Redis
//   already holds was accepted by another replica as well during the outage:
//   a replay that cannot be undone, counted (writeback_conflicts) and logged.
// - loss of Redis's data (RedisClient: a restarted server has a new run_id,
//   or an emptied one lost the state marker, key_prefix + "marker:..."):
//   a proof Redis reports fresh but that was issued before the answering
//   server was known to hold its data is answered kWindowReset, since its
//   first use may be among what that server lost. Checked against every
//   reply, with no extra command on the request path.
#ifndef POPGUARD_STORAGE_REDIS_REPLAY_STORE_H_
#define POPGUARD_STORAGE_REDIS_REPLAY_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/circuit_breaker.h"
#include "storage/flap_guard.h"
#include "storage/memory_replay_store.h"
#include "storage/node_breakers.h"
#include "storage/redis_client.h"
#include "storage/redis_options.h"
#include "storage/replay_store.h"

namespace popguard {

enum class ReplayFailurePolicy { kFailClosed, kLocalFallback };

struct RedisReplayStoreOptions {
  RedisClientOptions redis;  // redis.log also receives the store's events
  std::string key_prefix = "popguard:dpop:";
  ReplayFailurePolicy failure_policy = ReplayFailurePolicy::kFailClosed;
  size_t fallback_max_entries = 1000000;  // kLocalFallback only
  int breaker_failures = 5;
  absl::Duration breaker_open = absl::Seconds(1);
};

class RedisReplayStore final : public ReplayStore {
 public:
  struct Stats {
    RedisClient::Stats redis;
    uint64_t checks = 0;               // CheckAndInsert calls
    uint64_t fresh = 0;                // answered kFresh
    uint64_t replayed = 0;             // answered kReplayed
    uint64_t unavailable = 0;          // answered kUnavailable (fail_closed)
    uint64_t fast_fails = 0;           // refused by the open breaker without a command
    uint64_t fallback_uses = 0;        // answered by the local store (local_fallback)
    uint64_t window_resets = 0;        // answered kWindowReset
    uint64_t writeback_written = 0;    // local_fallback entries written back to Redis
    uint64_t writeback_conflicts = 0;  // ...that Redis already held (cross-replica replays)
    size_t writeback_pending = 0;      // local_fallback entries not yet written back
    uint64_t breaker_opens = 0;        // every node's breaker
    // The worst state of any node's breaker (open, then half-open, then closed).
    CircuitBreaker::State breaker = CircuitBreaker::State::kClosed;
    struct Node {
      std::string name;  // "host:port"; "unmapped" for slots with no known owner
      CircuitBreaker::State breaker = CircuitBreaker::State::kClosed;
      uint64_t opens = 0;
    };
    std::vector<Node> nodes;  // the breakers slots route to now (NodeBreakers::All)
    bool degraded = false;    // local_fallback is answering
  };

  // Create starts connecting in the background; it never waits for Redis.
  static std::unique_ptr<RedisReplayStore> Create(RedisReplayStoreOptions options);
  ~RedisReplayStore() override;

  // CheckAndInsert sends the SET NX PX for `key` (PX is expiry - now rounded
  // up to whole milliseconds, at least 1). `done` runs exactly once: inline
  // when the breaker is open or the command fails at once (no connection),
  // else on the Redis loop thread.
  // A fresh key whose issued_at predates the answering server's data is
  // answered kWindowReset (it stays recorded).
  using ReplayStore::CheckAndInsert;
  void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry, absl::Time issued_at,
                      Done done) override;

  // Size returns the entries of the local store (kLocalFallback), else 0:
  // Redis is not asked.
  size_t Size() const override;

  // Ready reports whether Redis can answer: a connection is up, at least one
  // node's breaker is closed, and, once every node's breaker is closed, no
  // local_fallback entry waits to be written back. Otherwise *why says which
  // (no secrets). One of N masters down is ready: its keys get the failure
  // policy, the others Redis, and taking every replica out of service
  // (they all share that Redis) would turn a partial outage into a total one.
  // With hysteresis (issue 11.5): the background thread samples that every
  // tick (breaker_open / 4, 5 ms to 250 ms); not ready after kNotReadyAfter
  // bad samples in a row, ready again after kReadyAfter good ones (the very
  // first good sample at start-up counts at once). Entries waiting to be
  // written back after a full recovery make it not ready at once: that is
  // what keeps other replicas safe.
  static constexpr int kNotReadyAfter = 2;
  static constexpr int kReadyAfter = 4;
  bool Ready(std::string* why) const;

  // WaitUntilReady polls Ready (and a known topology) for up to `timeout`.
  bool WaitUntilReady(absl::Duration timeout) const;

  Stats stats() const;

  // RedisKey returns the Redis key for a replay key: key_prefix + lower-case hex.
  std::string RedisKey(std::string_view key) const;

 private:
  explicit RedisReplayStore(RedisReplayStoreOptions options);

  void Answer(ReplayResult result, Done done);
  void Unavailable(std::string_view key, absl::Time now, absl::Time expiry, Done done);
  void OnBreaker(CircuitBreaker::Transition t, const NodeBreakers::Node& node);
  void ProbeLoop();
  // WriteBack writes the queued local_fallback entries to Redis and waits for
  // the answers; entries that failed stay queued. Prober thread only.
  void WriteBack();
  void MaybeRecovered();
  // RawReady is Ready without the hysteresis.
  bool RawReady(std::string* why) const;
  void SetDegraded(bool degraded);
  void Log(RedisLogLevel level, std::string_view event, std::string_view detail) const;

  const RedisReplayStoreOptions options_;
  std::unique_ptr<MemoryReplayStore> local_;  // kLocalFallback only
  NodeBreakers breakers_;
  struct Counters {
    std::atomic<uint64_t> checks{0}, fresh{0}, replayed{0}, unavailable{0}, fast_fails{0},
        fallback_uses{0}, window_resets{0}, writeback_written{0}, writeback_conflicts{0};
  };
  struct PendingWrite {
    std::string key;  // the replay key (not yet hex)
    absl::Time expiry;
    int slot = 0;  // of its Redis key
  };
  Counters counters_;
  std::atomic<bool> degraded_{false};
  absl::Mutex flap_mu_;
  FlapLog degraded_log_ ABSL_GUARDED_BY(flap_mu_);
  ReadinessHysteresis readiness_;  // prober thread only
  std::atomic<bool> ready_{false};
  mutable absl::Mutex writeback_mu_;
  std::vector<PendingWrite> writeback_ ABSL_GUARDED_BY(writeback_mu_);
  std::atomic<size_t> writeback_pending_{0};  // writeback_.size() plus entries in flight
  absl::Mutex probe_mu_;
  bool stopping_ ABSL_GUARDED_BY(probe_mu_) = false;
  std::thread prober_;
  // Last member: destroyed first, so callbacks it completes on shutdown
  // still find the breakers and the local store alive.
  std::unique_ptr<RedisClient> client_;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_REPLAY_STORE_H_
