// popguard: the verification service. Thin main: flags → config → RunServer.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "service/authn/authenticator.h"
#include "service/config/config.h"
#include "service/server/config_reloader.h"
#include "service/ops/http_endpoint.h"
#include "service/server/forward_auth.h"
#include "service/keys/jwks_fetcher.h"
#include "service/ops/popguard_metrics.h"
#include "service/common/log.h"
#include "service/server/process_setup.h"
#include "service/ops/readiness.h"
#include "service/server/replay_factory.h"
#include "service/server/server.h"
#include "service/server/verifier_factory.h"
#include "service/jose/verify_scheduler.h"
#include "storage/redis_replay_store.h"

ABSL_FLAG(std::string, config, "", "Path to the YAML config file (required).");
ABSL_FLAG(std::string, listen, "", "gRPC listen address host:port; overrides the config file.");
ABSL_FLAG(std::string, log_level, "", "debug, info, warn or error; overrides the config file.");
ABSL_FLAG(bool, check_config, false, "Validate the config (and its key files) and exit.");

namespace popguard {
namespace {

// ListenFailed reports an address popguard cannot listen on (in use, or not
// this host's) on stderr as well as in the log, and is the exit status.
int ListenFailed(const absl::Status& status) {
  std::cerr << "popguard: " << status.message() << "\n";
  LogLine(LogLevel::kError, "listen_failed").Add("detail", status.message());
  return 1;
}

int RunServer(Config config, const sigset_t& signals) {
  std::vector<std::string> warnings;
  // Before the replay store: a Redis store registers its readiness check here.
  Readiness readiness;
  auto replay = CreateReplayStore(config, &readiness);
  if (!replay.ok()) {
    LogLine(LogLevel::kError, "config_invalid").Add("detail", replay.status().message());
    return 2;
  }
  // Every replay check is timed for popguard_replay_store_duration_seconds;
  // the store itself lives (and keeps its window) across config reloads.
  PopguardMetrics& metrics = PopguardMetrics::Get();
  metrics.SetRedisStore(dynamic_cast<const RedisReplayStore*>(replay->get()));
  InstrumentedReplayStore instrumented_replay(replay->get());
  RealClock clock;
  // Like the replay window, the verified-token cache lives for the whole
  // process: reloads build a new Authenticator around the same cache.
  BoundedCache<VerifiedToken> token_cache(config.access_token_cache_entries);
  // Signature checks of every request go to one process-wide pool that
  // verifies them in batches (verify_scheduler.h). It is made before the
  // server and destroyed after it, so every queued check (including those of
  // requests drained at shutdown) gets its verdict.
  std::unique_ptr<VerifyScheduler> scheduler;
  if (config.crypto.batch_verification) {
    scheduler = std::make_unique<VerifyScheduler>(
        VerifyScheduler::Options{.threads = config.crypto.verify_threads,
                                 .max_batch = config.crypto.max_batch,
                                 .inline_when_idle = config.crypto.inline_when_idle});
    metrics.SetVerifyScheduler(scheduler.get());
  }
  auto auth = Authenticator::Create(config, CreateCountedVerifier(config.crypto), &clock,
                                    &instrumented_replay, &warnings, &token_cache, scheduler.get());
  for (const auto& w : warnings) LogLine(LogLevel::kWarn, "config_warning").Add("detail", w);
  if (!auth.ok()) {
    LogLine(LogLevel::kError, "config_invalid").Add("detail", auth.status().message());
    return 2;
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    LogLine(LogLevel::kInfo, "config_ok").Add("issuers", static_cast<int64_t>(config.issuers.size()));
    return 0;
  }
  AuthenticatorHolder holder(std::shared_ptr<const Authenticator>(std::move(*auth)));
  // gRPC health is SERVING only while every required issuer has keys it trusts
  // (remote keys arrive after start-up, and go stale when the issuer is down),
  // and while a required Redis replay store can answer.
  readiness.Add("issuers",
                [&holder](std::string* why) { return holder.Get()->issuers().Ready(why); });
  auto server = Server::Start(config, &holder, &readiness);
  if (!server.ok()) return ListenFailed(server.status());
  Server* srv = server->get();
  metrics.SetAuthenticatorSource([&holder] { return holder.Get(); });
  metrics.SetState([&readiness, srv] { return !srv->draining() && readiness.Ready(); },
                   [srv] { return srv->draining(); });
  std::unique_ptr<HttpEndpoint> http;
  if (!config.metrics.listen.empty()) {
    auto endpoint = HttpEndpoint::Start(
        config.metrics.listen, [&readiness, srv, &metrics](const std::string& path) {
          HttpResponse r;
          if (path == "/metrics") {
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics.Render();
          } else if (path == "/healthz") {
            r.body = "ok\n";  // alive: the process answers
          } else if (path == "/readyz") {
            std::vector<std::string> why;
            if (srv->draining()) why.push_back("draining: shutting down");
            if (!readiness.Ready(&why) || !why.empty()) {
              r.status = 503;
              r.body = "not ready\n";
              for (const auto& w : why) r.body += w + "\n";
            } else {
              r.body = "ready\n";
            }
          } else {
            r.status = 404;
            r.body = "not found (try /metrics, /healthz, /readyz)\n";
          }
          return r;
        });
    if (!endpoint.ok()) return ListenFailed(endpoint.status());
    http = *std::move(endpoint);
    LogLine(LogLevel::kInfo, "metrics_listening")
        .Add("address", config.metrics.listen)
        .Add("port", static_cast<int64_t>(http->port()));
  }
  std::unique_ptr<ForwardAuthServer> forward_auth;
  if (!config.forward_auth.listen.empty()) {
    auto fa = ForwardAuthServer::Start(config, &holder);
    if (!fa.ok()) return ListenFailed(fa.status());
    forward_auth = *std::move(fa);
    LogLine(LogLevel::kInfo, "forward_auth_listening")
        .Add("address", config.forward_auth.listen)
        .Add("port", static_cast<int64_t>(forward_auth->port()));
  }
  ConfigReloader::Options reload;
  reload.path = absl::GetFlag(FLAGS_config);
  reload.listen_override = absl::GetFlag(FLAGS_listen);
  reload.log_level_override = absl::GetFlag(FLAGS_log_level);
  reload.token_cache = &token_cache;
  reload.scheduler = scheduler.get();
  auto reloader = std::make_unique<ConfigReloader>(reload, config, &clock, &instrumented_replay,
                                                   &holder);
  LogLine(LogLevel::kInfo, "listening")
      .Add("address", config.listen)
      .Add("port", static_cast<int64_t>((*server)->port()))
      .Add("pid", static_cast<int64_t>(getpid()))
      .Add("max_inflight", static_cast<int64_t>(config.limits.max_inflight))
      .Add("tls", !config.tls.cert_file.empty())
      .Add("issuers", static_cast<int64_t>(config.issuers.size()))
      .Add("replay_backend", config.replay.backend)
      .Add("verify_threads", static_cast<int64_t>(scheduler ? scheduler->threads() : 0));

  int sig = 0;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    LogLine(LogLevel::kInfo, "config_reload_requested").Add("signal", "SIGHUP");
    reloader->Trigger();
  }
  // Drain: report not ready first (gRPC health NOT_SERVING, /readyz 503) and
  // keep serving for drain_delay so load balancers and kubelet notice, then
  // stop accepting and give in-flight calls up to `grace` to finish.
  const ShutdownConfig shutdown = holder.Get()->config().shutdown;
  srv->StartDraining();
  LogLine(LogLevel::kInfo, "shutting_down")
      .Add("signal", static_cast<int64_t>(sig))
      .Add("drain_delay", absl::FormatDuration(shutdown.drain_delay))
      .Add("grace", absl::FormatDuration(shutdown.grace));
  absl::SleepFor(shutdown.drain_delay);
  reloader.reset();
  // Past `grace`, key fetches still running are aborted: the calls waiting on
  // them are answered UNAVAILABLE and the process exits within
  // drain_delay + grace (plus the moment that takes), not after fetch_timeout.
  if (forward_auth) forward_auth->StartClosing();
  srv->Shutdown(shutdown.grace, [] { JwksFetcher::Shared()->Shutdown(); });
  forward_auth.reset();
  http.reset();
  metrics.SetVerifyScheduler(nullptr);
  scheduler.reset();
  LogLine(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace popguard

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread exists, so every gRPC thread
  // inherits the mask and only sigwait in main receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);  // config reload
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  popguard::ConfigureProcessForServing();
  absl::SetProgramUsageMessage("popguard --config FILE [--listen HOST:PORT] [--log_level LEVEL]");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::cerr << "popguard: --config FILE is required (try examples/quickstart/popguard.yaml)\n";
    return 2;
  }
  auto config = popguard::LoadConfigFile(path);
  if (!config.ok()) {
    popguard::LogLine(popguard::LogLevel::kError, "config_invalid")
        .Add("file", path)
        .Add("detail", config.status().message());
    return 2;
  }
  if (!absl::GetFlag(FLAGS_listen).empty()) config->listen = absl::GetFlag(FLAGS_listen);
  if (!absl::GetFlag(FLAGS_log_level).empty()) config->log_level = absl::GetFlag(FLAGS_log_level);
  popguard::LogLevel level;
  if (!popguard::ParseLogLevel(config->log_level, &level)) {
    std::cerr << "popguard: log level must be debug, info, warn or error\n";
    return 2;
  }
  popguard::SetLogLevel(level);
  return popguard::RunServer(*std::move(config), signals);
}
