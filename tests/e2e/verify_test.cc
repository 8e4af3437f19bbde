// End-to-end tests of popguard.v1.Verifier: the real server binary, a real
// gRPC channel, tokens and proofs minted like popguard-cli mints them.
//
// Four servers, each started once per suite: the standard config (A), one
// with trusted_xfcc (B), one requiring DPoP nonces (C), one with
// external_origin (D). Their routes are TestEnv::WriteConfig's: /public bearer,
// /mtls mtls, /dpop dpop, /admin bound + scope admin, /shadow dpop
// report-only, everything else bound.
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "service/common/crypto_util.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/server_test.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::popguard::v1::VerifyRequest;
using ::popguard::v1::VerifyResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

// The upstream headers an allow sets with the default upstream_headers.
HeaderList IdentityHeaders(const std::string& binding) {
  return {H("x-popguard-sub", "alice"), H("x-popguard-client-id", "client-1"),
          H("x-popguard-scope", "read"), H("x-popguard-binding", binding),
          H("x-popguard-issuer", TestEnv::Get().issuer().iss())};
}

// ServerTest starts one popguard per test suite (Derived names the config).
template <typename Derived>
class ServerTest : public ServerTestBase<Derived> {
 protected:
  using ServerTestBase<Derived>::server;
  using ServerTestBase<Derived>::env;

  // A DPoP-bound token for the client key of `proof_alg` and its proof.
  HttpSpec DpopRequest(const std::string& url, JwsAlg proof_alg = JwsAlg::kES256,
                       TokenOptions token_options = {}) {
    const PrivateKey& key = env().client_key(proof_alg);
    token_options.jkt = key.Thumbprint();
    std::string token = env().issuer().MintToken(token_options);
    std::string proof = MintProof(key, {.alg = proof_alg, .url = url, .token = token});
    return {.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}};
  }
  HttpSpec BearerRequest(const std::string& url, TokenOptions token_options = {}) {
    return {.url = url,
            .headers = {H("Authorization", "Bearer " + env().issuer().MintToken(token_options))}};
  }
  HttpSpec MtlsRequest(const std::string& url, HttpSpec::CertForm form) {
    const TestCert& cert = env().cert();
    HttpSpec spec = BearerRequest(url, {.x5t = cert.thumbprint()});
    spec.cert_form = form;
    spec.cert = form == HttpSpec::CertForm::kThumbprint ? cert.thumbprint() : cert.pem();
    return spec;
  }
};

// Checks every field of an ALLOW response.
void ExpectAllow(const VerifyResponse& r, const std::string& route, popguard::v1::Binding binding,
                 const HeaderList& upstream, const std::string& id = "req-1") {
  EXPECT_EQ(r.correlation_id(), id);
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW) << r.reason_code() << ": " << r.message();
  EXPECT_EQ(r.reason(), popguard::v1::REASON_OK);
  EXPECT_EQ(r.reason_code(), "ok");
  EXPECT_EQ(r.message(), "");
  EXPECT_EQ(r.http_status(), 200);
  EXPECT_THAT(r.response_headers(), IsEmpty());
  EXPECT_EQ(HeaderPairs(r.upstream_headers()), upstream);
  EXPECT_THAT(r.upstream_headers_to_remove(), IsEmpty());
  EXPECT_EQ(r.principal(), "alice");
  EXPECT_EQ(r.binding(), binding);
  EXPECT_FALSE(r.report_only());
  EXPECT_EQ(r.route(), route);
  EXPECT_EQ(r.issuer(), "https://issuer.test");
}

// Checks the decision fields of a DENY response.
void ExpectDeny(const VerifyResponse& r, popguard::v1::Reason reason, const std::string& code,
                int http_status) {
  EXPECT_EQ(r.decision(), popguard::v1::DENY);
  EXPECT_EQ(r.reason(), reason);
  EXPECT_EQ(r.reason_code(), code) << r.message();
  EXPECT_EQ(r.http_status(), http_status);
  EXPECT_FALSE(r.report_only());
  EXPECT_THAT(r.upstream_headers(), IsEmpty());
  EXPECT_THAT(r.upstream_headers_to_remove(), IsEmpty());
}

