// Tests for MemoryReplayStore: the replay window semantics (RFC 9449 section
// 11.1: a jti is accepted once while its proof can still be accepted), the
// never-evict capacity rule, incremental purging and thread safety.
#include "storage/memory_replay_store.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

absl::Time At(double seconds) { return kT0 + absl::Seconds(seconds); }

// Key16 makes a distinct 16-byte key (the validator's truncated-hash shape).
std::string Key16(uint64_t n, uint64_t salt = 0x5eed) {
  std::string key(16, '\0');
  std::memcpy(key.data(), &n, 8);
  std::memcpy(key.data() + 8, &salt, 8);
  return key;
}

const char* Name(ReplayResult r) {
  switch (r) {
    case ReplayResult::kFresh:
      return "kFresh";
    case ReplayResult::kReplayed:
      return "kReplayed";
    case ReplayResult::kFull:
      return "kFull";
    case ReplayResult::kUnavailable:
      return "kUnavailable";
    case ReplayResult::kWindowReset:
      return "kWindowReset";
  }
  return "?";
}

struct Step {
  std::string key;
  double now;     // seconds after kT0
  double expiry;  // seconds after kT0
  ReplayResult want;
  size_t want_size;  // Size() after the step
};

void RunSteps(MemoryReplayStore& store, const std::vector<Step>& steps) {
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    SCOPED_TRACE(testing::Message() << "step " << i << " key length " << s.key.size() << " now "
                                    << s.now << " expiry " << s.expiry);
    ReplayResult got = store.CheckAndInsertSync(s.key, At(s.now), At(s.expiry));
    EXPECT_EQ(got, s.want) << Name(got) << " want " << Name(s.want);
    EXPECT_EQ(store.Size(), s.want_size);
  }
}

TEST(MemoryReplayStoreTest, WindowSemantics) {
  const std::string a = Key16(1), b = Key16(2);
  MemoryReplayStore store(/*max_entries=*/100, /*shards=*/1);
  RunSteps(store, {
                      // First sighting is recorded.
                      {a, 0, 10, ReplayResult::kFresh, 1},
                      // Same key inside the window, even with another expiry.
                      {a, 1, 50, ReplayResult::kReplayed, 1},
                      {a, 9.999, 10, ReplayResult::kReplayed, 1},
                      // Another key is independent.
                      {b, 2, 12, ReplayResult::kFresh, 2},
                      // At the expiry itself the entry is no longer live: the
                      // slot is reused with the new expiry.
                      {a, 10, 20, ReplayResult::kFresh, 2},
                      // b is purged on the way (past its expiry + kPurgeLag).
                      {a, 19, 20, ReplayResult::kReplayed, 1},
                      // Long after: a purged and recorded anew, b likewise.
                      {a, 30, 40, ReplayResult::kFresh, 1},
                      {b, 30, 40, ReplayResult::kFresh, 2},
                      {b, 39, 40, ReplayResult::kReplayed, 2},
                  });
}

// A store whose memory begins at window_start (a restarted process) refuses
// every proof issued before it with kWindowReset and records nothing for it.
TEST(MemoryReplayStoreTest, ProofsIssuedBeforeTheWindowStartAreRefused) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  MemoryReplayStore store(/*max_entries=*/100, /*shards=*/1, /*window_start=*/t0);
  struct Case {
    std::string name;
    absl::Duration issued;  // relative to t0
    ReplayResult want;
  };
  const std::vector<Case> cases = {
      {"issued a second before", -absl::Seconds(1), ReplayResult::kWindowReset},
      {"issued a nanosecond before", -absl::Nanoseconds(1), ReplayResult::kWindowReset},
      {"issued at the start", absl::ZeroDuration(), ReplayResult::kFresh},
      {"issued after", absl::Seconds(1), ReplayResult::kFresh},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const std::string key = Key16(static_cast<int>(i));
    const absl::Time now = t0 + absl::Seconds(2);
    ReplayResult got = ReplayResult::kFull;
    store.CheckAndInsert(key, now, now + absl::Seconds(60), t0 + cases[i].issued,
                         [&](ReplayResult r) { got = r; });
    EXPECT_EQ(got, cases[i].want) << Name(got);
  }
  EXPECT_EQ(store.Size(), 2u);
  // Without an iat (tools), nothing is refused.
  EXPECT_EQ(store.CheckAndInsertSync(Key16(9), t0, t0 + absl::Seconds(1)), ReplayResult::kFresh);
}

