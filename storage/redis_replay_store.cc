#include "storage/redis_replay_store.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "storage/redis_key_slot.h"
#include "storage/redis_resp.h"

namespace popguard {
namespace {

// The degraded/recovered log pair is written at most once per this interval.
constexpr std::chrono::steady_clock::duration kFlapLogInterval = std::chrono::seconds(10);

// PX is capped so a nonsensical expiry cannot pin a key in Redis for years.
constexpr int64_t kMaxPxMillis = int64_t{1} << 31;

int64_t PxMillis(absl::Time now, absl::Time expiry) {
  // Rounded up: the key must not leave Redis before the proof expires.
  const absl::Duration left = expiry - now;
  if (left <= absl::ZeroDuration()) return 1;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return std::clamp<int64_t>(ms, 1, kMaxPxMillis);
}

// PartialOutage: some nodes' breakers are open, others closed. Then the
// replica serves (see RedisReplayStore::Ready) and write-back entries for the
// nodes that are down wait for them without holding readiness.
bool PartialOutage(const NodeBreakers::Census& c) { return c.open > 0 && c.closed > 0; }

}  // namespace

std::unique_ptr<RedisReplayStore> RedisReplayStore::Create(RedisReplayStoreOptions options) {
  std::unique_ptr<RedisReplayStore> store(new RedisReplayStore(std::move(options)));
  RedisClientOptions redis = store->options_.redis;
  // The state marker (issue 11.1): under the key prefix, so that an ACL
  // limited to it still works; "marker:" never looks like a replay key (hex).
  if (redis.marker_prefix.empty()) redis.marker_prefix = store->options_.key_prefix + "marker:";
  // The client is the store's last member: destroyed first, so the breakers
  // outlive every call of this hook.
  redis.on_topology = [s = store.get()](const std::vector<std::string>& nodes,
                                        const std::vector<int16_t>& owner) {
    s->breakers_.SetTopology(nodes, owner);
  };
  store->client_ = RedisClient::Start(std::move(redis));
  store->prober_ = std::thread([s = store.get()] { s->ProbeLoop(); });
  return store;
}

RedisReplayStore::RedisReplayStore(RedisReplayStoreOptions options)
    : options_(std::move(options)),
      breakers_(options_.breaker_failures,
                std::chrono::duration_cast<CircuitBreaker::Clock::duration>(
                    absl::ToChronoNanoseconds(options_.breaker_open)),
                options_.key_prefix),
      degraded_log_(kFlapLogInterval,
                    [this](bool degraded, uint64_t unlogged) {
                      const std::string more =
                          unlogged == 0 ? ""
                                        : absl::StrCat(" (", unlogged,
                                                       " degraded/recovered changes not "
                                                       "logged since the previous line)");
                      if (degraded) {
                        Log(RedisLogLevel::kWarn, "replay_store_degraded",
                            absl::StrCat("redis (or a redis node) unavailable; its keys use "
                                         "this replica's in-memory replay window (replays to "
                                         "other replicas are not detected)",
                                         more));
                      } else {
                        Log(RedisLogLevel::kWarn, "replay_store_recovered",
                            absl::StrCat("redis answers again and the entries accepted meanwhile "
                                         "are written back; the shared replay window is back (",
                                         counters_.writeback_written.load(), " written back, ",
                                         counters_.writeback_conflicts.load(),
                                         " cross-replica replays found so far)", more));
                      }
                    }),
      readiness_(kNotReadyAfter, kReadyAfter) {
  if (options_.failure_policy == ReplayFailurePolicy::kLocalFallback) {
    local_ = std::make_unique<MemoryReplayStore>(options_.fallback_max_entries);
  }
}

RedisReplayStore::~RedisReplayStore() {
  {
    absl::MutexLock lock(&probe_mu_);
    stopping_ = true;
  }
  if (prober_.joinable()) prober_.join();
  client_.reset();
}

void RedisReplayStore::ProbeLoop() {
  // Often enough that recovery follows breaker_open closely; rarely enough
  // to cost nothing.
  const absl::Duration tick =
      std::clamp(options_.breaker_open / 4, absl::Milliseconds(5), absl::Milliseconds(250));
  absl::MutexLock lock(&probe_mu_);
  while (!probe_mu_.AwaitWithTimeout(absl::Condition(&stopping_), tick)) {
    if (writeback_pending_.load(std::memory_order_relaxed) > 0 && breakers_.Count().closed > 0 &&
        client_->Reachable()) {
      WriteBack();
    }
    MaybeRecovered();
    {
      absl::MutexLock flap_lock(&flap_mu_);
      degraded_log_.Flush(std::chrono::steady_clock::now());
    }
    ready_.store(readiness_.Observe(RawReady(nullptr)), std::memory_order_relaxed);
    for (NodeBreakers::Probe& probe : breakers_.Probes()) {
      CircuitBreaker& breaker = probe.node->breaker;
      if (breaker.state() != CircuitBreaker::State::kOpen) continue;
      if (!breaker.Allow(CircuitBreaker::Clock::now())) continue;
      // This caller is the half-open probe: the same kind of command, on
      // the same connections, as a request for that node's keys would send.
      std::string command;
      AppendRedisCommand(&command, {"SET", probe.key, "1", "PX", "1000"});
      client_->Execute(probe.key, std::move(command),
                       [this, node = probe.node](absl::StatusOr<RedisReplyPtr> reply) {
                         if (reply.ok() && ReplyIsStatus(**reply, "OK")) {
                           OnBreaker(node->breaker.OnSuccess(), *node);
                         } else {
                           OnBreaker(node->breaker.OnFailure(CircuitBreaker::Clock::now()), *node);
                         }
                       });
    }
  }
}

void RedisReplayStore::WriteBack() {
  constexpr size_t kBatch = 4096;  // in flight at once; the pipeline carries them
  std::vector<PendingWrite> batch;
  {
    // Only entries whose node's breaker is closed: a node still down keeps
    // its entries queued (and fails none of them in vain).
    const std::vector<bool> closed = breakers_.ClosedSlots();
    absl::MutexLock lock(&writeback_mu_);
    size_t kept = 0;
    for (size_t i = 0; i < writeback_.size(); ++i) {
      if (closed[writeback_[i].slot] && batch.size() < kBatch) {
        batch.push_back(std::move(writeback_[i]));
      } else if (kept++ != i) {
        writeback_[kept - 1] = std::move(writeback_[i]);
      }
    }
    writeback_.resize(kept);
  }
  if (batch.empty()) return;
  const absl::Time now = options_.redis.wall_clock ? options_.redis.wall_clock() : absl::Now();
  absl::BlockingCounter answered(static_cast<int>(batch.size()));
  absl::Mutex failed_mu;
  std::vector<PendingWrite> failed;
  uint64_t conflicts = 0;
  for (PendingWrite& w : batch) {
    if (w.expiry <= now) {  // the proof has expired: nothing left to protect
      writeback_pending_.fetch_sub(1, std::memory_order_relaxed);
      answered.DecrementCount();
      continue;
    }
    std::string redis_key = RedisKey(w.key);
    std::string command;
    // The entry keeps the lifetime it had locally, no more.
    AppendRedisCommand(
        &command, {"SET", redis_key, "1", "NX", "PX", std::to_string(PxMillis(now, w.expiry))});
    client_->Execute(redis_key, std::move(command),
                     [&, w = std::move(w)](absl::StatusOr<RedisReplyPtr> reply) mutable {
                       if (reply.ok() && ReplyIsStatus(**reply, "OK")) {
                         counters_.writeback_written.fetch_add(1, std::memory_order_relaxed);
                         writeback_pending_.fetch_sub(1, std::memory_order_relaxed);
                       } else if (reply.ok() && ReplyIsNil(**reply)) {
                         // Another replica accepted the same proof during the
                         // outage: a replay that already happened.
                         counters_.writeback_conflicts.fetch_add(1, std::memory_order_relaxed);
                         writeback_pending_.fetch_sub(1, std::memory_order_relaxed);
                         absl::MutexLock lock(&failed_mu);
                         ++conflicts;
                       } else {
                         absl::MutexLock lock(&failed_mu);
                         failed.push_back(std::move(w));
                       }
                       answered.DecrementCount();
                     });
  }
  answered.Wait();
  if (conflicts > 0) {
    Log(RedisLogLevel::kWarn, "replay_store_writeback_conflicts",
        absl::StrCat(conflicts,
                     " proofs this replica accepted during the redis outage had also "
                     "been accepted by another replica (replays; cannot be undone)"));
  }
  if (!failed.empty()) {
    absl::MutexLock lock(&writeback_mu_);
    for (PendingWrite& w : failed) writeback_.push_back(std::move(w));
  }
}

void RedisReplayStore::MaybeRecovered() {
  // Recovered only once Redis answers AND every entry accepted locally is in
  // Redis: before that, another replica could accept a replay of one.
  if (!degraded_.load(std::memory_order_relaxed)) return;
  if (breakers_.Count().open > 0 || !client_->Reachable()) return;
  if (writeback_pending_.load(std::memory_order_relaxed) > 0) return;
  if (!degraded_.exchange(false)) return;
  SetDegraded(false);
}

void RedisReplayStore::SetDegraded(bool degraded) {
  absl::MutexLock lock(&flap_mu_);
  degraded_log_.Set(degraded, std::chrono::steady_clock::now());
}

std::string RedisReplayStore::RedisKey(std::string_view key) const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = options_.key_prefix;
  out.reserve(out.size() + 2 * key.size());
  for (unsigned char c : key) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

void RedisReplayStore::CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry,
                                      absl::Time issued_at, Done done) {
  counters_.checks.fetch_add(1, std::memory_order_relaxed);
  std::string redis_key = RedisKey(key);
  // The breaker of the node that owns the key's slot (issue 11.5): a node
  // that is down fails fast for its own keys only.
  std::shared_ptr<NodeBreakers::Node> node = breakers_.For(RedisKeySlot(redis_key));
  if (!node->breaker.Allow(CircuitBreaker::Clock::now())) {
    counters_.fast_fails.fetch_add(1, std::memory_order_relaxed);
    Unavailable(key, now, expiry, std::move(done));
    return;
  }
  std::string command;
  AppendRedisCommand(&command,
                     {"SET", redis_key, "1", "NX", "PX", std::to_string(PxMillis(now, expiry))});
  client_->ExecuteSince(
      redis_key, std::move(command),
      [this, node = std::move(node), key = std::string(key), now, expiry, issued_at,
       done = std::move(done)](absl::StatusOr<RedisReplyPtr> reply,
                               absl::Time server_since) mutable {
        std::optional<ReplayResult> result;
        if (reply.ok()) {
          if (ReplyIsStatus(**reply, "OK")) {
            // Security: the server that answered may have lost this key (it
            // restarted, or we only just met it). A proof issued before it is
            // known to hold its data may have been used before the loss.
            result = issued_at < server_since ? ReplayResult::kWindowReset : ReplayResult::kFresh;
          } else if (ReplyIsNil(**reply)) {
            result = ReplayResult::kReplayed;
          }
          // Anything else (an error reply such as OOM, NOPERM, READONLY,
          // CLUSTERDOWN) is a failure of the store, not an answer.
        }
        // Reported to the breaker that allowed the call, even if the slot
        // moved meanwhile: a half-open probe must always get its answer.
        if (!result.has_value()) {
          OnBreaker(node->breaker.OnFailure(CircuitBreaker::Clock::now()), *node);
          Unavailable(key, now, expiry, std::move(done));
          return;
        }
        OnBreaker(node->breaker.OnSuccess(), *node);
        if (local_ != nullptr && *result == ReplayResult::kFresh) {
          // Write-through (see the header): a key this replica accepted on its
          // own during an outage is a replay even when Redis never saw it.
          if (local_->CheckAndInsertSync(key, now, expiry) == ReplayResult::kReplayed) {
            result = ReplayResult::kReplayed;
          }
        }
        Answer(*result, std::move(done));
      });
}