// --- Server A: the standard config ---

class VerifyE2eTest : public ServerTest<VerifyE2eTest> {
 public:
  static constexpr char kConfigName[] = "verify.yaml";
  static ConfigOptions Options() { return {}; }
};

TEST_F(VerifyE2eTest, AllowsBearerTokenOfEveryIssuerAlgorithm) {
  for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA,
                     JwsAlg::kEd25519, JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kPS256}) {
    SCOPED_TRACE(JwsAlgName(alg));
    VerifyResponse r = server()->Verify(BearerRequest(TestEnv::Url("/public/items"), {.alg = alg}));
    ExpectAllow(r, "public", popguard::v1::BINDING_NONE, IdentityHeaders("none"));
  }
}

TEST_F(VerifyE2eTest, AllowsTokenOfSecondIssuer) {
  HttpSpec spec = {
      .url = TestEnv::Url("/public/x"),
      .headers = {H("authorization", "Bearer " + env().issuer2().MintToken({.typ = ""}))}};
  VerifyResponse r = server()->Verify(spec);
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW) << r.reason_code() << ": " << r.message();
  EXPECT_EQ(r.issuer(), "https://issuer2.test");
  EXPECT_EQ(r.principal(), "alice");
}

TEST_F(VerifyE2eTest, AllowsDpopProofOfEveryAlgorithm) {
  for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kEdDSA, JwsAlg::kEd25519,
                     JwsAlg::kRS256, JwsAlg::kPS256}) {
    SCOPED_TRACE(JwsAlgName(alg));
    VerifyResponse r = server()->Verify(DpopRequest(TestEnv::Url("/dpop/orders"), alg));
    ExpectAllow(r, "dpop", popguard::v1::BINDING_DPOP, IdentityHeaders("dpop"));
  }
}

TEST_F(VerifyE2eTest, DpopBoundTokenAllowedOnBearerAndBoundRoutes) {
  // A bound token must prove its binding on a bearer route too; it then passes.
  for (const char* path : {"/public/a", "/elsewhere"}) {
    SCOPED_TRACE(path);
    VerifyResponse r = server()->Verify(DpopRequest(TestEnv::Url(path)));
    ExpectAllow(r, path == std::string("/public/a") ? "public" : "default",
                popguard::v1::BINDING_DPOP, IdentityHeaders("dpop"));
  }
}

TEST_F(VerifyE2eTest, AllowsMtlsBoundTokenWithCertificateInEveryForm) {
  for (HttpSpec::CertForm form :
       {HttpSpec::CertForm::kPem, HttpSpec::CertForm::kDer, HttpSpec::CertForm::kThumbprint}) {
    SCOPED_TRACE(static_cast<int>(form));
    VerifyResponse r = server()->Verify(MtlsRequest(TestEnv::Url("/mtls/x"), form));
    ExpectAllow(r, "mtls", popguard::v1::BINDING_MTLS, IdentityHeaders("mtls"));
  }
}

TEST_F(VerifyE2eTest, MtlsBoundTokenWithOtherCertificateIsDenied) {
  HttpSpec spec = MtlsRequest(TestEnv::Url("/mtls/x"), HttpSpec::CertForm::kPem);
  spec.cert = env().other_cert().pem();
  VerifyResponse r = server()->Verify(spec);
  ExpectDeny(r, popguard::v1::REASON_MTLS_THUMBPRINT_MISMATCH, "mtls_thumbprint_mismatch", 401);
  EXPECT_THAT(HeaderPairs(r.response_headers()),
              ElementsAre(H("www-authenticate",
                            "Bearer error=\"invalid_token\", "
                            "error_description=\"mtls_thumbprint_mismatch\"")));
}

TEST_F(VerifyE2eTest, MalformedCertificateThumbprintIsInvalid) {
  HttpSpec spec = MtlsRequest(TestEnv::Url("/mtls/x"), HttpSpec::CertForm::kThumbprint);
  spec.cert = "not-a-thumbprint";
  ExpectDeny(server()->Verify(spec), popguard::v1::REASON_MTLS_CERT_INVALID, "mtls_cert_invalid",
             401);
  spec.cert = env().other_cert().thumbprint();
  ExpectDeny(server()->Verify(spec), popguard::v1::REASON_MTLS_THUMBPRINT_MISMATCH,
             "mtls_thumbprint_mismatch", 401);
}

