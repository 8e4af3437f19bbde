// RemoteKeySource: an issuer's keys fetched over HTTPS and kept fresh.
//
//   Create ── first fetch at once (asynchronous; start-up never waits) ──┐
//   scheduler thread, when the clock passes next_refresh ───────────────┤
//   RefreshForUnknownKid (at most once per kid_refetch_interval) ───────┤
//                                                                       ▼
//        [discovery: <issuer>/.well-known/openid-configuration, then RFC 8414
//         <origin>/.well-known/oauth-authorization-server<path>; its issuer
//         must equal the configured one exactly] → GET jwks_uri → KeySet::Parse
//   success: swap in the new KeySet (or keep the same one on 304 / identical
//            body); next refresh after Cache-Control max-age clamped to
//            [min_refresh, max_refresh] (min_refresh when none is given)
//   failure: keep the last good KeySet; retry after a doubling backoff from
//            retry_initial up to retry_max
//
// At most one fetch is in flight per source; every trigger that arrives while
// one runs joins it, so a flood of unknown kids costs at most one fetch per
// kid_refetch_interval. Current() returns the last good set until max_stale
// after the last success, then the empty set: popguard stops trusting keys it
// has not been able to re-confirm for that long (tokens then fail with
// token_key_not_found) and Ready() turns false until a fetch succeeds.
#ifndef POPGUARD_SERVICE_REMOTE_KEY_SOURCE_H_
#define POPGUARD_SERVICE_REMOTE_KEY_SOURCE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/clock.h"
#include "service/keys/issuers.h"
#include "service/keys/jwks_fetcher.h"

namespace popguard {

class RemoteKeySource final : public KeySource {
 public:
  struct Options {
    std::string issuer;    // the configured iss; a discovered issuer must equal it
    std::string jwks_uri;  // empty: discover it from the issuer
    FetchOptions fetch;    // timeout, CA file, allow_http, body size cap
    absl::Duration min_refresh = absl::Minutes(5);
    absl::Duration max_refresh = absl::Hours(24);
    absl::Duration max_stale = absl::Hours(24);
    absl::Duration kid_refetch_interval = absl::Seconds(30);
    absl::Duration retry_initial = absl::Seconds(1);
    absl::Duration retry_max = absl::Minutes(2);
    // Refresh and retry delays are shortened by a random fraction up to this,
    // so replicas started together do not fetch in lockstep. Tests use 0.
    double jitter = 0.1;
    // How often the scheduler looks at the clock (at most; it sleeps less
    // when the next refresh is due sooner by the real clock).
    absl::Duration poll_interval = absl::Seconds(1);
    // Requests that may wait on one fetch; more are refused like rate-limited ones.
    size_t max_waiters = 10000;
  };

  // Stats is a snapshot of the counters, for metrics and tests.
  struct Stats {
    uint64_t fetches = 0;                // refresh attempts started
    uint64_t http_requests = 0;          // HTTP GETs (discovery and JWKS)
    uint64_t successes = 0;              // attempts that produced or re-confirmed a set
    uint64_t failures = 0;               // attempts that failed (the last good set was kept)
    uint64_t not_modified = 0;           // successes by 304 or an unchanged body
    uint64_t kid_miss_refreshes = 0;     // fetches started for an unknown kid
    uint64_t kid_miss_coalesced = 0;     // unknown-kid requests that joined a fetch in flight
    uint64_t kid_miss_rate_limited = 0;  // unknown-kid requests refused (rate limit, waiter cap)
    size_t keys = 0;                     // keys in the last good set
    std::optional<absl::Duration> age;   // since the last success; nullopt before any
    absl::Time next_refresh = absl::InfinitePast();
    std::string last_error;  // empty after a success
  };

  // Create checks the URLs in `options` and starts the source: the first
  // fetch begins at once and the scheduler thread starts. `fetcher` and
  // `clock` must outlive the source.
  static absl::StatusOr<std::unique_ptr<RemoteKeySource>> Create(Options options,
                                                                 JwksFetcher* fetcher,
                                                                 const Clock* clock);

  // The destructor stops the scheduler. A fetch in flight completes in the
  // background and is discarded; requests waiting on it are still released.
  ~RemoteKeySource() override;

  std::shared_ptr<const KeySet> Current() const override;
  bool RefreshForUnknownKid(absl::AnyInvocable<void() &&> done) override;
  bool Ready(std::string* why) const override;

  Stats stats() const;

  // AwaitCompletedFetches waits (real time) until at least `n` fetch attempts
  // have completed, successfully or not; false on timeout. For start-up
  // logging and tests.
  bool AwaitCompletedFetches(uint64_t n, absl::Duration timeout) const;

  // DiscoveryUrls returns the discovery documents tried for `issuer`, in
  // order: OpenID Connect Discovery 1.0 section 4, then RFC 8414 section 3.1.
  static std::vector<std::string> DiscoveryUrls(const std::string& issuer);

 private:
  class State;
  explicit RemoteKeySource(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;  // shared with fetch callbacks in flight
  std::thread scheduler_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REMOTE_KEY_SOURCE_H_
