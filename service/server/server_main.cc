// popguard: the verification service. Thin main: flags → config → RunServer.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <span>

#include "service/authn/authenticator.h"
#include "service/authn/config_warnings.h"
#include "service/authn/rollout_report.h"
#include "service/common/command_line.h"
#include "service/common/cpu_count.h"
#include "service/common/log.h"
#include "service/common/version.h"
#include "service/config/config.h"
#include "service/jose/verify_scheduler.h"
#include "service/keys/jwks_fetcher.h"
#include "service/ops/http_endpoint.h"
#include "service/ops/popguard_metrics.h"
#include "service/ops/readiness.h"
#include "service/server/config_reloader.h"
#include "service/server/forward_auth.h"
#include "service/server/process_setup.h"
#include "service/server/replay_factory.h"
#include "service/server/revocation_feed.h"
#include "service/server/server.h"
#include "service/server/verifier_factory.h"
#include "storage/redis_replay_store.h"

namespace popguard {
namespace {

// popguard's own flags (service/common/command_line.h); --help and --version are
// answered before these are parsed.
constexpr FlagSpec kServerFlags[] = {
    {"config", FlagKind::kString, true, false, "FILE", "the YAML config file (docs/config.md)"},
    {"listen", FlagKind::kString, false, false, "HOST:PORT",
     "gRPC listen address; replaces the file's listen"},
    {"log_level", FlagKind::kString, false, false, "LEVEL",
     "debug, info, warn or error; replaces the file's log_level"},
    {"check_config", FlagKind::kSwitch, false, false, "",
     "check the config, its key files and these flags, print warnings on stderr, exit"},
    {"strict", FlagKind::kSwitch, false, false, "",
     "config warnings are errors (exit 1): with --check_config, and at start"},
};

void PrintUsage() {
  std::cout << "usage: popguard --config FILE [--listen HOST:PORT] [--log_level LEVEL]\n"
               "                [--check_config] [--strict]\n\n"
               "Checks proof-of-possession (DPoP, mTLS-bound tokens) for gateways: the\n"
               "popguard.v1.Verifier API and Envoy ext_authz Check.\n\nflags:\n";
  PrintFlagHelp(std::cout, kServerFlags);
  PrintHelpLine(std::cout, "--help, -h", "this help");
  PrintHelpLine(std::cout, "--version", "print the version and exit");
  std::cout << "\nexit status: 0 ok; 1 config warnings with --strict, or an address popguard\n"
               "cannot listen on; 2 invalid flags or config.\n";
}

struct ServerFlags {
  std::string config_path;
  ConfigOverrides overrides;
  bool check_config = false;
  bool strict = false;
};

// ConfigInvalid reports a config (or override) error on stderr and in the
// log; 2 is the exit status.
int ConfigInvalid(const std::string& file, absl::string_view detail) {
  std::cerr << "popguard: " << detail << "\n";
  LogLine(LogLevel::kError, "config_invalid").Add("file", file).Add("detail", detail);
  return 2;
}

// AcceptWarnings logs every config warning and, with --check_config, prints
// it on stderr. False when --strict refuses the config for them.
bool AcceptWarnings(const std::vector<std::string>& warnings, const ServerFlags& flags) {
  for (const auto& w : warnings) {
    LogLine(LogLevel::kWarn, "config_warning").Add("detail", w);
    if (flags.check_config) std::cerr << "popguard: warning: " << w << "\n";
  }
  if (!flags.strict || warnings.empty()) return true;
  std::cerr << "popguard: --strict: " << warnings.size()
            << (warnings.size() == 1 ? " config warning" : " config warnings") << "\n";
  return false;
}

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
  ~App() {
    PopguardMetrics::Get().SetVerifyScheduler(nullptr);
    PopguardMetrics::Get().SetRollout(nullptr);
    PopguardMetrics::Get().SetReplayWindow("", nullptr, 0);
  }

