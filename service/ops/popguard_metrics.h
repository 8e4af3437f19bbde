// PopguardMetrics: every metric popguard exports on GET /metrics.
//
//   popguard_decisions_total{result,reason,binding,route}   result: allow, deny, report_only
//   popguard_report_only_would_deny_total{reason,route}
//   popguard_rollout_requests_total{route,client,arrival}   rollout readiness (rollout_metrics.h)
//   popguard_route_info{route,binding,report_only}          1 per configured route and default
//   popguard_request_duration_seconds{api}                  api: verify, verify_stream, check
//   popguard_inflight_requests, popguard_shed_requests_total{api}
//   popguard_signature_verifications_total{alg,result}      result: valid, invalid, malformed
//   popguard_cache_hits_total{cache}, popguard_cache_misses_total{cache}
//                                     cache: access_token, proof_key, cert_thumbprint,
//                                            es256_key_table
//   popguard_jwks_fetches_total{issuer,result}              result: success, failure
//   popguard_jwks_key_set_age_seconds{issuer}, popguard_jwks_keys{issuer}
//   popguard_replay_store_duration_seconds, popguard_replay_store_results_total{result}
//   popguard_replay_store_errors_total{kind}                kind: timeout, connection (Redis)
//   popguard_replay_store_breaker_state{node}               0 closed, 1 half-open, 2 open
//   popguard_replay_store_breaker_opens_total{node}         node: Redis "host:port", "unmapped"
//   popguard_replay_store_fallback_uses_total
//   popguard_verify_batches_total{size}                     signature batches by size bucket
//   popguard_verify_batched_signatures_total, popguard_verify_queue_depth
//   popguard_config_reloads_total{result}                   result: success, failure
//   popguard_last_reload_success_timestamp_seconds
//   popguard_ready, popguard_draining, popguard_build_info{version,revision}
//   popguard_cache_entries{cache}                            access_token, proof_key,
//   cert_thumbprint popguard_replay_window_entries{window},
//   popguard_replay_window_fill_ratio{window}
//                                     window: memory, local_fallback (Redis: none)
//   process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds,
//   process_max_fds, process_start_time_seconds             (process_metrics.h)
//
// One process-wide instance (Get). Request-path recording is a few relaxed
// atomic adds; the decision counter is found by its label values (a reader
// lock and one hash), because route names are only known from the config.
// Counters that live in an Authenticator (caches, JWKS) are read at scrape
// time; a reload folds the retiring Authenticator's totals into a base so the
// exported counters never go down.
#ifndef POPGUARD_SERVICE_POPGUARD_METRICS_H_
#define POPGUARD_SERVICE_POPGUARD_METRICS_H_

#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/authn/decision.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "service/ops/metrics.h"
#include "storage/replay_store.h"

namespace popguard {

class Authenticator;
class RolloutStats;
class RedisReplayStore;
class VerifyScheduler;

// The API a request arrived through (label `api`): gRPC Verify, VerifyStream,
// Envoy ext_authz Check, or the HTTP forward-auth listener (service/server/forward_auth.h).
enum class Api { kVerify, kVerifyStream, kCheck, kForwardAuth };
inline constexpr Api kAllApis[] = {Api::kVerify, Api::kVerifyStream, Api::kCheck,
                                   Api::kForwardAuth};
inline constexpr int kApiCount = static_cast<int>(std::size(kAllApis));

class PopguardMetrics {
 public:
  // Get returns the process-wide instance.
  static PopguardMetrics& Get();

  MetricRegistry& registry() { return registry_; }
  std::string Render() const { return registry_.Render(); }

  // RecordDecision counts one answered request and its latency.
  void RecordDecision(Api api, const Decision& d, absl::Duration latency);
  // RecordShed counts a request refused by the in-flight limit.
  void RecordShed(Api api);
  Gauge* inflight() { return inflight_; }
  void RecordSignature(JwsAlg alg, SignatureResult result);
  void RecordReplay(ReplayResult result, absl::Duration latency);
  // RecordReload counts a reload; a successful one also moves
  // popguard_last_reload_success_timestamp_seconds to now.
  void RecordReload(bool ok);
  // MarkConfigLoaded sets that timestamp to now (the config loaded at start).
  void MarkConfigLoaded();
  // SetBuildInfo exports popguard_build_info{version, revision} 1 (an empty
  // revision, a build outside git, is exported as "none").
  void SetBuildInfo(absl::string_view version, absl::string_view revision);
  // SetReplayWindow exports the fill of the in-process replay window `name`
  // ("memory", "local_fallback"): `entries` is read at scrape time (and must
  // stay callable until replaced); max_entries is replay.max_entries.
  void SetReplayWindow(std::string name, std::function<size_t()> entries, size_t max_entries);