TEST_F(VerifyE2eTest, UntrustedXfccIsIgnored) {
  // trusted_xfcc is false: a client-supplied x-forwarded-client-cert must not
  // stand in for the TLS peer certificate.
  const TestCert& cert = env().cert();
  HttpSpec spec = BearerRequest(TestEnv::Url("/mtls/x"), {.x5t = cert.thumbprint()});
  spec.headers.push_back(
      H("x-forwarded-client-cert", absl::StrCat("Hash=", HexEncode(Sha256(cert.der())), ";Cert=\"",
                                                cert.EnvoyUrlEncodedPem(), "\"")));
  VerifyResponse r = server()->Verify(spec);
  ExpectDeny(r, popguard::v1::REASON_MTLS_CERT_MISSING, "mtls_cert_missing", 401);
}

TEST_F(VerifyE2eTest, ReportOnlyRouteAllowsWithWouldDenyReason) {
  // /shadow requires dpop; an unbound bearer token would be binding_required.
  VerifyResponse r = server()->Verify(BearerRequest(TestEnv::Url("/shadow/x")));
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW);
  EXPECT_TRUE(r.report_only());
  EXPECT_EQ(r.reason(), popguard::v1::REASON_BINDING_REQUIRED);
  EXPECT_EQ(r.reason_code(), "binding_required");
  EXPECT_EQ(r.http_status(), 200);
  EXPECT_EQ(r.route(), "shadow");
  EXPECT_THAT(r.response_headers(), IsEmpty());
  // Nothing was proven: no identity headers, and client-sent copies removed.
  EXPECT_THAT(r.upstream_headers(), IsEmpty());
  EXPECT_THAT(r.upstream_headers_to_remove(),
              ElementsAre("x-popguard-sub", "x-popguard-client-id", "x-popguard-scope",
                          "x-popguard-binding", "x-popguard-issuer"));
  EXPECT_TRUE(server()->process().WaitForLogLine("\"would_deny\"", absl::Seconds(5)));
}

TEST_F(VerifyE2eTest, ReportOnlyRouteStillAllowsValidRequestNormally) {
  VerifyResponse r = server()->Verify(DpopRequest(TestEnv::Url("/shadow/x")));
  ExpectAllow(r, "shadow", popguard::v1::BINDING_DPOP, IdentityHeaders("dpop"));
}

TEST_F(VerifyE2eTest, InsufficientScopeIs403WithScopeChallenge) {
  VerifyResponse r = server()->Verify(DpopRequest(TestEnv::Url("/admin/users")));
  ExpectDeny(r, popguard::v1::REASON_INSUFFICIENT_SCOPE, "insufficient_scope", 403);
  EXPECT_EQ(r.route(), "admin");
  EXPECT_EQ(r.principal(), "alice");
  EXPECT_THAT(
      HeaderPairs(r.response_headers()),
      ElementsAre(H("www-authenticate", absl::StrCat("DPoP error=\"insufficient_scope\", "
                                                     "error_description=\"insufficient_scope\", "
                                                     "scope=\"admin\", algs=\"",
                                                     TestEnv::kDpopAlgs, "\""))));
  // With the scope, the same route allows.
  VerifyResponse ok = server()->Verify(
      DpopRequest(TestEnv::Url("/admin/users"), JwsAlg::kES256, {.scope = "read admin"}));
  EXPECT_EQ(ok.decision(), popguard::v1::ALLOW) << ok.reason_code();
  EXPECT_EQ(ok.route(), "admin");
}

TEST_F(VerifyE2eTest, MissingTokenOnBoundRouteChallengesBothSchemes) {
  VerifyResponse r = server()->Verify(HttpSpec{.url = TestEnv::Url("/orders")});
  ExpectDeny(r, popguard::v1::REASON_TOKEN_MISSING, "token_missing", 401);
  EXPECT_EQ(r.route(), "default");
  EXPECT_THAT(
      HeaderPairs(r.response_headers()),
      ElementsAre(H("www-authenticate", absl::StrCat("DPoP algs=\"", TestEnv::kDpopAlgs, "\"")),
                  H("www-authenticate", "Bearer")));
}

