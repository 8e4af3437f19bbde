#include "service/ops/popguard_metrics.h"

#include <optional>
#include <type_traits>

#include "absl/time/clock.h"
#include "service/authn/authenticator.h"
#include "service/jose/native_verifier.h"
#include "service/jose/verify_scheduler.h"
#include "service/keys/remote_key_source.h"
#include "service/ops/process_metrics.h"
#include "service/ops/rollout_metrics.h"
#include "storage/redis_replay_store.h"

namespace popguard {
namespace {

constexpr const char* kApiNames[kApiCount] = {"verify", "verify_stream", "check", "forward_auth"};
constexpr const char* kSignatureResults[] = {"valid", "invalid", "malformed"};
constexpr const char* kReplayResults[] = {"fresh", "replayed", "full", "unavailable",
                                          "window_reset"};
// The label names, one per enum value, in the enums' declaration order.
static_assert(std::size(kApiNames) == std::size(kAllApis));
static_assert(std::size(kSignatureResults) == std::size(kAllSignatureResults));
static_assert(std::size(kReplayResults) == std::size(kAllReplayResults));

int ApiIndex(Api api) { return static_cast<int>(api); }

std::string ReasonLabel(Reason r) {
  std::string_view code = ReasonCode(r);
  return std::string(code);
}

}  // namespace

PopguardMetrics& PopguardMetrics::Get() {
  static PopguardMetrics* const instance = new PopguardMetrics();  // never destroyed
  return *instance;
}

PopguardMetrics::PopguardMetrics() {
  decisions_ = registry_.AddCounter(
      "popguard_decisions_total",
      "Answered requests by result (allow, deny, report_only), reason code, proven binding and "
      "route.",
      {"result", "reason", "binding", "route"});
  would_deny_ = registry_.AddCounter(
      "popguard_report_only_would_deny_total",
      "Requests a report-only route let through that would have been denied.", {"reason", "route"});
  HistogramFamily* duration =
      registry_.AddHistogram("popguard_request_duration_seconds",
                             "Time from receiving a request (or stream message) to its decision.",
                             {"api"}, LatencyBuckets());
  inflight_ = registry_
                  .AddGauge("popguard_inflight_requests",
                            "Requests (and stream messages) being decided now.", {})
                  ->WithLabels({});
  CounterFamily* shed = registry_.AddCounter(
      "popguard_shed_requests_total",
      "Requests refused with RESOURCE_EXHAUSTED because limits.max_inflight was reached.", {"api"});
  for (Api api : kAllApis) {
    duration_[ApiIndex(api)] = duration->WithLabels({kApiNames[ApiIndex(api)]});
    shed_[ApiIndex(api)] = shed->WithLabels({kApiNames[ApiIndex(api)]});
  }
  CounterFamily* sigs = registry_.AddCounter(
      "popguard_signature_verifications_total",
      "JWS signature verifications (access tokens and DPoP proofs) by algorithm and result.",
      {"alg", "result"});
  for (JwsAlg alg : kAllJwsAlgs) {
    for (SignatureResult result : kAllSignatureResults) {
      const int r = static_cast<int>(result);
      signatures_[static_cast<int>(alg)][r] =
          sigs->WithLabels({std::string(JwsAlgName(alg)), kSignatureResults[r]});
    }
  }
  replay_duration_ =
      registry_
          .AddHistogram("popguard_replay_store_duration_seconds",
                        "Latency of replay store check-and-insert calls.", {}, LatencyBuckets())
          ->WithLabels({});
  CounterFamily* replay =
      registry_.AddCounter("popguard_replay_store_results_total",
                           "Replay store answers: fresh, replayed, full, unavailable.", {"result"});
  for (ReplayResult result : kAllReplayResults) {
    const int r = static_cast<int>(result);
    replay_results_[r] = replay->WithLabels({kReplayResults[r]});
  }
  CounterFamily* reloads =
      registry_.AddCounter("popguard_config_reloads_total",
                           "Config reloads (SIGHUP or file change) by result.", {"result"});
  reloads_[0] = reloads->WithLabels({"success"});
  reloads_[1] = reloads->WithLabels({"failure"});
  last_reload_success_ =
      registry_
          .AddGauge("popguard_last_reload_success_timestamp_seconds",
                    "Unix time the running config was loaded: at start, then at each successful "
                    "reload.",
                    {})
          ->WithLabels({});
  build_info_ = registry_.AddGauge(
      "popguard_build_info", "Always 1; labels: version and git revision of the running binary.",
      {"version", "revision"});
  // The in-process replay window: entries held (live, and expired ones not
  // yet swept) against replay.max_entries. A full window refuses new proofs
  // (dpop_replay_store_full) rather than forget a jti.
  auto window_value = [this](bool ratio) {
    return [this, ratio] {
      std::vector<Sample> out;
      absl::MutexLock lock(&mu_);
      if (!window_.entries) return out;
      const double entries = static_cast<double>(window_.entries());
      out.push_back({{window_.name},
                     !ratio ? entries
                     : window_.max_entries == 0
                         ? 1.0
                         : entries / static_cast<double>(window_.max_entries)});
      return out;
    };
  };
  registry_.AddCallback(
      "popguard_rollout_requests_total",
      "Decided requests by route, client (first metric_clients per route, then (others)) and "
      "arrival: bearer, dpop, mtls, dpop_mtls (the token's binding) or failed.",
      "counter", {"route", "client", "arrival"}, [this] {
        absl::MutexLock lock(&mu_);
        return rollout_ != nullptr ? RolloutSamples(*rollout_) : std::vector<Sample>();
      });
  registry_.AddCallback(
      "popguard_route_info",
      "Always 1, per route of the running config and default: its binding and report_only.",
      "gauge", {"route", "binding", "report_only"}, [this] {
        absl::MutexLock lock(&mu_);
        std::shared_ptr<const Authenticator> a = source_ ? source_() : nullptr;
        return a != nullptr ? RouteInfoSamples(a->config()) : std::vector<Sample>();
      });
  registry_.AddCallback("popguard_replay_window_entries",
                        "DPoP proofs held in the in-process replay window (memory backend, or "
                        "Redis local_fallback), by window.",
                        "gauge", {"window"}, window_value(false));
  registry_.AddCallback("popguard_replay_window_fill_ratio",
                        "In-process replay window entries / replay.max_entries, by window.",
                        "gauge", {"window"}, window_value(true));
  registry_.AddCallback(
      "popguard_cache_entries", "Entries each cache holds now.", "gauge", {"cache"}, [this] {
        std::vector<Sample> out;
        absl::MutexLock lock(&mu_);
        if (!source_) return out;
        std::shared_ptr<const Authenticator> a = source_();
        if (a == nullptr) return out;
        out.push_back({{"access_token"}, static_cast<double>(a->tokens().cache().Size())});
        out.push_back({{"proof_key"}, static_cast<double>(a->dpop().key_cache().size())});
        out.push_back({{"cert_thumbprint"}, static_cast<double>(a->cert_thumbprints().size())});
        return out;
      });
  // process_*: the names every Prometheus client library exports, read from
  // /proc at each scrape.
  auto process_value = [](auto field) {
    return [field] {
      std::vector<Sample> out;
      std::optional<ProcessStats> s = ReadProcessStats();
      if (!s) return out;
      const auto& v = (*s).*field;
      if constexpr (std::is_same_v<std::decay_t<decltype(v)>, double>) {
        out.push_back({{}, v});
      } else if (v) {
        out.push_back({{}, *v});
      }
      return out;
    };
  };
  struct ProcessFamily {
    const char* name;
    const char* help;
    const char* type;
    std::function<std::vector<Sample>()> collect;
  };
  const ProcessFamily process[] = {
      {"process_cpu_seconds_total", "User and system CPU time spent, in seconds.", "counter",
       process_value(&ProcessStats::cpu_seconds)},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
       process_value(&ProcessStats::resident_memory_bytes)},
      {"process_open_fds", "Open file descriptors.", "gauge",
       process_value(&ProcessStats::open_fds)},
      {"process_max_fds", "Maximum number of open file descriptors (soft limit).", "gauge",
       process_value(&ProcessStats::max_fds)},
      {"process_start_time_seconds", "Start time of the process since the Unix epoch, seconds.",
       "gauge", process_value(&ProcessStats::start_time_seconds)},
  };
  for (const ProcessFamily& f : process)
    registry_.AddCallback(f.name, f.help, f.type, {}, f.collect);

