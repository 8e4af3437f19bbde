#include "service/server.h"

#include <deque>
#include <fstream>
#include <sstream>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/adapters.h"
#include "service/log.h"
#include "service/request_gate.h"

// What runs on which thread (and why no gRPC thread ever waits):
//
//   gRPC callback threads (gRPC's own pollers/executor, which gRPC sizes to
//   the machine's cores): Verify, Check and VerifyStream's OnReadDone convert
//   the message (adapters.h) and call Authenticator::Decide, which runs the
//   cheap part of the decision there: route, credential, access token cache
//   lookup, proof parsing and its key cache lookup (a few microseconds).
//   Requests refused by those checks are answered on the spot.
//
//   Signature checks go to the VerifyScheduler (verify_scheduler.h, config
//   crypto.batch_verification, on by default): worker threads, one per core
//   unless crypto.verify_threads says otherwise, take whatever checks are
//   queued, verify them as one batch and carry on with each request's
//   decision (proof claims, scopes, replay window), finishing its reactor.
//   A worker never waits for a batch to fill. With batch_verification off,
//   the signatures are verified inline on the gRPC thread instead.
//
//   Asynchronous stores and key sources: a networked replay store (Redis)
//   returns from CheckAndInsert at once and runs the rest of the decision
//   and reactor->Finish on its own I/O thread; a token signed by an unknown
//   kid makes the issuer's key source refresh, and the decision is re-run on
//   the fetcher's thread when that is done. The gRPC thread has moved on.
//
//   Nothing on this path sleeps, waits on a condition or does network I/O.
//   The one blocking call is logging: a decision that is logged (denials at
//   log level info, allows at debug) is written to stdout under a mutex.
//   DecideSync, which waits, is only for the CLI and tests.
//
//   Server::ReadinessLoop has its own thread; Shutdown waits on the caller's.
//   The scheduler outlives the server (server_main.cc), so requests drained
//   at shutdown still get their verdicts.
//
// `popguard --noop` (Config::noop) keeps all of this but answers ALLOW inside
// Authenticator::Decide without validating, so a benchmark can measure the
// gRPC and message-conversion ceiling of the very same path.

namespace popguard {
namespace {

namespace auth = envoy::service::auth::v3;
using popguard::v1::VerifyRequest;
using popguard::v1::VerifyResponse;

// VerifyStream: requests are decided concurrently and answered as each
// decision completes (possibly out of order; the correlation id matches them).
// Writes are serialised through a queue because a reactor may have only one
// write in flight.
class VerifyStreamReactor final : public grpc::ServerBidiReactor<VerifyRequest, VerifyResponse> {
 public:
  VerifyStreamReactor(AuthenticatorHolder* holder, RequestGate* gate)
      : holder_(holder), gate_(gate) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (!gate_->TryEnter(Api::kVerifyStream)) {
      // Over limits.max_inflight: a DENY would be a lie about the request, so
      // the stream stops reading, answers what it already accepted and ends
      // with RESOURCE_EXHAUSTED; the shed message gets no response and the
      // gateway retries it (on another stream or replica).
      absl::MutexLock lock(&mu_);
      shed_ = true;
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    const absl::Time start = absl::Now();
    std::shared_ptr<const Authenticator> auth = holder_->Get();
    HttpRequestInfo info = FromVerifyRequest(request_);
    std::string id = request_.correlation_id();
    auth->Decide(info, [this, auth, id = std::move(id), start](Decision d) {
      gate_->Leave(Api::kVerifyStream, d, start);
      VerifyResponse resp;
      ToVerifyResponse(d, id, &resp);
      Enqueue(std::move(resp));
    });
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    queue_.pop_front();
    if (!ok) {
      // The client went away: drop what is queued, finish once all pending
      // decisions have come back (they still reference this reactor).
      broken_ = true;
      queue_.clear();
    }
    if (!queue_.empty() && !broken_) {
      StartWrite(&queue_.front());
    } else {
      writing_ = false;
      MaybeFinishLocked();
    }
  }

  void OnDone() override { delete this; }

 private:
  void Enqueue(VerifyResponse resp) {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    if (broken_) {
      MaybeFinishLocked();
      return;
    }
    queue_.push_back(std::move(resp));
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || outstanding_ > 0 || writing_) return;
    if (!reads_done_ && !broken_) return;
    finished_ = true;
    Finish(shed_ ? grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                "popguard is overloaded (limits.max_inflight); retry the message")
                 : grpc::Status::OK);
  }

  AuthenticatorHolder* holder_;
  RequestGate* gate_;
  VerifyRequest request_;
  absl::Mutex mu_;
  std::deque<VerifyResponse> queue_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool shed_ ABSL_GUARDED_BY(mu_) = false;
};

grpc::Status Overloaded() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "popguard is overloaded (limits.max_inflight)");
}

