// RedisReplayStore against real redis-server processes on loopback: a single
// node (fresh/replayed, PX expiry, key prefix, database, ACL login,
// pipelining over a fixed pool), failures (killed mid-run under both
// policies, restart and automatic recovery, DEBUG SLEEP timeouts, the
// breaker's fast path) and a 3-master cluster (keys on every master, replays
// detected before, during and after a slot migration via ASK and MOVED).
#include "storage/redis_replay_store.h"

#include <hiredis/hiredis.h>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "storage/redis_key_slot.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/test_seed.h"

namespace popguard {
namespace {

using redis_testing::RedisCluster;
using redis_testing::RedisServer;
using SteadyClock = std::chrono::steady_clock;

const char* Name(ReplayResult r) {
  switch (r) {
    case ReplayResult::kFresh:
      return "fresh";
    case ReplayResult::kReplayed:
      return "replayed";
    case ReplayResult::kFull:
      return "full";
    case ReplayResult::kUnavailable:
      return "unavailable";
    case ReplayResult::kWindowReset:
      return "window_reset";
  }
  return "?";
}

// NewKey returns 16 random bytes, the shape of the validator's replay keys.
std::string NewKey() {
  static absl::Mutex mu;
  static std::mt19937_64 rng(std::random_device{}());
  absl::MutexLock lock(&mu);
  std::string key(16, '\0');
  for (size_t i = 0; i < key.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(&key[i], &v, 8);
  }
  return key;
}

// LogCapture collects the store's log events as "level event: detail".
class LogCapture {
 public:
  RedisLogSink Sink() {
    return [this](RedisLogLevel level, std::string_view event, std::string_view detail) {
      absl::MutexLock lock(&mu_);
      lines_.push_back(absl::StrCat(level == RedisLogLevel::kInfo   ? "info "
                                    : level == RedisLogLevel::kWarn ? "warn "
                                                                    : "error ",
                                    std::string(event), ": ", std::string(detail)));
    };
  }
  int Count(std::string_view needle) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const std::string& l : lines_) n += absl::StrContains(l, std::string(needle)) ? 1 : 0;
    return n;
  }
  std::string All() const {
    absl::MutexLock lock(&mu_);
    return absl::StrJoin(lines_, "\n");
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_;
};

RedisReplayStoreOptions Options(const std::vector<RedisEndpoint>& seeds, LogCapture* log) {
  RedisReplayStoreOptions o;
  o.redis.seeds = seeds;
  o.redis.connect_timeout = absl::Milliseconds(50);
  o.redis.command_timeout = absl::Milliseconds(50);
  o.redis.pool_size = 2;
  if (log != nullptr) o.redis.log = log->Sink();
  o.breaker_failures = 5;
  o.breaker_open = absl::Milliseconds(200);
  return o;
}

std::unique_ptr<RedisReplayStore> Ready(RedisReplayStoreOptions o) {
  auto store = RedisReplayStore::Create(std::move(o));
  EXPECT_TRUE(store->WaitUntilReady(absl::Seconds(5)));
  return store;
}

// Check runs one CheckAndInsert and waits for its answer.
ReplayResult Check(ReplayStore& store, std::string_view key,
                   absl::Duration ttl = absl::Seconds(60)) {
  absl::Notification done;
  ReplayResult out = ReplayResult::kFull;
  const absl::Time now = absl::Now();
  store.CheckAndInsert(key, now, now + ttl, [&](ReplayResult r) {
    out = r;
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

// WaitFor polls `cond` every 5 ms for up to `timeout`.
template <typename F>
bool WaitFor(F cond, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!cond()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ---------------------------------------------------------------------------
// Single node

TEST(RedisSingleNodeTest, FreshThenReplayed) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto store = Ready(Options({(*redis)->endpoint()}, nullptr));
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    const std::string key = NewKey();
    EXPECT_EQ(Check(*store, key), ReplayResult::kFresh);
    EXPECT_EQ(Check(*store, key), ReplayResult::kReplayed);
    EXPECT_EQ(Check(*store, key), ReplayResult::kReplayed);
    // Stored as prefix + hex, value "1".
    EXPECT_EQ((*redis)->CommandText({"GET", store->RedisKey(key)}), "1");
  }
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_EQ(s.fresh, 20u);
  EXPECT_EQ(s.replayed, 40u);
  EXPECT_EQ(s.unavailable, 0u);
  EXPECT_EQ(s.redis.mode, RedisClient::Mode::kSingleNode);
  EXPECT_EQ(s.redis.moved + s.redis.ask, 0u);
  EXPECT_EQ(store->RedisKey(std::string("\x00\xab\xff", 3)), "popguard:dpop:00abff");
}

// The request path's fast path (issue 15): while the client's loop thread
// sleeps in poll(2), the calling thread writes its command itself instead of
// handing it over (a wake-up and a context switch per request). Sequential
// checks find the loop asleep nearly every time; the answers and the timeout
// stay those of the loop (the reply is dispatched there).
TEST(RedisSingleNodeTest, CallerWritesItsOwnCommandWhileTheLoopSleeps) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto store = Ready(Options({(*redis)->endpoint()}, nullptr));
  const uint64_t inline_before = store->stats().redis.inline_writes;
  const uint64_t commands_before = store->stats().redis.commands;
  constexpr int kChecks = 100;
  for (int i = 0; i < kChecks; ++i) {
    SCOPED_TRACE(i);
    const std::string key = NewKey();
    EXPECT_EQ(Check(*store, key), ReplayResult::kFresh);
    EXPECT_EQ(Check(*store, key), ReplayResult::kReplayed);
  }
  const RedisReplayStore::Stats s = store->stats();
  // Probes may add commands; every check's command is among them.
  EXPECT_GE(s.redis.commands - commands_before, 2u * kChecks);
  EXPECT_LE(s.redis.inline_writes - inline_before, s.redis.commands - commands_before);
  // Not all: the loop may be awake (a reply, a probe, housekeeping) now and then.
  EXPECT_GE(s.redis.inline_writes - inline_before, 1u);
  EXPECT_EQ(s.redis.timeouts, 0u);
  EXPECT_EQ(s.unavailable, 0u);
}

TEST(RedisSingleNodeTest, ExpiryIsPxOfTheProofsRemainingLife) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto store = Ready(Options({(*redis)->endpoint()}, nullptr));
  const std::string key = NewKey();
  ASSERT_EQ(Check(*store, key, absl::Milliseconds(150)), ReplayResult::kFresh);
  int64_t pttl = 0;
  ASSERT_TRUE(absl::SimpleAtoi((*redis)->CommandText({"PTTL", store->RedisKey(key)}), &pttl));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 150);
  EXPECT_EQ(Check(*store, key, absl::Milliseconds(150)), ReplayResult::kReplayed);
  // Once the window has passed, the key is gone from Redis itself.
  EXPECT_TRUE(WaitFor(
      [&] {
        return (*redis)->CommandText({"EXISTS", store->RedisKey(key)}) == "0";
      },
      absl::Seconds(2)));
  EXPECT_EQ(Check(*store, key), ReplayResult::kFresh);
  // An expiry already past still records for 1 ms and answers by presence.
  const std::string live = NewKey();
  ASSERT_EQ(Check(*store, live), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store, live, absl::ZeroDuration()), ReplayResult::kReplayed);
}

