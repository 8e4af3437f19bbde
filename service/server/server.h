// Server: popguard's gRPC front door.
//
// Serves popguard.v1.Verifier (Verify, VerifyStream) and Envoy's
// envoy.service.auth.v3.Authorization (Check) with the callback API: a
// request's reactor finishes when its Decision is ready, so a gRPC thread
// never waits on a slow step (the replay store completes asynchronously).
// Health checking and reflection are switched on here.
//
// On the wire: a message that does not parse is INVALID_ARGUMENT (a stream
// answers every earlier message first); beyond limits.max_inflight a call is
// shed before it is parsed: Verify and VerifyStream with RESOURCE_EXHAUSTED,
// Check with an OK answer holding a denial (HTTP 503, Retry-After: 1, reason
// overloaded), which an Envoy with failure_mode_allow cannot turn into ALLOW.
#ifndef POPGUARD_SERVICE_SERVER_H_
#define POPGUARD_SERVICE_SERVER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/authn/authenticator.h"
#include "service/ops/readiness.h"

namespace grpc {
class Server;
}

namespace popguard {

// AuthenticatorHolder hands out the current Authenticator; a reload swaps it
// while in-flight requests keep the one they started with.
class AuthenticatorHolder {
 public:
  explicit AuthenticatorHolder(std::shared_ptr<const Authenticator> a) : current_(std::move(a)) {}
  std::shared_ptr<const Authenticator> Get() const {
    absl::MutexLock lock(&mu_);
    return current_;
  }
  void Set(std::shared_ptr<const Authenticator> a) {
    absl::MutexLock lock(&mu_);
    current_ = std::move(a);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const Authenticator> current_ ABSL_GUARDED_BY(mu_);
};

class Server {
 public:
  // Start binds config.listen (port 0 picks a free port) and starts serving.
  // When `readiness` is non-null (it must outlive the server), the gRPC
  // health status follows it, re-evaluated every `readiness_interval`.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const Config& config, AuthenticatorHolder* holder, const Readiness* readiness = nullptr,
      absl::Duration readiness_interval = absl::Milliseconds(500));
  ~Server();

  int port() const { return port_; }
  // StartDraining makes gRPC health NOT_SERVING for good (first step of a
  // SIGTERM drain; the listener keeps accepting). draining reports it.
  void StartDraining();
  bool draining() const;
  // Shutdown stops accepting and waits for in-flight calls up to `deadline`.
  // Calls that arrive meanwhile are refused as retryable (Verify:
  // UNAVAILABLE; Check: a 503 denial). When `deadline` passes with calls
  // still in flight, they are answered the same way and `at_deadline` runs
  // (it should release what they wait on: JwksFetcher::Shutdown), so
  // Shutdown returns soon after `deadline`.
  void Shutdown(absl::Duration deadline, absl::AnyInvocable<void() &&> at_deadline = nullptr);
  void Wait();

 private:
  Server() = default;
  struct Services;
  void ReadinessLoop();

  std::unique_ptr<Services> services_;
  const Readiness* readiness_ = nullptr;
  absl::Duration readiness_interval_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool serving_ ABSL_GUARDED_BY(mu_) = false;
  std::thread readiness_thread_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_SERVER_H_
