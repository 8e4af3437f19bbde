// Tests for BoundedCache: LRU order, expiry, capacity 0, counters, sharding
// and thread safety.
#include "service/common/bounded_cache.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);

absl::Time At(int seconds) { return kT0 + absl::Seconds(seconds); }

// Digest makes a 32-byte binary key (embedded NUL bytes included) like a SHA-256.
std::string Digest(uint8_t n) {
  std::string key(32, '\0');
  key[0] = static_cast<char>(n);
  key[31] = static_cast<char>(0xff - n);
  return key;
}

struct Counters {
  uint64_t hits;
  uint64_t misses;
  uint64_t evictions;
};

template <typename V>
void ExpectCounters(const BoundedCache<V>& cache, Counters want) {
  EXPECT_EQ(cache.hits(), want.hits);
  EXPECT_EQ(cache.misses(), want.misses);
  EXPECT_EQ(cache.evictions(), want.evictions);
}

TEST(BoundedCacheTest, HitMissAndCounters) {
  BoundedCache<std::string> cache(/*capacity=*/10);
  EXPECT_EQ(cache.Get(Digest(1), At(0)), nullptr);
  cache.Put(Digest(1), std::string("one"), At(100));
  auto got = cache.Get(Digest(1), At(1));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, "one");
  // Keys differing only past an embedded NUL are different keys.
  EXPECT_EQ(cache.Get(Digest(1).substr(0, 31) + "x", At(1)), nullptr);
  EXPECT_EQ(cache.Get(Digest(2), At(1)), nullptr);
  ExpectCounters(cache, {/*hits=*/1, /*misses=*/3, /*evictions=*/0});
  EXPECT_EQ(cache.Size(), 1u);
}

TEST(BoundedCacheTest, LruEvictionOrder) {
  struct Op {
    char kind;  // 'P' put, 'G' get
    std::string key;
  };
  struct Case {
    std::string name;
    std::vector<Op> ops;
    std::vector<std::string> present;
    std::vector<std::string> absent;
    uint64_t evictions;
  };
  const Case cases[] = {
      {"oldest put goes first",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'P', "d"}},
       {"b", "c", "d"},
       {"a"},
       1},
      {"a get refreshes",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'G', "a"}, {'P', "d"}},
       {"a", "c", "d"},
       {"b"},
       1},
      {"a re-put refreshes",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'P', "a"}, {'P', "d"}},
       {"a", "c", "d"},
       {"b"},
       1},
      {"a missed get does not",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'G', "z"}, {'P', "d"}},
       {"b", "c", "d"},
       {"a"},
       1},
      {"two evictions",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'G', "a"}, {'P', "d"}, {'P', "e"}},
       {"a", "d", "e"},
       {"b", "c"},
       2},
      {"re-put at capacity evicts nothing",
       {{'P', "a"}, {'P', "b"}, {'P', "c"}, {'P', "b"}, {'P', "c"}},
       {"a", "b", "c"},
       {},
       0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BoundedCache<int> cache(/*capacity=*/3, /*shards=*/1);
    int next = 0;
    for (const Op& op : c.ops) {
      if (op.kind == 'P') {
        cache.Put(op.key, next++, At(100));
      } else {
        cache.Get(op.key, At(0));
      }
    }
    EXPECT_EQ(cache.evictions(), c.evictions);
    EXPECT_EQ(cache.Size(), c.present.size());
    for (const std::string& key : c.present) EXPECT_NE(cache.Get(key, At(0)), nullptr) << key;
    for (const std::string& key : c.absent) EXPECT_EQ(cache.Get(key, At(0)), nullptr) << key;
  }
}

TEST(BoundedCacheTest, Expiry) {
  struct Case {
    int now;
    bool hit;
    size_t size_after;
  };
  // Entry put with expiry At(10): live while now < expiry.
  const Case cases[] = {{0, true, 1}, {9, true, 1}, {10, false, 0}, {11, false, 0}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "now " << c.now);
    BoundedCache<int> cache(/*capacity=*/4, /*shards=*/1);
    cache.Put("k", 7, At(10));
    auto got = cache.Get("k", At(c.now));
    EXPECT_EQ(got != nullptr, c.hit);
    if (got != nullptr) {
      EXPECT_EQ(*got, 7);
    }
    EXPECT_EQ(cache.Size(), c.size_after);
    ExpectCounters(cache, {c.hit ? 1u : 0u, c.hit ? 0u : 1u, 0});
  }
}