TEST_F(VerifyE2eTest, BearerDowngradeIsToldToUseDpop) {
  std::string token =
      env().issuer().MintToken({.jkt = env().client_key(JwsAlg::kES256).Thumbprint()});
  VerifyResponse r = server()->Verify(HttpSpec{.url = TestEnv::Url("/public/x"),
                                               .headers = {H("Authorization", "Bearer " + token)}});
  ExpectDeny(r, popguard::v1::REASON_BEARER_DOWNGRADE, "bearer_downgrade", 401);
  EXPECT_THAT(
      HeaderPairs(r.response_headers()),
      ElementsAre(H("www-authenticate", DpopChallenge("invalid_token", "bearer_downgrade"))));
}

TEST_F(VerifyE2eTest, HtuMismatchWithoutExternalOriginNamesBothUrls) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  std::string proof = MintProof(key, {.url = "https://api.example/x", .token = token});
  VerifyResponse r = server()->Verify(
      HttpSpec{.url = "http://internal:8080/x",
               .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}});
  ExpectDeny(r, popguard::v1::REASON_DPOP_HTU_MISMATCH, "dpop_htu_mismatch", 401);
  EXPECT_THAT(r.message(), HasSubstr("https://api.example/x"));
  EXPECT_THAT(r.message(), HasSubstr("http://internal:8080/x"));
  EXPECT_THAT(
      HeaderPairs(r.response_headers()),
      ElementsAre(H("www-authenticate", DpopChallenge("invalid_dpop_proof", "dpop_htu_mismatch"))));
}

TEST_F(VerifyE2eTest, HealthCheckAnswersServing) {
  // The whole-server status (service ""), which Kubernetes and Envoy probe.
  absl::StatusOr<int> status = HealthCheck(server()->channel(), "");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(*status, 1);  // SERVING
}

TEST_F(VerifyE2eTest, ServerReflectionListsTheServices) {
  absl::StatusOr<std::vector<std::string>> services = ReflectionListServices(server()->channel());
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, ::testing::Contains("popguard.v1.Verifier"));
  EXPECT_THAT(*services, ::testing::Contains("envoy.service.auth.v3.Authorization"));
  EXPECT_THAT(*services, ::testing::Contains("grpc.health.v1.Health"));
}

TEST_F(VerifyE2eTest, VerifyStreamAnswersEveryRequestOnceWithItsCorrelationId) {
  constexpr int kRequests = 200;
  // Kind by i % 4: bearer allow, DPoP allow, no token, expired token.
  const std::string bearer = env().issuer().MintToken({});
  const std::string expired =
      env().issuer().MintToken({.iat = absl::Now() - absl::Hours(2), .ttl = absl::Hours(1)});
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  const std::string bound = env().issuer().MintToken({.jkt = key.Thumbprint()});
  std::vector<VerifyRequest> requests;
  for (int i = 0; i < kRequests; ++i) {
    HttpSpec spec;
    switch (i % 4) {
      case 0:
        spec = {.url = TestEnv::Url("/public/s"),
                .headers = {H("Authorization", "Bearer " + bearer)}};
        break;
      case 1: {
        std::string url = TestEnv::Url(absl::StrCat("/dpop/s/", i));
        spec = {.url = url,
                .headers = {H("Authorization", "DPoP " + bound),
                            H("DPoP", MintProof(key, {.url = url, .token = bound}))}};
        break;
      }
      case 2:
        spec = {.url = TestEnv::Url("/public/s")};
        break;
      case 3:
        spec = {.url = TestEnv::Url("/public/s"),
                .headers = {H("Authorization", "Bearer " + expired)}};
        break;
    }
    requests.push_back(ToVerifyRequest(spec, absl::StrCat("stream-", i)));
  }

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stream = server()->verifier().VerifyStream(&ctx);
  std::thread writer([&] {
    for (const VerifyRequest& req : requests) {
      if (!stream->Write(req)) break;
    }
    stream->WritesDone();
  });
  std::map<std::string, VerifyResponse> responses;
  int received = 0;
  VerifyResponse resp;
  while (stream->Read(&resp)) {
    ++received;
    EXPECT_TRUE(responses.emplace(resp.correlation_id(), resp).second)
        << "duplicate response for " << resp.correlation_id();
  }
  writer.join();
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(received, kRequests);
  ASSERT_EQ(responses.size(), static_cast<size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) {
    const std::string id = absl::StrCat("stream-", i);
    SCOPED_TRACE(id);
    auto it = responses.find(id);
    ASSERT_NE(it, responses.end());
    const VerifyResponse& r = it->second;
    static constexpr const char* kCodes[] = {"ok", "ok", "token_missing", "token_expired"};
    EXPECT_EQ(r.reason_code(), kCodes[i % 4]) << r.message();
    EXPECT_EQ(r.decision(), i % 4 < 2 ? popguard::v1::ALLOW : popguard::v1::DENY);
    EXPECT_EQ(r.http_status(), i % 4 < 2 ? 200 : 401);
  }
}