TEST(MemoryReplayStoreTest, ExpiryNotAfterNowRecordsNothing) {
  const std::string a = Key16(1), b = Key16(2);
  MemoryReplayStore store(/*max_entries=*/100, /*shards=*/1);
  RunSteps(store, {
                      {a, 10, 10, ReplayResult::kFresh, 0},
                      {a, 10, 5, ReplayResult::kFresh, 0},
                      {a, 10, 10, ReplayResult::kFresh, 0},
                      // A live key is still reported, whatever expiry is passed.
                      {b, 10, 20, ReplayResult::kFresh, 1},
                      {b, 11, 11, ReplayResult::kReplayed, 1},
                  });
}

TEST(MemoryReplayStoreTest, KeyLengths) {
  struct Case {
    size_t length;
    ReplayResult first;
    ReplayResult second;
  };
  const Case cases[] = {
      {0, ReplayResult::kFresh, ReplayResult::kReplayed},
      {1, ReplayResult::kFresh, ReplayResult::kReplayed},
      {15, ReplayResult::kFresh, ReplayResult::kReplayed},
      {16, ReplayResult::kFresh, ReplayResult::kReplayed},
      {17, ReplayResult::kFresh, ReplayResult::kReplayed},
      {32, ReplayResult::kFresh, ReplayResult::kReplayed},
      {64, ReplayResult::kFresh, ReplayResult::kReplayed},
      // Over kMaxKeyBytes: refused (fail-closed), never recorded.
      {65, ReplayResult::kFull, ReplayResult::kFull},
      {1000, ReplayResult::kFull, ReplayResult::kFull},
  };
  // One shard: with the default 64 shards, 100 entries are 2 per shard, and
  // the per-process hash seed put 3 of these keys in one shard now and then
  // (kFull, a test flake, not a store defect).
  MemoryReplayStore store(/*max_entries=*/100, /*shards=*/1);
  size_t recorded = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "length " << c.length);
    const std::string key(c.length, 'k');
    EXPECT_EQ(store.CheckAndInsertSync(key, At(0), At(60)), c.first);
    EXPECT_EQ(store.CheckAndInsertSync(key, At(1), At(60)), c.second);
    if (c.first == ReplayResult::kFresh) ++recorded;
    EXPECT_EQ(store.Size(), recorded);
  }
  // A 16-byte key and a 17-byte key sharing a prefix are different keys, and
  // so are keys that differ only in their last byte.
  std::string k16(16, 'x'), k17(17, 'x'), k16b = k16;
  k16b[15] = 'y';
  EXPECT_EQ(store.CheckAndInsertSync(k16, At(2), At(60)), ReplayResult::kFresh);
  EXPECT_EQ(store.CheckAndInsertSync(k17, At(2), At(60)), ReplayResult::kFresh);
  EXPECT_EQ(store.CheckAndInsertSync(k16b, At(2), At(60)), ReplayResult::kFresh);
  EXPECT_EQ(store.CheckAndInsertSync(k16b, At(3), At(60)), ReplayResult::kReplayed);
}

TEST(MemoryReplayStoreTest, FullRefusesNewKeysAndKeepsLiveOnes) {
  MemoryReplayStore store(/*max_entries=*/3, /*shards=*/1);
  const std::string k1 = Key16(1), k2 = Key16(2), k3 = std::string(40, 'L'), k4 = Key16(4),
                    k5 = std::string(7, 's');
  RunSteps(store, {
                      {k1, 0, 10, ReplayResult::kFresh, 1},
                      {k2, 0, 20, ReplayResult::kFresh, 2},
                      {k3, 0, 30, ReplayResult::kFresh, 3},
                      // Full: new keys refused, whatever their length.
                      {k4, 1, 40, ReplayResult::kFull, 3},
                      {k5, 1, 40, ReplayResult::kFull, 3},
                      // Live entries were not evicted.
                      {k1, 2, 10, ReplayResult::kReplayed, 3},
                      {k2, 2, 20, ReplayResult::kReplayed, 3},
                      {k3, 2, 30, ReplayResult::kReplayed, 3},
                      // k1 expired at 10 but is kept for kPurgeLag (1 s): still full.
                      {k4, 10.5, 40, ReplayResult::kFull, 3},
                      // ...yet it reads as absent, and re-recording it needs no room.
                      {k1, 10.5, 15, ReplayResult::kFresh, 3},
                      // Past 15 + lag the slot frees up for a new key.
                      {k4, 16, 40, ReplayResult::kFresh, 3},
                      {k5, 16, 40, ReplayResult::kFull, 3},
                      // Past every expiry + lag, everything fits again.
                      {k5, 41, 50, ReplayResult::kFresh, 1},
                      {k1, 41, 50, ReplayResult::kFresh, 2},
                      {k4, 41, 50, ReplayResult::kFresh, 3},
                      {k2, 41, 50, ReplayResult::kFull, 3},
                  });
}