TEST(RedisSingleNodeTest, KeyPrefixAndDatabase) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisReplayStoreOptions a = Options({(*redis)->endpoint()}, nullptr);
  a.key_prefix = "tenant-a:jti:";
  RedisReplayStoreOptions b = a;
  b.key_prefix = "tenant-b:jti:";
  b.redis.database = 3;
  auto store_a = Ready(a);
  auto store_b = Ready(b);
  const std::string key = NewKey();
  const std::string hex = absl::BytesToHexString(absl::string_view(key.data(), key.size()));
  EXPECT_EQ(Check(*store_a, key), ReplayResult::kFresh);
  // Another prefix (and database) is another window.
  EXPECT_EQ(Check(*store_b, key), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store_b, key), ReplayResult::kReplayed);
  EXPECT_EQ((*redis)->CommandText({"EXISTS", "tenant-a:jti:" + hex}, /*db=*/0), "1");
  EXPECT_EQ((*redis)->CommandText({"EXISTS", "tenant-b:jti:" + hex}, /*db=*/0), "0");
  EXPECT_EQ((*redis)->CommandText({"EXISTS", "tenant-b:jti:" + hex}, /*db=*/3), "1");
}

TEST(RedisSingleNodeTest, ManyConcurrentRequestsShareThePool) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, nullptr);
  o.redis.pool_size = 2;
  // Generous: this test is about sharing connections, not latency.
  o.redis.command_timeout = absl::Seconds(2);
  auto store = Ready(o);
  ASSERT_EQ((*redis)->PopguardConnections(), 2);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::vector<std::string> keys(kThreads * kPerThread);
  for (std::string& k : keys) k = NewKey();
  // Round 1: every key fresh. All requests are issued without waiting, so
  // thousands are in flight at once on two connections.
  for (ReplayResult expected : {ReplayResult::kFresh, ReplayResult::kReplayed}) {
    SCOPED_TRACE(Name(expected));
    std::atomic<int> wrong{0};
    absl::BlockingCounter pending(static_cast<int>(keys.size()));
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const absl::Time now = absl::Now();
        for (int i = 0; i < kPerThread; ++i) {
          store->CheckAndInsert(keys[t * kPerThread + i], now, now + absl::Seconds(60),
                                [&](ReplayResult r) {
                                  if (r != expected) wrong.fetch_add(1);
                                  pending.DecrementCount();
                                });
        }
      });
    }
    for (auto& t : threads) t.join();
    pending.Wait();
    EXPECT_EQ(wrong.load(), 0);
  }
  // Still exactly the pool: no connection per request, no reconnects.
  EXPECT_EQ((*redis)->PopguardConnections(), 2);
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_EQ(s.redis.connects, 2u);
  EXPECT_EQ(s.redis.commands, 2u * keys.size());
  EXPECT_EQ(s.redis.replies, 2u * keys.size());
  EXPECT_EQ(s.redis.timeouts, 0u);
}

TEST(RedisSingleNodeTest, AclUserLogsIn) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  // The least a popguard user needs (docs/config.md).
  ASSERT_EQ(
      (*redis)->CommandText({"ACL", "SETUSER", "popguard", "on", ">s3cret-pw", "~popguard:dpop:*",
                             "+set", "+cluster|slots", "+asking", "+client|setname", "+info"}),
      "OK");
  LogCapture log;
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, &log);
  o.redis.username = "popguard";
  o.redis.password = "s3cret-pw";
  auto store = Ready(o);
  const std::string key = NewKey();
  EXPECT_EQ(Check(*store, key), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store, key), ReplayResult::kReplayed);
  EXPECT_TRUE(absl::StrContains((*redis)->CommandText({"CLIENT", "LIST"}), "user=popguard"));
}

TEST(RedisSingleNodeTest, WrongPasswordIsUnavailable) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  ASSERT_EQ((*redis)->CommandText({"ACL", "SETUSER", "popguard", "on", ">right-pw", "~*", "+@all"}),
            "OK");
  LogCapture log;
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, &log);
  o.redis.username = "popguard";
  o.redis.password = "wrong-pw-do-not-log";
  auto store = RedisReplayStore::Create(o);
  EXPECT_FALSE(store->WaitUntilReady(absl::Milliseconds(300)));
  std::string why;
  EXPECT_FALSE(store->Ready(&why));
  EXPECT_EQ(why, "no redis node reachable");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Check(*store, NewKey()), ReplayResult::kUnavailable);
  EXPECT_GE(log.Count("WRONGPASS"), 1) << log.All();
  EXPECT_EQ(log.Count("wrong-pw-do-not-log"), 0) << log.All();
  // The handshake never let a SET through as anyone.
  EXPECT_EQ((*redis)->CommandText({"DBSIZE"}), "0");
}

TEST(RedisSingleNodeTest, SeveralAddressesThatAreNotAClusterAreRefused) {
  auto a = RedisServer::Start();
  auto b = RedisServer::Start();
  ASSERT_TRUE(a.ok() && b.ok());
  LogCapture log;
  auto store = RedisReplayStore::Create(Options({(*a)->endpoint(), (*b)->endpoint()}, &log));
  ASSERT_TRUE(WaitFor([&] { return log.Count("redis_topology_invalid") > 0; }, absl::Seconds(3)))
      << log.All();
  EXPECT_EQ(Check(*store, NewKey()), ReplayResult::kUnavailable);
  EXPECT_EQ((*a)->CommandText({"DBSIZE"}), "0");
  EXPECT_EQ((*b)->CommandText({"DBSIZE"}), "0");
}

