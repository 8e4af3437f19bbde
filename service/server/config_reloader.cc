#include "service/server/config_reloader.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "service/authn/authenticator.h"
#include "service/authn/config_warnings.h"
#include "service/common/log.h"
#include "service/ops/popguard_metrics.h"
#include "service/server/verifier_factory.h"

namespace popguard {

ConfigReloader::ConfigReloader(Options options, Config running, const Clock* clock,
                               ReplayStore* replay, AuthenticatorHolder* holder)
    : options_(std::move(options)),
      clock_(clock),
      replay_(replay),
      holder_(holder),
      startup_(std::move(running)) {
  thread_ = std::thread([this] { Loop(); });
}

ConfigReloader::~ConfigReloader() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ConfigReloader::Trigger() {
  absl::MutexLock lock(&mu_);
  triggered_ = true;
}

ConfigReloader::Fingerprint ConfigReloader::Stat(const std::string& path) {
  Fingerprint f;
  std::error_code ec;
  std::filesystem::path resolved = std::filesystem::canonical(path, ec);
  if (!ec) f.resolved = resolved.string();
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return f;
  f.ok = true;
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = static_cast<uint64_t>(st.st_size);
  f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return f;
}

void ConfigReloader::Loop() {
  Fingerprint loaded = Stat(options_.path);  // what the running config came from
  Fingerprint previous = loaded;
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || triggered_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), options_.poll_interval);
    if (stop_) break;
    std::string trigger;
    Fingerprint now = options_.watch || triggered_ ? Stat(options_.path) : loaded;
    if (triggered_) {
      triggered_ = false;
      trigger = "sighup";
    } else if (options_.watch && !(now == loaded) && now == previous && now.ok) {
      trigger = "file_change";
    }
    previous = now;
    if (trigger.empty()) continue;
    mu_.Unlock();
    ReloadNow(trigger).IgnoreError();  // logged inside
    mu_.Lock();
    // A failed file-change reload is not retried until the file changes again.
    loaded = now;
  }
}

std::vector<std::string> ConfigReloader::RestartOnlyChanges(const Config& a, const Config& b) {
  std::vector<std::string> keys;
  if (a.listen != b.listen) keys.push_back("listen");
  if (a.tls.cert_file != b.tls.cert_file || a.tls.key_file != b.tls.key_file ||
      a.tls.client_ca_file != b.tls.client_ca_file) {
    keys.push_back("tls");
  }
  if (a.metrics.listen != b.metrics.listen) keys.push_back("metrics.listen");
  {
    const ForwardAuthConfig& fa = a.forward_auth;
    const ForwardAuthConfig& fb = b.forward_auth;
    if (fa.listen != fb.listen || fa.trusted_sources != fb.trusted_sources ||
        fa.envoy_path_prefix != fb.envoy_path_prefix ||
        fa.client_cert_header != fb.client_cert_header ||
        fa.client_cert_format != fb.client_cert_format || fa.threads != fb.threads ||
        fa.max_queued != fb.max_queued || fa.io_timeout != fb.io_timeout ||
        fa.request_deadline != fb.request_deadline || fa.tls.cert_file != fb.tls.cert_file ||
        fa.tls.key_file != fb.tls.key_file || fa.tls.client_ca_file != fb.tls.client_ca_file) {
      keys.push_back("forward_auth");
    }
  }
  const RedisReplayConfig& ra = a.replay.redis;
  const RedisReplayConfig& rb = b.replay.redis;
  if (a.replay.backend != b.replay.backend || a.replay.max_entries != b.replay.max_entries ||
      ra.addresses != rb.addresses || ra.username != rb.username ||
      ra.password_file != rb.password_file || ra.database != rb.database ||
      ra.key_prefix != rb.key_prefix || ra.connect_timeout != rb.connect_timeout ||
      ra.command_timeout != rb.command_timeout || ra.pool_size != rb.pool_size ||
      ra.failure_policy != rb.failure_policy || ra.breaker_failures != rb.breaker_failures ||
      ra.breaker_open != rb.breaker_open ||
      ra.required_for_readiness != rb.required_for_readiness) {
    keys.push_back("replay");
  }
  if (a.limits.max_inflight != b.limits.max_inflight) keys.push_back("limits.max_inflight");
  if (a.access_token_cache_entries != b.access_token_cache_entries) {
    keys.push_back("access_token_cache_entries");
  }
  if (a.crypto.batch_verification != b.crypto.batch_verification) {
    keys.push_back("crypto.batch_verification");
  }
  if (a.crypto.verify_threads != b.crypto.verify_threads) keys.push_back("crypto.verify_threads");
  if (a.crypto.max_batch != b.crypto.max_batch) keys.push_back("crypto.max_batch");
  if (a.rollout.top_clients != b.rollout.top_clients ||
      a.rollout.metric_clients != b.rollout.metric_clients) {
    keys.push_back("rollout");  // the tables' sizes; the ready_* keys reload
  }
  if (a.crypto.inline_when_idle != b.crypto.inline_when_idle) {
    keys.push_back("crypto.inline_when_idle");
  }
  if (a.limits.max_grpc_message_bytes != b.limits.max_grpc_message_bytes) {
    keys.push_back("limits.max_grpc_message_bytes");
  }
  // revocation.file is re-read on every reload; the Redis subscriber is not.
  const RevocationConfig& va = a.revocation;
  const RevocationConfig& vb = b.revocation;
  if (va.redis != vb.redis || va.redis_key != vb.redis_key ||
      va.redis_channel != vb.redis_channel || va.resync_interval != vb.resync_interval ||
      va.max_staleness != vb.max_staleness) {
    keys.push_back("revocation.redis");
  }
  return keys;
}

