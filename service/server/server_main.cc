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

// App holds the server's components. C++ destroys members in reverse order
// of declaration, so this list read bottom-up is the teardown order: the
// reloader stops first, then the admin endpoint, the verify scheduler (it
// joins its workers; RunServer's Server::Shutdown has already waited for every
// call, so every queued check, including those of requests drained at
// shutdown, got its verdict), the gRPC server, the Authenticator, the token
// cache, and the replay store last (the Authenticator uses it). Every early
// return (a listen failure) tears down the same way.
struct App {
  ~App() { PopguardMetrics::Get().SetVerifyScheduler(nullptr); }

  // Before the replay store: a Redis store registers its readiness check here.
  Readiness readiness;
  std::unique_ptr<ReplayStore> replay;
  // Every replay check is timed for popguard_replay_store_duration_seconds;
  // the store itself lives (and keeps its window) across config reloads.
  std::unique_ptr<InstrumentedReplayStore> instrumented_replay;
  RealClock clock;
  // Like the replay window, the verified-token cache lives for the whole
  // process: reloads build a new Authenticator around the same cache.
  std::unique_ptr<BoundedCache<VerifiedToken>> token_cache;
  std::unique_ptr<AuthenticatorHolder> holder;
  std::unique_ptr<Server> server;
  // Signature checks of every request go to one process-wide pool that
  // verifies them in batches (verify_scheduler.h); null without batching.
  // Made before the Authenticator and the server, which use it.
  std::unique_ptr<VerifyScheduler> scheduler;
  std::unique_ptr<HttpEndpoint> http;  // /metrics, /healthz, /readyz; null when not configured
  // The HTTP forward-auth listener (forward_auth.h); null when not configured.
  // Closed before the admin endpoint.
  std::unique_ptr<ForwardAuthServer> forward_auth;
  std::unique_ptr<ConfigReloader> reloader;
};