void RedisReplayStore::Answer(ReplayResult result, Done done) {
  switch (result) {
    case ReplayResult::kFresh:
      counters_.fresh.fetch_add(1, std::memory_order_relaxed);
      break;
    case ReplayResult::kReplayed:
      counters_.replayed.fetch_add(1, std::memory_order_relaxed);
      break;
    case ReplayResult::kUnavailable:
      counters_.unavailable.fetch_add(1, std::memory_order_relaxed);
      break;
    case ReplayResult::kWindowReset:
      counters_.window_resets.fetch_add(1, std::memory_order_relaxed);
      break;
    case ReplayResult::kFull:
      break;
  }
  std::move(done)(result);
}

void RedisReplayStore::Unavailable(std::string_view key, absl::Time now, absl::Time expiry,
                                   Done done) {
  if (local_ == nullptr) {
    // fail_closed: without the shared window a replay to another replica
    // could not be detected, so the request is refused (503, retryable).
    Answer(ReplayResult::kUnavailable, std::move(done));
    return;
  }
  // local_fallback: the operator chose availability. Replays to this replica
  // are still caught; replays to other replicas are not while this lasts.
  counters_.fallback_uses.fetch_add(1, std::memory_order_relaxed);
  if (!degraded_.load(std::memory_order_relaxed) && !degraded_.exchange(true)) {
    SetDegraded(true);
  }
  const ReplayResult result = local_->CheckAndInsertSync(key, now, expiry);
  if (result == ReplayResult::kFresh) {
    // Queued for the write-back (see the header). Bounded by the local
    // store's capacity: beyond it the local store answers kFull.
    PendingWrite w{std::string(key), expiry, RedisKeySlot(RedisKey(key))};
    absl::MutexLock lock(&writeback_mu_);
    writeback_.push_back(std::move(w));
    writeback_pending_.fetch_add(1, std::memory_order_relaxed);
  }
  Answer(result, std::move(done));
}