  // Cache counters live in the current Authenticator; totals of retired ones
  // are kept in base_ so the exported counters never go down on a reload.
  auto cache_counter = [this](std::map<std::string, uint64_t> Totals::*field) {
    return [this, field] {
      std::vector<Sample> out;
      absl::MutexLock lock(&mu_);
      if (!source_) return out;
      std::shared_ptr<const Authenticator> a = source_();
      if (a == nullptr) return out;
      Totals t = Read(*a);
      for (const auto& [cache, n] : t.*field) {
        out.push_back({{cache}, static_cast<double>(n + (base_.*field)[cache])});
      }
      return out;
    };
  };
  registry_.AddCallback("popguard_cache_hits_total", "Cache hits by cache.", "counter", {"cache"},
                        cache_counter(&Totals::cache_hits));
  registry_.AddCallback("popguard_cache_misses_total", "Cache misses by cache.", "counter",
                        {"cache"}, cache_counter(&Totals::cache_misses));
  registry_.AddCallback(
      "popguard_jwks_fetches_total",
      "JWKS refresh attempts of issuers with remote keys (jwks_uri, discovery) by result.",
      "counter", {"issuer", "result"}, [this] {
        std::vector<Sample> out;
        absl::MutexLock lock(&mu_);
        if (!source_) return out;
        std::shared_ptr<const Authenticator> a = source_();
        if (a == nullptr) return out;
        Totals t = Read(*a);
        for (const auto& [iss, n] : t.jwks_success) {
          out.push_back({{iss, "success"}, static_cast<double>(n + base_.jwks_success[iss])});
        }
        for (const auto& [iss, n] : t.jwks_failure) {
          out.push_back({{iss, "failure"}, static_cast<double>(n + base_.jwks_failure[iss])});
        }
        return out;
      });
  auto remote_gauge = [this](bool age) {
    std::vector<Sample> out;
    absl::MutexLock lock(&mu_);
    if (!source_) return out;
    std::shared_ptr<const Authenticator> a = source_();
    if (a == nullptr) return out;
    for (const auto& issuer : a->issuers().issuers()) {
      const auto* remote = dynamic_cast<const RemoteKeySource*>(issuer->keys.get());
      if (remote == nullptr) continue;
      RemoteKeySource::Stats s = remote->stats();
      if (age) {
        if (s.age) out.push_back({{issuer->config.issuer}, absl::ToDoubleSeconds(*s.age)});
      } else {
        out.push_back({{issuer->config.issuer}, static_cast<double>(s.keys)});
      }
    }
    return out;
  };
  registry_.AddCallback("popguard_jwks_key_set_age_seconds",
                        "Seconds since the issuer's key set was last fetched successfully.",
                        "gauge", {"issuer"}, [remote_gauge] { return remote_gauge(true); });
  registry_.AddCallback("popguard_jwks_keys", "Keys in the issuer's last good key set.", "gauge",
                        {"issuer"}, [remote_gauge] { return remote_gauge(false); });

