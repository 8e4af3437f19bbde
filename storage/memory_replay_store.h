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
//
// Loss of state: while the process lives, nothing is ever lost (a full store
// refuses instead of evicting). A restarted process starts empty, so the
// service sets window_start to the second it started (CreateReplayStore):
// a proof issued before that second is answered kWindowReset, since its first
// use may have been accepted by the previous process.
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

  // `window_start`: proofs issued before it are answered kWindowReset (the
  // moment this store's memory begins; InfinitePast: never).
  explicit MemoryReplayStore(size_t max_entries, int shards = 64,
                             absl::Time window_start = absl::InfinitePast());
  ~MemoryReplayStore() override;

  MemoryReplayStore(const MemoryReplayStore&) = delete;
  MemoryReplayStore& operator=(const MemoryReplayStore&) = delete;

  // CheckAndInsert records `key` until `expiry` unless it is present with an
  // expiry later than `now`; `done` runs exactly once, before this returns and
  // outside every lock. An `expiry` <= `now` records nothing (the entry would
  // already be expired) and yields kFresh unless the key is live.
  // A proof issued before window_start yields kWindowReset and records nothing.
  using ReplayStore::CheckAndInsert;
  void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry, absl::Time issued_at,
                      Done done) override;

  // CheckAndInsertSync is CheckAndInsert returning the result directly.
  ReplayResult CheckAndInsertSync(std::string_view key, absl::Time now, absl::Time expiry,
                                  absl::Time issued_at = absl::InfiniteFuture());

  // Size returns the number of entries held: the live ones plus expired ones
  // not yet purged; exact right after PurgeExpired.
  size_t Size() const override;

  // PurgeExpired drops every entry whose expiry is at or before now - kPurgeLag.
  void PurgeExpired(absl::Time now);

  // MemoryUsageBytesApprox estimates the heap bytes held by the store.
  size_t MemoryUsageBytesApprox() const;

  size_t max_entries() const { return max_entries_; }
  int shard_count() const { return shard_count_; }
  absl::Time window_start() const { return window_start_; }
  size_t per_shard_capacity() const { return per_shard_capacity_; }

 private:
  class Shard;

  Shard& ShardFor(std::string_view key) const;

  const size_t max_entries_;
  const int shard_count_;
  const size_t per_shard_capacity_;
  const absl::Time window_start_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_MEMORY_REPLAY_STORE_H_
