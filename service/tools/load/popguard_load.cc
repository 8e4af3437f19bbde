// popguard-load: an asynchronous gRPC load generator for popguard, or for any
// ext_authz server that trusts its JWKS.
//
//   # once: an issuer key, its JWKS and a popguard config trusting it
//   popguard-load --write_issuer_key /tmp/l/issuer.jwk --write_jwks /tmp/l/jwks.json
//       --write_config /tmp/l/popguard.yaml
//   popguard --config /tmp/l/popguard.yaml &
//   # closed loop: 32 requests in flight for 10 s
//   popguard-load --issuer_key /tmp/l/issuer.jwk --target 127.0.0.1:9001 --mode closed
//       --concurrency 32 --duration 10 --server_pid $!
//   # open loop: 2000 requests/s, latency from each request's intended send time
//   popguard-load --issuer_key /tmp/l/issuer.jwk --target 127.0.0.1:9001 --mode open --rate 2000
//
// Everything is minted before the clock starts: tokens (configurable numbers
// of client keys and tokens per client) and, for DPoP, one proof with a unique
// jti per request. During the run the generator only builds messages and
// counts. It prints throughput, errors (gRPC status) and decisions by reason
// code, latency percentiles, and, given --server_pid, the server's CPU seconds
// per request (its process CPU clock; see ServerCpuSeconds). --json prints one JSON
// object instead. Progress goes to stderr once a second.
//
// It is bounded: it stops after --duration seconds (after --warmup) or
// --requests requests, whichever comes first, and when DPoP proofs run out. It
// only ever connects to --target.
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <grpc/support/time.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/common/file.h"
#include "service/common/json.h"
#include "service/common/url.h"
#include "service/tools/load/latency_histogram.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"

ABSL_FLAG(std::string, target, "", "host:port of the server to load (the only address contacted).");
ABSL_FLAG(std::string, api, "check",
          "check (Envoy ext_authz Check), verify (Verifier.Verify) or "
          "stream (Verifier.VerifyStream).");
ABSL_FLAG(std::string, binding, "dpop", "bearer, dpop or mtls: what the requests carry.");
ABSL_FLAG(std::string, mode, "closed", "closed (fixed concurrency) or open (fixed arrival rate).");
ABSL_FLAG(int, concurrency, 32, "closed loop: requests in flight.");
ABSL_FLAG(double, rate, 1000, "open loop: requests per second.");
ABSL_FLAG(double, duration, 10, "seconds to measure (after --warmup).");
ABSL_FLAG(double, warmup, 1, "seconds of load before measuring starts.");
ABSL_FLAG(int64_t, requests, 0, "stop after this many measured requests (0: no limit).");
ABSL_FLAG(int64_t, pool, 0,
          "DPoP proofs to pre-mint (0: enough for the run; closed loop "
          "assumes at most 25000 requests/s).");
ABSL_FLAG(std::string, issuer_key, "",
          "private JWK the tokens are signed with (default: a fresh "
          "ES256 key; see --write_issuer_key).");
ABSL_FLAG(std::string, write_issuer_key, "", "write the (generated) issuer private JWK here.");
ABSL_FLAG(std::string, write_jwks, "", "write the issuer's public JWKS here.");
ABSL_FLAG(std::string, write_config, "",
          "write a popguard config trusting that JWKS here "
          "(needs --write_jwks).");
ABSL_FLAG(std::string, issuer, "https://issuer.load.test", "token iss.");
ABSL_FLAG(std::string, audience, "https://api.load.test", "token aud.");
ABSL_FLAG(std::string, url, "https://api.load.test/load/resource", "request URL (and DPoP htu).");
ABSL_FLAG(std::string, method, "GET", "request method (and DPoP htm).");
ABSL_FLAG(std::string, scope, "read", "token scope.");
ABSL_FLAG(int, clients, 8, "distinct client keys (DPoP) or certificates (mTLS).");
ABSL_FLAG(int, tokens_per_client, 1, "distinct access tokens per client.");
ABSL_FLAG(std::string, proof_alg, "ES256",
          "DPoP proof algorithm: ES256, ES384, EdDSA, RS256, PS256.");
ABSL_FLAG(std::string, client, "cq",
          "check/verify client: cq (one thread drives a CompletionQueue; least client CPU) or "
          "callback (gRPC callback API).");
ABSL_FLAG(int, channels, 2, "gRPC channels (TCP connections); stream: one stream per channel.");
ABSL_FLAG(int, server_pid, 0, "pid of the server process, for its CPU time per request.");
ABSL_FLAG(double, timeout, 5, "per-request deadline, seconds.");
ABSL_FLAG(int, max_outstanding, 20000, "open loop: at most this many requests in flight.");
ABSL_FLAG(bool, json, false, "print the result as one JSON object.");
ABSL_FLAG(bool, progress, true, "print progress to stderr once a second.");

namespace popguard::bench {
namespace {

namespace auth = envoy::service::auth::v3;
using popguard::v1::VerifyRequest;
using popguard::v1::VerifyResponse;

int64_t MonoNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void SleepUntil(int64_t mono_ns) {
  timespec ts;
  ts.tv_sec = mono_ns / 1000000000;
  ts.tv_nsec = mono_ns % 1000000000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

double ProcessCpuSeconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// ServerCpuSeconds returns the CPU time `pid` has used, all its threads
// (including exited ones) in user and kernel mode, or -1 (no such process).
//
// Why the process CPU clock and not /proc/<pid>/stat's utime + stime: that is
// the same quantity in clock ticks (10 ms at USER_HZ 100). Over a smoke run of
// a few hundred requests at ~25 us each, the no-op server's whole CPU use is
// under one tick, and a run's figure was 0 or one tick depending on where the
// ticks fell (e2e_matrix_test failed on a 0 under load). The clock from
// clock_getcpuclockid reads the scheduler's runtime in nanoseconds, and Linux
// serves it for any process that /proc would show.
double ServerCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  clockid_t clock;
  timespec ts;
  if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0) return -1;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

absl::Status WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// Keys and certificates: well under this.
constexpr size_t kMaxPemFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadFileToString(path, kMaxPemFileBytes);
}

// --- What the requests carry, minted before the run. ---

enum class Binding { kBearer, kDpop, kMtls };
enum class Api { kCheck, kVerify, kStream };

struct Client {
  std::unique_ptr<PrivateKey> key;  // DPoP
  std::unique_ptr<ProofMinter> minter;
  SelfSignedCert cert;  // mTLS
  std::string envoy_cert;
  std::vector<std::string> authorization;  // "DPoP <token>" / "Bearer <token>"
};

struct Workload {
  Binding binding = Binding::kDpop;
  std::string method, url, scheme, host, path;
  std::vector<Client> clients;
  // Request i uses combo i % combos: client (i % combos) / tokens_per_client.
  int tokens_per_client = 1;
  // DPoP: proofs[i] belongs to request i and is used once.
  std::vector<std::string> proofs;