  // Before the replay store: a Redis store registers its readiness check here.
  Readiness readiness;
  std::unique_ptr<ReplayStore> replay;
  // Every replay check is timed for popguard_replay_store_duration_seconds;
  // the store itself lives (and keeps its window) across config reloads.
  std::unique_ptr<InstrumentedReplayStore> instrumented_replay;
  RealClock clock;
  // The Redis revocation list (revocation_feed.h), kept across reloads.
  std::unique_ptr<RevocationFeed> revocations;
  // Like the replay window, the verified-token cache lives for the whole
  // process: reloads build a new Authenticator around the same cache.
  std::unique_ptr<BoundedCache<VerifiedToken>> token_cache;
  // Rollout counters (rollout_stats.h) live across reloads, like the cache.
  std::unique_ptr<RolloutStats> rollout;
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

int RunServer(Config config, const ServerFlags& flags, const sigset_t& signals) {
  std::vector<std::string> warnings;
  App app;
  auto replay = CreateReplayStore(config, &app.readiness);
  if (!replay.ok()) return ConfigInvalid(flags.config_path, replay.status().message());
  app.replay = *std::move(replay);
  PopguardMetrics& metrics = PopguardMetrics::Get();
  const auto* redis = dynamic_cast<const RedisReplayStore*>(app.replay.get());
  metrics.SetRedisStore(redis);
  // The window popguard holds itself (the memory backend, or Redis's
  // local_fallback window) shows its fill; the shared Redis window is sized
  // by Redis's own memory (docs/metrics.md).
  if (redis == nullptr || config.replay.redis.failure_policy == "local_fallback") {
    metrics.SetReplayWindow(
        redis == nullptr ? "memory" : "local_fallback",
        [store = app.replay.get()] { return store->Size(); }, config.replay.max_entries);
  }
  app.instrumented_replay = std::make_unique<InstrumentedReplayStore>(app.replay.get());
  auto revocations = RevocationFeed::Start(config, &app.clock, &app.readiness);
  if (!revocations.ok()) return ConfigInvalid(flags.config_path, revocations.status().message());
  app.revocations = *std::move(revocations);
  app.token_cache =
      std::make_unique<BoundedCache<VerifiedToken>>(config.access_token_cache_entries);
  // "One per core" (verify_threads: 0) is one per CPU the container's limit
  // allows, not per core of the node (cpu_count.h); logged with "listening".
  const UsableCpus cpus = CountUsableCpus();
  if (config.crypto.batch_verification) {
    app.scheduler = std::make_unique<VerifyScheduler>(VerifyScheduler::Options{
        .threads = config.crypto.verify_threads != 0 ? config.crypto.verify_threads
                                                     : static_cast<size_t>(cpus.count),
        .max_batch = config.crypto.max_batch,
        .inline_when_idle = config.crypto.inline_when_idle});
    metrics.SetVerifyScheduler(app.scheduler.get());
  }
  app.rollout = std::make_unique<RolloutStats>(RolloutLimits{
      .top_clients = config.rollout.top_clients, .metric_clients = config.rollout.metric_clients});
  metrics.SetRollout(app.rollout.get());
  auto auth =
      Authenticator::Create(config, CreateCountedVerifier(config.crypto), &app.clock,
                            app.instrumented_replay.get(), &warnings, app.token_cache.get(),
                            app.scheduler.get(), app.revocations->list(), app.rollout.get());
  if (!auth.ok()) {
    for (const auto& w : warnings) LogLine(LogLevel::kWarn, "config_warning").Add("detail", w);
    return ConfigInvalid(flags.config_path, auth.status().message());
  }
  const std::vector<std::string> risks = ConfigRiskWarnings(config);
  warnings.insert(warnings.end(), risks.begin(), risks.end());
  if (!AcceptWarnings(warnings, flags)) return 1;
  if (flags.check_config) {
    LogLine(LogLevel::kInfo, "config_ok")
        .Add("issuers", static_cast<int64_t>(config.issuers.size()))
        .Add("warnings", static_cast<int64_t>(warnings.size()));
    return 0;
  }
  app.holder =
      std::make_unique<AuthenticatorHolder>(std::shared_ptr<const Authenticator>(*std::move(auth)));
  AuthenticatorHolder* holder = app.holder.get();
  Readiness* readiness = &app.readiness;
  metrics.MarkConfigLoaded();
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
  RevocationFeed::RegisterMetrics([holder] { return holder->Get(); }, app.revocations.get());
  metrics.SetState([readiness, srv] { return !srv->draining() && readiness->Ready(); },
                   [srv] { return srv->draining(); });
  if (!config.metrics.listen.empty()) {
    auto endpoint = HttpEndpoint::Start(
        config.metrics.listen,
        [readiness, srv, &metrics, holder, rollout = app.rollout.get()](const std::string& path) {
          HttpResponse r;
          if (path == "/metrics") {
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = metrics.Render();
          } else if (path == "/rollout") {
            r.content_type = "application/json";
            r.body = RolloutJson(rollout->Snapshot(), holder->Get()->config());
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
            r.body = "not found (try /metrics, /healthz, /readyz, /rollout)\n";
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
        .Add("port", static_cast<int64_t>(app.forward_auth->port()))
        .Add("tls", !config.forward_auth.tls.cert_file.empty());
  }
  ConfigReloader::Options reload;
  reload.path = flags.config_path;
  reload.overrides = flags.overrides;
  reload.token_cache = app.token_cache.get();
  reload.scheduler = app.scheduler.get();
  reload.live_revocations = app.revocations->list();
  reload.rollout = app.rollout.get();
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
      .Add("verify_threads", static_cast<int64_t>(app.scheduler ? app.scheduler->threads() : 0))
      .Add("cpus", static_cast<int64_t>(cpus.count))
      .Add("cpus_from", cpus.source);

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
  const std::span<char* const> args(argv + 1, argv + argc);
  if (popguard::AsksFor(args, "help", {"-h"})) {
    popguard::PrintUsage();
    return 0;
  }
  if (popguard::AsksFor(args, "version")) {
    std::cout << popguard::VersionLine("popguard") << "\n";
    return 0;
  }
  popguard::FlagValues values;
  if (absl::Status s =
          popguard::ParseFlags(popguard::kServerFlags, args, "popguard --help", &values);
      !s.ok()) {
    std::cerr << "popguard: " << s.message() << "\n";
    return 2;
  }
  popguard::ServerFlags flags;
  flags.config_path = values.Get("config");
  flags.overrides = {.listen = values.Get("listen"), .log_level = values.Get("log_level")};
  flags.check_config = values.Has("check_config");
  flags.strict = values.Has("strict");
  auto config = popguard::LoadConfigFile(flags.config_path);
  if (!config.ok()) return popguard::ConfigInvalid(flags.config_path, config.status().message());
  // Overrides are checked like the keys they replace (an invalid --listen
  // fails here, and under --check_config, not at bind time).
  if (absl::Status s = popguard::ApplyOverrides(flags.overrides, &*config); !s.ok()) {
    return popguard::ConfigInvalid(flags.config_path, s.message());
  }
  popguard::LogLevel level;
  if (!popguard::ParseLogLevel(config->log_level, &level)) {
    return popguard::ConfigInvalid(flags.config_path,
                                   "log_level is not one of debug, info, warn, error");
  }
  popguard::SetLogLevel(level);
  popguard::PopguardMetrics::Get().SetBuildInfo(popguard::PopguardVersion(),
                                                popguard::PopguardRevision());
  return popguard::RunServer(*std::move(config), flags, signals);
}
