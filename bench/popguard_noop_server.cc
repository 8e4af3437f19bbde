// popguard-noop: a BENCHMARK INSTRUMENT, not a server. It serves the same gRPC
// services as popguard (Verify, VerifyStream, Check) through the same Server,
// message conversion and shedding gate, but answers ALLOW to every request
// without validating anything (Config::noop), so popguard-load and
// bench/e2e_matrix.py can measure the gRPC + message-conversion ceiling.
//
// It is built only with the benchmarks (bench/CMakeLists.txt) and is not
// installed: the popguard server binary has no way to turn this behaviour on.
//
//   popguard-noop --config popguard.yaml [--listen 127.0.0.1:0]
//
// The config supplies listen, tls and limits (and must be valid, as for
// popguard). It prints the same "listening" log line as popguard and stops on
// SIGTERM or SIGINT.
#include <signal.h>
#include <unistd.h>

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "service/authn/authenticator.h"
#include "service/common/log.h"
#include "service/config/config.h"
#include "service/server/process_setup.h"
#include "service/server/server.h"
#include "service/server/verifier_factory.h"

ABSL_FLAG(std::string, config, "", "Path to the YAML config file (required).");
ABSL_FLAG(std::string, listen, "", "gRPC listen address host:port; overrides the config file.");

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  popguard::ConfigureProcessForServing();
  absl::SetProgramUsageMessage(
      "popguard-noop --config FILE [--listen HOST:PORT] (benchmarks only)");
  absl::ParseCommandLine(argc, argv);
  auto config = popguard::LoadConfigFile(absl::GetFlag(FLAGS_config));
  if (!config.ok()) {
    std::cerr << "popguard-noop: " << config.status().message() << "\n";
    return 2;
  }
  if (!absl::GetFlag(FLAGS_listen).empty()) config->listen = absl::GetFlag(FLAGS_listen);
  config->noop = true;
  std::cerr << "popguard-noop: WARNING: EVERY REQUEST IS ALLOWED WITHOUT VALIDATION. "
               "For benchmarks only; never in front of real traffic.\n";
  popguard::LogLine(popguard::LogLevel::kError, "noop_mode")
      .Add("detail",
           "popguard-noop: every request is allowed without validation (benchmarks only)");

  popguard::RealClock clock;
  std::vector<std::string> warnings;
  auto auth = popguard::Authenticator::Create(*config, popguard::CreateVerifier(config->crypto),
                                              &clock, /*replay=*/nullptr, &warnings);
  if (!auth.ok()) {
    std::cerr << "popguard-noop: " << auth.status().message() << "\n";
    return 2;
  }
  popguard::AuthenticatorHolder holder(
      std::shared_ptr<const popguard::Authenticator>(*std::move(auth)));
  auto server = popguard::Server::Start(*config, &holder);
  if (!server.ok()) {
    std::cerr << "popguard-noop: " << server.status().message() << "\n";
    return 1;
  }
  popguard::LogLine(popguard::LogLevel::kInfo, "listening")
      .Add("address", config->listen)
      .Add("port", static_cast<int64_t>((*server)->port()))
      .Add("pid", static_cast<int64_t>(getpid()))
      .Add("noop", true);
  int sig = 0;
  sigwait(&signals, &sig);
  (*server)->Shutdown(absl::Seconds(1));
  return 0;
}