// ---------------------------------------------------------------------------
// Failures

// Results per key, recorded by many threads.
class Ledger {
 public:
  void Record(const std::string& key, ReplayResult r) {
    absl::MutexLock lock(&mu_);
    results_[key].push_back(r);
  }
  // FreshTwice lists keys that were answered kFresh more than once.
  int FreshTwice() const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [key, rs] : results_) {
      n += std::count(rs.begin(), rs.end(), ReplayResult::kFresh) > 1 ? 1 : 0;
    }
    return n;
  }
  int Count(ReplayResult want) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [key, rs] : results_) n += std::count(rs.begin(), rs.end(), want);
    return static_cast<int>(n);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::vector<ReplayResult>> results_;
};

// Traffic sends, until stopped, a mix of new keys and replays of keys
// already accepted, from `threads` threads, recording every answer.
class Traffic {
 public:
  Traffic(ReplayStore* store, Ledger* ledger, std::vector<std::string> seen, int threads)
      : store_(store), ledger_(ledger), seen_(std::move(seen)) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this, t] { Run(t); });
  }
  ~Traffic() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run(int t) {
    std::mt19937 rng(testing_support::TestSeed(t));
    while (!stop_.load()) {
      const std::string fresh = NewKey();
      ledger_->Record(fresh, Check(*store_, fresh));
      const std::string& old = seen_[rng() % seen_.size()];
      ledger_->Record(old, Check(*store_, old));
    }
  }

  ReplayStore* store_;
  Ledger* ledger_;
  const std::vector<std::string> seen_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

TEST(RedisFailureTest, KilledMidRunFailClosedNeverAcceptsAReplay) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log;
  auto store = Ready(Options({(*redis)->endpoint()}, &log));
  Ledger ledger;
  std::vector<std::string> seen(100);
  for (std::string& k : seen) {
    k = NewKey();
    ledger.Record(k, Check(*store, k));
  }
  ASSERT_EQ(ledger.Count(ReplayResult::kFresh), 100);
  {
    Traffic traffic(store.get(), &ledger, seen, /*threads=*/4);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    (*redis)->Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
  }
  // The invariant: no key was ever fresh twice, i.e. no replay was let
  // through, before, during or after the kill. Denials are kUnavailable.
  EXPECT_EQ(ledger.FreshTwice(), 0);
  EXPECT_EQ(ledger.Count(ReplayResult::kFull), 0);
  EXPECT_GT(ledger.Count(ReplayResult::kReplayed), 0);
  EXPECT_GT(ledger.Count(ReplayResult::kUnavailable), 0);
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_GE(s.breaker_opens, 1u);
  EXPECT_GT(s.fast_fails, 0u);
  EXPECT_EQ(s.fallback_uses, 0u);
  std::string why;
  EXPECT_FALSE(store->Ready(&why));
  EXPECT_GE(log.Count("redis_node_unreachable"), 1) << log.All();
  EXPECT_GE(log.Count("replay_store_breaker_open"), 1) << log.All();

  // Restarted on the same port, the store recovers by itself, without a
  // single request (a replica that is not ready gets no traffic): the
  // background probe closes the breaker.
  const uint64_t checks = store->stats().checks;
  ASSERT_TRUE((*redis)->Restart().ok());
  const auto t0 = SteadyClock::now();
  EXPECT_TRUE(WaitFor([&] { return store->Ready(nullptr); }, absl::Seconds(5))) << log.All();
  EXPECT_LT(SteadyClock::now() - t0, std::chrono::seconds(5));
  EXPECT_EQ(store->stats().checks, checks);
  EXPECT_EQ(store->stats().breaker, CircuitBreaker::State::kClosed);
  EXPECT_GE(log.Count("replay_store_breaker_closed"), 1) << log.All();
  const std::string k = NewKey();
  EXPECT_EQ(Check(*store, k), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
}

TEST(RedisFailureTest, OpenBreakerFailsFast) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, nullptr);
  o.breaker_open = absl::Seconds(30);  // stays open for the whole test
  auto store = Ready(o);
  (*redis)->Kill();
  ASSERT_TRUE(WaitFor(
      [&] {
        Check(*store, NewKey());
        return store->stats().breaker == CircuitBreaker::State::kOpen;
      },
      absl::Seconds(3)));
  const uint64_t commands = store->stats().redis.commands;
  const uint64_t fast_before = store->stats().fast_fails;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(Check(*store, NewKey()), ReplayResult::kUnavailable);
  }
  // Fast means: no command is attempted (so nothing waits for a timeout).
  // How fast is measured by BM_RedisBreakerOpen_FastFail in
  // bench/replay_window_benchmark.cc, not with a wall clock under ctest -j.
  EXPECT_EQ(store->stats().redis.commands, commands);
  EXPECT_EQ(store->stats().fast_fails, fast_before + 100);
}

TEST(RedisFailureTest, LocalFallbackKeepsAnsweringAndRecovers) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log;
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, &log);
  o.failure_policy = ReplayFailurePolicy::kLocalFallback;
  auto store = Ready(o);
  const std::string before = NewKey();
  ASSERT_EQ(Check(*store, before), ReplayResult::kFresh);

  (*redis)->Kill();
  // Every call is answered, from the local window: new keys fresh, replays
  // of keys this replica accepted (before or during the outage) replayed.
  const std::string during = NewKey();
  EXPECT_EQ(Check(*store, during), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store, during), ReplayResult::kReplayed);
  EXPECT_EQ(Check(*store, before), ReplayResult::kReplayed);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Check(*store, NewKey()), ReplayResult::kFresh);
  RedisReplayStore::Stats s = store->stats();
  EXPECT_TRUE(s.degraded);
  EXPECT_GE(s.fallback_uses, 53u);
  EXPECT_EQ(s.unavailable, 0u);
  EXPECT_EQ(log.Count("replay_store_degraded"), 1) << log.All();

  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_TRUE(WaitFor(
      [&] { return Check(*store, NewKey()) == ReplayResult::kFresh && !store->stats().degraded; },
      absl::Seconds(5)))
      << log.All();
  EXPECT_EQ(log.Count("replay_store_recovered"), 1) << log.All();
  // Redis never saw `during` (and lost `before` in the restart), but this
  // replica remembers both.
  EXPECT_EQ(Check(*store, during), ReplayResult::kReplayed);
  EXPECT_EQ(Check(*store, before), ReplayResult::kReplayed);
}