TEST(MemoryReplayStoreTest, ZeroCapacityRefusesEverything) {
  MemoryReplayStore store(/*max_entries=*/0);
  EXPECT_EQ(store.shard_count(), 1);
  EXPECT_EQ(store.per_shard_capacity(), 0u);
  EXPECT_EQ(store.CheckAndInsertSync(Key16(1), At(0), At(10)), ReplayResult::kFull);
  EXPECT_EQ(store.CheckAndInsertSync(Key16(1), At(0), At(10)), ReplayResult::kFull);
  EXPECT_EQ(store.Size(), 0u);
}

TEST(MemoryReplayStoreTest, PerShardCapacity) {
  struct Case {
    size_t max_entries;
    int shards;
    int want_shards;
    size_t want_per_shard;
  };
  const Case cases[] = {
      {1000000, 64, 64, 15625},
      {10, 4, 4, 3},
      {2, 64, 2, 1},
      {1, 64, 1, 1},
      {7, 0, 1, 7},
      {7, -3, 1, 7},
      // No overflow in the rounding up.
      {SIZE_MAX, 64, 64, SIZE_MAX / 64 + 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "max_entries " << c.max_entries << " shards " << c.shards);
    MemoryReplayStore store(c.max_entries, c.shards);
    EXPECT_EQ(store.max_entries(), c.max_entries);
    EXPECT_EQ(store.shard_count(), c.want_shards);
    EXPECT_EQ(store.per_shard_capacity(), c.want_per_shard);
    if (c.max_entries > 100) continue;
    // With far more keys than room, every shard fills exactly.
    size_t fresh = 0, full = 0;
    for (uint64_t i = 0; i < 2000; ++i) {
      ReplayResult r = store.CheckAndInsertSync(Key16(i), At(0), At(60));
      fresh += r == ReplayResult::kFresh;
      full += r == ReplayResult::kFull;
    }
    const size_t room = static_cast<size_t>(c.want_shards) * c.want_per_shard;
    EXPECT_EQ(fresh, room);
    EXPECT_EQ(full, 2000 - room);
    EXPECT_EQ(store.Size(), room);
  }
}

TEST(MemoryReplayStoreTest, DoneRunsOnceInline) {
  MemoryReplayStore store(/*max_entries=*/1, /*shards=*/1);
  struct Case {
    std::string key;
    ReplayResult want;
  };
  const Case cases[] = {
      {Key16(1), ReplayResult::kFresh},
      {Key16(1), ReplayResult::kReplayed},
      {Key16(2), ReplayResult::kFull},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(Name(c.want));
    int calls = 0;
    ReplayResult got = ReplayResult::kUnavailable;
    store.CheckAndInsert(c.key, At(0), At(10), [&](ReplayResult r) {
      ++calls;
      got = r;
      // The store's lock is not held: calling back in does not deadlock.
      EXPECT_EQ(store.Size(), 1u);
    });
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(got, c.want);
  }
}

TEST(MemoryReplayStoreTest, PurgeExpiredIsIncrementalAndExact) {
  MemoryReplayStore store(/*max_entries=*/10000, /*shards=*/4);
  // 1000 keys expiring at 1..1000 s.
  for (uint64_t i = 0; i < 1000; ++i) {
    ASSERT_EQ(store.CheckAndInsertSync(Key16(i), At(0), At(1 + static_cast<double>(i))),
              ReplayResult::kFresh);
  }
  struct Case {
    double now;
    size_t want_size;
  };
  // Entries with expiry <= now - 1 s (kPurgeLag) are dropped.
  const Case cases[] = {{0, 1000}, {1, 1000}, {2, 999}, {100.5, 901}, {1000.5, 1}, {1001, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "now " << c.now);
    store.PurgeExpired(At(c.now));
    EXPECT_EQ(store.Size(), c.want_size);
  }
  // Inserts purge on their own: after all expired, a few rounds of inserts
  // leave only the new live keys.
  for (uint64_t i = 0; i < 1000; ++i) {
    store.CheckAndInsertSync(Key16(i, 1), At(0), At(1 + static_cast<double>(i)));
  }
  for (int round = 0; round < 200; ++round) {
    store.CheckAndInsertSync(Key16(round, 2), At(2000), At(3000));
  }
  EXPECT_EQ(store.Size(), 200u);
}