  auto redis_stat = [this](auto field) {
    std::vector<Sample> out;
    absl::MutexLock lock(&mu_);
    if (redis_ == nullptr) return out;
    field(redis_->stats(), &out);
    return out;
  };
  registry_.AddCallback(
      "popguard_replay_store_errors_total",
      "Redis replay store command failures by kind (timeout, connection).", "counter", {"kind"},
      [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          out->push_back({{"timeout"}, static_cast<double>(s.redis.timeouts)});
          out->push_back({{"connection"}, static_cast<double>(s.redis.errors)});
        });
      });
  registry_.AddCallback(
      "popguard_replay_store_breaker_state",
      "Redis replay store circuit breaker of each Redis node: 0 closed, 1 half-open, 2 open.",
      "gauge", {"node"}, [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          for (const RedisReplayStore::Stats::Node& n : s.nodes) {
            double v = n.breaker == CircuitBreaker::State::kClosed     ? 0
                       : n.breaker == CircuitBreaker::State::kHalfOpen ? 1
                                                                       : 2;
            out->push_back({{n.name}, v});
          }
        });
      });
  registry_.AddCallback(
      "popguard_replay_store_fallback_uses_total",
      "Replay checks answered by the local window because Redis was unavailable (local_fallback).",
      "counter", {}, [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          out->push_back({{}, static_cast<double>(s.fallback_uses)});
        });
      });
  registry_.AddCallback(
      "popguard_replay_store_breaker_opens_total",
      "Times the circuit breaker of each Redis node opened.", "counter", {"node"}, [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          for (const RedisReplayStore::Stats::Node& n : s.nodes) {
            out->push_back({{n.name}, static_cast<double>(n.opens)});
          }
        });
      });
  registry_.AddCallback(
      "popguard_replay_store_writeback_total",
      "local_fallback entries written back to Redis after an outage: written, or conflict (Redis "
      "already held it: another replica accepted the same proof during the outage).",
      "counter", {"result"}, [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          out->push_back({{"written"}, static_cast<double>(s.writeback_written)});
          out->push_back({{"conflict"}, static_cast<double>(s.writeback_conflicts)});
        });
      });
  registry_.AddCallback(
      "popguard_replay_store_state_losses_total",
      "Redis servers found restarted (new run_id), emptied (state marker gone) or unidentifiable: "
      "their window may be lost.",
      "counter", {}, [redis_stat] {
        return redis_stat([](const RedisReplayStore::Stats& s, std::vector<Sample>* out) {
          out->push_back({{}, static_cast<double>(s.redis.state_losses)});
        });
      });
  // The signature scheduler: batch sizes show how much batching the load
  // allows (an idle service verifies one signature at a time).
  auto scheduler_stats = [this]() -> std::optional<VerifyScheduler::Stats> {
    absl::MutexLock lock(&mu_);
    if (scheduler_ == nullptr) return std::nullopt;
    return scheduler_->stats();
  };
  registry_.AddCallback("popguard_verify_batches_total",
                        "Signature batches the verify scheduler's workers ran, by batch size.",
                        "counter", {"size"}, [scheduler_stats] {
                          std::vector<Sample> out;
                          if (auto s = scheduler_stats()) {
                            for (size_t i = 0; i < VerifyScheduler::kSizeBuckets; ++i) {
                              out.push_back({{VerifyScheduler::kSizeBucketNames[i]},
                                             static_cast<double>(s->batches_by_size[i])});
                            }
                          }
                          return out;
                        });
  auto scheduler_value = [scheduler_stats](auto field) {
    return [scheduler_stats, field] {
      std::vector<Sample> out;
      if (auto s = scheduler_stats()) out.push_back({{}, static_cast<double>((*s).*field)});
      return out;
    };
  };
  registry_.AddCallback("popguard_verify_batched_signatures_total",
                        "Signature checks submitted to the verify scheduler.", "counter", {},
                        scheduler_value(&VerifyScheduler::Stats::submitted));
  registry_.AddCallback("popguard_verify_queue_depth",
                        "Signature checks waiting for a verify scheduler worker.", "gauge", {},
                        scheduler_value(&VerifyScheduler::Stats::queued));
  registry_.AddCallback("popguard_ready", "1 when this replica reports ready, else 0.", "gauge", {},
                        [this] {
                          std::function<bool()> ready;
                          {
                            absl::MutexLock lock(&mu_);
                            ready = ready_;
                          }
                          std::vector<Sample> out;
                          if (ready) out.push_back({{}, ready() ? 1.0 : 0.0});
                          return out;
                        });
  registry_.AddCallback("popguard_draining", "1 once SIGTERM started the drain, else 0.", "gauge",
                        {}, [this] {
                          std::function<bool()> draining;
                          {
                            absl::MutexLock lock(&mu_);
                            draining = draining_;
                          }
                          std::vector<Sample> out;
                          if (draining) out.push_back({{}, draining() ? 1.0 : 0.0});
                          return out;
                        });
}