TEST_F(VerifyE2eTest, LogsNeverContainTokensProofsOrPrivateKeys) {
  const PrivateKey& key = env().client_key(JwsAlg::kEdDSA);
  std::vector<std::string> secrets;
  auto remember = [&](const std::string& jws) {
    secrets.push_back(jws);
    // Each segment on its own too: a log could hold a token cut at a dot.
    size_t dot1 = jws.find('.'), dot2 = jws.rfind('.');
    secrets.push_back(jws.substr(dot1 + 1, dot2 - dot1 - 1));
    secrets.push_back(jws.substr(dot2 + 1));
  };
  const std::string marker = absl::StrCat("/public/log-marker-", ShortHash(RandomBytes(8)));
  std::vector<std::pair<HttpSpec, std::string>> runs;  // request, expected reason code
  {
    std::string t = env().issuer().MintToken({.sub = "log-allow"});
    remember(t);
    runs.push_back(
        {{.url = TestEnv::Url(marker), .headers = {H("Authorization", "Bearer " + t)}}, "ok"});
  }
  {
    std::string t = env().issuer().MintToken({.jkt = key.Thumbprint()});
    std::string p = MintProof(key, {.url = TestEnv::Url("/dpop/log"), .token = t});
    remember(t);
    remember(p);
    runs.push_back({{.url = TestEnv::Url("/dpop/log"),
                     .headers = {H("Authorization", "DPoP " + t), H("DPoP", p)}},
                    "ok"});
    // The same proof again: replayed.
    runs.push_back({runs.back().first, "dpop_replayed"});
    std::string wrong = MintProof(key, {.url = TestEnv::Url("/dpop/other"), .token = t});
    remember(wrong);
    runs.push_back({{.url = TestEnv::Url("/dpop/log"),
                     .headers = {H("Authorization", "DPoP " + t), H("DPoP", wrong)}},
                    "dpop_htu_mismatch"});
  }
  {
    std::string t =
        env().issuer().MintToken({.iat = absl::Now() - absl::Hours(3), .ttl = absl::Hours(1)});
    remember(t);
    runs.push_back(
        {{.url = TestEnv::Url("/public/log"), .headers = {H("Authorization", "Bearer " + t)}},
         "token_expired"});
    std::string bad = t;
    bad.back() = bad.back() == 'A' ? 'Q' : 'A';
    remember(bad);
    runs.push_back(
        {{.url = TestEnv::Url("/public/log"), .headers = {H("Authorization", "Bearer " + bad)}},
         "token_signature_invalid"});
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    SCOPED_TRACE(i);
    VerifyResponse r = server()->Verify(runs[i].first);
    EXPECT_EQ(r.reason_code(), runs[i].second) << r.message();
    for (const std::string& s : secrets) EXPECT_THAT(r.message(), Not(HasSubstr(s)));
  }
  // Logs are written before the response is sent; the reader thread may lag.
  ASSERT_TRUE(server()->process().WaitForLogLine("token_signature_invalid", absl::Seconds(5)))
      << server()->process().LogText();
  // Debug level: the allow lines are logged too.
  EXPECT_TRUE(server()->process().WaitForLogLine("\"allow\"", absl::Seconds(5)));
  std::vector<std::string> logs = server()->process().Logs();
  ASSERT_FALSE(logs.empty());
  std::vector<std::string> ds = env().PrivateKeyDs();
  ASSERT_FALSE(ds.empty());
  for (const std::string& line : logs) {
    for (const std::string& s : secrets) {
      ASSERT_EQ(line.find(s), std::string::npos) << "a token or proof leaked into: " << line;
    }
    for (const std::string& d : ds) {
      ASSERT_EQ(line.find(d), std::string::npos) << "a private key leaked into: " << line;
    }
  }
}