TEST(RedisFailureTest, SlowRedisTripsTheCommandTimeout) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, nullptr);
  o.redis.command_timeout = absl::Milliseconds(50);
  auto store = Ready(o);
  // Redis holds writes until CLIENT UNPAUSE: the SET cannot be answered
  // before that, so an answer before it comes from command_timeout.
  ASSERT_EQ((*redis)->CommandText({"CLIENT", "PAUSE", "10000", "WRITE"}), "OK");
  const std::string key = NewKey();
  const auto t0 = SteadyClock::now();
  EXPECT_EQ(Check(*store, key), ReplayResult::kUnavailable);
  // A lower bound only (load makes it later, never earlier).
  EXPECT_GE(SteadyClock::now() - t0, std::chrono::milliseconds(45));
  EXPECT_GE(store->stats().redis.timeouts, 1u);
  EXPECT_EQ(store->stats().redis.late_replies, 0u);  // Redis has not answered yet
  ASSERT_EQ((*redis)->CommandText({"CLIENT", "UNPAUSE"}), "OK");
  // The late reply is dropped (the callback ran once), the connection stays
  // usable, and the SET did run: the key now counts as seen.
  EXPECT_TRUE(WaitFor([&] { return store->stats().redis.late_replies >= 1; }, absl::Seconds(2)));
  EXPECT_EQ(Check(*store, key), ReplayResult::kReplayed);
  EXPECT_EQ(Check(*store, NewKey()), ReplayResult::kFresh);
  EXPECT_EQ(store->stats().redis.connects, 2u);
}

// CheckIssued is Check for a proof issued at `issued_at`.
ReplayResult CheckIssued(ReplayStore& store, std::string_view key, absl::Time issued_at) {
  absl::Notification done;
  ReplayResult out = ReplayResult::kFull;
  const absl::Time now = absl::Now();
  store.CheckAndInsert(key, now, now + absl::Seconds(60), issued_at, [&](ReplayResult r) {
    out = r;
    done.Notify();
  });
  done.WaitForNotification();
  return out;
}

// Issue 11.1: a server that restarts without persistence comes back empty.
// Every proof accepted before is then refused with kWindowReset (not let
// through as fresh), proofs issued after the restart was noticed are fresh,
// and the loss is noticed once per restart.
TEST(RedisStateLossTest, RestartedEmptyServerRefusesProofsIssuedBeforeTheLoss) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log;
  auto store = Ready(Options({(*redis)->endpoint()}, &log));
  const absl::Time issued = absl::Now();
  std::vector<std::string> before(50);
  for (std::string& k : before) {
    k = NewKey();
    ASSERT_EQ(CheckIssued(*store, k, issued), ReplayResult::kFresh);
  }
  EXPECT_EQ(store->stats().redis.state_losses, 0u);

  (*redis)->Kill();  // SIGKILL; restarted with --save "" --appendonly no: empty
  ASSERT_TRUE((*redis)->Restart().ok());
  ASSERT_EQ((*redis)->ReplayKeys(), 0);
  ASSERT_TRUE(WaitFor([&] { return store->Ready(nullptr); }, absl::Seconds(5))) << log.All();
  for (size_t i = 0; i < before.size(); ++i) {
    SCOPED_TRACE(i);
    // The server lost the entry, so SET NX succeeds: without the run_id check
    // this replay would be fresh.
    ReplayResult r = CheckIssued(*store, before[i], issued);
    // A check that raced the reconnect may fail; it is never fresh.
    while (r == ReplayResult::kUnavailable) r = CheckIssued(*store, before[i], issued);
    EXPECT_EQ(std::string_view(Name(r)), "window_reset");
  }
  // Proofs made after the restart was noticed are fresh, then replayed.
  const absl::Time later = absl::Now();
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE(i);
    const std::string k = NewKey();
    EXPECT_EQ(std::string_view(Name(CheckIssued(*store, k, later))), "fresh");
    EXPECT_EQ(std::string_view(Name(CheckIssued(*store, k, later))), "replayed");
  }
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_EQ(s.redis.state_losses, 1u);  // two connections, one restart
  EXPECT_EQ(s.window_resets, before.size());
  EXPECT_EQ(log.Count("redis_node_state_lost"), 1) << log.All();
}

// A server met for the first time: what it lost before is unknowable, so
// the store dates its state to the whole second of the first handshake
// (RedisClient::Loop::OnServerReady). A proof issued in an earlier second is
// refused with kWindowReset; one issued in the second the store was ready is
// fresh (iat has whole-second precision). No loss is counted or logged.
TEST(RedisStateLossTest, FirstSightIsDatedToTheWholeSecondOfTheHandshake) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log;
  const absl::Time before_create = absl::Now();
  auto store = Ready(Options({(*redis)->endpoint()}, &log));
  const absl::Time ready_at = absl::Now();
  // The handshake's second lies in [floor(before_create), floor(ready_at)].
  const absl::Time earlier_second =
      absl::FromUnixSeconds(absl::ToUnixSeconds(before_create)) - absl::Seconds(1);
  const absl::Time ready_second = absl::FromUnixSeconds(absl::ToUnixSeconds(ready_at));
  EXPECT_EQ(std::string_view(Name(CheckIssued(*store, NewKey(), earlier_second))), "window_reset");
  const std::string key = NewKey();
  EXPECT_EQ(std::string_view(Name(CheckIssued(*store, key, ready_second))), "fresh");
  EXPECT_EQ(std::string_view(Name(CheckIssued(*store, key, ready_second))), "replayed");
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_EQ(s.window_resets, 1u);
  EXPECT_EQ(s.redis.state_losses, 0u);
  EXPECT_EQ(log.Count("redis_node_state_lost"), 0) << log.All();
}

// StateMarkers lists popguard's state markers on `redis` (RedisClient).
std::vector<std::string> StateMarkers(const RedisServer& redis) {
  std::vector<std::string> out;
  absl::StatusOr<RedisReplyPtr> r = redis.Command({"KEYS", "*"});
  if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    std::string key((*r)->element[i]->str, (*r)->element[i]->len);
    if (redis_testing::IsStateMarker(key)) out.push_back(std::move(key));
  }
  return out;
}