  size_t combos() const { return clients.size() * static_cast<size_t>(tokens_per_client); }
  const Client& ClientFor(uint64_t i) const { return clients[(i % combos()) / tokens_per_client]; }
  const std::string& AuthorizationFor(uint64_t i) const {
    return ClientFor(i).authorization[(i % combos()) % tokens_per_client];
  }
  // Limit is how many requests can be sent (proofs are single-use).
  uint64_t Limit() const { return binding == Binding::kDpop ? proofs.size() : UINT64_MAX; }
};

absl::StatusOr<std::unique_ptr<PrivateKey>> LoadOrMakeIssuerKey() {
  const std::string path = absl::GetFlag(FLAGS_issuer_key);
  if (!path.empty()) {
    auto text = ReadFile(path);
    if (!text.ok()) return text.status();
    auto json = ParseJson(*text);
    if (!json.ok()) return json.status();
    auto key = PrivateKey::FromJwk(*json);
    if (!key.ok()) return key.status();
    auto out = std::make_unique<PrivateKey>(*std::move(key));
    if (out->kid().empty()) out->set_kid(out->Thumbprint().substr(0, 16));
    return out;
  }
  auto key = PrivateKey::Generate(JwsAlg::kES256);
  if (!key.ok()) return key.status();
  auto out = std::make_unique<PrivateKey>(*std::move(key));
  out->set_alg(JwsAlg::kES256);
  out->set_kid(absl::StrCat("load-", out->Thumbprint().substr(0, 8)));
  return out;
}

std::string ConfigYaml(const std::string& jwks_path, Binding binding, const NormalizedUrl& url) {
  std::string_view binding_name = binding == Binding::kBearer ? "bearer"
                                  : binding == Binding::kMtls ? "mtls"
                                                              : "dpop";
  return absl::StrCat(
      "# Written by popguard-load --write_config: trusts the load generator's issuer.\n"
      "listen: 127.0.0.1:9001\n"
      "log_level: info\n"
      "issuers:\n"
      "  - issuer: \"",
      absl::GetFlag(FLAGS_issuer),
      "\"\n"
      "    jwks_file: \"",
      jwks_path,
      "\"\n"
      "    audiences: [\"",
      absl::GetFlag(FLAGS_audience),
      "\"]\n"
      "    algorithms: [ES256, ES384, EdDSA, RS256, PS256]\n"
      "    require_typ: true\n"
      "clock_skew: 60s\n"
      "dpop:\n"
      "  algorithms: [ES256, ES384, EdDSA, RS256, PS256]\n"
      "  max_age: 60s\n"
      "  clock_skew: 5s\n"
      "routes:\n"
      "  - name: load\n"
      "    match: {path_prefix: \"",
      url.path,
      "\"}\n"
      "    binding: ",
      std::string(binding_name),
      "\n"
      "default_binding: bound\n"
      "replay:\n"
      "  backend: memory\n"
      "  max_entries: 4000000\n");
}

// MintProofs fills w->proofs[0, n) on all cores.
absl::Status MintProofs(Workload* w, uint64_t n) {
  w->proofs.assign(n, std::string());
  const std::string prefix = UniqueJtiPrefix();
  const absl::Time iat = absl::Now();
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::atomic<bool> failed{false};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = t; i < n && !failed.load(); i += threads) {
        const Client& c = w->ClientFor(i);
        const std::string& authz = w->AuthorizationFor(i);
        std::string_view token = std::string_view(authz).substr(5);  // after "DPoP "
        auto proof = c.minter->Mint(w->method, w->url, token, iat, absl::StrCat(prefix, ".", i));
        if (!proof.ok()) {
          failed = true;
          return;
        }
        w->proofs[i] = *std::move(proof);
      }
    });
  }
  for (auto& th : workers) th.join();
  if (failed) return absl::InternalError("minting a DPoP proof failed");
  return absl::OkStatus();
}

absl::StatusOr<JwsAlg> ProofAlg() {
  auto alg = ParseJwsAlg(absl::GetFlag(FLAGS_proof_alg));
  if (!alg) return absl::InvalidArgumentError("--proof_alg: unknown algorithm");
  return *alg;
}

absl::Status BuildClients(Workload* w, const PrivateKey& issuer_key) {
  absl::StatusOr<JwsAlg> proof_alg = ProofAlg();
  if (!proof_alg.ok()) return proof_alg.status();
  const int n = std::max(1, absl::GetFlag(FLAGS_clients));
  w->tokens_per_client = std::max(1, absl::GetFlag(FLAGS_tokens_per_client));
  w->clients.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Client& c = w->clients[static_cast<size_t>(i)];
    TokenSpec claims;
    claims.iss = absl::GetFlag(FLAGS_issuer);
    claims.aud = absl::GetFlag(FLAGS_audience);
    claims.sub = "load-user";
    claims.scope = absl::GetFlag(FLAGS_scope);
    claims.client_id = absl::StrCat("load-client-", i);
    claims.ttl = absl::Hours(1);
    std::string scheme = "Bearer ";
    if (w->binding == Binding::kDpop) {
      auto key = PrivateKey::Generate(*proof_alg);
      if (!key.ok()) return key.status();
      c.key = std::make_unique<PrivateKey>(*std::move(key));
      c.minter = std::make_unique<ProofMinter>(*c.key, *proof_alg);
      claims.jkt = c.key->Thumbprint();
      scheme = "DPoP ";
    } else if (w->binding == Binding::kMtls) {
      auto cert = MakeSelfSignedCert(absl::StrCat("load-client-", i));
      if (!cert.ok()) return cert.status();
      c.cert = *std::move(cert);
      c.envoy_cert = EnvoyUrlEncode(c.cert.pem);
      claims.x5t = c.cert.thumbprint;
    }
    for (int t = 0; t < w->tokens_per_client; ++t) {
      claims.iat = absl::Now();
      auto token = MintToken(issuer_key, issuer_key.DefaultAlg(), claims);
      if (!token.ok()) return token.status();
      c.authorization.push_back(scheme + *token);
    }
  }
  return absl::OkStatus();
}