absl::Status ConfigReloader::ReloadNow(std::string_view trigger) {
  absl::MutexLock lock(&reload_mu_);
  auto fail = [&](const absl::Status& status) {
    PopguardMetrics::Get().RecordReload(false);
    LogLine(LogLevel::kError, "config_reload_failed")
        .Add("trigger", trigger)
        .Add("file", options_.path)
        .Add("detail", status.message())
        .Add("action", "kept the running config");
    return status;
  };
  absl::StatusOr<Config> config = LoadConfigFile(options_.path);
  if (!config.ok()) return fail(config.status());
  if (absl::Status s = ApplyOverrides(options_.overrides, &*config); !s.ok()) return fail(s);
  LogLevel level;
  if (!ParseLogLevel(config->log_level, &level)) {
    return fail(absl::InvalidArgumentError("log_level is not one of debug, info, warn, error"));
  }
  std::vector<std::string> warnings;
  auto auth = Authenticator::Create(*config, CreateCountedVerifier(config->crypto), clock_, replay_,
                                    &warnings, options_.token_cache, options_.scheduler,
                                    options_.live_revocations, options_.rollout);
  if (!auth.ok()) return fail(auth.status());
  // Remote issuers start fetching now; swapping before their keys arrive
  // would deny every request for them, so wait (bounded) and refuse the
  // reload if they do not come.
  const absl::Time deadline = absl::Now() + options_.key_wait;
  std::string why;
  while (!(*auth)->issuers().Ready(&why)) {
    if (absl::Now() >= deadline) {
      return fail(absl::UnavailableError(absl::StrCat("issuer keys not available: ", why)));
    }
    why.clear();
    absl::SleepFor(absl::Milliseconds(50));
  }
  for (std::string& w : ConfigRiskWarnings(*config)) warnings.push_back(std::move(w));
  for (const auto& w : warnings) LogLine(LogLevel::kWarn, "config_warning").Add("detail", w);
  std::vector<std::string> restart = RestartOnlyChanges(startup_, *config);
  if (!restart.empty()) {
    LogLine(LogLevel::kWarn, "config_reload_needs_restart")
        .Add("keys", absl::StrJoin(restart, ","))
        .Add("detail", "these keys keep their start-up values until popguard restarts");
  }
  std::shared_ptr<const Authenticator> old = holder_->Get();
  holder_->Set(std::shared_ptr<const Authenticator>(std::move(*auth)));
  if (old != nullptr) PopguardMetrics::Get().RetireAuthenticator(*old);
  SetLogLevel(level);
  PopguardMetrics::Get().RecordReload(true);
  LogLine(LogLevel::kInfo, "config_reloaded")
      .Add("trigger", trigger)
      .Add("file", options_.path)
      .Add("issuers", static_cast<int64_t>(config->issuers.size()))
      .Add("routes", static_cast<int64_t>(config->routes.size()));
  return absl::OkStatus();
}

}  // namespace popguard