// SetCalls returns how many SET commands `redis` has run (INFO commandstats):
// with no traffic, the state marker's checks.
int64_t SetCalls(const RedisServer& redis) {
  const std::string info = redis.CommandText({"INFO", "commandstats"});
  const size_t at = info.find("cmdstat_set:calls=");
  int64_t n = 0;
  if (at == std::string::npos) return 0;
  const size_t from = at + std::string_view("cmdstat_set:calls=").size();
  if (!absl::SimpleAtoi(info.substr(from, info.find(',', from) - from), &n)) return -1;
  return n;
}

// Issue 11.1, without a restart: a server emptied in place keeps its run_id,
// so only the store's state marker tells. Once its absence is noticed (by the
// background check, no request needed), every proof accepted before is
// refused with kWindowReset, proofs issued afterwards are fresh, the loss is
// counted once, and the marker is back.
TEST(RedisStateLossTest, EmptiedServerRefusesProofsIssuedBeforeTheLoss) {
  struct Case {
    const char* name;
    std::vector<std::string> empty;  // the command that empties the server
  };
  const Case cases[] = {
      {"FLUSHALL", {"FLUSHALL"}},
      {"FLUSHDB", {"FLUSHDB"}},
      {"FLUSHALL ASYNC", {"FLUSHALL", "ASYNC"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto redis = RedisServer::Start();
    ASSERT_TRUE(redis.ok()) << redis.status();
    LogCapture log;
    RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, &log);
    o.redis.marker_interval = absl::Milliseconds(20);
    auto store = Ready(o);
    // The marker is written when the node is first seen.
    ASSERT_TRUE(WaitFor([&] { return StateMarkers(**redis).size() == 1; }, absl::Seconds(2)));
    const std::string marker = StateMarkers(**redis)[0];
    EXPECT_EQ(marker.rfind("popguard:dpop:marker:", 0), 0u) << marker;
    const absl::Time issued = absl::Now();
    std::vector<std::string> before(30);
    for (std::string& k : before) {
      k = NewKey();
      ASSERT_EQ(CheckIssued(*store, k, issued), ReplayResult::kFresh);
    }
    EXPECT_EQ((*redis)->ReplayKeys(), 30);

    ASSERT_EQ((*redis)->CommandText(c.empty), "OK");
    ASSERT_TRUE(WaitFor([&] { return log.Count("redis_node_state_lost") == 1; }, absl::Seconds(2)))
        << log.All();
    for (size_t i = 0; i < before.size(); ++i) {
      SCOPED_TRACE(i);
      // Without the marker this replay would be fresh: the key is gone.
      EXPECT_EQ(std::string_view(Name(CheckIssued(*store, before[i], issued))), "window_reset");
    }
    const absl::Time later = absl::Now();
    for (int i = 0; i < 10; ++i) {
      SCOPED_TRACE(i);
      const std::string k = NewKey();
      EXPECT_EQ(std::string_view(Name(CheckIssued(*store, k, later))), "fresh");
      EXPECT_EQ(std::string_view(Name(CheckIssued(*store, k, later))), "replayed");
    }
    // Written again, and the loss is not counted again by the checks after.
    EXPECT_TRUE(WaitFor([&] { return StateMarkers(**redis) == std::vector<std::string>{marker}; },
                        absl::Seconds(2)));
    const int64_t sets = SetCalls(**redis);
    EXPECT_TRUE(WaitFor([&] { return SetCalls(**redis) >= sets + 5; }, absl::Seconds(2)));
    const RedisReplayStore::Stats s = store->stats();
    EXPECT_EQ(s.redis.state_losses, 1u);
    EXPECT_EQ(s.window_resets, before.size());
    EXPECT_EQ(log.Count("redis_node_state_lost"), 1) << log.All();
    EXPECT_EQ(log.Count("lost popguard's marker key"), 1) << log.All();
  }
}

// A restart is one loss, not two: the new run_id dates it, and the marker the
// empty server lacks is written anew rather than reported missing.
TEST(RedisStateLossTest, RestartIsCountedOnceWithTheMarker) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log;
  RedisReplayStoreOptions o = Options({(*redis)->endpoint()}, &log);
  o.redis.marker_interval = absl::Milliseconds(10);
  auto store = Ready(o);
  ASSERT_TRUE(WaitFor([&] { return StateMarkers(**redis).size() == 1; }, absl::Seconds(2)));
  (*redis)->Kill();
  ASSERT_TRUE((*redis)->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return StateMarkers(**redis).size() == 1; }, absl::Seconds(5)))
      << log.All();
  // Marker checks after the rewrite (no traffic: every SET is one) report
  // no further loss.
  const int64_t sets = SetCalls(**redis);
  EXPECT_TRUE(WaitFor([&] { return SetCalls(**redis) >= sets + 10; }, absl::Seconds(2)));
  EXPECT_EQ(store->stats().redis.state_losses, 1u);
  EXPECT_EQ(log.Count("redis_node_state_lost"), 1) << log.All();
  EXPECT_EQ(log.Count("restarted (new run_id)"), 1) << log.All();
}

// Issue 11.2: with local_fallback, the proofs replica A accepted on its own
// during an outage are written to Redis when it returns, before A reports
// ready, so that no other replica accepts them afterwards. A proof both
// replicas accepted during the outage (a replay nobody could see) is counted.
TEST(RedisFailureTest, LocalFallbackWritesBackBeforeReportingReady) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  LogCapture log_a, log_b;
  RedisReplayStoreOptions oa = Options({(*redis)->endpoint()}, &log_a);
  oa.failure_policy = ReplayFailurePolicy::kLocalFallback;
  RedisReplayStoreOptions ob = Options({(*redis)->endpoint()}, &log_b);
  ob.failure_policy = ReplayFailurePolicy::kLocalFallback;
  auto a = Ready(oa);
  auto b = Ready(ob);

  (*redis)->Kill();
  std::vector<std::string> keys(100);
  for (std::string& k : keys) {
    k = NewKey();
    ASSERT_EQ(Check(*a, k), ReplayResult::kFresh);
  }
  // B accepts ten of them too: replays across replicas during the outage.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Check(*b, keys[i]), ReplayResult::kFresh);
  EXPECT_EQ(a->stats().writeback_pending, 100u);
  std::string why;
  EXPECT_FALSE(a->Ready(&why));

  ASSERT_TRUE((*redis)->Restart().ok());
  ASSERT_TRUE(WaitFor([&] { return a->Ready(nullptr) && b->Ready(nullptr); }, absl::Seconds(10)))
      << log_a.All() << "\n"
      << log_b.All();
  // Ready means written back: every key is in Redis now.
  const RedisReplayStore::Stats sa = a->stats(), sb = b->stats();
  EXPECT_EQ(sa.writeback_pending, 0u);
  EXPECT_EQ(sb.writeback_pending, 0u);
  EXPECT_EQ(sa.writeback_written + sb.writeback_written, 100u);
  EXPECT_EQ(sa.writeback_conflicts + sb.writeback_conflicts, 10u);
  EXPECT_FALSE(sa.degraded);
  EXPECT_EQ(log_a.Count("replay_store_recovered"), 1) << log_a.All();
  for (size_t i = 0; i < keys.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*redis)->CommandText({"EXISTS", a->RedisKey(keys[i])}), "1");
    // B never saw keys[10..]: Redis tells it.
    EXPECT_EQ(std::string_view(Name(Check(*b, keys[i]))), "replayed");
  }
  int64_t pttl = 0;
  ASSERT_TRUE(absl::SimpleAtoi((*redis)->CommandText({"PTTL", a->RedisKey(keys[99])}), &pttl));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 60000);  // the remaining lifetime, not a new one
}

