// RevocationFeed: the Redis source of the revocation list (revocation.redis),
// and the revocation metrics.
//
//   RedisSubscriber (storage/redis_subscriber.h) ──snapshots, messages──►
//     parse (service/authn/revocation.h) ──► LiveRevocations::Add ──► every
//     Authenticator's check (the same list across config reloads)
//
// When Redis is down the replica keeps deciding on the last list it had
// (entries learned are never dropped before their `until`), reports
// popguard_revocation_redis_connected 0 and logs revocation_redis_lost; with
// revocation.max_staleness set it also reports not ready once the list has
// not been current for that long (docs/config.md "revocation").
#ifndef POPGUARD_SERVICE_SERVER_REVOCATION_FEED_H_
#define POPGUARD_SERVICE_SERVER_REVOCATION_FEED_H_

#include <atomic>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/authn/authenticator.h"
#include "service/authn/revocation.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/ops/readiness.h"
#include "storage/redis_subscriber.h"

namespace popguard {

class RevocationFeed {
 public:
  // Start returns a feed; without revocation.redis it has no list (list() null).
  // With max_staleness, a readiness check is added to `readiness`.
  static absl::StatusOr<std::unique_ptr<RevocationFeed>> Start(const Config& config,
                                                               const Clock* clock,
                                                               Readiness* readiness);
  ~RevocationFeed();

  // list is the Redis-fed list, null without revocation.redis.
  const LiveRevocations* list() const { return list_.get(); }
  // Current reports whether the list is current (subscribed), and since when
  // it has not been (*since) otherwise.
  bool Current(absl::Time* since) const;

  // RegisterMetrics exports the revocation families (once per process, whether
  // or not revocation is configured): `current` is the running Authenticator
  // (its revocation.file set), `feed` may be null.
  static void RegisterMetrics(std::function<std::shared_ptr<const Authenticator>()> current,
                              const RevocationFeed* feed);

 private:
  RevocationFeed() = default;
  void OnSnapshot(std::vector<std::pair<std::string, int64_t>> members);
  void OnMessages(std::vector<std::string> messages);
  void OnState(bool connected, std::string_view why);

  const Clock* clock_ = nullptr;
  std::unique_ptr<LiveRevocations> list_;
  std::atomic<uint64_t> snapshots_{0};      // full reads applied
  std::atomic<uint64_t> messages_{0};       // announced entries applied
  std::atomic<int64_t> last_read_unix_{0};  // last full read, unix seconds
  mutable absl::Mutex mu_;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  bool told_unreachable_ ABSL_GUARDED_BY(mu_) = false;  // logged the first failure
  absl::Time lost_since_ ABSL_GUARDED_BY(mu_);          // start-up or the last loss
  std::unique_ptr<RedisSubscriber> subscriber_;         // last: stopped first
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_SERVER_REVOCATION_FEED_H_