int RunServer(Config config, const sigset_t& signals) {
  std::vector<std::string> warnings;
  App app;
  auto replay = CreateReplayStore(config, &app.readiness);
  if (!replay.ok()) {
    LogLine(LogLevel::kError, "config_invalid").Add("detail", replay.status().message());
    return 2;
  }
  app.replay = *std::move(replay);
  PopguardMetrics& metrics = PopguardMetrics::Get();
  metrics.SetRedisStore(dynamic_cast<const RedisReplayStore*>(app.replay.get()));
  app.instrumented_replay = std::make_unique<InstrumentedReplayStore>(app.replay.get());
  app.token_cache =
      std::make_unique<BoundedCache<VerifiedToken>>(config.access_token_cache_entries);
  if (config.crypto.batch_verification) {
    app.scheduler = std::make_unique<VerifyScheduler>(
        VerifyScheduler::Options{.threads = config.crypto.verify_threads,
                                 .max_batch = config.crypto.max_batch,
                                 .inline_when_idle = config.crypto.inline_when_idle});
    metrics.SetVerifyScheduler(app.scheduler.get());
  }
  auto auth = Authenticator::Create(config, CreateCountedVerifier(config.crypto), &app.clock,
                                    app.instrumented_replay.get(), &warnings,
                                    app.token_cache.get(), app.scheduler.get());
  for (const auto& w : warnings) LogLine(LogLevel::kWarn, "config_warning").Add("detail", w);
  if (!auth.ok()) {
    LogLine(LogLevel::kError, "config_invalid").Add("detail", auth.status().message());
    return 2;
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    LogLine(LogLevel::kInfo, "config_ok").Add("issuers", static_cast<int64_t>(config.issuers.size()));
    return 0;
  }
  app.holder =
      std::make_unique<AuthenticatorHolder>(std::shared_ptr<const Authenticator>(*std::move(auth)));
  AuthenticatorHolder* holder = app.holder.get();
  Readiness* readiness = &app.readiness;
  // gRPC health is SERVING only while every required issuer has keys it trusts
  // (remote keys arrive after start-up, and go stale when the issuer is down),
  // and while a required Redis replay store can answer.
  readiness->Add("issuers",
                 [holder](std::string* why) { return holder->Get()->issuers().Ready(why); });
  auto server = Server::Start(config, holder, readiness);
  if (!server.ok()) return ListenFailed(server.status());
  app.server = *std::move(server);
  Server* srv = app.server.get();
  metrics.SetAuthenticatorSource([holder] { return holder->Get(); });
  metrics.SetState([readiness, srv] { return !srv->draining() && readiness->Ready(); },
                   [srv] { return srv->draining(); });
  if (!config.metrics.listen.empty()) {
    auto endpoint = HttpEndpoint::Start(
        config.metrics.listen, [readiness, srv, &metrics](const std::string& path) {
          HttpResponse r;
          if (path == "/metrics") {
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics.Render();
          } else if (path == "/healthz") {
            r.body = "ok\n";  // alive: the process answers
          } else if (path == "/readyz") {
            std::vector<std::string> why;
            if (srv->draining()) why.push_back("draining: shutting down");
            if (!readiness->Ready(&why) || !why.empty()) {
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
    app.http = *std::move(endpoint);
    LogLine(LogLevel::kInfo, "metrics_listening")
        .Add("address", config.metrics.listen)
        .Add("port", static_cast<int64_t>(app.http->port()));
  }
  if (!config.forward_auth.listen.empty()) {
    auto fa = ForwardAuthServer::Start(config, holder);
    if (!fa.ok()) return ListenFailed(fa.status());
    app.forward_auth = *std::move(fa);
    LogLine(LogLevel::kInfo, "forward_auth_listening")
        .Add("address", config.forward_auth.listen)
        .Add("port", static_cast<int64_t>(app.forward_auth->port()));
  }
  ConfigReloader::Options reload;
  reload.path = absl::GetFlag(FLAGS_config);
  reload.listen_override = absl::GetFlag(FLAGS_listen);
  reload.log_level_override = absl::GetFlag(FLAGS_log_level);
  reload.token_cache = app.token_cache.get();
  reload.scheduler = app.scheduler.get();
  app.reloader = std::make_unique<ConfigReloader>(reload, config, &app.clock,
                                                  app.instrumented_replay.get(), holder);
  LogLine(LogLevel::kInfo, "listening")
      .Add("address", config.listen)
      .Add("port", static_cast<int64_t>(srv->port()))
      .Add("pid", static_cast<int64_t>(getpid()))
      .Add("max_inflight", static_cast<int64_t>(config.limits.max_inflight))
      .Add("tls", !config.tls.cert_file.empty())
      .Add("issuers", static_cast<int64_t>(config.issuers.size()))
      .Add("replay_backend", config.replay.backend)
      .Add("verify_threads",
           static_cast<int64_t>(app.scheduler ? app.scheduler->threads() : 0));

  int sig = 0;
  while (true) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    LogLine(LogLevel::kInfo, "config_reload_requested").Add("signal", "SIGHUP");
    app.reloader->Trigger();
  }
  // Drain: report not ready first (gRPC health NOT_SERVING, /readyz 503) and
  // keep serving for drain_delay so load balancers and kubelet notice, then
  // stop accepting and give in-flight calls up to `grace` to finish.
  const ShutdownConfig shutdown = holder->Get()->config().shutdown;
  srv->StartDraining();
  LogLine(LogLevel::kInfo, "shutting_down")
      .Add("signal", static_cast<int64_t>(sig))
      .Add("drain_delay", absl::FormatDuration(shutdown.drain_delay))
      .Add("grace", absl::FormatDuration(shutdown.grace));
  absl::SleepFor(shutdown.drain_delay);
  // No reload swaps the Authenticator while the last calls finish.
  app.reloader.reset();
  // Past `grace`, key fetches still running are aborted: the calls waiting on
  // them are answered UNAVAILABLE and the process exits within
  // drain_delay + grace (plus the moment that takes), not after fetch_timeout.
  if (app.forward_auth) app.forward_auth->StartClosing();
  srv->Shutdown(shutdown.grace, [] { JwksFetcher::Shared()->Shutdown(); });
  LogLine(LogLevel::kInfo, "stopped");
  return 0;  // `app` tears down in its member order
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