// ---------------------------------------------------------------------------
// Cluster

class RedisClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = RedisCluster::Start(3);
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (cluster_ == nullptr) GTEST_SKIP() << "no cluster";
  }

  static std::vector<RedisEndpoint> Seeds() {
    std::vector<RedisEndpoint> out;
    for (int i = 0; i < cluster_->size(); ++i) out.push_back(cluster_->node(i).endpoint());
    return out;
  }

  // StartMarkedStore empties every master (earlier stores' state markers
  // stay until their TTL and would blur the counts), starts a store checking
  // its markers every 20 ms, and waits until each master holds its marker.
  static void StartMarkedStore(LogCapture* log, std::unique_ptr<RedisReplayStore>* store) {
    for (int i = 0; i < cluster_->size(); ++i) {
      ASSERT_EQ(cluster_->node(i).CommandText({"FLUSHALL"}), "OK");
    }
    RedisReplayStoreOptions o = Options(Seeds(), log);
    o.redis.marker_interval = absl::Milliseconds(20);
    *store = Ready(o);
    for (int i = 0; i < cluster_->size(); ++i) {
      SCOPED_TRACE(i);
      ASSERT_TRUE(
          WaitFor([&] { return StateMarkers(cluster_->node(i)).size() == 1; }, absl::Seconds(2)));
    }
  }

  static RedisCluster* cluster_;
};

RedisCluster* RedisClusterTest::cluster_ = nullptr;

TEST_F(RedisClusterTest, KeysSpreadOverEveryMasterFromOneSeed) {
  // One seed is enough: the rest is discovered.
  auto store = Ready(Options({cluster_->node(1).endpoint()}, nullptr));
  std::vector<std::string> keys(300);
  for (std::string& k : keys) {
    k = NewKey();
    EXPECT_EQ(Check(*store, k), ReplayResult::kFresh);
  }
  for (const std::string& k : keys) EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  int total = 0;
  for (int i = 0; i < cluster_->size(); ++i) {
    SCOPED_TRACE(i);
    int64_t n = 0;
    n = cluster_->node(i).ReplayKeys();
    EXPECT_GT(n, 50);  // ~100 each
    total += static_cast<int>(n);
  }
  EXPECT_EQ(total, 300);
  const RedisReplayStore::Stats s = store->stats();
  EXPECT_EQ(s.redis.mode, RedisClient::Mode::kCluster);
  // The map was right from the start: no redirection was needed.
  EXPECT_EQ(s.redis.moved + s.redis.ask, 0u);
  EXPECT_EQ(s.redis.ready_connections, 2 * cluster_->size());
}

TEST_F(RedisClusterTest, ReplaysDetectedAcrossASlotMigration) {
  // A hash tag in the prefix puts every key in one slot, the one we move.
  LogCapture log;
  RedisReplayStoreOptions o = Options(Seeds(), &log);
  o.key_prefix = "{popguard-migration}:";
  const int slot = RedisKeySlot(o.key_prefix);
  auto store = Ready(o);
  const int src = cluster_->OwnerOfSlot(slot);
  ASSERT_GE(src, 0);
  const int dst = (src + 1) % cluster_->size();
  RedisServer& from = cluster_->node(src);
  RedisServer& to = cluster_->node(dst);
  const std::string s = std::to_string(slot);

  // Before: keys live on the source.
  std::vector<std::string> before(20);
  for (std::string& k : before) {
    k = NewKey();
    ASSERT_EQ(Check(*store, k), ReplayResult::kFresh) << log.All();
  }

  // During: the slot is migrating. New keys are created on the target (the
  // source answers ASK); old keys are still found on the source.
  ASSERT_EQ(to.CommandText({"CLUSTER", "SETSLOT", s, "IMPORTING", cluster_->NodeId(src)}), "OK");
  ASSERT_EQ(from.CommandText({"CLUSTER", "SETSLOT", s, "MIGRATING", cluster_->NodeId(dst)}), "OK");
  std::vector<std::string> during(20);
  for (std::string& k : during) {
    k = NewKey();
    EXPECT_EQ(Check(*store, k), ReplayResult::kFresh);
    EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  }
  for (const std::string& k : before) EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  EXPECT_GT(store->stats().redis.ask, 0u);
  EXPECT_EQ(to.ReplayKeys(slot, o.key_prefix), 20);

  // Move the old keys (TTLs travel with them); replays are still caught, by
  // ASK to the target, while the slot is half-moved.
  const std::string listed = from.CommandText({"CLUSTER", "GETKEYSINSLOT", s, "1000"});
  std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(to.port()), "", "0",
                                      "5000",    "KEYS"};
  for (const std::string& k : before) migrate.push_back(store->RedisKey(k));
  ASSERT_EQ(from.CommandText(migrate), "OK") << listed;
  const uint64_t ask_before = store->stats().redis.ask;
  for (const std::string& k : before) EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  EXPECT_GE(store->stats().redis.ask, ask_before + before.size());

  // Redis refuses SETSLOT NODE while the source still holds keys of the slot:
  // anything else written there meanwhile (under load, a breaker probe's key
  // can land in this slot) moves too, and is named in the output.
  auto rest = from.Command({"CLUSTER", "GETKEYSINSLOT", s, "1000"});
  ASSERT_TRUE(rest.ok()) << rest.status();
  if ((*rest)->type == REDIS_REPLY_ARRAY && (*rest)->elements > 0) {
    std::vector<std::string> more = {"MIGRATE", "127.0.0.1", std::to_string(to.port()), "", "0",
                                     "5000",    "KEYS"};
    for (size_t i = 0; i < (*rest)->elements; ++i) {
      more.emplace_back((*rest)->element[i]->str, (*rest)->element[i]->len);
    }
    std::cout << "[ note     ] " << (*rest)->elements << " other key(s) in slot " << s
              << " on the source: " << from.CommandText({"CLUSTER", "GETKEYSINSLOT", s, "1000"})
              << "\n";
    ASSERT_EQ(from.CommandText(more), "OK");
  }
  // After: the target owns the slot. The store's map is stale, so the first
  // command gets MOVED, the map is refreshed, and everything is found.
  for (int i = 0; i < cluster_->size(); ++i) {
    ASSERT_EQ(
        cluster_->node(i).CommandText({"CLUSTER", "SETSLOT", s, "NODE", cluster_->NodeId(dst)}),
        "OK");
  }
  const uint64_t refreshes = store->stats().redis.slot_refreshes;
  for (const std::string& k : before) EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  for (const std::string& k : during) EXPECT_EQ(Check(*store, k), ReplayResult::kReplayed);
  const std::string after = NewKey();
  EXPECT_EQ(Check(*store, after), ReplayResult::kFresh);
  EXPECT_EQ(Check(*store, after), ReplayResult::kReplayed);
  EXPECT_GE(store->stats().redis.moved, 1u);
  EXPECT_TRUE(
      WaitFor([&] { return store->stats().redis.slot_refreshes > refreshes; }, absl::Seconds(2)));
  EXPECT_EQ(from.CommandText({"CLUSTER", "COUNTKEYSINSLOT", s}), "0");
  // The store's state marker, in this slot too (the prefix's hash tag), has
  // moved with it; only this test's replay keys are counted (another test's
  // key that hashed to this slot moved too: fresh-clone run, 2026-12-03).
  EXPECT_EQ(to.ReplayKeys(slot, o.key_prefix), 41);
  // A fresh store learns the new owner from CLUSTER SLOTS: no redirection.
  auto fresh_store = Ready(o);
  for (const std::string& k : before) EXPECT_EQ(Check(*fresh_store, k), ReplayResult::kReplayed);
  EXPECT_EQ(fresh_store->stats().redis.moved + fresh_store->stats().redis.ask, 0u);
}