void RedisReplayStore::OnBreaker(CircuitBreaker::Transition t, const NodeBreakers::Node& node) {
  const std::string name = node.name.empty() ? "redis (no slot map yet)" : node.name;
  switch (t) {
    case CircuitBreaker::Transition::kNone:
      return;
    case CircuitBreaker::Transition::kOpened:
      Log(RedisLogLevel::kWarn, "replay_store_breaker_open",
          absl::StrCat(name, " failing; checks of its keys fail fast for ",
                       absl::FormatDuration(options_.breaker_open), " before the next probe"));
      return;
    case CircuitBreaker::Transition::kClosed:
      Log(RedisLogLevel::kInfo, "replay_store_breaker_closed",
          absl::StrCat(name, " answers again"));
      return;
  }
}

void RedisReplayStore::Log(RedisLogLevel level, std::string_view event,
                           std::string_view detail) const {
  if (options_.redis.log) options_.redis.log(level, event, detail);
}

size_t RedisReplayStore::Size() const { return local_ != nullptr ? local_->Size() : 0; }

bool RedisReplayStore::Ready(std::string* why) const {
  std::string raw_why;
  const bool raw = RawReady(&raw_why);
  if (writeback_pending_.load(std::memory_order_relaxed) > 0 && !PartialOutage(breakers_.Count())) {
    // Never damped (issue 11.2): until every proof this replica accepted
    // alone is in Redis, the other replicas could accept its replays.
    if (why != nullptr) *why = std::move(raw_why);
    return false;
  }
  if (ready_.load(std::memory_order_relaxed)) return true;
  if (why != nullptr) {
    *why = raw ? absl::StrCat("redis answers again; ready after ", kReadyAfter,
                              " good checks in a row")
               : std::move(raw_why);
  }
  return false;
}