// --- Counting. ---

struct Outcome {
  bool rpc_ok = true;
  grpc::StatusCode code = grpc::StatusCode::OK;
  bool allow = false;
  std::string reason;  // reason code for decisions
};

class Collector {
 public:
  explicit Collector(int64_t measure_from_ns) : measure_from_ns_(measure_from_ns) {}

  // Complete records one finished request sent at `intended_ns`.
  void Complete(int64_t intended_ns, const Outcome& o) {
    const int64_t now = MonoNanos();
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (!o.rpc_ok) {
      errors_.fetch_add(1, std::memory_order_relaxed);
    } else if (o.allow) {
      allowed_.fetch_add(1, std::memory_order_relaxed);
    } else {
      denied_.fetch_add(1, std::memory_order_relaxed);
    }
    if (intended_ns < measure_from_ns_) return;  // warm-up
    histogram_.Record(now - intended_ns);
    int64_t last = last_completion_ns_.load(std::memory_order_relaxed);
    while (now > last && !last_completion_ns_.compare_exchange_weak(last, now)) {
    }
    absl::MutexLock lock(&mu_);
    if (!o.rpc_ok) {
      ++errors_by_code_[o.code];
    } else {
      ++reasons_[o.allow ? std::string("ok") : o.reason];
    }
  }

  uint64_t completed() const { return completed_.load(); }
  uint64_t allowed() const { return allowed_.load(); }
  uint64_t denied() const { return denied_.load(); }
  uint64_t errors() const { return errors_.load(); }
  int64_t last_completion_ns() const { return last_completion_ns_.load(); }
  const LatencyHistogram& histogram() const { return histogram_; }
  std::map<std::string, uint64_t> reasons() const {
    absl::MutexLock lock(&mu_);
    return reasons_;
  }
  std::map<grpc::StatusCode, uint64_t> errors_by_code() const {
    absl::MutexLock lock(&mu_);
    return errors_by_code_;
  }

 private:
  const int64_t measure_from_ns_;
  std::atomic<uint64_t> completed_{0}, allowed_{0}, denied_{0}, errors_{0};
  std::atomic<int64_t> last_completion_ns_{0};
  LatencyHistogram histogram_;
  mutable absl::Mutex mu_;
  std::map<std::string, uint64_t> reasons_ ABSL_GUARDED_BY(mu_);
  std::map<grpc::StatusCode, uint64_t> errors_by_code_ ABSL_GUARDED_BY(mu_);
};

// PercentileDistribution returns [quantile, µs] pairs from the minimum to the
// maximum: 0, 0.1 .. 0.9, then 1 - 10^-k with the halfway points in between
// (0.95, 0.99, 0.995, ...) down to 1 - 10^-6, then 1 (the maximum).
JsonValue PercentileDistribution(const LatencyHistogram& h) {
  std::vector<double> quantiles = {0.0};
  for (int i = 1; i <= 9; ++i) quantiles.push_back(i / 10.0);
  for (double tail = 0.1; tail > 2e-6; tail /= 10) {
    quantiles.push_back(1 - tail / 2);
    quantiles.push_back(1 - tail / 10);
  }
  quantiles.push_back(1.0);
  std::vector<JsonValue> points;
  for (double q : quantiles) {
    const int64_t ns = q == 0.0 ? h.Min() : h.Percentile(q);
    points.push_back(JsonValue::Array(
        {JsonValue::Number(q), JsonValue::Number(static_cast<double>(ns) / 1000.0)}));
  }
  return JsonValue::Array(std::move(points));
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    default:
      return absl::StrCat("CODE_", static_cast<int>(code));
  }
}

// --- Transports: how one request goes out and its outcome comes back. ---

using DoneFn = std::function<void(int64_t intended_ns, const Outcome&)>;