// Issue 11.1 on a cluster: each master carries its own marker, so emptying
// one (FLUSHALL on it, no restart) refuses exactly the proofs whose keys it
// held; the others are still found.
TEST_F(RedisClusterTest, EmptiedMasterRefusesOnlyTheProofsItHeld) {
  LogCapture log;
  std::unique_ptr<RedisReplayStore> store;
  ASSERT_NO_FATAL_FAILURE(StartMarkedStore(&log, &store));
  const absl::Time issued = absl::Now();
  std::vector<std::string> keys(60);
  for (std::string& k : keys) {
    k = NewKey();
    ASSERT_EQ(CheckIssued(*store, k, issued), ReplayResult::kFresh);
  }
  const int victim = cluster_->OwnerOfSlot(RedisKeySlot(store->RedisKey(keys[0])));
  ASSERT_GE(victim, 0);
  ASSERT_EQ(cluster_->node(victim).CommandText({"FLUSHALL"}), "OK");
  ASSERT_TRUE(WaitFor([&] { return log.Count("redis_node_state_lost") == 1; }, absl::Seconds(2)))
      << log.All();
  int on_victim = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    SCOPED_TRACE(i);
    const bool lost = cluster_->OwnerOfSlot(RedisKeySlot(store->RedisKey(keys[i]))) == victim;
    on_victim += lost ? 1 : 0;
    EXPECT_EQ(std::string_view(Name(CheckIssued(*store, keys[i], issued))),
              lost ? "window_reset" : "replayed");
  }
  EXPECT_GT(on_victim, 0);
  EXPECT_LT(on_victim, 60);
  EXPECT_EQ(store->stats().redis.state_losses, 1u);
  EXPECT_TRUE(absl::StrContains(log.All(), cluster_->node(victim).address())) << log.All();
}

// MoveSlot migrates `slot` (and every key in it) from master `from` to `to`.
void MoveSlot(RedisCluster& cluster, int slot, int from, int to) {
  RedisServer& src = cluster.node(from);
  RedisServer& dst = cluster.node(to);
  const std::string s = std::to_string(slot);
  ASSERT_EQ(dst.CommandText({"CLUSTER", "SETSLOT", s, "IMPORTING", cluster.NodeId(from)}), "OK");
  ASSERT_EQ(src.CommandText({"CLUSTER", "SETSLOT", s, "MIGRATING", cluster.NodeId(to)}), "OK");
  auto keys = src.Command({"CLUSTER", "GETKEYSINSLOT", s, "1000"});
  ASSERT_TRUE(keys.ok()) << keys.status();
  if ((*keys)->elements > 0) {
    std::vector<std::string> migrate = {"MIGRATE", "127.0.0.1", std::to_string(dst.port()), "", "0",
                                        "5000",    "KEYS"};
    for (size_t i = 0; i < (*keys)->elements; ++i) {
      migrate.emplace_back((*keys)->element[i]->str, (*keys)->element[i]->len);
    }
    ASSERT_EQ(src.CommandText(migrate), "OK");
  }
  for (int i = 0; i < cluster.size(); ++i) {
    ASSERT_EQ(cluster.node(i).CommandText({"CLUSTER", "SETSLOT", s, "NODE", cluster.NodeId(to)}),
              "OK");
  }
}