// --- The process harness itself ---

TEST(PopguardProcessTest, StopsCleanlyOnSigterm) {
  const std::string config = TestEnv::Get().WriteConfig("lifecycle.yaml", {.log_level = "info"});
  absl::StatusOr<std::unique_ptr<PopguardProcess>> server = PopguardProcess::Start(config);
  ASSERT_TRUE(server.ok()) << server.status();
  PopguardProcess& p = **server;
  EXPECT_GT(p.port(), 0);
  EXPECT_EQ(p.address(), absl::StrCat("127.0.0.1:", p.port()));
  EXPECT_TRUE(p.Alive());
  EXPECT_EQ(p.Stop(), 0);
  EXPECT_FALSE(p.Alive());
  EXPECT_EQ(p.Stop(), 0);  // idempotent
  const std::string logs = p.LogText();
  EXPECT_THAT(logs, HasSubstr("\"event\":\"listening\""));
  EXPECT_THAT(logs, HasSubstr("\"event\":\"shutting_down\""));
  EXPECT_THAT(logs, HasSubstr("\"event\":\"stopped\""));
}

TEST(PopguardProcessTest, InvalidConfigFailsWithTheServerOutput) {
  const std::string config = TestEnv::Get().dir().Write("broken.yaml", "issuers: []\nbogus: 1\n");
  absl::StatusOr<std::unique_ptr<PopguardProcess>> server = PopguardProcess::Start(config);
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("config_invalid"));
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("exit code 2"));
}

// --- Server B: trusted_xfcc ---

class XfccE2eTest : public ServerTest<XfccE2eTest> {
 public:
  static constexpr char kConfigName[] = "xfcc.yaml";
  static ConfigOptions Options() { return {.trusted_xfcc = true}; }

  std::string Xfcc(const TestCert& cert) {
    return absl::StrCat("By=spiffe://gateway.test;Hash=", HexEncode(Sha256(cert.der())), ";Cert=\"",
                        cert.EnvoyUrlEncodedPem(), "\";Subject=\"CN=client.test\"");
  }
};

TEST_F(XfccE2eTest, TrustedXfccProvesTheCertificate) {
  HttpSpec spec = BearerRequest(TestEnv::Url("/mtls/x"), {.x5t = env().cert().thumbprint()});
  spec.headers.push_back(H("X-Forwarded-Client-Cert", Xfcc(env().cert())));
  ExpectAllow(server()->Verify(spec), "mtls", popguard::v1::BINDING_MTLS, IdentityHeaders("mtls"));
}

TEST_F(XfccE2eTest, TrustedXfccWithHashOnly) {
  HttpSpec spec = BearerRequest(TestEnv::Url("/mtls/x"), {.x5t = env().cert().thumbprint()});
  spec.headers.push_back(
      H("x-forwarded-client-cert", absl::StrCat("Hash=", HexEncode(Sha256(env().cert().der())))));
  ExpectAllow(server()->Verify(spec), "mtls", popguard::v1::BINDING_MTLS, IdentityHeaders("mtls"));
}

TEST_F(XfccE2eTest, TrustedXfccOfAnotherCertificateIsAMismatch) {
  HttpSpec spec = BearerRequest(TestEnv::Url("/mtls/x"), {.x5t = env().cert().thumbprint()});
  spec.headers.push_back(H("x-forwarded-client-cert", Xfcc(env().other_cert())));
  ExpectDeny(server()->Verify(spec), popguard::v1::REASON_MTLS_THUMBPRINT_MISMATCH,
             "mtls_thumbprint_mismatch", 401);
}