class Transport {
 public:
  virtual ~Transport() = default;
  // Send issues request `i` (intended at `intended_ns`); `done` runs once when
  // it completes, on a gRPC thread.
  virtual void Send(uint64_t i, int64_t intended_ns) = 0;
  // Close ends streams once nothing is in flight.
  virtual void Close() {}
};

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(const std::string& target, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> out;
  for (int i = 0; i < std::max(1, n); ++i) {
    grpc::ChannelArguments args;
    // A separate subchannel pool per channel: one TCP connection each.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("popguard_load.channel", i);
    out.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return out;
}

void FillVerifyRequest(const Workload& w, uint64_t i, VerifyRequest* req) {
  req->set_correlation_id(absl::StrCat(i));
  req->set_method(w.method);
  req->set_url(w.url);
  auto* authz = req->add_headers();
  authz->set_name("authorization");
  authz->set_value(w.AuthorizationFor(i));
  if (w.binding == Binding::kDpop) {
    auto* dpop = req->add_headers();
    dpop->set_name("dpop");
    dpop->set_value(w.proofs[i]);
  } else if (w.binding == Binding::kMtls) {
    req->set_certificate(w.ClientFor(i).cert.pem);
  }
}

void FillCheckRequest(const Workload& w, uint64_t i, auth::CheckRequest* req) {
  auto* http = req->mutable_attributes()->mutable_request()->mutable_http();
  http->set_id(absl::StrCat(i));
  http->set_method(w.method);
  http->set_scheme(w.scheme);
  http->set_host(w.host);
  http->set_path(w.path);
  http->set_protocol("HTTP/1.1");
  auto header = [http](const char* name, std::string value) {
    auto* h = http->add_headers();
    h->set_key(name);
    h->set_value(std::move(value));
  };
  header(":authority", w.host);
  header(":method", w.method);
  header(":path", w.path);
  header("authorization", w.AuthorizationFor(i));
  if (w.binding == Binding::kDpop) header("dpop", w.proofs[i]);
  if (w.binding == Binding::kMtls) {
    req->mutable_attributes()->mutable_source()->set_certificate(w.ClientFor(i).envoy_cert);
  }
}

Outcome FromCheckResponse(const auth::CheckResponse& resp) {
  Outcome o;
  if (resp.status().code() == 0) {
    o.allow = true;
    return o;
  }
  // popguard puts the reason code in status.message (and x-popguard-reason);
  // another server may not.
  o.reason = resp.status().message();
  if (o.reason.empty()) {
    o.reason =
        absl::StrCat("denied_http_", static_cast<int>(resp.denied_response().status().code()));
  }
  return o;
}

Outcome FromVerifyResponse(const VerifyResponse& resp) {
  Outcome o;
  o.allow = resp.decision() == popguard::v1::ALLOW;
  o.reason = resp.reason_code().empty() ? "unspecified" : resp.reason_code();
  return o;
}

// UnaryTransport sends one unary RPC per request through the callback API;
// `Api` names the service, its messages, how to fill a request and how to read
// a response (CheckApi, VerifyApi below).
template <typename Api>
class UnaryTransport final : public Transport {
 public:
  UnaryTransport(const Workload& w, const std::string& target, int channels, absl::Duration timeout,
                 DoneFn done)
      : w_(w), timeout_(timeout), done_(std::move(done)) {
    for (auto& ch : MakeChannels(target, channels)) stubs_.push_back(Api::Service::NewStub(ch));
  }

  void Send(uint64_t i, int64_t intended_ns) override {
    auto* call = new Call;
    call->intended_ns = intended_ns;
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    Api::Fill(w_, i, &call->req);
    Api::Start(stubs_[i % stubs_.size()].get(), &call->ctx, &call->req, &call->resp,
               [this, call](grpc::Status s) {
                 Outcome o;
                 if (!s.ok()) {
                   o.rpc_ok = false;
                   o.code = s.error_code();
                 } else {
                   o = Api::Read(call->resp);
                 }
                 int64_t intended = call->intended_ns;
                 delete call;
                 done_(intended, o);
               });
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    typename Api::Request req;
    typename Api::Response resp;
    int64_t intended_ns = 0;
  };
  const Workload& w_;
  absl::Duration timeout_;
  DoneFn done_;
  std::vector<std::unique_ptr<typename Api::Service::Stub>> stubs_;
};

struct CheckApi {
  using Service = auth::Authorization;
  using Request = auth::CheckRequest;
  using Response = auth::CheckResponse;
  static void Fill(const Workload& w, uint64_t i, Request* req) { FillCheckRequest(w, i, req); }
  static Outcome Read(const Response& resp) { return FromCheckResponse(resp); }
  template <typename Done>
  static void Start(Service::Stub* stub, grpc::ClientContext* ctx, const Request* req,
                    Response* resp, Done done) {
    stub->async()->Check(ctx, req, resp, std::move(done));
  }
};

struct VerifyApi {
  using Service = popguard::v1::Verifier;
  using Request = VerifyRequest;
  using Response = VerifyResponse;
  static void Fill(const Workload& w, uint64_t i, Request* req) { FillVerifyRequest(w, i, req); }
  static Outcome Read(const Response& resp) { return FromVerifyResponse(resp); }
  template <typename Done>
  static void Start(Service::Stub* stub, grpc::ClientContext* ctx, const Request* req,
                    Response* resp, Done done) {
    stub->async()->Verify(ctx, req, resp, std::move(done));
  }
};

using CheckTransport = UnaryTransport<CheckApi>;
using VerifyTransport = UnaryTransport<VerifyApi>;

// StreamTransport keeps one VerifyStream per channel; requests are written in
// turn (one write in flight per stream) and matched to responses by
// correlation id.
class StreamTransport final : public Transport {
 public:
  StreamTransport(const Workload& w, const std::string& target, int channels, DoneFn done)
      : w_(w), done_(std::move(done)) {
    for (auto& ch : MakeChannels(target, channels)) {
      stubs_.push_back(popguard::v1::Verifier::NewStub(ch));
      streams_.push_back(std::make_unique<Stream>(this, stubs_.back().get()));
    }
  }
  ~StreamTransport() override {
    for (auto& s : streams_) s->WaitDone();
  }

  void Send(uint64_t i, int64_t intended_ns) override {
    streams_[i % streams_.size()]->Send(i, intended_ns);
  }
  void Close() override {
    for (auto& s : streams_) s->CloseWrites();
  }

 private:
  class Stream final : public grpc::ClientBidiReactor<VerifyRequest, VerifyResponse> {
   public:
    Stream(StreamTransport* t, popguard::v1::Verifier::Stub* stub) : t_(t) {
      stub->async()->VerifyStream(&ctx_, this);
      StartRead(&resp_);
      StartCall();
    }

    void Send(uint64_t i, int64_t intended_ns) {
      VerifyRequest req;
      FillVerifyRequest(t_->w_, i, &req);
      absl::ReleasableMutexLock lock(&mu_);
      if (broken_) {
        lock.Release();
        Outcome o;
        o.rpc_ok = false;
        o.code = grpc::StatusCode::UNAVAILABLE;
        t_->done_(intended_ns, o);
        return;
      }
      pending_[req.correlation_id()] = intended_ns;
      queue_.push_back(std::move(req));
      if (!writing_) {
        writing_ = true;
        StartWrite(&queue_.front());
      }
    }

    void CloseWrites() {
      absl::MutexLock lock(&mu_);
      closing_ = true;
      if (!writing_ && !closed_) {
        closed_ = true;
        StartWritesDone();
      }
    }

    void OnWriteDone(bool ok) override {
      absl::MutexLock lock(&mu_);
      queue_.pop_front();
      if (!ok) broken_ = true;
      if (!queue_.empty() && !broken_) {
        StartWrite(&queue_.front());
        return;
      }
      writing_ = false;
      if (closing_ && !closed_ && !broken_) {
        closed_ = true;
        StartWritesDone();
      }
    }

    void OnReadDone(bool ok) override {
      if (!ok) return;  // the stream ended; OnDone follows
      int64_t intended = 0;
      bool found = false;
      {
        absl::MutexLock lock(&mu_);
        auto it = pending_.find(resp_.correlation_id());
        if (it != pending_.end()) {
          intended = it->second;
          pending_.erase(it);
          found = true;
        }
      }
      if (found) t_->done_(intended, FromVerifyResponse(resp_));
      StartRead(&resp_);
    }

    void OnDone(const grpc::Status& s) override {
      std::map<std::string, int64_t> lost;
      {
        absl::MutexLock lock(&mu_);
        broken_ = true;
        lost.swap(pending_);
        done_ = true;
      }
      for (const auto& [id, intended] : lost) {
        Outcome o;
        o.rpc_ok = false;
        o.code = s.ok() ? grpc::StatusCode::UNAVAILABLE : s.error_code();
        t_->done_(intended, o);
      }
    }

    void WaitDone() {
      CloseWrites();
      absl::ReleasableMutexLock lock(&mu_);
      if (!mu_.AwaitWithTimeout(absl::Condition(&done_), absl::Seconds(10))) {
        lock.Release();
        ctx_.TryCancel();
        absl::MutexLock again(&mu_);
        mu_.Await(absl::Condition(&done_));
      }
    }

   private:
    StreamTransport* t_;
    grpc::ClientContext ctx_;
    VerifyResponse resp_;
    absl::Mutex mu_;
    std::deque<VerifyRequest> queue_ ABSL_GUARDED_BY(mu_);
    std::map<std::string, int64_t> pending_ ABSL_GUARDED_BY(mu_);
    bool writing_ ABSL_GUARDED_BY(mu_) = false;
    bool closing_ ABSL_GUARDED_BY(mu_) = false;
    bool closed_ ABSL_GUARDED_BY(mu_) = false;
    bool broken_ ABSL_GUARDED_BY(mu_) = false;
    bool done_ ABSL_GUARDED_BY(mu_) = false;
  };

  const Workload& w_;
  DoneFn done_;
  std::vector<std::unique_ptr<popguard::v1::Verifier::Stub>> stubs_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

// --- The completion-queue driver (Check and Verify, the default). ---

// CqDriver runs a whole load on the calling thread through one
// CompletionQueue: it sends (on schedule in open loop, on each completion in
// closed loop) and reaps completions itself, so a request costs the client no
// thread hand-offs. That matters on a small machine, where the load
// generator's CPU competes with the server's.
class CqDriver {
 public:
  using Claim = std::function<bool(int64_t intended, uint64_t* i)>;

  CqDriver(const Workload& w, Api api, const std::string& target, int channels,
           absl::Duration timeout, Collector* collector, std::atomic<int64_t>* outstanding)
      : w_(w), api_(api), timeout_(timeout), collector_(collector), outstanding_(outstanding) {
    for (auto& ch : MakeChannels(target, channels)) {
      if (api == Api::kCheck) {
        check_stubs_.push_back(auth::Authorization::NewStub(ch));
      } else {
        verify_stubs_.push_back(popguard::v1::Verifier::NewStub(ch));
      }
    }
  }

  // Run sends until `claim` refuses or `stop` is set, then waits for every
  // request in flight (each has a deadline, so this ends).
  void Run(bool open_loop, int concurrency, double rate, int64_t t0, int64_t send_until,
           int64_t max_outstanding, const Claim& claim, std::atomic<bool>* stop) {
    // Open loop: a pacer thread sends each request at its due time (waiting
    // on a timer would delay the replies this thread is reaping); closed
    // loop: this thread sends the next request as each one completes.
    std::atomic<bool> pacer_done{!open_loop};
    std::thread pacer;
    if (open_loop) {
      pacer = std::thread([&] {
        for (uint64_t k = 0; !stop->load(); ++k) {
          const int64_t due = t0 + static_cast<int64_t>(static_cast<double>(k) * 1e9 / rate);
          if (MonoNanos() < due) SleepUntil(due);
          // Too far behind: hold this request (its latency still counts
          // from `due`) until some reply comes back.
          while (outstanding_->load() >= max_outstanding && !stop->load()) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
          }
          uint64_t i;
          if (!claim(due, &i)) break;
          Send(i, due);
        }
        pacer_done = true;
      });
    } else {
      for (int c = 0; c < concurrency; ++c) SendNext(claim);
    }
    while (true) {
      const int64_t now = MonoNanos();
      if (now >= send_until) *stop = true;
      if (stop->load() && pacer_done.load() && outstanding_->load() == 0) break;
      void* tag = nullptr;
      bool ok = false;
      gpr_timespec deadline =
          gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(20, GPR_TIMESPAN));
      grpc::CompletionQueue::NextStatus st = cq_.AsyncNext(&tag, &ok, deadline);
      if (st == grpc::CompletionQueue::SHUTDOWN) break;
      if (st == grpc::CompletionQueue::GOT_EVENT) {
        Complete(static_cast<Call*>(tag));
        if (!open_loop) SendNext(claim);
      }
    }
    if (pacer.joinable()) pacer.join();
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) Complete(static_cast<Call*>(tag));
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    auth::CheckRequest check_req;
    auth::CheckResponse check_resp;
    VerifyRequest verify_req;
    VerifyResponse verify_resp;
    std::unique_ptr<grpc::ClientAsyncResponseReader<auth::CheckResponse>> check_reader;
    std::unique_ptr<grpc::ClientAsyncResponseReader<VerifyResponse>> verify_reader;
    grpc::Status status;
    int64_t intended_ns = 0;
  };

  void SendNext(const Claim& claim) {
    const int64_t now = MonoNanos();
    uint64_t i;
    if (claim(now, &i)) Send(i, now);
  }

  void Send(uint64_t i, int64_t intended_ns) {
    auto* call = new Call;
    call->intended_ns = intended_ns;
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    outstanding_->fetch_add(1);
    if (api_ == Api::kCheck) {
      FillCheckRequest(w_, i, &call->check_req);
      call->check_reader = check_stubs_[i % check_stubs_.size()]->PrepareAsyncCheck(
          &call->ctx, call->check_req, &cq_);
      call->check_reader->StartCall();
      call->check_reader->Finish(&call->check_resp, &call->status, call);
    } else {
      FillVerifyRequest(w_, i, &call->verify_req);
      call->verify_reader = verify_stubs_[i % verify_stubs_.size()]->PrepareAsyncVerify(
          &call->ctx, call->verify_req, &cq_);
      call->verify_reader->StartCall();
      call->verify_reader->Finish(&call->verify_resp, &call->status, call);
    }
  }

  void Complete(Call* call) {
    Outcome o;
    if (!call->status.ok()) {
      o.rpc_ok = false;
      o.code = call->status.error_code();
    } else if (api_ == Api::kCheck) {
      o = FromCheckResponse(call->check_resp);
    } else {
      o = FromVerifyResponse(call->verify_resp);
    }
    collector_->Complete(call->intended_ns, o);
    outstanding_->fetch_sub(1);
    delete call;
  }

  const Workload& w_;
  const Api api_;
  const absl::Duration timeout_;
  Collector* collector_;
  std::atomic<int64_t>* outstanding_;
  grpc::CompletionQueue cq_;
  std::vector<std::unique_ptr<auth::Authorization::Stub>> check_stubs_;
  std::vector<std::unique_ptr<popguard::v1::Verifier::Stub>> verify_stubs_;
};

