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
};

class ReplayStore {
 public:
  using Done = absl::AnyInvocable<void(ReplayResult) &&>;
  virtual ~ReplayStore() = default;

  // CheckAndInsert atomically records `key` until `expiry` unless it is
  // present and unexpired at `now`. `done` runs exactly once, either before
  // CheckAndInsert returns or later on another thread.
  virtual void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry,
                              Done done) = 0;

  // Size returns the number of live entries (approximate for networked stores).
  virtual size_t Size() const = 0;
};

using ReplayStorePtr = std::unique_ptr<ReplayStore>;

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REPLAY_STORE_H_