// The marker follows the node, not the slot: when its slot migrates away, a
// new one is placed in a slot the node still owns (the moved one is not
// taken for the new owner's), and emptying the node is still noticed.
TEST_F(RedisClusterTest, MarkerIsReplacedWhenItsSlotMigrates) {
  LogCapture log;
  std::unique_ptr<RedisReplayStore> store;
  ASSERT_NO_FATAL_FAILURE(StartMarkedStore(&log, &store));
  constexpr int kFrom = 0, kTo = 1;
  const std::string old_marker = StateMarkers(cluster_->node(kFrom))[0];
  const int slot = RedisKeySlot(old_marker);
  ASSERT_NO_FATAL_FAILURE(MoveSlot(*cluster_, slot, kFrom, kTo));
  // The old marker went with its slot; the source gets a new one.
  ASSERT_TRUE(
      WaitFor([&] { return StateMarkers(cluster_->node(kFrom)).size() == 1; }, absl::Seconds(3)))
      << log.All();
  const std::string new_marker = StateMarkers(cluster_->node(kFrom))[0];
  EXPECT_NE(new_marker, old_marker);
  EXPECT_EQ(cluster_->OwnerOfSlot(RedisKeySlot(new_marker)), kFrom);
  EXPECT_EQ(StateMarkers(cluster_->node(kTo)).size(), 2u);
  EXPECT_EQ(store->stats().redis.state_losses, 0u) << log.All();

  const absl::Time issued = absl::Now();
  std::string on_from;
  while (on_from.empty()) {
    std::string k = NewKey();
    if (cluster_->OwnerOfSlot(RedisKeySlot(store->RedisKey(k))) != kFrom) continue;
    ASSERT_EQ(CheckIssued(*store, k, issued), ReplayResult::kFresh);
    on_from = std::move(k);
  }
  ASSERT_EQ(cluster_->node(kFrom).CommandText({"FLUSHALL"}), "OK");
  ASSERT_TRUE(WaitFor([&] { return log.Count("redis_node_state_lost") == 1; }, absl::Seconds(2)))
      << log.All();
  EXPECT_EQ(std::string_view(Name(CheckIssued(*store, on_from, issued))), "window_reset");
  EXPECT_EQ(store->stats().redis.state_losses, 1u);
  // Leave the cluster as the other tests expect it.
  ASSERT_NO_FATAL_FAILURE(MoveSlot(*cluster_, slot, kTo, kFrom));
}

// Last in the suite: it kills a master. One breaker per node (issue 11.5):
// the dead master's keys get the failure policy, the live masters' keys keep
// being answered by Redis, and the store stays ready without flapping.
TEST_F(RedisClusterTest, DeadMasterOpensOnlyItsOwnBreaker) {
  constexpr int kDead = 2;
  struct Policy {
    const char* name;
    ReplayFailurePolicy policy;
    ReplayResult dead_key_seen_before;  // what a check of a key accepted before the kill gets
  };
  const Policy policies[] = {
      {"fail_closed", ReplayFailurePolicy::kFailClosed, ReplayResult::kUnavailable},
      // Accepted through Redis and recorded locally (write-through).
      {"local_fallback", ReplayFailurePolicy::kLocalFallback, ReplayResult::kReplayed},
  };
  struct Subject {
    std::unique_ptr<RedisReplayStore> store;
    std::vector<std::string> on_dead, on_live;
  };
  std::vector<Subject> subjects;
  for (const Policy& p : policies) {
    RedisReplayStoreOptions o = Options(Seeds(), nullptr);
    o.failure_policy = p.policy;
    Subject sub{Ready(o), {}, {}};
    while (sub.on_dead.size() < 10 || sub.on_live.size() < 10) {
      std::string k = NewKey();
      const int owner = cluster_->OwnerOfSlot(RedisKeySlot(sub.store->RedisKey(k)));
      ASSERT_GE(owner, 0);
      std::vector<std::string>& bucket = owner == kDead ? sub.on_dead : sub.on_live;
      if (bucket.size() < 10) {
        ASSERT_EQ(Check(*sub.store, k), ReplayResult::kFresh);
        bucket.push_back(std::move(k));
      }
    }
    subjects.push_back(std::move(sub));
  }
  const uint64_t timeouts = subjects[0].store->stats().redis.timeouts;
  cluster_->node(kDead).Kill();
  const std::string dead_name = cluster_->node(kDead).address();

  for (size_t i = 0; i < subjects.size(); ++i) {
    SCOPED_TRACE(policies[i].name);
    RedisReplayStore& store = *subjects[i].store;
    // Ten in a row on the dead master: more than breaker_failures, so its
    // breaker opens. At once: connection errors, not a command_timeout each.
    for (const std::string& k : subjects[i].on_dead) {
      EXPECT_EQ(std::string_view(Name(Check(store, k))), Name(policies[i].dead_key_seen_before));
    }
    // The live masters are not behind that breaker.
    for (const std::string& k : subjects[i].on_live) {
      EXPECT_EQ(std::string_view(Name(Check(store, k))), "replayed");
    }
    int fresh_on_live = 0;
    while (fresh_on_live < 10) {
      const std::string k = NewKey();
      const int owner = cluster_->OwnerOfSlot(RedisKeySlot(store.RedisKey(k)));
      if (owner == kDead || owner < 0) continue;
      EXPECT_EQ(std::string_view(Name(Check(store, k))), "fresh");
      EXPECT_EQ(cluster_->node(owner).CommandText({"EXISTS", store.RedisKey(k)}), "1");
      ++fresh_on_live;
    }
    const RedisReplayStore::Stats s = store.stats();
    EXPECT_EQ(s.breaker, CircuitBreaker::State::kOpen);
    ASSERT_EQ(s.nodes.size(), 3u);
    for (const RedisReplayStore::Stats::Node& n : s.nodes) {
      SCOPED_TRACE(n.name);
      EXPECT_EQ(n.breaker, n.name == dead_name ? CircuitBreaker::State::kOpen
                                               : CircuitBreaker::State::kClosed);
    }
  }
  EXPECT_EQ(subjects[0].store->stats().redis.timeouts, timeouts);

  // local_fallback: a new proof on the dead master is accepted locally and
  // queued for the write-back; that does not hold readiness while the
  // master is down (the live masters' keys are served from Redis).
  RedisReplayStore& lf = *subjects[1].store;
  std::string on_dead;
  do {
    on_dead = NewKey();
  } while (cluster_->OwnerOfSlot(RedisKeySlot(lf.RedisKey(on_dead))) != kDead);
  EXPECT_EQ(Check(lf, on_dead), ReplayResult::kFresh);
  EXPECT_EQ(lf.stats().writeback_pending, 1u);
  EXPECT_TRUE(lf.stats().degraded);

  // Readiness: one of three masters down is ready, and stays so (sampled
  // over several probe ticks and breaker_open intervals).
  for (int i = 0; i < 50; ++i) {
    for (size_t k = 0; k < subjects.size(); ++k) {
      SCOPED_TRACE(policies[k].name);
      std::string why;
      ASSERT_TRUE(subjects[k].store->Ready(&why)) << "sample " << i << ": " << why;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace
}  // namespace popguard
