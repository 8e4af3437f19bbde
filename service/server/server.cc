#include "service/server/server.h"

#include <atomic>
#include <deque>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/codegen/proto_utils.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/common/file.h"
#include "service/common/log.h"
#include "service/server/adapters.h"
#include "service/server/request_gate.h"

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
// bench/popguard-noop (Config::noop, a separate benchmark-only executable; the
// popguard server has no way to turn it on) keeps all of this but answers
// ALLOW inside Authenticator::Decide without validating, so a benchmark can
// measure the gRPC and message-conversion ceiling of the very same path.
//
// Messages arrive as raw bytes (the services are registered with
// WithRawCallbackMethod_*) and are parsed here, after the in-flight check:
// a shed call costs no parsing, and a message that does not parse is answered
// INVALID_ARGUMENT (gRPC's own typed handlers would answer UNIMPLEMENTED, or,
// on a stream, end it as if the client had half-closed).

namespace popguard {
namespace {

namespace auth = envoy::service::auth::v3;
using popguard::v1::VerifyRequest;
using popguard::v1::VerifyResponse;

template <typename Message>
bool ParseMessage(const grpc::ByteBuffer& bytes, Message* msg) {
  grpc::ByteBuffer copy(bytes);  // GenericDeserialize consumes its buffer; slices are shared
  return grpc::GenericDeserialize<grpc::ProtoBufferReader, Message>(&copy, msg).ok();
}

template <typename Message>
void SerializeMessage(const Message& msg, grpc::ByteBuffer* out) {
  bool own_buffer;
  (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, Message>(msg, out, &own_buffer);
}

grpc::Status Unparsable(absl::string_view what) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      absl::StrCat("the ", what, " message cannot be parsed"));
}

grpc::Status Overloaded() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "popguard is overloaded (limits.max_inflight)");
}

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "popguard is shutting down; retry");
}

// ServerState is what every handler reads first.
struct ServerState {
  explicit ServerState(size_t max_inflight) : gate(max_inflight) {}
  RequestGate gate;
  // Set as the listener closes (Server::Shutdown): calls that still reach a
  // handler are refused as retryable (UNAVAILABLE; on Check a 503 denial).
  std::atomic<bool> closing{false};
  // Set when the grace period is over: a decision that completes after it
  // (typically released by the cancelled key fetch it waited on, so not a
  // verdict on the request) is replaced by the same retryable refusal.
  std::atomic<bool> expired{false};
};

// VerifyStream: requests are decided concurrently and answered as each
// decision completes (possibly out of order; the correlation id matches them).
// Writes are serialised through a queue because a reactor may have only one
// write in flight.
class VerifyStreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  VerifyStreamReactor(AuthenticatorHolder* holder, ServerState* state)
      : holder_(holder), state_(state) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      absl::MutexLock lock(&mu_);
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    if (state_->closing.load(std::memory_order_relaxed)) {
      // The listener is closing: answer what was accepted, refuse the rest.
      StopReading(ShuttingDown());
      return;
    }
    if (!state_->gate.TryEnter(Api::kVerifyStream)) {
      // Over limits.max_inflight: a DENY would be a lie about the request, so
      // the stream stops reading, answers what it already accepted and ends
      // with RESOURCE_EXHAUSTED; the shed message gets no response and the
      // gateway retries it (on another stream or replica).
      StopReading(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "popguard is overloaded (limits.max_inflight); retry the message"));
      return;
    }
    VerifyRequest request;
    if (!ParseMessage(request_, &request)) {
      // Every earlier message is still answered; the stream then ends with
      // INVALID_ARGUMENT, never OK, so the gateway knows the rest went unread.
      state_->gate.Leave();
      StopReading(Unparsable("VerifyRequest"));
      return;
    }
    {
      absl::MutexLock lock(&mu_);
      ++outstanding_;
    }
    const absl::Time start = absl::Now();
    std::shared_ptr<const Authenticator> auth = holder_->Get();
    HttpRequestInfo info = FromVerifyRequest(request);
    auth->Decide(
        info, [this, auth, id = std::move(*request.mutable_correlation_id()), start](Decision d) {
          state_->gate.Record(Api::kVerifyStream, d, start);
          state_->gate.Leave();
          VerifyResponse resp;
          ToVerifyResponse(d, id, &resp);
          Enqueue(resp);
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
  // StopReading ends the stream with `status` once every accepted message is answered.
  void StopReading(grpc::Status status) {
    absl::MutexLock lock(&mu_);
    end_status_ = std::move(status);
    reads_done_ = true;
    MaybeFinishLocked();
  }

  void Enqueue(const VerifyResponse& resp) {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    if (broken_) {
      MaybeFinishLocked();
      return;
    }
    SerializeMessage(resp, &queue_.emplace_back());
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || outstanding_ > 0 || writing_) return;
    if (!reads_done_ && !broken_) return;
    finished_ = true;
    Finish(end_status_);
  }

  AuthenticatorHolder* holder_;
  ServerState* state_;
  grpc::ByteBuffer request_;
  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_status_ ABSL_GUARDED_BY(mu_) = grpc::Status::OK;
};

using RawVerifierService = popguard::v1::Verifier::WithRawCallbackMethod_Verify<
    popguard::v1::Verifier::WithRawCallbackMethod_VerifyStream<popguard::v1::Verifier::Service>>;

class VerifierService final : public RawVerifierService {
 public:
  VerifierService(AuthenticatorHolder* holder, ServerState* state)
      : holder_(holder), state_(state) {}