bool RedisReplayStore::RawReady(std::string* why) const {
  const NodeBreakers::Census census = breakers_.Count();
  if (census.closed == 0) {
    // Every check would get the failure policy. While some node answers,
    // the replica is ready (see Ready in the header).
    if (why != nullptr) {
      *why = census.nodes == 1 ? "redis circuit breaker is open"
                               : absl::StrCat("the circuit breakers of all ", census.nodes,
                                              " redis nodes are open");
    }
    return false;
  }
  if (!client_->Reachable()) {
    if (why != nullptr) *why = "no redis node reachable";
    return false;
  }
  // Entries for a node still down wait for it; they do not hold readiness
  // while the other nodes serve (the replica is serving their keys anyway).
  if (const size_t n = writeback_pending_.load(std::memory_order_relaxed);
      n > 0 && !PartialOutage(census)) {
    if (why != nullptr) {
      *why = absl::StrCat(n, " entries accepted during the redis outage not yet written back");
    }
    return false;
  }
  return true;
}

bool RedisReplayStore::WaitUntilReady(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (Ready(nullptr) && client_->stats().mode != RedisClient::Mode::kDiscovering) return true;
    if (absl::Now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

RedisReplayStore::Stats RedisReplayStore::stats() const {
  Stats s;
  s.redis = client_->stats();
  s.checks = counters_.checks.load(std::memory_order_relaxed);
  s.fresh = counters_.fresh.load(std::memory_order_relaxed);
  s.replayed = counters_.replayed.load(std::memory_order_relaxed);
  s.unavailable = counters_.unavailable.load(std::memory_order_relaxed);
  s.fast_fails = counters_.fast_fails.load(std::memory_order_relaxed);
  s.fallback_uses = counters_.fallback_uses.load(std::memory_order_relaxed);
  s.window_resets = counters_.window_resets.load(std::memory_order_relaxed);
  s.writeback_written = counters_.writeback_written.load(std::memory_order_relaxed);
  s.writeback_conflicts = counters_.writeback_conflicts.load(std::memory_order_relaxed);
  s.writeback_pending = writeback_pending_.load(std::memory_order_relaxed);
  s.breaker_opens = breakers_.opens();
  for (const std::shared_ptr<NodeBreakers::Node>& n : breakers_.All()) {
    const CircuitBreaker::State state = n->breaker.state();
    s.nodes.push_back({n->name.empty() ? "unmapped" : n->name, state, n->breaker.opens()});
    if (state == CircuitBreaker::State::kOpen || (state == CircuitBreaker::State::kHalfOpen &&
                                                  s.breaker == CircuitBreaker::State::kClosed)) {
      s.breaker = state;
    }
  }
  s.degraded = degraded_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace popguard
