// ReplayStore: the DPoP jti replay window (RFC 9449 section 11.1).
//
// Flow: after a proof has passed every other check, the validator asks the
// store to record its replay key (a fixed-length hash of the proof key's
// thumbprint and the jti) until the proof can no longer be accepted anyway
// (its iat + max_age). A key already present and unexpired means the proof was
// seen before: the request is a replay. The call is asynchronous so that a
// networked store (Redis) never blocks a gRPC thread; the in-memory store
// completes inline.
#ifndef POPGUARD_STORAGE_REPLAY_STORE_H_
#define POPGUARD_STORAGE_REPLAY_STORE_H_

#include <memory>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace popguard {

enum class ReplayResult {
  kFresh,        // first sighting: recorded until its expiry
  kReplayed,     // already recorded and not yet expired
  kFull,         // the store is at capacity; nothing was recorded
  kUnavailable,  // the store could not be reached
  // The store (or the Redis node holding the key) lost its entries at some
  // moment L, and the proof was issued before L: it may have been accepted
  // before the loss, so it is refused (one retry with a fresh proof passes).
  kWindowReset,
};

// All results, in declaration order (metric labels).
inline constexpr ReplayResult kAllReplayResults[] = {
    ReplayResult::kFresh, ReplayResult::kReplayed, ReplayResult::kFull, ReplayResult::kUnavailable,
    ReplayResult::kWindowReset};

class ReplayStore {
 public:
  using Done = absl::AnyInvocable<void(ReplayResult) &&>;
  virtual ~ReplayStore() = default;

  // CheckAndInsert atomically records `key` until `expiry` unless it is
  // present and unexpired at `now`. `issued_at` is the proof's iat: a store
  // that knows it lost its entries at some moment L answers kWindowReset for
  // a proof issued before L (its first use may be among what was lost); after
  // L + max_age + clock_skew such a proof is stale anyway, so no store needs
  // to know max_age. `done` runs exactly once, either before CheckAndInsert
  // returns or later on another thread.
  virtual void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry,
                              absl::Time issued_at, Done done) = 0;

  // CheckAndInsert without an iat (tools, benchmarks): the entry counts as
  // issued at `now`, so a loss of state never refuses it.
  void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry, Done done) {
    CheckAndInsert(key, now, expiry, now, std::move(done));
  }

  // Size returns the number of live entries (approximate for networked stores).
  virtual size_t Size() const = 0;
};

using ReplayStorePtr = std::unique_ptr<ReplayStore>;

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REPLAY_STORE_H_
