#include "storage/memory_replay_store.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace popguard {
namespace {

// How many expired entries one insert purges at most on its way in. Steady
// state needs about one per insert (as many expire as arrive); the slack
// absorbs bursts without putting a long purge on one request.
constexpr size_t kPurgeBatch = 16;

// FixedKey holds a kFastKeyBytes key inline: 16 bytes, no allocation.
struct FixedKey {
  uint64_t lo;
  uint64_t hi;

  static FixedKey From(std::string_view bytes) {
    FixedKey k;
    std::memcpy(&k.lo, bytes.data(), 8);
    std::memcpy(&k.hi, bytes.data() + 8, 8);
    return k;
  }
  friend bool operator==(const FixedKey& a, const FixedKey& b) {
    return a.lo == b.lo && a.hi == b.hi;
  }
  template <typename H>
  friend H AbslHashValue(H h, const FixedKey& k) {
    return H::combine(std::move(h), k.lo, k.hi);
  }
};
static_assert(sizeof(FixedKey) == MemoryReplayStore::kFastKeyBytes);

// Expiries are kept as Unix nanoseconds (saturating at the int64 range, which
// absl's conversion does for infinite times): 8 bytes instead of absl::Time's 16.
int64_t ToNanos(absl::Time t) { return absl::ToUnixNanos(t); }

// AbslView converts for absl's hashing and heterogeneous lookup: this Abseil
// build has its own absl::string_view, distinct from std::string_view.
absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// ExpiryTable is one key type's map and purge heap. Not thread-safe; the
// owning shard's mutex guards it.
//
// Invariant: for every map entry (key, e) the heap holds (e, key). The heap may
// also hold stale pairs for keys that were erased or re-recorded with a later
// expiry; such pairs always have expired and are dropped when popped.
template <typename K>
class ExpiryTable {
 public:
  // Lookup returns the expiry recorded for `key`, or nullptr when absent.
  template <typename L>
  int64_t* Lookup(const L& key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }

  // Record stores a new key; the caller has checked that it is absent.
  template <typename L>
  void Record(const L& key, int64_t expiry) {
    map_.emplace(K(key), expiry);
    PushHeap(K(key), expiry);
  }

  // Rerecord gives the present (expired) entry `slot` of `key` a new expiry.
  // Its old heap pair goes stale.
  template <typename L>
  void Rerecord(const L& key, int64_t* slot, int64_t expiry) {
    *slot = expiry;
    PushHeap(K(key), expiry);
  }

  // Purge pops at most `limit` heap pairs whose expiry is <= `threshold`,
  // erasing the map entry of each key whose current expiry is also <=
  // `threshold` (a key re-recorded later keeps its entry).
  void Purge(int64_t threshold, size_t limit) {
    while (limit > 0 && !heap_.empty() && heap_.front().expiry <= threshold) {
      std::pop_heap(heap_.begin(), heap_.end(), Later());
      auto it = map_.find(heap_.back().key);
      if (it != map_.end() && it->second <= threshold) map_.erase(it);
      heap_.pop_back();
      --limit;
    }
  }

  size_t size() const { return map_.size(); }

  size_t MemoryBytes() const {
    using Slot = typename absl::flat_hash_map<K, int64_t>::value_type;
    // Slots plus one control byte each, plus one group of cloned control bytes.
    size_t bytes = map_.capacity() * (sizeof(Slot) + 1) + 16;
    bytes += heap_.capacity() * sizeof(Pending);
    if constexpr (std::is_same_v<K, std::string>) {
      for (const auto& [key, expiry] : map_) bytes += ExternalBytes(key);
      for (const Pending& p : heap_) bytes += ExternalBytes(p.key);
    }
    return bytes;
  }

 private:
  struct Pending {
    int64_t expiry;
    K key;
  };
  // Later orders the std heap functions so that the earliest expiry is on top.
  struct Later {
    bool operator()(const Pending& a, const Pending& b) const { return a.expiry > b.expiry; }
  };

  void PushHeap(K key, int64_t expiry) {
    heap_.push_back(Pending{expiry, std::move(key)});
    std::push_heap(heap_.begin(), heap_.end(), Later());
  }

  static size_t ExternalBytes(const std::string& s) {
    // Strings past the small-string buffer own a heap block.
    return s.capacity() > 15 ? s.capacity() + 1 : 0;
  }

  absl::flat_hash_map<K, int64_t> map_;
  std::vector<Pending> heap_;
};

}  // namespace