// --- The run. ---

struct RunResult {
  uint64_t sent = 0;
  double measured_seconds = 0;
  double server_cpu_seconds = -1;
  double client_cpu_seconds = 0;
  uint64_t measured_requests = 0;
  bool pool_exhausted = false;
};

int Main() {
  const std::string target = absl::GetFlag(FLAGS_target);
  Workload w;
  const std::string binding = absl::GetFlag(FLAGS_binding);
  if (binding == "bearer") {
    w.binding = Binding::kBearer;
  } else if (binding == "dpop") {
    w.binding = Binding::kDpop;
  } else if (binding == "mtls") {
    w.binding = Binding::kMtls;
  } else {
    std::cerr << "popguard-load: --binding must be bearer, dpop or mtls\n";
    return 2;
  }
  Api api;
  const std::string api_name = absl::GetFlag(FLAGS_api);
  if (api_name == "check") {
    api = Api::kCheck;
  } else if (api_name == "verify") {
    api = Api::kVerify;
  } else if (api_name == "stream") {
    api = Api::kStream;
  } else {
    std::cerr << "popguard-load: --api must be check, verify or stream\n";
    return 2;
  }
  const bool open_loop = absl::GetFlag(FLAGS_mode) == "open";
  if (!open_loop && absl::GetFlag(FLAGS_mode) != "closed") {
    std::cerr << "popguard-load: --mode must be closed or open\n";
    return 2;
  }
  w.method = absl::GetFlag(FLAGS_method);
  w.url = absl::GetFlag(FLAGS_url);
  auto url = NormalizeAbsoluteUrl(w.url);
  if (!url.ok()) {
    std::cerr << "popguard-load: --url: " << url.status().message() << "\n";
    return 2;
  }
  w.scheme = url->scheme;
  w.host = url->Origin().substr(url->scheme.size() + 3);
  {
    // The request target as a proxy sees it: the path and query of --url
    // (http(s), checked by NormalizeAbsoluteUrl above).
    const std::optional<HttpUrlParts> parts = ParseHttpUrl(w.url);
    w.path = parts.has_value() && !parts->path.empty() ? std::string(parts->path) : "/";
    if (parts.has_value() && parts->query.has_value()) {
      w.path.append("?").append(*parts->query);
    }
  }

  auto issuer_key = LoadOrMakeIssuerKey();
  if (!issuer_key.ok()) {
    std::cerr << "popguard-load: issuer key: " << issuer_key.status().message() << "\n";
    return 2;
  }
  if (const std::string path = absl::GetFlag(FLAGS_write_issuer_key); !path.empty()) {
    if (!absl::GetFlag(FLAGS_issuer_key).empty()) {
      std::cerr << "popguard-load: --write_issuer_key is for a generated key; drop --issuer_key\n";
      return 2;
    }
    if (auto s = WriteFile(path, SerializeJson((*issuer_key)->PrivateJwk()) + "\n"); !s.ok()) {
      std::cerr << "popguard-load: " << s.message() << "\n";
      return 2;
    }
  }
  const std::string jwks_path = absl::GetFlag(FLAGS_write_jwks);
  if (!jwks_path.empty()) {
    if (auto s = WriteFile(jwks_path, JwksJson({issuer_key->get()}) + "\n"); !s.ok()) {
      std::cerr << "popguard-load: " << s.message() << "\n";
      return 2;
    }
  }
  if (const std::string path = absl::GetFlag(FLAGS_write_config); !path.empty()) {
    if (jwks_path.empty()) {
      std::cerr << "popguard-load: --write_config needs --write_jwks\n";
      return 2;
    }
    const std::string jwks_abs = std::filesystem::absolute(jwks_path).string();
    if (auto s = WriteFile(path, ConfigYaml(jwks_abs, w.binding, *url)); !s.ok()) {
      std::cerr << "popguard-load: " << s.message() << "\n";
      return 2;
    }
  }
  if (target.empty()) {
    if (!jwks_path.empty() || !absl::GetFlag(FLAGS_write_issuer_key).empty()) return 0;
    std::cerr << "popguard-load: --target host:port is required (see --help)\n";
    return 2;
  }

  // Mint everything before the clock starts.
  const bool progress = absl::GetFlag(FLAGS_progress);
  const double duration = std::max(0.0, absl::GetFlag(FLAGS_duration));
  const double warmup = std::max(0.0, absl::GetFlag(FLAGS_warmup));
  const int64_t max_requests = absl::GetFlag(FLAGS_requests);
  const double rate = absl::GetFlag(FLAGS_rate);
  if (open_loop && rate <= 0) {
    std::cerr << "popguard-load: --rate must be positive\n";
    return 2;
  }
  if (auto s = BuildClients(&w, **issuer_key); !s.ok()) {
    std::cerr << "popguard-load: " << s.message() << "\n";
    return 2;
  }
  if (w.binding == Binding::kDpop) {
    int64_t pool = absl::GetFlag(FLAGS_pool);
    if (pool <= 0) {
      // Closed loop: sized for 25,000 req/s; a validating popguard passes
      // 13,000 on one idle EPYC core, and a pool that runs out ends the run early.
      double per_second = open_loop ? rate : 25000;
      pool = static_cast<int64_t>(per_second * (duration + warmup) * 1.05) + 100;
      if (max_requests > 0) {
        pool = std::min<int64_t>(pool, max_requests + static_cast<int64_t>(per_second * warmup) +
                                           absl::GetFlag(FLAGS_concurrency) + 100);
      }
    }
    int64_t start = MonoNanos();
    if (progress) std::cerr << "popguard-load: minting " << pool << " DPoP proofs...\n";
    if (auto s = MintProofs(&w, static_cast<uint64_t>(pool)); !s.ok()) {
      std::cerr << "popguard-load: " << s.message() << "\n";
      return 2;
    }
    double mint_seconds = (MonoNanos() - start) / 1e9;
    if (mint_seconds + duration + warmup > 55) {
      std::cerr << "popguard-load: warning: proofs are minted up front and a server with "
                   "dpop.max_age 60s refuses them after a minute; keep the run shorter\n";
    }
  }

  absl::Duration timeout = absl::Seconds(absl::GetFlag(FLAGS_timeout));
  const int64_t t0 = MonoNanos();
  const int64_t measure_from = t0 + static_cast<int64_t>(warmup * 1e9);
  const int64_t send_until = measure_from + static_cast<int64_t>(duration * 1e9);
  Collector collector(measure_from);

  std::atomic<uint64_t> next{0};           // the next request index
  std::atomic<uint64_t> measured_sent{0};  // requests sent at/after measure_from
  std::atomic<int64_t> outstanding{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> pool_exhausted{false};
  std::mutex idle_mu;
  std::condition_variable idle_cv;
  std::unique_ptr<Transport> transport;

  // TryClaim reserves the next request index if the run may go on.
  auto try_claim = [&](int64_t intended, uint64_t* i) {
    if (stop.load(std::memory_order_relaxed)) return false;
    if (intended >= send_until) {
      stop = true;
      return false;
    }
    if (intended >= measure_from && max_requests > 0 &&
        measured_sent.fetch_add(1) >= static_cast<uint64_t>(max_requests)) {
      stop = true;
      return false;
    }
    *i = next.fetch_add(1);
    if (*i >= w.Limit()) {
      pool_exhausted = true;
      stop = true;
      return false;
    }
    return true;
  };

  std::function<void()> closed_next;  // closed loop: send one more
  DoneFn done = [&](int64_t intended, const Outcome& o) {
    collector.Complete(intended, o);
    if (!open_loop) closed_next();
    if (outstanding.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(idle_mu);
      idle_cv.notify_all();
    }
  };
  closed_next = [&] {
    int64_t now = MonoNanos();
    uint64_t i;
    if (!try_claim(now, &i)) return;
    outstanding.fetch_add(1);
    transport->Send(i, now);
  };

  const std::string target_addr = target;
  const int channels = absl::GetFlag(FLAGS_channels);
  const bool use_cq = api != Api::kStream && absl::GetFlag(FLAGS_client) == "cq";
  if (!use_cq && api != Api::kStream && absl::GetFlag(FLAGS_client) != "callback") {
    std::cerr << "popguard-load: --client must be cq or callback\n";
    return 2;
  }
  std::unique_ptr<CqDriver> cq_driver;
  if (use_cq) {
    cq_driver = std::make_unique<CqDriver>(w, api, target_addr, channels, timeout, &collector,
                                           &outstanding);
  } else
    switch (api) {
      case Api::kCheck:
        transport = std::make_unique<CheckTransport>(w, target_addr, channels, timeout, done);
        break;
      case Api::kVerify:
        transport = std::make_unique<VerifyTransport>(w, target_addr, channels, timeout, done);
        break;
      case Api::kStream:
        transport = std::make_unique<StreamTransport>(w, target_addr, channels, done);
        break;
    }

  // Progress, and the CPU snapshot when measuring starts.
  double server_cpu_start = -1, client_cpu_start = 0;
  std::atomic<bool> snapshot_taken{false};
  const int server_pid = absl::GetFlag(FLAGS_server_pid);
  auto take_snapshot = [&] {
    if (snapshot_taken.exchange(true)) return;
    server_cpu_start = ServerCpuSeconds(server_pid);
    client_cpu_start = ProcessCpuSeconds();
  };
  if (warmup == 0) take_snapshot();
  std::atomic<bool> finished{false};
  std::thread reporter([&] {
    uint64_t last_done = 0;
    int64_t next_tick = t0 + 1000000000;
    while (!finished.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      const int64_t now = MonoNanos();
      if (now >= measure_from && !snapshot_taken.load()) take_snapshot();
      if (now < next_tick) continue;
      next_tick += 1000000000;
      const uint64_t d = collector.completed();
      if (progress) {
        std::fprintf(
            stderr, "[%5.1fs] %-7s done %llu (%llu/s) ok %llu deny %llu err %llu in flight %lld\n",
            (now - t0) / 1e9, now < measure_from ? "warmup" : "measure",
            static_cast<unsigned long long>(d), static_cast<unsigned long long>(d - last_done),
            static_cast<unsigned long long>(collector.allowed()),
            static_cast<unsigned long long>(collector.denied()),
            static_cast<unsigned long long>(collector.errors()),
            static_cast<long long>(outstanding.load()));
      }
      last_done = d;
    }
  });

  const int64_t max_out = std::max(1, absl::GetFlag(FLAGS_max_outstanding));
  if (use_cq) {
    cq_driver->Run(open_loop, std::max(1, absl::GetFlag(FLAGS_concurrency)), rate, t0, send_until,
                   max_out, try_claim, &stop);
  } else if (!open_loop) {
    const int concurrency = std::max(1, absl::GetFlag(FLAGS_concurrency));
    for (int c = 0; c < concurrency; ++c) closed_next();
  } else {
    // Open loop: request k is due at t0 + k / rate whether or not earlier ones
    // have finished; its latency counts from that moment, so a server that
    // falls behind shows it in the percentiles instead of slowing the load.
    for (uint64_t k = 0;; ++k) {
      const int64_t intended = t0 + static_cast<int64_t>(static_cast<double>(k) * 1e9 / rate);
      if (MonoNanos() < intended) SleepUntil(intended);
      if (outstanding.load() >= max_out) {
        // Too far behind: wait (the delay is charged to the latency of
        // this request, since it is measured from `intended`).
        std::unique_lock<std::mutex> lock(idle_mu);
        idle_cv.wait_for(lock, std::chrono::milliseconds(1));
        --k;
        continue;
      }
      uint64_t i;
      if (!try_claim(intended, &i)) break;
      outstanding.fetch_add(1);
      transport->Send(i, intended);
    }
  }
  // Wait for the end of the sending window, then for in-flight requests.
  while (!stop.load() && MonoNanos() < send_until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  {
    std::unique_lock<std::mutex> lock(idle_mu);
    idle_cv.wait_for(lock, std::chrono::duration<double>(absl::GetFlag(FLAGS_timeout) + 2),
                     [&] { return outstanding.load() == 0; });
  }
  if (!snapshot_taken.load()) take_snapshot();
  const double server_cpu_end = ServerCpuSeconds(server_pid);
  const double client_cpu_end = ProcessCpuSeconds();
  const int64_t end = std::max<int64_t>(collector.last_completion_ns(), measure_from + 1);
  finished = true;
  reporter.join();
  if (transport) transport->Close();
  const int64_t still_out = outstanding.load();
  transport.reset();
  cq_driver.reset();

  // --- Report. ---
  const LatencyHistogram& h = collector.histogram();
  const uint64_t measured = h.Count();
  const double seconds = (end - measure_from) / 1e9;
  const double rps = seconds > 0 ? measured / seconds : 0;
  double server_cpu = -1;
  if (server_cpu_start >= 0 && server_cpu_end >= 0) server_cpu = server_cpu_end - server_cpu_start;
  const double client_cpu = client_cpu_end - client_cpu_start;
  auto us = [](int64_t ns) { return static_cast<double>(ns) / 1000.0; };
  auto reasons = collector.reasons();
  auto errors = collector.errors_by_code();
  uint64_t measured_errors = 0, measured_denied = 0;
  for (const auto& [c, n] : errors) measured_errors += n;
  for (const auto& [r, n] : reasons) {
    if (r != "ok") measured_denied += n;
  }

  if (absl::GetFlag(FLAGS_json)) {
    std::vector<JsonValue::Member> reason_members, error_members;
    for (const auto& [r, n] : reasons) reason_members.push_back({r, JsonValue::Number(n)});
    for (const auto& [c, n] : errors) error_members.push_back({CodeName(c), JsonValue::Number(n)});
    auto num = [](double v) { return JsonValue::Number(v); };
    std::vector<JsonValue::Member> out = {
        {"target", JsonValue::String(target)},
        {"api", JsonValue::String(api_name)},
        {"binding", JsonValue::String(binding)},
        {"mode", JsonValue::String(open_loop ? "open" : "closed")},
        {"concurrency", num(open_loop ? 0 : absl::GetFlag(FLAGS_concurrency))},
        {"rate", num(open_loop ? rate : 0)},
        {"clients", num(static_cast<double>(w.clients.size()))},
        {"tokens", num(static_cast<double>(w.combos()))},
        {"measured_seconds", num(seconds)},
        {"requests", num(static_cast<double>(measured))},
        {"allowed", num(static_cast<double>(reasons.count("ok") ? reasons["ok"] : 0))},
        {"denied", num(static_cast<double>(measured_denied))},
        {"errors", num(static_cast<double>(measured_errors))},
        {"unfinished", num(static_cast<double>(still_out))},
        {"throughput_rps", num(rps)},
        {"latency_us", JsonValue::Object({{"p50", num(us(h.Percentile(0.5)))},
                                          {"p90", num(us(h.Percentile(0.9)))},
                                          {"p99", num(us(h.Percentile(0.99)))},
                                          {"p999", num(us(h.Percentile(0.999)))},
                                          {"max", num(us(h.Max()))},
                                          {"mean", num(h.Mean() / 1000.0)}})},
        // The whole distribution, HdrHistogram-style (quantiles crowding towards 1), for
        // bench/plot_latency.py: pairs [quantile, µs].
        {"percentiles_us", PercentileDistribution(h)},
        {"reasons", JsonValue::Object(std::move(reason_members))},
        {"errors_by_code", JsonValue::Object(std::move(error_members))},
        {"server_cpu_seconds", num(server_cpu)},
        {"server_cpu_us_per_request",
         num(server_cpu >= 0 && measured > 0 ? server_cpu * 1e6 / measured : -1)},
        {"client_cpu_us_per_request", num(measured > 0 ? client_cpu * 1e6 / measured : -1)},
        {"pool_exhausted", JsonValue::Bool(pool_exhausted.load())},
    };
    std::cout << SerializeJson(JsonValue::Object(std::move(out))) << "\n";
  } else {
    std::cout << absl::StrFormat(
        "popguard-load: %s %s %s loop against %s (%s)\n", api_name, binding,
        open_loop ? "open" : "closed", target,
        open_loop ? absl::StrFormat("%.0f req/s offered", rate)
                  : absl::StrFormat("concurrency %d", absl::GetFlag(FLAGS_concurrency)));
    std::cout << absl::StrFormat("  measured     %.2f s, %llu requests, %.1f req/s\n", seconds,
                                 static_cast<unsigned long long>(measured), rps);
    std::cout << absl::StrFormat(
        "  latency us   p50 %.0f  p90 %.0f  p99 %.0f  p99.9 %.0f  max %.0f  mean %.0f\n",
        us(h.Percentile(0.5)), us(h.Percentile(0.9)), us(h.Percentile(0.99)),
        us(h.Percentile(0.999)), us(h.Max()), h.Mean() / 1000.0);
    std::cout << absl::StrFormat("  errors       %llu",
                                 static_cast<unsigned long long>(measured_errors));
    for (const auto& [c, n] : errors) std::cout << " " << CodeName(c) << "=" << n;
    std::cout << "\n  decisions   ";
    for (const auto& [r, n] : reasons) std::cout << " " << r << "=" << n;
    std::cout << "\n";
    if (server_cpu >= 0 && measured > 0) {
      std::cout << absl::StrFormat("  server CPU   %.2f s, %.1f us per request\n", server_cpu,
                                   server_cpu * 1e6 / measured);
    }
    if (measured > 0) {
      std::cout << absl::StrFormat("  client CPU   %.2f s, %.1f us per request\n", client_cpu,
                                   client_cpu * 1e6 / measured);
    }
    if (pool_exhausted) {
      std::cout << "  note: the pre-minted DPoP proofs ran out before the end; raise --pool\n";
    }
    if (still_out > 0) std::cout << "  note: " << still_out << " requests never completed\n";
  }
  return 0;
}

}  // namespace
}  // namespace popguard::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "popguard-load --target HOST:PORT [--api check|verify|stream] [--binding dpop|bearer|mtls]\n"
      "  [--mode closed --concurrency N | --mode open --rate R] [--duration S] [--requests N]\n"
      "  [--issuer_key FILE] [--server_pid PID] [--json]\n"
      "popguard-load --write_issuer_key FILE --write_jwks FILE [--write_config FILE]\n"
      "Flags may also come from a file: --flagfile=FILE. See bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  return popguard::bench::Main();
}