void PopguardMetrics::RecordDecision(Api api, const Decision& d, absl::Duration latency) {
  duration_[ApiIndex(api)]->Observe(latency);
  const char* result = d.report_only ? "report_only" : (d.allow ? "allow" : "deny");
  std::string reason = ReasonLabel(d.reason);
  decisions_->WithLabels({result, reason, std::string(ProvenBindingName(d.binding)), d.route})
      ->Increment();
  if (d.report_only) would_deny_->WithLabels({reason, d.route})->Increment();
}

void PopguardMetrics::RecordShed(Api api) { shed_[ApiIndex(api)]->Increment(); }

void PopguardMetrics::RecordSignature(JwsAlg alg, SignatureResult result) {
  signatures_[static_cast<int>(alg)][static_cast<int>(result)]->Increment();
}

void PopguardMetrics::RecordReplay(ReplayResult result, absl::Duration latency) {
  replay_duration_->Observe(latency);
  replay_results_[static_cast<int>(result)]->Increment();
}

void PopguardMetrics::RecordReload(bool ok) {
  reloads_[ok ? 0 : 1]->Increment();
  if (ok) MarkConfigLoaded();
}

void PopguardMetrics::MarkConfigLoaded() {
  last_reload_success_->Set(absl::ToUnixSeconds(absl::Now()));
}