TEST(BoundedCacheTest, PutReplacesValueAndExpiry) {
  BoundedCache<int> cache(/*capacity=*/4, /*shards=*/1);
  cache.Put("k", 1, At(10));
  cache.Put("k", 2, At(20));
  auto got = cache.Get("k", At(15));
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 2);
  // Shortening works too.
  cache.Put("k", 3, At(5));
  EXPECT_EQ(cache.Get("k", At(6)), nullptr);
  EXPECT_EQ(cache.Size(), 0u);
  ExpectCounters(cache, {1, 1, 0});
}

TEST(BoundedCacheTest, HitOutlivesEvictionAndNullPutErases) {
  BoundedCache<std::string> cache(/*capacity=*/1, /*shards=*/1);
  cache.Put("a", std::make_shared<const std::string>("alpha"), At(10));
  auto held = cache.Get("a", At(0));
  cache.Put("b", std::string("beta"), At(10));  // evicts a
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(*held, "alpha");
  EXPECT_EQ(cache.Get("a", At(0)), nullptr);
  cache.Put("b", BoundedCache<std::string>::ValuePtr(), At(10));
  EXPECT_EQ(cache.Get("b", At(0)), nullptr);
  EXPECT_EQ(cache.Size(), 0u);
  cache.Put("c", std::string("gamma"), At(10));
  cache.Erase("c");
  cache.Erase("never-there");
  EXPECT_EQ(cache.Size(), 0u);
  ExpectCounters(cache, {1, 2, 1});
}

TEST(BoundedCacheTest, CapacityZeroDisables) {
  BoundedCache<int> cache(/*capacity=*/0);
  EXPECT_EQ(cache.shard_count(), 0);
  cache.Put("k", 1, At(100));
  cache.Put("k", std::make_shared<const int>(2), At(100));
  cache.Erase("k");
  EXPECT_EQ(cache.Get("k", At(0)), nullptr);
  EXPECT_EQ(cache.Get("k", At(0)), nullptr);
  EXPECT_EQ(cache.Size(), 0u);
  ExpectCounters(cache, {0, 2, 0});
}

TEST(BoundedCacheTest, ShardedCapacity) {
  struct Case {
    size_t capacity;
    int shards;
    int want_shards;
    size_t want_per_shard;
  };
  const Case cases[] = {{10, 4, 4, 3}, {3, 16, 3, 1}, {100, 16, 16, 7},
                        {5, 0, 1, 5},  {1, 1, 1, 1},  {SIZE_MAX, 16, 16, SIZE_MAX / 16 + 1}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "capacity " << c.capacity << " shards " << c.shards);
    BoundedCache<int> cache(c.capacity, c.shards);
    EXPECT_EQ(cache.capacity(), c.capacity);
    EXPECT_EQ(cache.shard_count(), c.want_shards);
    EXPECT_EQ(cache.per_shard_capacity(), c.want_per_shard);
    if (c.capacity > 1000) continue;
    constexpr int kPuts = 2000;
    for (int i = 0; i < kPuts; ++i) cache.Put(Digest(i % 256) + std::to_string(i), i, At(100));
    const size_t room = static_cast<size_t>(c.want_shards) * c.want_per_shard;
    EXPECT_EQ(cache.Size(), room);
    EXPECT_EQ(cache.evictions(), kPuts - room);
  }
}

TEST(BoundedCacheTest, ConcurrentUse) {
  constexpr int kThreads = 4;
  constexpr int kOps = 20000;
  BoundedCache<int> cache(/*capacity=*/256, /*shards=*/8);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kOps; ++n) {
        int i = (n * 7 + t * 13) % 512;
        std::string key = "key-" + std::to_string(i);
        if (auto got = cache.Get(key, At(0)); got != nullptr) {
          if (*got != i) wrong.fetch_add(1);
        } else {
          cache.Put(key, i, At(100));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(cache.hits() + cache.misses(), static_cast<uint64_t>(kThreads) * kOps);
  EXPECT_LE(cache.Size(), 8u * 32u);
}

}  // namespace
}  // namespace popguard