  grpc::ServerUnaryReactor* Verify(grpc::CallbackServerContext* ctx,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    // Cheapest first: nothing is parsed for a call that is refused.
    if (state_->closing.load(std::memory_order_relaxed)) {
      return Refuse(ctx, ShuttingDown());
    }
    if (!state_->gate.TryEnter(Api::kVerify)) return Refuse(ctx, Overloaded());
    grpc::ServerUnaryReactor* call = ctx->DefaultReactor();
    VerifyRequest req;
    if (!ParseMessage(*request, &req)) {
      state_->gate.Leave();
      call->Finish(Unparsable("VerifyRequest"));
      return call;
    }
    const absl::Time start = absl::Now();
    std::shared_ptr<const Authenticator> auth = holder_->Get();
    auth->Decide(FromVerifyRequest(req),
                 [call, response, auth, state = state_, start,
                  id = std::move(*req.mutable_correlation_id())](Decision d) {
                   state->gate.Record(Api::kVerify, d, start);
                   state->gate.Leave();
                   if (state->expired.load()) return call->Finish(ShuttingDown());
                   VerifyResponse resp;
                   ToVerifyResponse(d, id, &resp);
                   SerializeMessage(resp, response);
                   call->Finish(grpc::Status::OK);
                 });
    return call;
  }

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* VerifyStream(
      grpc::CallbackServerContext* ctx) override {
    return new VerifyStreamReactor(holder_, state_);
  }

 private:
  static grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, grpc::Status status) {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(std::move(status));
    return reactor;
  }

  AuthenticatorHolder* holder_;
  ServerState* state_;
};

class AuthorizationService final
    : public auth::Authorization::WithRawCallbackMethod_Check<auth::Authorization::Service> {
 public:
  AuthorizationService(AuthenticatorHolder* holder, ServerState* state)
      : holder_(holder), state_(state) {}

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override {
    // Cheapest first: nothing is parsed for a call that is refused.
    const bool closing = state_->closing.load(std::memory_order_relaxed);
    if (closing || !state_->gate.TryEnter(Api::kCheck)) {
      grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
      *response = UnavailableResponse();
      reactor->Finish(grpc::Status::OK);
      return reactor;
    }
    grpc::ServerUnaryReactor* call = ctx->DefaultReactor();
    auth::CheckRequest req;
    if (!ParseMessage(*request, &req)) {
      state_->gate.Leave();
      call->Finish(Unparsable("CheckRequest"));
      return call;
    }
    std::shared_ptr<const Authenticator> authn = holder_->Get();
    const absl::Time start = absl::Now();
    authn->Decide(FromCheckRequest(req),
                  [call, response, authn, state = state_, start](Decision d) {
                    state->gate.Record(Api::kCheck, d, start);
                    state->gate.Leave();
                    auth::CheckResponse resp;
                    ToCheckResponse(state->expired.load() ? UnavailableDecision() : d, &resp);
                    SerializeMessage(resp, response);
                    call->Finish(grpc::Status::OK);
                  });
    return call;
  }

 private:
  // The serialized 503 denial, built once (it is the same for every call).
  static grpc::ByteBuffer UnavailableResponse() {
    static const grpc::ByteBuffer* const bytes = [] {
      auth::CheckResponse resp;
      ToCheckResponse(UnavailableDecision(), &resp);
      auto* out = new grpc::ByteBuffer();
      SerializeMessage(resp, out);
      return out;
    }();
    return *bytes;  // a copy shares the slices
  }

  AuthenticatorHolder* holder_;
  ServerState* state_;
};

// Certificates, keys and CA bundles: well under this.
constexpr size_t kMaxPemFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadFileToString(path, kMaxPemFileBytes);
}

}  // namespace

struct Server::Services {
  Services(AuthenticatorHolder* holder, size_t max_inflight)
      : state(max_inflight), verifier(holder, &state), authorization(holder, &state) {}
  ServerState state;
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
  // gRPC sets SO_REUSEPORT by default: a second popguard started on the same
  // address would then bind without error and the kernel would split the
  // connections between the two processes, each with its own replay window
  // (with the memory backend a proof could then be accepted once by each).
  // Without it, binding an address in use fails and start-up stops.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(config.listen, creds, &server->port_);
  builder.RegisterService(&server->services_->verifier);
  builder.RegisterService(&server->services_->authorization);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.limits.max_grpc_message_bytes));
  // No grpc::ResourceQuota: its SetMaxThreads bounds only the synchronous
  // API's threads, not callback handlers, and a memory quota would refuse
  // work at the transport without telling the client "overloaded". The bound
  // is the gate (limits.max_inflight), checked first in every handler.
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     ": the address is in use (another process listens on it) or is not an "
                     "address of this host"));
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

void Server::Shutdown(absl::Duration deadline, absl::AnyInvocable<void() &&> at_deadline) {
  if (!server_) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (readiness_thread_.joinable()) readiness_thread_.join();
  server_->GetHealthCheckService()->SetServingStatus(false);
  // Calls arriving as the listener closes are refused as retryable: a call
  // that still reaches a handler gets UNAVAILABLE (a 503 denial on Check),
  // never a decision started that the grace period may cut short.
  services_->state.closing.store(true);
  absl::Notification stopped;
  std::thread watchdog([&] {
    if (stopped.WaitForNotificationWithTimeout(deadline)) return;
    // The grace period is over. Calls still waiting get a retryable refusal
    // (expired), then at_deadline releases what they wait on (key fetches),
    // so the process exits now and not when a slow fetch times out.
    services_->state.expired.store(true);
    if (at_deadline) std::move(at_deadline)();
  });
  server_->Shutdown(absl::ToChronoTime(absl::Now() + deadline));
  server_->Wait();
  stopped.Notify();
  watchdog.join();
  server_.reset();
}

void Server::Wait() {
  if (server_) server_->Wait();
}

}  // namespace popguard