void PopguardMetrics::SetBuildInfo(absl::string_view version, absl::string_view revision) {
  build_info_->WithLabels({std::string(version), revision.empty() ? "none" : std::string(revision)})
      ->Set(1);
}

void PopguardMetrics::SetReplayWindow(std::string name, std::function<size_t()> entries,
                                      size_t max_entries) {
  absl::MutexLock lock(&mu_);
  window_ = {std::move(name), std::move(entries), max_entries};
}

PopguardMetrics::Totals PopguardMetrics::Read(const Authenticator& a) {
  Totals t;
  t.cache_hits["access_token"] = a.tokens().cache().hits();
  t.cache_misses["access_token"] = a.tokens().cache().misses();
  t.cache_hits["proof_key"] = a.dpop().key_cache().hits();
  t.cache_misses["proof_key"] = a.dpop().key_cache().misses();
  t.cache_hits["cert_thumbprint"] = a.cert_thumbprints().hits();
  t.cache_misses["cert_thumbprint"] = a.cert_thumbprints().misses();
  // ES256 verifications with a precomputed key table (hit) or without (miss).
  const SignatureVerifier* v = &a.verifier();
  if (const auto* counting = dynamic_cast<const CountingVerifier*>(v)) v = &counting->inner();
  if (const auto* native = dynamic_cast<const NativeVerifier*>(v)) {
    NativeVerifier::Stats s = native->stats();
    t.cache_hits["es256_key_table"] = s.es256_hot;
    t.cache_misses["es256_key_table"] = s.es256_cold + s.es256_delegated;
  }
  for (const auto& issuer : a.issuers().issuers()) {
    const auto* remote = dynamic_cast<const RemoteKeySource*>(issuer->keys.get());
    if (remote == nullptr) continue;
    RemoteKeySource::Stats s = remote->stats();
    t.jwks_success[issuer->config.issuer] = s.successes;
    t.jwks_failure[issuer->config.issuer] = s.failures;
  }
  return t;
}

void PopguardMetrics::SetAuthenticatorSource(
    std::function<std::shared_ptr<const Authenticator>()> source) {
  absl::MutexLock lock(&mu_);
  source_ = std::move(source);
}

void PopguardMetrics::RetireAuthenticator(const Authenticator& old) {
  Totals t = Read(old);
  absl::MutexLock lock(&mu_);
  for (const auto& [k, n] : t.cache_hits) base_.cache_hits[k] += n;
  for (const auto& [k, n] : t.cache_misses) base_.cache_misses[k] += n;
  for (const auto& [k, n] : t.jwks_success) base_.jwks_success[k] += n;
  for (const auto& [k, n] : t.jwks_failure) base_.jwks_failure[k] += n;
}

void PopguardMetrics::SetRedisStore(const RedisReplayStore* store) {
  absl::MutexLock lock(&mu_);
  redis_ = store;
}

void PopguardMetrics::SetRollout(const RolloutStats* stats) {
  absl::MutexLock lock(&mu_);
  rollout_ = stats;
}

void PopguardMetrics::SetVerifyScheduler(const VerifyScheduler* scheduler) {
  absl::MutexLock lock(&mu_);
  scheduler_ = scheduler;
}

void PopguardMetrics::SetState(std::function<bool()> ready, std::function<bool()> draining) {
  absl::MutexLock lock(&mu_);
  ready_ = std::move(ready);
  draining_ = std::move(draining);
}

void InstrumentedReplayStore::CheckAndInsert(std::string_view key, absl::Time now,
                                             absl::Time expiry, absl::Time issued_at, Done done) {
  const absl::Time start = absl::Now();
  inner_->CheckAndInsert(key, now, expiry, issued_at,
                         [start, done = std::move(done)](ReplayResult result) mutable {
                           PopguardMetrics::Get().RecordReplay(result, absl::Now() - start);
                           std::move(done)(result);
                         });
}

SignatureResult CountingVerifier::Verify(JwsAlg alg, const PublicKey& key,
                                         std::string_view signing_input,
                                         std::string_view signature) const {
  SignatureResult r = inner_->Verify(alg, key, signing_input, signature);
  PopguardMetrics::Get().RecordSignature(alg, r);
  return r;
}

void CountingVerifier::VerifyBatch(std::span<const SignatureCheck> checks,
                                   std::span<SignatureResult> results) const {
  inner_->VerifyBatch(checks, results);
  for (size_t i = 0; i < checks.size(); ++i) {
    PopguardMetrics::Get().RecordSignature(checks[i].alg, results[i]);
  }
}

}  // namespace popguard
