// MemoryReplayStore: the in-process DPoP jti replay window of one replica.
//
// Layout: keys are spread over `shards` shards by a seeded hash; each shard
// has its own absl::Mutex, a hash map key -> expiry and a min-heap of
// (expiry, key) that purges expired entries a few at a time on every insert.
// 16-byte keys (the validator's truncated SHA-256) live in a map with an
// inline fixed-size key (about 60-80 bytes per live entry in all); keys of any
// other length up to kMaxKeyBytes use a slower std::string map.
//
// Capacity: each shard holds at most ceil(max_entries / shards) entries, so a
// key can be refused with kFull while another shard still has room, and the
// store as a whole can hold up to shards - 1 entries more than max_entries.
// When max_entries < shards, the shard count is lowered to max_entries.
// A full store never evicts a live entry: forgetting a jti would let its
// replay through, so the new proof is refused instead.
//
// Time is always passed in; the store never reads a clock.
#ifndef POPGUARD_STORAGE_MEMORY_REPLAY_STORE_H_
#define POPGUARD_STORAGE_MEMORY_REPLAY_STORE_H_

#include <cstddef>
#include <memory>
#include <string_view>

#include "absl/time/time.h"
#include "storage/replay_store.h"

namespace popguard {

class MemoryReplayStore final : public ReplayStore {
 public:
  // Keys longer than this are refused with kFull (a caller bug; refusing is
  // the fail-closed answer, whereas kUnavailable may be let through under a
  // fail_open policy).
  static constexpr size_t kMaxKeyBytes = 64;
  // The key length that takes the compact fast path.
  static constexpr size_t kFastKeyBytes = 16;
  // An expired entry stays in memory (and counts toward capacity) for this
  // long after its expiry before it is purged. Lookups still treat it as
  // absent from its expiry on; the lag only keeps a request whose `now` trails
  // another thread's by less than this from finding the key already purged.
  static constexpr absl::Duration kPurgeLag = absl::Seconds(1);

  explicit MemoryReplayStore(size_t max_entries, int shards = 64);
  ~MemoryReplayStore() override;

  MemoryReplayStore(const MemoryReplayStore&) = delete;
  MemoryReplayStore& operator=(const MemoryReplayStore&) = delete;

  // CheckAndInsert records `key` until `expiry` unless it is present with an
  // expiry later than `now`; `done` runs exactly once, before this returns and
  // outside every lock. An `expiry` <= `now` records nothing (the entry would
  // already be expired) and yields kFresh unless the key is live.
  void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry, Done done) override;

  // CheckAndInsertSync is CheckAndInsert returning the result directly.
  ReplayResult CheckAndInsertSync(std::string_view key, absl::Time now, absl::Time expiry);

  // Size returns the number of entries held: the live ones plus expired ones
  // not yet purged; exact right after PurgeExpired.
  size_t Size() const override;

  // PurgeExpired drops every entry whose expiry is at or before now - kPurgeLag.
  void PurgeExpired(absl::Time now);

  // MemoryUsageBytesApprox estimates the heap bytes held by the store.
  size_t MemoryUsageBytesApprox() const;

  size_t max_entries() const { return max_entries_; }
  int shard_count() const { return shard_count_; }
  size_t per_shard_capacity() const { return per_shard_capacity_; }

 private:
  class Shard;

  Shard& ShardFor(std::string_view key) const;

  const size_t max_entries_;
  const int shard_count_;
  const size_t per_shard_capacity_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_MEMORY_REPLAY_STORE_H_
