// BoundedCache: a sharded, bounded LRU cache whose entries expire.
//
// Used for work that is costly to redo and safe to remember until a known
// time: verified access tokens by hash until their exp, parsed DPoP proof keys.
// Keys are byte strings (typically 32-byte SHA-256 digests); values are held
// as std::shared_ptr<const V> so a hit is a reference-count increment.
//
// Layout: `shards` shards picked by a seeded hash of the key, each with its own
// absl::Mutex, a recency list (front = most recently used) and a hash index
// from a string view (pointing into the list node's own key) to the node,
// so Get never allocates. Each shard holds at most ceil(capacity / shards)
// entries and evicts its least recently used one to make room; the cache as a
// whole may therefore hold up to shards - 1 entries more than `capacity`.
// Expired entries are misses and are erased when a Get finds them; otherwise
// they age out through LRU eviction. A capacity of 0 disables the cache.
//
// Thread-safe. Time is always passed in; the cache never reads a clock.
#ifndef POPGUARD_STORAGE_LRU_CACHE_H_
#define POPGUARD_STORAGE_LRU_CACHE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace popguard {

template <typename V>
class BoundedCache {
 public:
  using ValuePtr = std::shared_ptr<const V>;

  // BoundedCache holds at most about `capacity` entries over `shards` shards
  // (lowered to `capacity` when larger).
  explicit BoundedCache(size_t capacity, int shards = 16)
      : capacity_(capacity),
        shard_count_(capacity == 0 ? 0
                                   : static_cast<int>(std::min<size_t>(
                                         capacity, shards < 1 ? 1 : static_cast<size_t>(shards)))),
        per_shard_capacity_(
            capacity == 0 ? 0 : capacity / shard_count_ + (capacity % shard_count_ != 0 ? 1 : 0)),
        shards_(shard_count_ == 0 ? nullptr : new Shard[shard_count_]) {}

  BoundedCache(const BoundedCache&) = delete;
  BoundedCache& operator=(const BoundedCache&) = delete;

  // Get returns the value cached under `key` if its expiry is after `now`, and
  // marks it most recently used; otherwise nullptr (an expired entry is erased).
  ValuePtr Get(std::string_view key, absl::Time now) {
    if (shard_count_ == 0) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    Shard& shard = ShardFor(key);
    ValuePtr expired;  // released after the lock
    absl::MutexLock lock(&shard.mu);
    auto it = shard.index.find(AbslView(key));
    if (it == shard.index.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    auto node = it->second;
    if (node->expiry <= now) {
      shard.index.erase(it);
      expired = std::move(node->value);
      shard.lru.erase(node);
      misses_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    shard.lru.splice(shard.lru.begin(), shard.lru, node);
    hits_.fetch_add(1, std::memory_order_relaxed);
    return node->value;
  }

  // Put caches `value` under `key` until `expiry`, replacing any previous
  // entry, and marks it most recently used; evicts the shard's least recently
  // used entry when the shard is full. A null `value` erases `key` instead.
  // No-op when the capacity is 0.
  void Put(std::string_view key, ValuePtr value, absl::Time expiry) {
    if (shard_count_ == 0) return;
    if (value == nullptr) {
      Erase(key);
      return;
    }
    Shard& shard = ShardFor(key);
    ValuePtr evicted;  // released after the lock, in case ~V is costly
    {
      absl::MutexLock lock(&shard.mu);
      if (auto it = shard.index.find(AbslView(key)); it != shard.index.end()) {
        auto node = it->second;
        evicted = std::exchange(node->value, std::move(value));
        node->expiry = expiry;
        shard.lru.splice(shard.lru.begin(), shard.lru, node);
        return;
      }
      if (shard.lru.size() >= per_shard_capacity_) {
        auto last = std::prev(shard.lru.end());
        shard.index.erase(absl::string_view(last->key));
        evicted = std::move(last->value);
        shard.lru.erase(last);
        evictions_.fetch_add(1, std::memory_order_relaxed);
      }
      shard.lru.push_front(Entry{std::string(key), std::move(value), expiry});
      // The view points into the node's own string, which never moves while
      // the node lives (list nodes are stable).
      shard.index.emplace(absl::string_view(shard.lru.front().key), shard.lru.begin());
    }
  }

  // Put caches a copy of `value`; see above.
  void Put(std::string_view key, V value, absl::Time expiry) {
    if (shard_count_ == 0) return;
    Put(key, std::make_shared<const V>(std::move(value)), expiry);
  }

  // Erase drops `key` if cached; not counted as an eviction.
  void Erase(std::string_view key) {
    if (shard_count_ == 0) return;
    Shard& shard = ShardFor(key);
    ValuePtr erased;
    absl::MutexLock lock(&shard.mu);
    auto it = shard.index.find(AbslView(key));
    if (it == shard.index.end()) return;
    auto node = it->second;
    shard.index.erase(it);
    erased = std::move(node->value);
    shard.lru.erase(node);
  }

  // Size returns the number of entries held, expired ones not yet erased included.
  size_t Size() const {
    size_t total = 0;
    for (int i = 0; i < shard_count_; ++i) {
      absl::MutexLock lock(&shards_[i].mu);
      total += shards_[i].lru.size();
    }
    return total;
  }

  size_t capacity() const { return capacity_; }
  int shard_count() const { return shard_count_; }
  size_t per_shard_capacity() const { return per_shard_capacity_; }

  // Counters: Get calls that returned a value, Get calls that did not, and
  // entries dropped to make room.
  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    std::string key;
    ValuePtr value;
    absl::Time expiry;
  };
  using Node = typename std::list<Entry>::iterator;

  struct alignas(64) Shard {
    mutable absl::Mutex mu;
    std::list<Entry> lru ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<absl::string_view, Node> index ABSL_GUARDED_BY(mu);
  };

  // AbslView converts for absl's hashing and heterogeneous lookup: this
  // Abseil build has its own absl::string_view, distinct from std::string_view.
  static absl::string_view AbslView(std::string_view s) {
    return absl::string_view(s.data(), s.size());
  }

  Shard& ShardFor(std::string_view key) const {
    // Mixed so that the keys of one shard still spread over the bits the
    // shard's own index takes from the same absl::Hash.
    uint64_t h = absl::Hash<absl::string_view>{}(AbslView(key));
    h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
    return shards_[(h >> 32) % static_cast<uint64_t>(shard_count_)];
  }

  const size_t capacity_;
  const int shard_count_;
  const size_t per_shard_capacity_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  std::atomic<uint64_t> evictions_{0};
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_LRU_CACHE_H_