TEST(MemoryReplayStoreTest, RerecordedKeySurvivesItsStalePurgeEntry) {
  MemoryReplayStore store(/*max_entries=*/10, /*shards=*/1);
  const std::string k = Key16(7);
  RunSteps(store, {
                      {k, 0, 10, ReplayResult::kFresh, 1},
                      // Expired but within the purge lag: re-recorded in place.
                      {k, 10.5, 20, ReplayResult::kFresh, 1},
                  });
  // The old (10, k) purge entry is due; it must not drop the new record.
  store.PurgeExpired(At(12));
  EXPECT_EQ(store.Size(), 1u);
  RunSteps(store, {
                      {k, 19.9, 30, ReplayResult::kReplayed, 1},
                      {k, 20, 30, ReplayResult::kFresh, 1},
                  });
  store.PurgeExpired(At(31));
  EXPECT_EQ(store.Size(), 0u);
}

TEST(MemoryReplayStoreTest, InfiniteTimes) {
  MemoryReplayStore store(/*max_entries=*/10, /*shards=*/1);
  const std::string k = Key16(9);
  EXPECT_EQ(store.CheckAndInsertSync(k, At(0), absl::InfiniteFuture()), ReplayResult::kFresh);
  EXPECT_EQ(store.CheckAndInsertSync(k, At(1e9), At(1e9 + 1)), ReplayResult::kReplayed);
  store.PurgeExpired(At(1e9));
  EXPECT_EQ(store.Size(), 1u);
  EXPECT_EQ(store.CheckAndInsertSync(Key16(10), absl::InfinitePast(), At(0)), ReplayResult::kFresh);
  EXPECT_EQ(store.Size(), 2u);
}

TEST(MemoryReplayStoreTest, ConcurrentInsertsAcceptEachKeyOnce) {
  constexpr int kThreads = 4;
  constexpr uint64_t kKeys = 20000;
  MemoryReplayStore store(/*max_entries=*/kKeys * 2, /*shards=*/8);
  std::atomic<uint64_t> fresh{0}, replayed{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Every thread inserts every key, each in its own order, so that the
      // same keys race in the same shards.
      for (uint64_t n = 0; n < kKeys; ++n) {
        uint64_t i = (n * (2 * t + 1) + 977 * t) % kKeys;
        std::string key = i % 3 == 0 ? std::string(24, 'a') + std::to_string(i) : Key16(i);
        ReplayResult r = store.CheckAndInsertSync(key, At(0), At(60));
        if (r == ReplayResult::kFresh) {
          fresh.fetch_add(1);
        } else if (r == ReplayResult::kReplayed) {
          replayed.fetch_add(1);
        } else {
          other.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), kKeys);
  EXPECT_EQ(replayed.load(), kKeys * (kThreads - 1));
  EXPECT_EQ(other.load(), 0u);
  EXPECT_EQ(store.Size(), kKeys);
}

TEST(MemoryReplayStoreTest, ConcurrentFullStoreNeverExceedsCapacity) {
  constexpr int kThreads = 4;
  MemoryReplayStore store(/*max_entries=*/1000, /*shards=*/1);
  std::atomic<uint64_t> fresh{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 5000; ++i) {
        if (store.CheckAndInsertSync(Key16(i, t), At(0), At(60)) == ReplayResult::kFresh) {
          fresh.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(fresh.load(), 1000u);
  EXPECT_EQ(store.Size(), 1000u);
}

TEST(MemoryReplayStoreTest, MemoryPerEntryAtOneMillion) {
  constexpr uint64_t kEntries = 1000000;
  MemoryReplayStore store(kEntries);
  const size_t empty_bytes = store.MemoryUsageBytesApprox();
  for (uint64_t i = 0; i < kEntries; ++i) {
    store.CheckAndInsertSync(Key16(i), At(0), At(60 + static_cast<double>(i % 300)));
  }
  // Per-shard capacity rounding may refuse a few keys; count what was stored.
  const size_t stored = store.Size();
  EXPECT_GT(stored, kEntries * 99 / 100);
  const size_t bytes = store.MemoryUsageBytesApprox();
  const double per_entry = static_cast<double>(bytes - empty_bytes) / stored;
  std::printf("MemoryReplayStore: %zu live entries, %zu bytes, %.1f bytes/entry\n", stored, bytes,
              per_entry);
  // Deterministic (table capacities, not timing): within the design target.
  EXPECT_LT(per_entry, 100.0);
}

}  // namespace
}  // namespace popguard