TEST_F(XfccE2eTest, TwoXfccElementsAreInvalid) {
  HttpSpec spec = BearerRequest(TestEnv::Url("/mtls/x"), {.x5t = env().cert().thumbprint()});
  spec.headers.push_back(H("x-forwarded-client-cert",
                           absl::StrCat(Xfcc(env().other_cert()), ",", Xfcc(env().cert()))));
  ExpectDeny(server()->Verify(spec), popguard::v1::REASON_MTLS_CERT_INVALID, "mtls_cert_invalid",
             401);
}

// --- Server C: DPoP nonces required ---

class NonceE2eTest : public ServerTest<NonceE2eTest> {
 public:
  static constexpr char kConfigName[] = "nonce.yaml";
  static ConfigOptions Options() { return {.nonce_required = true}; }
};

TEST_F(NonceE2eTest, FirstRequestGetsNonceAndRetryWithItIsAllowed) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  const std::string url = TestEnv::Url("/dpop/pay");
  std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  std::string proof = MintProof(key, {.url = url, .token = token});
  VerifyResponse first = server()->Verify(
      HttpSpec{.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}});
  ExpectDeny(first, popguard::v1::REASON_DPOP_NONCE_MISSING, "dpop_nonce_missing", 401);
  HeaderList headers = HeaderPairs(first.response_headers());
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0],
            H("www-authenticate", DpopChallenge("use_dpop_nonce", "dpop_nonce_missing")));
  ASSERT_EQ(headers[1].first, "dpop-nonce");
  const std::string nonce = headers[1].second;
  EXPECT_FALSE(nonce.empty());

  // A made-up nonce is refused and a current one handed out again.
  std::string forged = MintProof(key, {.url = url, .token = token, .nonce = "bm90LWEtbm9uY2U"});
  VerifyResponse bad = server()->Verify(
      HttpSpec{.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", forged)}});
  ExpectDeny(bad, popguard::v1::REASON_DPOP_NONCE_INVALID, "dpop_nonce_invalid", 401);
  EXPECT_THAT(HeaderPairs(bad.response_headers()),
              ::testing::Contains(Pair("dpop-nonce", ::testing::Not(IsEmpty()))));

  std::string retry = MintProof(key, {.url = url, .token = token, .nonce = nonce});
  VerifyResponse ok = server()->Verify(
      HttpSpec{.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", retry)}});
  EXPECT_EQ(ok.decision(), popguard::v1::ALLOW) << ok.reason_code() << ": " << ok.message();
  EXPECT_EQ(ok.reason_code(), "ok");
  EXPECT_EQ(ok.binding(), popguard::v1::BINDING_DPOP);
  // Every success hands out the current nonce, so clients never fail on rollover.
  HeaderList ok_headers = HeaderPairs(ok.response_headers());
  ASSERT_EQ(ok_headers.size(), 1u);
  EXPECT_EQ(ok_headers[0].first, "dpop-nonce");
  EXPECT_TRUE(server()->process().Alive());
}

// --- Server D: external_origin ---

class ExternalOriginE2eTest : public ServerTest<ExternalOriginE2eTest> {
 public:
  static constexpr char kConfigName[] = "external-origin.yaml";
  static ConfigOptions Options() { return {.external_origin = "https://api.example"}; }
};

TEST_F(ExternalOriginE2eTest, ProofForThePublicOriginMatchesTheInternalRequest) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  std::string proof = MintProof(key, {.url = "https://api.example/x", .token = token});
  VerifyResponse r = server()->Verify(
      HttpSpec{.url = "http://internal:8080/x",
               .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}});
  ExpectAllow(r, "default", popguard::v1::BINDING_DPOP, IdentityHeaders("dpop"));
}

TEST_F(ExternalOriginE2eTest, ProofForTheInternalOriginNoLongerMatches) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  std::string proof = MintProof(key, {.url = "http://internal:8080/x", .token = token});
  VerifyResponse r = server()->Verify(
      HttpSpec{.url = "http://internal:8080/x",
               .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}});
  ExpectDeny(r, popguard::v1::REASON_DPOP_HTU_MISMATCH, "dpop_htu_mismatch", 401);
  EXPECT_THAT(r.message(), HasSubstr("https://api.example/x"));
}

}  // namespace
}  // namespace popguard::e2e