  // SetAuthenticatorSource names where the current Authenticator is (scrape
  // time only). RetireAuthenticator folds `old`'s cache and JWKS counters
  // into the base; call it when a reload replaces `old`.
  void SetAuthenticatorSource(std::function<std::shared_ptr<const Authenticator>()> source);
  void RetireAuthenticator(const Authenticator& old);
  // SetRedisStore exports `store`'s Redis counters and breaker state (null: none).
  void SetRedisStore(const RedisReplayStore* store);
  // SetVerifyScheduler exports `scheduler`'s batch counters (null: none).
  void SetVerifyScheduler(const VerifyScheduler* scheduler);
  // SetRollout exports `stats` as popguard_rollout_requests_total (null: none).
  void SetRollout(const RolloutStats* stats);
  // SetState reports readiness and draining at scrape time.
  void SetState(std::function<bool()> ready, std::function<bool()> draining);

 private:
  PopguardMetrics();
  struct Totals {
    std::map<std::string, uint64_t> cache_hits, cache_misses;    // by cache
    std::map<std::string, uint64_t> jwks_success, jwks_failure;  // by issuer
  };
  static Totals Read(const Authenticator& a);

  MetricRegistry registry_;
  CounterFamily* decisions_;
  CounterFamily* would_deny_;
  // Arrays sized from their enums' kAll* lists, indexed by the enum value.
  Histogram* duration_[std::size(kAllApis)];
  Counter* shed_[std::size(kAllApis)];
  Gauge* inflight_;
  Counter* signatures_[std::size(kAllJwsAlgs)][std::size(kAllSignatureResults)];
  Histogram* replay_duration_;
  Counter* replay_results_[std::size(kAllReplayResults)];
  Counter* reloads_[2];  // success, failure
  Gauge* last_reload_success_;
  GaugeFamily* build_info_;

  mutable absl::Mutex mu_;
  std::function<std::shared_ptr<const Authenticator>()> source_ ABSL_GUARDED_BY(mu_);
  Totals base_ ABSL_GUARDED_BY(mu_);
  const RedisReplayStore* redis_ ABSL_GUARDED_BY(mu_) = nullptr;
  const VerifyScheduler* scheduler_ ABSL_GUARDED_BY(mu_) = nullptr;
  const RolloutStats* rollout_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::function<bool()> ready_ ABSL_GUARDED_BY(mu_);
  std::function<bool()> draining_ ABSL_GUARDED_BY(mu_);
  struct ReplayWindow {
    std::string name;
    std::function<size_t()> entries;  // empty: no in-process window
    size_t max_entries = 0;
  };
  ReplayWindow window_ ABSL_GUARDED_BY(mu_);
};

// InstrumentedReplayStore wraps a store and records the latency and result
// of every CheckAndInsert. `inner` must outlive it.
class InstrumentedReplayStore final : public ReplayStore {
 public:
  explicit InstrumentedReplayStore(ReplayStore* inner) : inner_(inner) {}
  using ReplayStore::CheckAndInsert;
  void CheckAndInsert(std::string_view key, absl::Time now, absl::Time expiry, absl::Time issued_at,
                      Done done) override;
  size_t Size() const override { return inner_->Size(); }

 private:
  ReplayStore* inner_;
};

// CountingVerifier wraps a verifier and counts verifications by algorithm
// and result.
class CountingVerifier final : public VerifierWrapper {
 public:
  explicit CountingVerifier(SignatureVerifierPtr inner) : inner_(std::move(inner)) {}
  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view signing_input,
                         std::string_view signature) const override;
  void VerifyBatch(std::span<const SignatureCheck> checks,
                   std::span<SignatureResult> results) const override;
  bool BatchesWell(JwsAlg alg) const override { return inner_->BatchesWell(alg); }
  const SignatureVerifier& inner() const override { return *inner_; }

 private:
  SignatureVerifierPtr inner_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_POPGUARD_METRICS_H_
