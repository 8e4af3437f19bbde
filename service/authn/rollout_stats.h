// RolloutStats: how the requests of every route arrived, per client, for
// rollout readiness (issue 16 part 2; GET /rollout, popguard_rollout_requests_total).
//
// Every decided request is counted once, whatever the route's mode, by its
// Arrival: the binding its token carries (unbound bearer, DPoP, mTLS, both) or
// `failed`. Failures are also counted by reason. A request denied only because
// the route requires a binding its token lacks (binding_required) counts by
// the binding the token carries, so a report-only route that already names the
// binding it will require still shows who would be refused.
//
// Per client (the token's client_id claim, or azp when it has none; "" when
// no token was verified) two bounded tables are kept per route:
//
//  - top clients (the JSON report): a space-saving table of `top_clients`
//    slots. A client already in the table counts exactly; a new client takes a
//    free slot or replaces the slot with the lowest estimate, inheriting that
//    estimate as its `max_missed` (how many of its requests may have been
//    counted to others). Any client with more than 1/top_clients of a route's
//    requests is in the table. Clients that are not, and requests counted
//    before a client entered, are "others", so a client's figures are exact
//    lower bounds and every route's totals are exact.
//  - metric labels (Prometheus): the first `metric_clients` distinct clients of
//    a route keep their own label for the life of the process, everyone after
//    is counted as "others". Labels are never evicted, so every exported
//    counter only grows (a space-saving table would hand a label to another
//    client and make its counter jump).
//
// Memory is therefore bounded by routes x (top_clients + metric_clients)
// whatever an attacker does: a flood of new client_ids (which needs tokens the
// issuer signed; unverified requests count as "") only churns the top table
// and lands in "others". Routes are config names (plus "none"), and survive
// reloads (the stats outlive every Authenticator).
//
// Cost: a reader lock on the route map, one mutex per route and two hash
// lookups of a string_view; no allocation unless a client enters a table.
#ifndef POPGUARD_SERVICE_AUTHN_ROLLOUT_STATS_H_
#define POPGUARD_SERVICE_AUTHN_ROLLOUT_STATS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "service/authn/access_token.h"
#include "service/authn/reason.h"

namespace popguard {

// How a request arrived. Bit 0: the token is DPoP-bound; bit 1: mTLS-bound.
enum class Arrival { kBearer = 0, kDpop = 1, kMtls = 2, kDpopMtls = 3, kFailed = 4 };
inline constexpr Arrival kAllArrivals[] = {Arrival::kBearer, Arrival::kDpop, Arrival::kMtls,
                                           Arrival::kDpopMtls, Arrival::kFailed};
inline constexpr size_t kArrivalCount = std::size(kAllArrivals);
// ArrivalName: "bearer", "dpop", "mtls", "dpop_mtls", "failed".
std::string_view ArrivalName(Arrival a);
// BoundArrival returns the arrival of a token that carries these bindings.
inline Arrival BoundArrival(bool dpop, bool mtls) {
  return static_cast<Arrival>((dpop ? 1 : 0) | (mtls ? 2 : 0));
}

using ArrivalCounts = std::array<uint64_t, kArrivalCount>;

struct RolloutLimits {
  size_t top_clients = 10;     // space-saving slots per route (JSON report)
  size_t metric_clients = 10;  // client labels per route (Prometheus)
};

class RolloutStats {
 public:
  explicit RolloutStats(RolloutLimits limits);
  RolloutStats(const RolloutStats&) = delete;
  RolloutStats& operator=(const RolloutStats&) = delete;
  ~RolloutStats();

  // Record counts one decided request of `route`. `reason` is its reason
  // (kOk for an allow); it is counted by reason when `arrival` is kFailed.
  void Record(std::string_view route, Arrival arrival, Reason reason, std::string_view client);

  struct ClientCounts {
    std::string client;
    ArrivalCounts counts{};   // exact since the client entered the table
    uint64_t max_missed = 0;  // top table: requests possibly counted to others
    uint64_t Total() const;
  };
  struct RouteCounts {
    std::string route;
    ArrivalCounts counts{};                             // every request of the route
    std::vector<std::pair<Reason, uint64_t>> failures;  // by reason, in enum order, > 0 only
    std::vector<ClientCounts> top;                      // by estimated volume, highest first
    ClientCounts top_others;                            // route counts minus the top table's
    std::vector<ClientCounts> labelled;                 // first-come, in admission order
    ClientCounts labelled_others;                       // route counts minus the labelled clients'
    uint64_t Total() const;
  };
  // RecordDecision counts a decision of `route` with `reason`; `token` is its
  // verified access token (null: none was verified). The arrival is the
  // token's binding when the decision is an allow or binding_required, else
  // kFailed; the client is its client_id, else its azp, else "".
  void RecordDecision(std::string_view route, Reason reason, const VerifiedToken* token);

  // Snapshot returns every route seen, by name.
  std::vector<RouteCounts> Snapshot() const;
  // Routes returns how many routes are tracked (tests).
  size_t Routes() const;

 private:
  struct RouteStats;
  RouteStats* Find(std::string_view route);

  const RolloutLimits limits_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<RouteStats>> routes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHN_ROLLOUT_STATS_H_