class VerifierService final : public popguard::v1::Verifier::CallbackService {
 public:
  VerifierService(AuthenticatorHolder* holder, RequestGate* gate) : holder_(holder), gate_(gate) {}

  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* ctx, const VerifyRequest* req,
                                   VerifyResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!gate_->TryEnter(Api::kVerify)) {
      reactor->Finish(Overloaded());
      return reactor;
    }
    const absl::Time start = absl::Now();
    std::shared_ptr<const Authenticator> auth = holder_->Get();
    auth->Decide(FromVerifyRequest(*req), [reactor, req, resp, auth, gate = gate_,
                                           start](Decision d) {
      gate->Leave(Api::kVerify, d, start);
      ToVerifyResponse(d, req->correlation_id(), resp);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerBidiReactor<VerifyRequest, VerifyResponse>* VerifyStream(
      grpc::CallbackServerContext* ctx) override {
    return new VerifyStreamReactor(holder_, gate_);
  }

 private:
  AuthenticatorHolder* holder_;
  RequestGate* gate_;
};

class AuthorizationService final : public auth::Authorization::CallbackService {
 public:
  AuthorizationService(AuthenticatorHolder* holder, RequestGate* gate)
      : holder_(holder), gate_(gate) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const auth::CheckRequest* req,
                                  auth::CheckResponse* resp) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (!gate_->TryEnter(Api::kCheck)) {
      reactor->Finish(Overloaded());
      return reactor;
    }
    const absl::Time start = absl::Now();
    std::shared_ptr<const Authenticator> authn = holder_->Get();
    authn->Decide(FromCheckRequest(*req), [reactor, resp, authn, gate = gate_, start](Decision d) {
      gate->Leave(Api::kCheck, d, start);
      ToCheckResponse(d, resp);
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

 private:
  AuthenticatorHolder* holder_;
  RequestGate* gate_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

struct Server::Services {
  Services(AuthenticatorHolder* holder, size_t max_inflight)
      : gate(max_inflight), verifier(holder, &gate), authorization(holder, &gate) {}
  RequestGate gate;
  VerifierService verifier;
  AuthorizationService authorization;
};

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const Config& config,
                                                      AuthenticatorHolder* holder,
                                                      const Readiness* readiness,
                                                      absl::Duration readiness_interval) {
  auto server = std::unique_ptr<Server>(new Server());
  server->readiness_ = readiness;
  server->readiness_interval_ = readiness_interval;
  server->services_ = std::make_unique<Services>(holder, config.limits.max_inflight);

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (!config.tls.cert_file.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    auto cert = ReadFile(ResolvePath(config.base_dir, config.tls.cert_file));
    auto key = ReadFile(ResolvePath(config.base_dir, config.tls.key_file));
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!config.tls.client_ca_file.empty()) {
      auto ca = ReadFile(ResolvePath(config.base_dir, config.tls.client_ca_file));
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    creds = grpc::SslServerCredentials(ssl);
  } else {
    creds = grpc::InsecureServerCredentials();
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, creds, &server->port_);
  builder.RegisterService(&server->services_->verifier);
  builder.RegisterService(&server->services_->authorization);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_grpc_message_bytes));
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", config.listen));
  }
  bool ready = readiness == nullptr || readiness->Ready();
  // Register each service name, so per-service health checks answer; the
  // overall SetServingStatus(bool) below then updates all of them together.
  auto* health = server->server_->GetHealthCheckService();
  health->SetServingStatus("popguard.v1.Verifier", ready);
  health->SetServingStatus("envoy.service.auth.v3.Authorization", ready);
  health->SetServingStatus(ready);
  server->serving_ = ready;
  if (readiness != nullptr) {
    server->readiness_thread_ = std::thread([s = server.get()] { s->ReadinessLoop(); });
  }
  return server;
}

void Server::ReadinessLoop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), readiness_interval_);
    if (stopping_) break;
    std::vector<std::string> why;
    // Once draining, stay NOT_SERVING whatever the checks say.
    bool ready = !draining_ && readiness_->Ready(&why);
    if (ready != serving_) {
      serving_ = ready;
      server_->GetHealthCheckService()->SetServingStatus(ready);
      LogLine line(ready ? LogLevel::kInfo : LogLevel::kWarn, ready ? "ready" : "not_ready");
      for (size_t i = 0; i < why.size(); ++i) line.Add(absl::StrCat("cause", i), why[i]);
    }
  }
}

Server::~Server() {
  if (server_) Shutdown(absl::Seconds(5));
}

void Server::StartDraining() {
  absl::MutexLock lock(&mu_);
  if (draining_ || !server_) return;
  draining_ = true;
  serving_ = false;
  server_->GetHealthCheckService()->SetServingStatus(false);
}

bool Server::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

void Server::Shutdown(absl::Duration deadline) {
  if (!server_) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (readiness_thread_.joinable()) readiness_thread_.join();
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  server_->Wait();
  server_.reset();
}

void Server::Wait() {
  if (server_) server_->Wait();
}

}  // namespace popguard