// Shard: one lock and the tables behind it. Aligned to a cache line so that
// two shards' mutexes never share one.
class alignas(64) MemoryReplayStore::Shard {
 public:
  ReplayResult CheckAndInsert(std::string_view key, int64_t now, int64_t purge_threshold,
                              int64_t expiry, size_t capacity) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    fixed_.Purge(purge_threshold, kPurgeBatch);
    other_.Purge(purge_threshold, kPurgeBatch);
    if (key.size() == kFastKeyBytes) {
      return CheckAndInsertLocked(fixed_, FixedKey::From(key), now, purge_threshold, expiry,
                                  capacity);
    }
    return CheckAndInsertLocked(other_, AbslView(key), now, purge_threshold, expiry, capacity);
  }

  void Purge(int64_t threshold) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    PurgeAllLocked(threshold);
  }

  size_t Size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return SizeLocked();
  }

  size_t MemoryBytes() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return fixed_.MemoryBytes() + other_.MemoryBytes();
  }

 private:
  template <typename Table, typename L>
  ReplayResult CheckAndInsertLocked(Table& table, const L& key, int64_t now,
                                    int64_t purge_threshold, int64_t expiry, size_t capacity)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (int64_t* recorded = table.Lookup(key); recorded != nullptr) {
      // Present and unexpired: the proof was seen inside its window.
      if (*recorded > now) return ReplayResult::kReplayed;
      // Present but expired: it counts as absent, and its slot is reused
      // without touching capacity.
      if (expiry > now) table.Rerecord(key, recorded, expiry);
      return ReplayResult::kFresh;
    }
    // Nothing to remember: at any later `now` the entry would be expired.
    if (expiry <= now) return ReplayResult::kFresh;
    if (SizeLocked() >= capacity) {
      PurgeAllLocked(purge_threshold);
      // Security: at capacity the new proof is refused; evicting a live entry
      // instead would forget a jti and let that proof be replayed.
      if (SizeLocked() >= capacity) return ReplayResult::kFull;
    }
    table.Record(key, expiry);
    return ReplayResult::kFresh;
  }

  void PurgeAllLocked(int64_t threshold) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    fixed_.Purge(threshold, std::numeric_limits<size_t>::max());
    other_.Purge(threshold, std::numeric_limits<size_t>::max());
  }

  size_t SizeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return fixed_.size() + other_.size();
  }

  mutable absl::Mutex mu_;
  ExpiryTable<FixedKey> fixed_ ABSL_GUARDED_BY(mu_);
  ExpiryTable<std::string> other_ ABSL_GUARDED_BY(mu_);
};

namespace {

// CeilDiv is ceil(a / b) without the overflow of (a + b - 1) / b.
size_t CeilDiv(size_t a, size_t b) { return a / b + (a % b != 0 ? 1 : 0); }

int ClampShards(size_t max_entries, int shards) {
  size_t n = shards < 1 ? 1 : static_cast<size_t>(shards);
  n = std::min(n, std::max<size_t>(max_entries, 1));
  return static_cast<int>(n);
}

}  // namespace

MemoryReplayStore::MemoryReplayStore(size_t max_entries, int shards, absl::Time window_start)
    : max_entries_(max_entries),
      shard_count_(ClampShards(max_entries, shards)),
      per_shard_capacity_(CeilDiv(max_entries, static_cast<size_t>(shard_count_))),
      window_start_(window_start),
      shards_(new Shard[shard_count_]) {}

MemoryReplayStore::~MemoryReplayStore() = default;

MemoryReplayStore::Shard& MemoryReplayStore::ShardFor(std::string_view key) const {
  // The maps hash the same key with absl::Hash and take their probe position
  // and control bits from it; mixing before picking the shard keeps the keys
  // of one shard spread over all of those bits.
  uint64_t h = absl::Hash<absl::string_view>{}(AbslView(key));
  h = (h ^ (h >> 31)) * 0x9E3779B97F4A7C15ull;
  return shards_[(h >> 32) % static_cast<uint64_t>(shard_count_)];
}

ReplayResult MemoryReplayStore::CheckAndInsertSync(std::string_view key, absl::Time now,
                                                   absl::Time expiry, absl::Time issued_at) {
  if (key.size() > kMaxKeyBytes) return ReplayResult::kFull;
  // Security: this store's memory begins at window_start; a proof issued
  // earlier may have been used against the process that ran before it.
  if (issued_at < window_start_) return ReplayResult::kWindowReset;
  return ShardFor(key).CheckAndInsert(key, ToNanos(now), ToNanos(now - kPurgeLag), ToNanos(expiry),
                                      per_shard_capacity_);
}

void MemoryReplayStore::CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry,
                                       absl::Time issued_at, Done done) {
  // The shard lock is released inside CheckAndInsertSync, so `done` never
  // runs under it (it may call back into the store).
  ReplayResult result = CheckAndInsertSync(key, now, expiry, issued_at);
  std::move(done)(result);
}

size_t MemoryReplayStore::Size() const {
  size_t total = 0;
  for (int i = 0; i < shard_count_; ++i) total += shards_[i].Size();
  return total;
}

void MemoryReplayStore::PurgeExpired(absl::Time now) {
  int64_t threshold = ToNanos(now - kPurgeLag);
  for (int i = 0; i < shard_count_; ++i) shards_[i].Purge(threshold);
}

size_t MemoryReplayStore::MemoryUsageBytesApprox() const {
  size_t total = sizeof(*this) + sizeof(Shard) * static_cast<size_t>(shard_count_);
  for (int i = 0; i < shard_count_; ++i) total += shards_[i].MemoryBytes();
  return total;
}

}  // namespace popguard
