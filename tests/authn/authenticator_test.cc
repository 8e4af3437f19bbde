// Tests for service/authn/authenticator.h, in process: a Config built in code, a
// FakeClock, a MemoryReplayStore and DecideSync. Covers the route x token
// binding x scheme matrix, the WWW-Authenticate challenges (RFC 6750 section
// 3, RFC 9449 section 7.1), report-only routes, upstream headers, route
// selection through the route-matching path rules, the URL the DPoP htu is
// checked against (external_origin, trusted_forwarded_headers) and the replay
// window.
#include "service/authn/authenticator.h"

#include <atomic>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "service/common/log.h"
#include "service/jose/base64url.h"
#include "service/jose/native_verifier.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::kNow;
using unit::SharedKey;
using unit::Str;
using unit::WithMember;
using unit::WithoutMember;

constexpr char kOrigin[] = "https://api.example";
constexpr char kAlgs[] = R"(algs="ES256 ES384 ES512 EdDSA Ed25519 RS256 PS256")";
const std::string kCertThumbprint = Base64UrlEncode(Sha256("the client certificate"));

// The client's DPoP key (not an issuer key).
const PrivateKey& ProofKey() { return SharedKey(JwsAlg::kES256, 7); }

RouteConfig Route(std::string name, std::string prefix, BindingRequirement binding,
                  std::vector<std::string> scopes = {}, bool report_only = false) {
  RouteConfig r;
  r.name = std::move(name);
  r.match.path_prefix = std::move(prefix);
  r.binding = binding;
  r.scopes = std::move(scopes);
  r.report_only = report_only;
  return r;
}

Config TestConfig() {
  Config config = unit::BaseConfig();
  config.routes = {
      Route("public", "/public", BindingRequirement::kBearer),
      Route("bearer", "/bearer", BindingRequirement::kBearer),
      Route("dpop", "/dpop", BindingRequirement::kDpop),
      Route("mtls", "/mtls", BindingRequirement::kMtls),
      Route("bound", "/bound", BindingRequirement::kBound),
      Route("admin", "/admin", BindingRequirement::kBearer, {"admin"}),
      Route("scoped", "/scoped", BindingRequirement::kBearer, {"read", "write"}),
      Route("report", "/report", BindingRequirement::kDpop, {}, /*report_only=*/true),
  };
  RouteConfig keyed;
  keyed.name = "keyed";
  keyed.match.route_key = "k1";
  keyed.binding = BindingRequirement::kBearer;
  config.routes.push_back(keyed);
  return config;
}

enum class TokenKind { kUnbound, kDpopBound, kCertBound };
std::string TokenKindName(TokenKind k) {
  switch (k) {
    case TokenKind::kUnbound:
      return "unbound";
    case TokenKind::kDpopBound:
      return "dpop-bound";
    case TokenKind::kCertBound:
      return "cert-bound";
  }
  return "?";
}

JsonValue Claims(TokenKind kind) {
  JsonValue claims = unit::TokenClaims(kNow);
  switch (kind) {
    case TokenKind::kUnbound:
      break;
    case TokenKind::kDpopBound:
      claims =
          WithMember(claims, "cnf", JsonValue::Object({{"jkt", Str(ProofKey().Thumbprint())}}));
      break;
    case TokenKind::kCertBound:
      claims = WithMember(claims, "cnf", JsonValue::Object({{"x5t#S256", Str(kCertThumbprint)}}));
      break;
  }
  return claims;
}

std::string Token(const JsonValue& claims) {
  return unit::MintToken(SharedKey(JwsAlg::kES256), JwsAlg::kES256, claims);
}
std::string Token(TokenKind kind) { return Token(Claims(kind)); }

// ProofOptionsFor: a GET proof for `htu` and `token` with a fresh jti.
unit::ProofOptions ProofOptionsFor(std::string_view htu, std::string_view token) {
  unit::ProofOptions o;
  o.htu = std::string(htu);
  o.jti = unit::UniqueId("jti");
  o.access_token = std::string(token);
  return o;
}

// Proof returns a fresh proof (new jti) by ProofKey() for `token`.
std::string Proof(std::string_view method, std::string_view htu, std::string_view token,
                  absl::Time iat = kNow) {
  unit::ProofOptions o = ProofOptionsFor(htu, token);
  o.htm = std::string(method);
  o.iat = iat;
  return unit::MintProof(ProofKey(), o);
}

HttpRequestInfo Req(std::string method, std::string url,
                    std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequestInfo r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.headers = std::move(headers);
  return r;
}

// DpopReq is a GET of `url` with Authorization: DPoP <token> and a fresh proof.
HttpRequestInfo DpopReq(const std::string& url, const std::string& token) {
  return Req("GET", url, {{"authorization", "DPoP " + token}, {"dpop", Proof("GET", url, token)}});
}

// BearerXfccReq is a GET of `url` with Authorization: Bearer <token>, the
// x-forwarded-client-cert `xfcc` (none when empty) and the certificate the
// gateway passes itself.
HttpRequestInfo BearerXfccReq(const std::string& url, const std::string& token, std::string xfcc,
                              HttpRequestInfo::CertKind kind = HttpRequestInfo::CertKind::kNone,
                              std::string cert = "") {
  HttpRequestInfo r = Req("GET", url, {{"authorization", "Bearer " + token}});
  if (!xfcc.empty()) r.headers.emplace_back("x-forwarded-client-cert", std::move(xfcc));
  r.cert_kind = kind;
  r.cert = std::move(cert);
  return r;
}

std::vector<std::string> Challenges(const Decision& d) {
  std::vector<std::string> out;
  for (const auto& [k, v] : d.response_headers) {
    if (k == "www-authenticate") out.push_back(v);
  }
  return out;
}

// Every case runs twice: signatures verified inline (GetParam() false) and
// through a VerifyScheduler (true), where the decision completes on a worker
// thread after Decide has returned and the caller's request is gone.
class AuthenticatorTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() { SetLogLevel(LogLevel::kError); }

  void SetUp() override { Build(TestConfig()); }

  void Build(const Config& config, size_t replay_entries = 1000, int replay_shards = 8) {
    auth_.reset();
    if (GetParam() && scheduler_ == nullptr) {
      scheduler_ = std::make_unique<VerifyScheduler>(VerifyScheduler::Options{.threads = 2});
    }
    replay_ = std::make_unique<MemoryReplayStore>(replay_entries, replay_shards);
    std::vector<std::string> warnings;
    auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, replay_.get(),
                                   &warnings, nullptr, scheduler_.get());
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_TRUE(warnings.empty());
    auth_ = *std::move(a);
  }

  Decision Decide(const HttpRequestInfo& req) { return auth_->DecideSync(req); }

  // ReasonCase: a request and the exact reason code it must get (allowed iff "ok").
  struct ReasonCase {
    std::string why;
    HttpRequestInfo req;
    std::string reason;
  };
  void ExpectReasons(const std::vector<ReasonCase>& cases) {
    for (const ReasonCase& c : cases) {
      SCOPED_TRACE(c.why);
      Decision d = Decide(c.req);
      EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
      EXPECT_EQ(d.allow, c.reason == "ok");
    }
  }

  FakeClock clock_{kNow};
  std::unique_ptr<VerifyScheduler> scheduler_;  // outlives auth_ (declared first)
  std::unique_ptr<MemoryReplayStore> replay_;
  std::unique_ptr<Authenticator> auth_;
};

std::string ModeName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Scheduled" : "Inline";
}

struct MatrixCase {
  std::string route;
  TokenKind token;
  std::string scheme;
  Reason want;
  ProvenBinding binding = ProvenBinding::kNone;
};

TEST_P(AuthenticatorTest, RouteBindingTokenSchemeMatrix) {
  using B = ProvenBinding;
  using T = TokenKind;
  const std::vector<MatrixCase> cases = {
      // Unbound tokens are bearer tokens: only a bearer route takes them, and
      // never with the DPoP scheme.
      {"bearer", T::kUnbound, "Bearer", Reason::kOk, B::kNone},
      {"dpop", T::kUnbound, "Bearer", Reason::kBindingRequired},
      {"mtls", T::kUnbound, "Bearer", Reason::kBindingRequired},
      {"bound", T::kUnbound, "Bearer", Reason::kBindingRequired},
      {"bearer", T::kUnbound, "DPoP", Reason::kDpopTokenUnbound},
      {"dpop", T::kUnbound, "DPoP", Reason::kDpopTokenUnbound},
      {"mtls", T::kUnbound, "DPoP", Reason::kDpopTokenUnbound},
      {"bound", T::kUnbound, "DPoP", Reason::kDpopTokenUnbound},
      // A DPoP-bound token sent as Bearer is the stolen-token case: refused on
      // every route (RFC 9449 section 7.1), even with a proof attached.
      {"bearer", T::kDpopBound, "Bearer", Reason::kBearerDowngrade},
      {"dpop", T::kDpopBound, "Bearer", Reason::kBearerDowngrade},
      {"mtls", T::kDpopBound, "Bearer", Reason::kBearerDowngrade},
      {"bound", T::kDpopBound, "Bearer", Reason::kBearerDowngrade},
      {"bearer", T::kDpopBound, "DPoP", Reason::kOk, B::kDpop},
      {"dpop", T::kDpopBound, "DPoP", Reason::kOk, B::kDpop},
      {"mtls", T::kDpopBound, "DPoP", Reason::kBindingRequired},
      {"bound", T::kDpopBound, "DPoP", Reason::kOk, B::kDpop},
      // A certificate-bound token is sent as Bearer with its certificate.
      {"bearer", T::kCertBound, "Bearer", Reason::kOk, B::kMtls},
      {"dpop", T::kCertBound, "Bearer", Reason::kBindingRequired},
      {"mtls", T::kCertBound, "Bearer", Reason::kOk, B::kMtls},
      {"bound", T::kCertBound, "Bearer", Reason::kOk, B::kMtls},
      {"bearer", T::kCertBound, "DPoP", Reason::kDpopTokenUnbound},
      {"dpop", T::kCertBound, "DPoP", Reason::kDpopTokenUnbound},
      {"mtls", T::kCertBound, "DPoP", Reason::kDpopTokenUnbound},
      {"bound", T::kCertBound, "DPoP", Reason::kDpopTokenUnbound},
  };
  for (const MatrixCase& c : cases) {
    SCOPED_TRACE(c.route + " route, " + TokenKindName(c.token) + " token, " + c.scheme);
    const std::string url = std::string(kOrigin) + "/" + c.route + "/x";
    const std::string token = Token(c.token);
    HttpRequestInfo req = Req("GET", url, {{"authorization", c.scheme + " " + token}});
    if (c.scheme == "DPoP" || c.token == T::kDpopBound) {
      req.headers.emplace_back("dpop", Proof("GET", url, token));
    }
    if (c.token == T::kCertBound) {
      req.cert_kind = HttpRequestInfo::CertKind::kThumbprint;
      req.cert = kCertThumbprint;
    }
    Decision d = Decide(req);
    EXPECT_EQ(ReasonCode(d.reason), ReasonCode(c.want)) << d.message;
    EXPECT_EQ(d.allow, c.want == Reason::kOk);
    EXPECT_EQ(d.route, c.route);
    EXPECT_EQ(d.http_status, c.want == Reason::kOk ? 200 : 401);
    if (c.want == Reason::kOk) {
      EXPECT_EQ(ProvenBindingName(d.binding), ProvenBindingName(c.binding));
      EXPECT_EQ(d.principal, "alice");
      EXPECT_EQ(d.issuer, unit::kIssuer);
      EXPECT_EQ(d.client_id, "client-1");
      EXPECT_EQ(d.token_id, ShortHash(token));
      EXPECT_EQ(d.jkt, c.binding == B::kDpop ? ProofKey().Thumbprint() : "");
    }
  }
}

TEST_P(AuthenticatorTest, CredentialAndBindingDenials) {
  const std::string bearer_url = std::string(kOrigin) + "/bearer/x";
  const std::string mtls_url = std::string(kOrigin) + "/mtls/x";
  const std::string dpop_url = std::string(kOrigin) + "/dpop/x";
  const std::string unbound = Token(TokenKind::kUnbound);
  const std::string dpop_bound = Token(TokenKind::kDpopBound);
  const std::string cert_bound = Token(TokenKind::kCertBound);
  const std::string both =
      Token(WithMember(unit::TokenClaims(kNow), "cnf",
                       JsonValue::Object({{"jkt", Str(ProofKey().Thumbprint())},
                                          {"x5t#S256", Str(kCertThumbprint)}})));
  auto with_cert = [](HttpRequestInfo r, HttpRequestInfo::CertKind kind, std::string cert) {
    r.cert_kind = kind;
    r.cert = std::move(cert);
    return r;
  };
  struct Case {
    std::string why;
    HttpRequestInfo req;
    Reason want;
    int status;
  };
  const std::vector<Case> cases = {
      {"no method", Req("", bearer_url, {{"authorization", "Bearer " + unbound}}),
       Reason::kRequestInvalid, 400},
      {"method with a space", Req("GE T", bearer_url), Reason::kRequestInvalid, 400},
      {"relative URL", Req("GET", "/bearer/x"), Reason::kRequestInvalid, 400},
      {"ftp URL", Req("GET", "ftp://api.example/bearer/x"), Reason::kRequestInvalid, 400},
      {"no Authorization", Req("GET", bearer_url), Reason::kTokenMissing, 401},
      {"Basic scheme", Req("GET", bearer_url, {{"authorization", "Basic YTpi"}}),
       Reason::kTokenMissing, 401},
      {"Bearer without a token", Req("GET", bearer_url, {{"authorization", "Bearer"}}),
       Reason::kAuthorizationMalformed, 400},
      {"Bearer with two words", Req("GET", bearer_url, {{"authorization", "Bearer a b"}}),
       Reason::kAuthorizationMalformed, 400},
      {"two Authorization headers",
       Req("GET", bearer_url,
           {{"authorization", "Bearer " + unbound}, {"authorization", "Bearer " + unbound}}),
       Reason::kAuthorizationMultiple, 400},
      {"two credentials merged with a comma",
       Req("GET", bearer_url, {{"authorization", "Bearer " + unbound + ", Bearer " + unbound}}),
       Reason::kAuthorizationMultiple, 400},
      {"lower-case scheme", Req("GET", bearer_url, {{"authorization", "bearer " + unbound}}),
       Reason::kOk, 200},
      {"extra spaces", Req("GET", bearer_url, {{"authorization", "  Bearer   " + unbound + " "}}),
       Reason::kOk, 200},
      {"token invalid", Req("GET", bearer_url, {{"authorization", "Bearer a.b.c"}}),
       Reason::kTokenBadBase64, 401},
      {"DPoP scheme without a DPoP header",
       Req("GET", dpop_url, {{"authorization", "DPoP " + dpop_bound}}), Reason::kDpopProofMissing,
       401},
      {"two DPoP headers",
       Req("GET", dpop_url,
           {{"authorization", "DPoP " + dpop_bound},
            {"dpop", Proof("GET", dpop_url, dpop_bound)},
            {"dpop", Proof("GET", dpop_url, dpop_bound)}}),
       Reason::kDpopProofMultiple, 401},
      {"two proofs merged with a comma",
       Req("GET", dpop_url,
           {{"authorization", "DPoP " + dpop_bound},
            {"dpop",
             Proof("GET", dpop_url, dpop_bound) + "," + Proof("GET", dpop_url, dpop_bound)}}),
       Reason::kDpopProofMultiple, 401},
      {"proof for another token",
       Req("GET", dpop_url,
           {{"authorization", "DPoP " + dpop_bound}, {"dpop", Proof("GET", dpop_url, unbound)}}),
       Reason::kDpopAthMismatch, 401},
      {"proof for another method",
       Req("POST", dpop_url,
           {{"authorization", "DPoP " + dpop_bound}, {"dpop", Proof("GET", dpop_url, dpop_bound)}}),
       Reason::kDpopHtmMismatch, 401},
      {"proof too old",
       Req("GET", dpop_url,
           {{"authorization", "DPoP " + dpop_bound},
            {"dpop", Proof("GET", dpop_url, dpop_bound, kNow - absl::Minutes(2))}}),
       Reason::kDpopIatStale, 401},
      {"cert-bound token without a certificate",
       Req("GET", mtls_url, {{"authorization", "Bearer " + cert_bound}}), Reason::kMtlsCertMissing,
       401},
      {"cert-bound token with another certificate",
       with_cert(Req("GET", mtls_url, {{"authorization", "Bearer " + cert_bound}}),
                 HttpRequestInfo::CertKind::kThumbprint,
                 Base64UrlEncode(Sha256("another certificate"))),
       Reason::kMtlsThumbprintMismatch, 401},
      {"cert-bound token with a malformed thumbprint",
       with_cert(Req("GET", mtls_url, {{"authorization", "Bearer " + cert_bound}}),
                 HttpRequestInfo::CertKind::kThumbprint, "abc"),
       Reason::kMtlsCertInvalid, 401},
      {"cert-bound token with garbage PEM",
       with_cert(Req("GET", mtls_url, {{"authorization", "Bearer " + cert_bound}}),
                 HttpRequestInfo::CertKind::kPemOrDer, "-----BEGIN CERTIFICATE-----\nAAAA\n"),
       Reason::kMtlsCertInvalid, 401},
      {"cert-bound token, x-forwarded-client-cert not trusted",
       Req("GET", mtls_url,
           {{"authorization", "Bearer " + cert_bound},
            {"x-forwarded-client-cert", "Hash=" + HexEncode(Sha256("the client certificate"))}}),
       Reason::kMtlsCertMissing, 401},
      // Every binding a token carries must be proven.
      {"both bindings, no certificate",
       Req("GET", std::string(kOrigin) + "/bound/x",
           {{"authorization", "DPoP " + both},
            {"dpop", Proof("GET", std::string(kOrigin) + "/bound/x", both)}}),
       Reason::kMtlsCertMissing, 401},
      {"both bindings, no proof",
       with_cert(Req("GET", std::string(kOrigin) + "/bound/x", {{"authorization", "DPoP " + both}}),
                 HttpRequestInfo::CertKind::kThumbprint, kCertThumbprint),
       Reason::kDpopProofMissing, 401},
      {"both bindings proven",
       with_cert(Req("GET", std::string(kOrigin) + "/bound/x",
                     {{"authorization", "DPoP " + both},
                      {"dpop", Proof("GET", std::string(kOrigin) + "/bound/x", both)}}),
                 HttpRequestInfo::CertKind::kThumbprint, kCertThumbprint),
       Reason::kOk, 200},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), ReasonCode(c.want)) << d.message;
    EXPECT_EQ(d.http_status, c.status);
    EXPECT_EQ(d.allow, c.want == Reason::kOk);
  }
}

TEST_P(AuthenticatorTest, TrustedXfccGivesTheCertificate) {
  Config config = TestConfig();
  config.trusted_xfcc = true;
  Build(config);
  const std::string url = std::string(kOrigin) + "/mtls/x";
  const std::string token = Token(TokenKind::kCertBound);
  // Hash= is the hex SHA-256 of the DER; the test's "certificate" is opaque
  // bytes, so the thumbprint is derived from the same bytes.
  Decision d = Decide(
      Req("GET", url,
          {{"authorization", "Bearer " + token},
           {"x-forwarded-client-cert", "Hash=" + HexEncode(Sha256("the client certificate"))}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.binding, ProvenBinding::kMtls);
  d = Decide(Req("GET", url,
                 {{"authorization", "Bearer " + token},
                  {"x-forwarded-client-cert", "Hash=" + HexEncode(Sha256("x"))},
                  {"x-forwarded-client-cert", "Hash=" + HexEncode(Sha256("y"))}}));
  EXPECT_EQ(ReasonCode(d.reason), "mtls_cert_invalid") << d.message;
}

// With trusted_xfcc, the certificate named by x-forwarded-client-cert and
// the one the gateway passed itself must be the same certificate (issue 10
// item 12); popguard cannot tell which of two disagreeing sources is right.
TEST_P(AuthenticatorTest, TrustedXfccMustAgreeWithTheGatewayCertificate) {
  Config config = TestConfig();
  config.trusted_xfcc = true;
  Build(config);
  const std::string url = std::string(kOrigin) + "/mtls/x";
  const std::string token = Token(TokenKind::kCertBound);
  const std::string client_xfcc = "Hash=" + HexEncode(Sha256("the client certificate"));
  const std::string other_xfcc = "Hash=" + HexEncode(Sha256("another certificate"));
  const std::string other_thumbprint = Base64UrlEncode(Sha256("another certificate"));
  auto req = [&](std::string xfcc, HttpRequestInfo::CertKind kind, std::string cert) {
    return BearerXfccReq(url, token, std::move(xfcc), kind, std::move(cert));
  };
  using K = HttpRequestInfo::CertKind;
  const std::vector<ReasonCase> cases = {
      {"both name the client's certificate", req(client_xfcc, K::kThumbprint, kCertThumbprint),
       "ok"},
      {"XFCC names the client's, the gateway another",
       req(client_xfcc, K::kThumbprint, other_thumbprint), "mtls_cert_conflict"},
      {"the gateway names the client's, XFCC another",
       req(other_xfcc, K::kThumbprint, kCertThumbprint), "mtls_cert_conflict"},
      {"both name the same other certificate", req(other_xfcc, K::kThumbprint, other_thumbprint),
       "mtls_thumbprint_mismatch"},
      {"XFCC alone", req(client_xfcc, K::kNone, ""), "ok"},
      {"the gateway's certificate alone", req("", K::kThumbprint, kCertThumbprint), "ok"},
      {"the gateway's certificate is malformed", req(client_xfcc, K::kThumbprint, "abc"),
       "mtls_cert_invalid"},
  };
  ExpectReasons(cases);
}

// xfcc.element before_trusted_peer (Istio, policy on a workload): the client's
// certificate comes from the gateway's element, only when the sidecar's own
// element names a trusted gateway; the certificate the sidecar passes itself
// is the gateway's and must be the one its element names.
TEST_P(AuthenticatorTest, XfccBeforeTrustedPeer) {
  Config config = TestConfig();
  config.trusted_xfcc = true;
  config.xfcc.element = XfccElement::kBeforeTrustedPeer;
  config.xfcc.trusted_peers = {"spiffe://cluster.local/ns/istio-system/sa/ingress"};
  Build(config);
  const std::string url = std::string(kOrigin) + "/mtls/x";
  const std::string token = Token(TokenKind::kCertBound);
  const std::string client = "Hash=" + HexEncode(Sha256("the client certificate"));
  const std::string sidecar = "By=spiffe://cluster.local/ns/app/sa/api;Hash=" +
                              HexEncode(Sha256("the gateway certificate")) + ";URI=";
  const std::string gateway_thumbprint = Base64UrlEncode(Sha256("the gateway certificate"));
  using K = HttpRequestInfo::CertKind;
  auto req = [&](std::string xfcc, K kind = K::kNone, std::string cert = "") {
    return BearerXfccReq(url, token, std::move(xfcc), kind, std::move(cert));
  };
  const std::vector<ReasonCase> cases = {
      {"gateway's element, then the sidecar's naming the gateway",
       req(client + "," + sidecar + "spiffe://cluster.local/ns/istio-system/sa/ingress"), "ok"},
      {"the sidecar also passes the gateway's certificate itself",
       req(client + "," + sidecar + "spiffe://cluster.local/ns/istio-system/sa/ingress",
           K::kThumbprint, gateway_thumbprint),
       "ok"},
      {"the sidecar passes a certificate its element does not name",
       req(client + "," + sidecar + "spiffe://cluster.local/ns/istio-system/sa/ingress",
           K::kThumbprint, kCertThumbprint),
       "mtls_cert_conflict"},
      {"the hop is another workload",
       req(client + "," + sidecar + "spiffe://cluster.local/ns/app/sa/frontend"),
       "mtls_cert_invalid"},
      {"only the sidecar's element: no client certificate",
       req(sidecar + "spiffe://cluster.local/ns/istio-system/sa/ingress"), "mtls_cert_missing"},
      {"no header: the sidecar's own certificate is never the client's",
       req("", K::kThumbprint, kCertThumbprint), "mtls_cert_missing"},
      {"a single client element (today's shape) is not accepted here", req(client),
       "mtls_cert_invalid"},
  };
  ExpectReasons(cases);
}

// A DPoP header beside an unbound token sent as Bearer binds nothing and is
// not checked (docs/config.md, "DPoP"): checking it would only cost CPU. A
// DPoP-bound token sent as Bearer stays a downgrade, proof or not.
TEST_P(AuthenticatorTest, DpopHeaderBesideABearerToken) {
  const std::string url = std::string(kOrigin) + "/bearer/x";
  const std::string unbound = Token(TokenKind::kUnbound);
  const std::string dpop_bound = Token(TokenKind::kDpopBound);
  struct Case {
    std::string why;
    HttpRequestInfo req;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"unbound token, garbage DPoP header",
       Req("GET", url, {{"authorization", "Bearer " + unbound}, {"dpop", "not a proof"}}), "ok"},
      {"unbound token, a valid proof for it",
       Req("GET", url,
           {{"authorization", "Bearer " + unbound}, {"dpop", Proof("GET", url, unbound)}}),
       "ok"},
      {"DPoP-bound token, a valid proof for it",
       Req("GET", url,
           {{"authorization", "Bearer " + dpop_bound}, {"dpop", Proof("GET", url, dpop_bound)}}),
       "bearer_downgrade"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
    EXPECT_EQ(d.binding, ProvenBinding::kNone);
  }
}

TEST_P(AuthenticatorTest, WwwAuthenticateChallenges) {
  const std::string dpop_bound = Token(TokenKind::kDpopBound);
  struct Case {
    std::string why;
    HttpRequestInfo req;
    Reason want;
    int status;
    std::vector<std::string> challenges;
  };
  auto url = [](std::string_view path) { return std::string(kOrigin) + std::string(path); };
  JsonValue read_only = WithMember(unit::TokenClaims(kNow), "scope", Str("read"));
  const std::vector<Case> cases = {
      // No credential: every scheme the route accepts, without an error code
      // (RFC 6750 section 3.1), DPoP with its algorithms (RFC 9449 7.1).
      {"token missing, bound route",
       Req("GET", url("/bound/x")),
       Reason::kTokenMissing,
       401,
       {std::string("DPoP ") + kAlgs, "Bearer"}},
      {"token missing, bearer route",
       Req("GET", url("/bearer/x")),
       Reason::kTokenMissing,
       401,
       {std::string("DPoP ") + kAlgs, "Bearer"}},
      {"token missing, dpop route",
       Req("GET", url("/dpop/x")),
       Reason::kTokenMissing,
       401,
       {std::string("DPoP ") + kAlgs}},
      {"token missing, mtls route",
       Req("GET", url("/mtls/x")),
       Reason::kTokenMissing,
       401,
       {"Bearer"}},
      {"token missing, default route (bound)",
       Req("GET", url("/elsewhere")),
       Reason::kTokenMissing,
       401,
       {std::string("DPoP ") + kAlgs, "Bearer"}},
      {"authorization_multiple on a bound route",
       Req("GET", url("/bound/x"), {{"authorization", "Bearer a"}, {"authorization", "Bearer b"}}),
       Reason::kAuthorizationMultiple,
       400,
       {std::string(
            R"(DPoP error="invalid_request", error_description="authorization_multiple", )") +
            kAlgs,
        R"(Bearer error="invalid_request", error_description="authorization_multiple")"}},
      {"authorization_malformed with the DPoP scheme",
       Req("GET", url("/bound/x"), {{"authorization", "DPoP"}}),
       Reason::kAuthorizationMalformed,
       400,
       {std::string(
            R"(DPoP error="invalid_request", error_description="authorization_malformed", )") +
        kAlgs}},
      {"expired Bearer token: only the scheme used",
       Req("GET", url("/bearer/x"),
           {{"authorization", "Bearer " + Token(WithMember(unit::TokenClaims(kNow), "exp",
                                                           unit::Secs(kNow - absl::Hours(1))))}}),
       Reason::kTokenExpired,
       401,
       {R"(Bearer error="invalid_token", error_description="token_expired")"}},
      {"bearer downgrade: told to use DPoP",
       Req("GET", url("/bearer/x"), {{"authorization", "Bearer " + dpop_bound}}),
       Reason::kBearerDowngrade,
       401,
       {std::string(R"(DPoP error="invalid_token", error_description="bearer_downgrade", )") +
        kAlgs}},
      {"invalid proof",
       Req("GET", url("/dpop/x"),
           {{"authorization", "DPoP " + dpop_bound},
            {"dpop", Proof("GET", url("/dpop/other"), dpop_bound)}}),
       Reason::kDpopHtuMismatch,
       401,
       {std::string(R"(DPoP error="invalid_dpop_proof", error_description="dpop_htu_mismatch", )") +
        kAlgs}},
      {"insufficient scope with the required scopes",
       Req("GET", url("/scoped/x"), {{"authorization", "Bearer " + Token(read_only)}}),
       Reason::kInsufficientScope,
       403,
       {R"(Bearer error="insufficient_scope", error_description="insufficient_scope", )"
        R"(scope="read write")"}},
      {"request invalid: no route, both schemes",
       Req("", url("/mtls/x")),
       Reason::kRequestInvalid,
       400,
       {std::string(R"(DPoP error="invalid_request", error_description="request_invalid", )") +
            kAlgs,
        R"(Bearer error="invalid_request", error_description="request_invalid")"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), ReasonCode(c.want)) << d.message;
    EXPECT_EQ(d.http_status, c.status);
    EXPECT_EQ(Challenges(d), c.challenges);
    EXPECT_TRUE(d.upstream_headers.empty());
  }
}

TEST_P(AuthenticatorTest, ReplayedProof) {
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  HttpRequestInfo req = DpopReq(url, token);
  Decision first = Decide(req);
  ASSERT_EQ(ReasonCode(first.reason), "ok") << first.message;
  EXPECT_EQ(replay_->Size(), 1u);
  Decision second = Decide(req);
  EXPECT_EQ(ReasonCode(second.reason), "dpop_replayed");
  EXPECT_FALSE(second.allow);
  EXPECT_EQ(second.http_status, 401);
  EXPECT_EQ(
      Challenges(second),
      (std::vector<std::string>{
          std::string(R"(DPoP error="invalid_dpop_proof", error_description="dpop_replayed", )") +
          kAlgs}));
  EXPECT_TRUE(second.upstream_headers.empty());
  // Still replayed at the last second of the window; a proof that old is
  // refused as stale once the window has passed.
  clock_.Set(kNow + absl::Seconds(60));
  EXPECT_EQ(ReasonCode(Decide(req).reason), "dpop_replayed");
  clock_.Set(kNow + absl::Seconds(61));
  EXPECT_EQ(ReasonCode(Decide(req).reason), "dpop_iat_stale");
  // A proof refused for another reason does not consume its jti.
  clock_.Set(kNow);
  HttpRequestInfo fresh = DpopReq(url, token);
  HttpRequestInfo wrong_method = fresh;
  wrong_method.method = "POST";
  EXPECT_EQ(ReasonCode(Decide(wrong_method).reason), "dpop_htm_mismatch");
  EXPECT_EQ(ReasonCode(Decide(fresh).reason), "ok");
}

TEST_P(AuthenticatorTest, ReplayStoreFull) {
  Build(TestConfig(), /*replay_entries=*/1, /*replay_shards=*/1);
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  Decision first = Decide(DpopReq(url, token));
  ASSERT_EQ(ReasonCode(first.reason), "ok") << first.message;
  Decision second = Decide(DpopReq(url, token));
  EXPECT_EQ(ReasonCode(second.reason), "replay_store_full");
  EXPECT_FALSE(second.allow);
  EXPECT_EQ(second.http_status, 503);
  EXPECT_TRUE(Challenges(second).empty());  // a server problem, not the client's
  EXPECT_TRUE(second.upstream_headers.empty());
  // Bearer requests do not need the store.
  Decision bearer = Decide(Req("GET", std::string(kOrigin) + "/bearer/x",
                               {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}));
  EXPECT_EQ(ReasonCode(bearer.reason), "ok") << bearer.message;
}

TEST_P(AuthenticatorTest, ReportOnly) {
  const std::string url = std::string(kOrigin) + "/report/x";
  const std::vector<std::string> all_headers = {"x-popguard-sub", "x-popguard-client-id",
                                                "x-popguard-scope", "x-popguard-binding",
                                                "x-popguard-issuer"};
  // Would deny: binding required (a bearer token on a dpop route).
  Decision d = Decide(Req("GET", url, {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}));
  EXPECT_TRUE(d.allow);
  EXPECT_TRUE(d.report_only);
  EXPECT_EQ(ReasonCode(d.reason), "binding_required");
  EXPECT_EQ(d.route, "report");
  EXPECT_TRUE(d.response_headers.empty());
  EXPECT_TRUE(d.upstream_headers.empty());               // nothing was proven
  EXPECT_EQ(d.upstream_headers_to_remove, all_headers);  // client copies stripped
  // Would deny: no token at all.
  d = Decide(Req("GET", url));
  EXPECT_TRUE(d.allow);
  EXPECT_TRUE(d.report_only);
  EXPECT_EQ(ReasonCode(d.reason), "token_missing");
  EXPECT_EQ(d.upstream_headers_to_remove, all_headers);
  // Would allow: a normal allow, not marked report-only.
  d = Decide(DpopReq(url, Token(TokenKind::kDpopBound)));
  EXPECT_TRUE(d.allow);
  EXPECT_FALSE(d.report_only);
  EXPECT_EQ(ReasonCode(d.reason), "ok");
  EXPECT_FALSE(d.upstream_headers.empty());
  // Report-only is per route: the same request elsewhere is denied.
  d = Decide(Req("GET", std::string(kOrigin) + "/dpop/x",
                 {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}));
  EXPECT_FALSE(d.allow);
  EXPECT_FALSE(d.report_only);
}

// A report-only would-deny lets the request through but carries no identity
// (issue 10 item 11): a gateway or upstream reading principal, issuer or an
// identity header from it would trust a token popguard refused, e.g. a stolen
// DPoP-bound token replayed as Bearer.
TEST_P(AuthenticatorTest, ReportOnlyWouldDenyCarriesNoIdentity) {
  const std::string url = std::string(kOrigin) + "/report/x";
  const std::string dpop_bound = Token(TokenKind::kDpopBound);
  unit::ProofOptions foreign;
  foreign.htu = url;
  foreign.jti = unit::UniqueId("jti");
  foreign.access_token = dpop_bound;
  struct Case {
    std::string why;
    HttpRequestInfo req;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"bearer downgrade of a DPoP-bound token",
       Req("GET", url, {{"authorization", "Bearer " + dpop_bound}}), "bearer_downgrade"},
      {"unbound token on a DPoP route",
       Req("GET", url, {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}),
       "binding_required"},
      {"proof under another key",
       Req("GET", url,
           {{"authorization", "DPoP " + dpop_bound},
            {"dpop", unit::MintProof(SharedKey(JwsAlg::kES256, 8), foreign)}}),
       "dpop_jkt_mismatch"},
      {"proof for another method",
       Req("POST", url,
           {{"authorization", "DPoP " + dpop_bound}, {"dpop", Proof("GET", url, dpop_bound)}}),
       "dpop_htm_mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
    EXPECT_TRUE(d.allow);
    EXPECT_TRUE(d.report_only);
    EXPECT_EQ(d.principal, "");
    EXPECT_EQ(d.issuer, "");
    EXPECT_EQ(d.client_id, "");
    EXPECT_EQ(d.jkt, "");
    EXPECT_EQ(d.binding, ProvenBinding::kNone);
    EXPECT_TRUE(d.upstream_headers.empty());
    EXPECT_FALSE(d.upstream_headers_to_remove.empty());  // client copies stripped
  }
  // The same token proven on the same route: a normal allow, with identity.
  Decision d = Decide(DpopReq(url, dpop_bound));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_FALSE(d.report_only);
  EXPECT_EQ(d.principal, "alice");
  EXPECT_EQ(d.issuer, unit::kIssuer);
  EXPECT_EQ(d.binding, ProvenBinding::kDpop);
}

// Denials of a parsed proof name its key (jkt) for the log (issue 14): the
// thumbprint of the key the proof carries, also before its signature is
// checked (htm/htu mismatch); "" when no proof got that far.
TEST_P(AuthenticatorTest, ProofDenialsNameTheProofKey) {
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  const PrivateKey& other_key = SharedKey(JwsAlg::kES256, 8);
  struct Case {
    std::string why;
    HttpRequestInfo req;
    Reason want;
    std::string jkt;
  };
  const std::vector<Case> cases = {
      {"proof for another URL",
       Req("GET", url,
           {{"authorization", "DPoP " + token},
            {"dpop", Proof("GET", std::string(kOrigin) + "/dpop/other", token)}}),
       Reason::kDpopHtuMismatch, ProofKey().Thumbprint()},
      {"proof for another method",
       Req("POST", url, {{"authorization", "DPoP " + token}, {"dpop", Proof("GET", url, token)}}),
       Reason::kDpopHtmMismatch, ProofKey().Thumbprint()},
      {"proof under another key",
       Req("GET", url,
           {{"authorization", "DPoP " + token},
            {"dpop", unit::MintProof(other_key, ProofOptionsFor(url, token))}}),
       Reason::kDpopJktMismatch, other_key.Thumbprint()},
      {"no proof", Req("GET", url, {{"authorization", "DPoP " + token}}), Reason::kDpopProofMissing,
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), ReasonCode(c.want)) << d.message;
    EXPECT_EQ(d.jkt, c.jkt);
    EXPECT_EQ(d.principal, "alice");
  }
}

TEST_P(AuthenticatorTest, DefaultReportOnly) {
  Config config = TestConfig();
  config.default_report_only = true;
  Build(config);
  Decision d = Decide(Req("GET", std::string(kOrigin) + "/unrouted"));
  EXPECT_EQ(d.route, "default");
  EXPECT_TRUE(d.allow);
  EXPECT_TRUE(d.report_only);
  EXPECT_EQ(ReasonCode(d.reason), "token_missing");
}

TEST_P(AuthenticatorTest, UpstreamHeadersSetAndRemoved) {
  const std::string url = std::string(kOrigin) + "/bearer/x";
  Decision d = Decide(Req(
      "GET", url,
      {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}, {"x-popguard-sub", "mallory"}}));
  ASSERT_EQ(ReasonCode(d.reason), "ok") << d.message;
  // The default headers carry the issuer beside sub (issue 10 item 13: with several
  // issuers, sub alone does not name the caller).
  EXPECT_EQ(d.upstream_headers, (HeaderList{{"x-popguard-sub", "alice"},
                                            {"x-popguard-client-id", "client-1"},
                                            {"x-popguard-scope", "read write"},
                                            {"x-popguard-binding", "none"},
                                            {"x-popguard-issuer", unit::kIssuer}}));
  EXPECT_TRUE(d.upstream_headers_to_remove.empty());

  // Headers popguard does not set are removed, so a client's copies never
  // reach the upstream.
  JsonValue sparse = WithoutMember(WithoutMember(unit::TokenClaims(kNow), "client_id"), "scope");
  d = Decide(Req("GET", url, {{"authorization", "Bearer " + Token(sparse)}}));
  ASSERT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.upstream_headers, (HeaderList{{"x-popguard-sub", "alice"},
                                            {"x-popguard-binding", "none"},
                                            {"x-popguard-issuer", unit::kIssuer}}));
  EXPECT_EQ(d.upstream_headers_to_remove,
            (std::vector<std::string>{"x-popguard-client-id", "x-popguard-scope"}));
}

TEST_P(AuthenticatorTest, ComputedUpstreamHeaders) {
  Config config = TestConfig();
  config.upstream_headers = {{"x-iss", "@issuer"},      {"x-who", "@principal"},
                             {"x-route", "@route"},     {"x-jkt", "@jkt"},
                             {"x-binding", "@binding"}, {"x-tenant", "tenant"}};
  Build(config);
  const std::string dpop_url = std::string(kOrigin) + "/dpop/x";
  JsonValue claims =
      WithMember(WithoutMember(Claims(TokenKind::kDpopBound), "sub"), "tenant", Str("acme"));
  Decision d = Decide(DpopReq(dpop_url, Token(claims)));
  ASSERT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.upstream_headers, (HeaderList{{"x-iss", unit::kIssuer},
                                            {"x-who", "client-1"},
                                            {"x-route", "dpop"},
                                            {"x-jkt", ProofKey().Thumbprint()},
                                            {"x-binding", "dpop"},
                                            {"x-tenant", "acme"}}));
  EXPECT_TRUE(d.upstream_headers_to_remove.empty());

  d = Decide(Req("GET", std::string(kOrigin) + "/bearer/x",
                 {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}));
  ASSERT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.upstream_headers, (HeaderList{{"x-iss", unit::kIssuer},
                                            {"x-who", "alice"},
                                            {"x-route", "bearer"},
                                            {"x-binding", "none"}}));
  EXPECT_EQ(d.upstream_headers_to_remove, (std::vector<std::string>{"x-jkt", "x-tenant"}));
}

TEST_P(AuthenticatorTest, RouteSelectionUsesEveryReadingOfThePath) {
  const struct {
    const char* path;
    const char* route;
    const char* reason;
  } cases[] = {
      {"/admin", "admin", "token_missing"},
      {"/admin/x", "admin", "token_missing"},
      {"/admin?q=1", "admin", "token_missing"},
      {"/admin/a%2Fb", "admin", "token_missing"},  // every reading is under /admin
      {"/admin/x/../y", "admin", "token_missing"},
      // Upstreams often decode %2F, merge slashes, resolve dot segments and
      // drop ";params", while Envoy routes on the path as sent: when those
      // readings select different routes, the request is refused whatever
      // route it would have got (service/authn/route_path.h).
      {"/admin%2Fx", "none", "path_ambiguous"},
      {"/admin%2fx", "none", "path_ambiguous"},
      {"//admin", "none", "path_ambiguous"},
      {"///admin//x", "none", "path_ambiguous"},
      {"/public/../admin", "none", "path_ambiguous"},
      {"/public/%2E%2E/admin", "none", "path_ambiguous"},
      {"/public/..%2Fadmin", "none", "path_ambiguous"},
      {"/public/./../admin/x", "none", "path_ambiguous"},
      {"/%61dmin", "none", "path_ambiguous"},
      {"/report/..%2Fpublic", "none", "path_ambiguous"},  // report_only does not apply
      {"/public/x", "public", "token_missing"},
      {"/public", "public", "token_missing"},
      {"/administrator", "default", "token_missing"},
      {"/ADMIN", "default", "token_missing"},
      {"/", "default", "token_missing"},
      {"", "default", "token_missing"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    Decision d = Decide(Req("GET", std::string(kOrigin) + c.path));
    EXPECT_EQ(d.route, c.route);
    EXPECT_EQ(ReasonCode(d.reason), c.reason);
    EXPECT_EQ(d.allow, std::string_view(c.reason) == "ok");
  }
  // Envoy's pieces: the path as sent is the request target.
  HttpRequestInfo pieces;
  pieces.method = "GET";
  pieces.scheme = "https";
  pieces.authority = "api.example";
  pieces.path = "/admin/..%2Fpublic/x?q=1";
  Decision d = Decide(pieces);
  EXPECT_EQ(ReasonCode(d.reason), "path_ambiguous");
  EXPECT_EQ(d.http_status, 400);
  // The route key selects its route wherever the path points.
  HttpRequestInfo keyed = Req("GET", std::string(kOrigin) + "/anything");
  keyed.route_key = "k1";
  EXPECT_EQ(Decide(keyed).route, "keyed");
  // A scope-protected route is not escaped through an encoded path.
  d = Decide(Req("GET", std::string(kOrigin) + "/admin/..%2Fpublic/x",
                 {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}));
  EXPECT_FALSE(d.allow);
  EXPECT_EQ(ReasonCode(d.reason), "path_ambiguous");
}

TEST_P(AuthenticatorTest, CaseInsensitiveRoute) {
  Config config = TestConfig();
  RouteConfig upper = Route("upper", "/Secure", BindingRequirement::kDpop);
  upper.match.case_insensitive = true;
  config.routes.insert(config.routes.begin(), upper);
  config.default_binding = BindingRequirement::kBearer;
  Build(config);
  const std::string token = Token(TokenKind::kUnbound);
  const struct {
    const char* path;
    const char* route;
    const char* reason;
  } cases[] = {
      {"/secure/x", "upper", "binding_required"},
      {"/SECURE", "upper", "binding_required"},
      {"/sEcUrE/x", "upper", "binding_required"},
      {"/securex", "default", "ok"},
      // Without case_insensitive a route protects only the exact case.
      {"/ADMIN/x", "default", "ok"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path);
    Decision d =
        Decide(Req("GET", std::string(kOrigin) + c.path, {{"authorization", "Bearer " + token}}));
    EXPECT_EQ(d.route, c.route);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
  }
}

TEST_P(AuthenticatorTest, EnvoyStyleRequestPieces) {
  const std::string token = Token(TokenKind::kDpopBound);
  HttpRequestInfo req;
  req.method = "GET";
  req.scheme = "https";
  req.authority = "API.example:443";
  req.path = "/dpop/x?page=2";
  req.headers = {{"authorization", "DPoP " + token},
                 {"dpop", Proof("GET", std::string(kOrigin) + "/dpop/x", token)}};
  Decision d = Decide(req);
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.route, "dpop");
}

TEST_P(AuthenticatorTest, ExternalOrigin) {
  Config config = TestConfig();
  config.external_origin = NormalizeAbsoluteUrl("https://api.example").value();
  Build(config);
  const std::string internal = "http://10.0.0.7:8080/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  Decision d = Decide(Req("GET", internal,
                          {{"authorization", "DPoP " + token},
                           {"dpop", Proof("GET", "https://api.example/dpop/x", token)}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.route, "dpop");
  // A proof for the internal URL no longer matches.
  d = Decide(Req("GET", internal,
                 {{"authorization", "DPoP " + token}, {"dpop", Proof("GET", internal, token)}}));
  EXPECT_EQ(ReasonCode(d.reason), "dpop_htu_mismatch") << d.message;
  // The external origin wins over forwarding headers.
  config.trusted_forwarded_headers = true;
  Build(config);
  d = Decide(Req("GET", internal,
                 {{"authorization", "DPoP " + token},
                  {"x-forwarded-proto", "http"},
                  {"x-forwarded-host", "evil.example"},
                  {"dpop", Proof("GET", "https://api.example/dpop/x", token)}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
}

TEST_P(AuthenticatorTest, ForwardedHeadersOnlyWhenTrusted) {
  const std::string internal = "http://internal:8080/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  auto request = [&](std::string_view htu,
                     std::vector<std::pair<std::string, std::string>> forwarded) {
    HttpRequestInfo r = Req(
        "GET", internal, {{"authorization", "DPoP " + token}, {"dpop", Proof("GET", htu, token)}});
    for (auto& h : forwarded) r.headers.push_back(std::move(h));
    return r;
  };
  const std::vector<std::pair<std::string, std::string>> forwarded = {
      {"x-forwarded-proto", "https"}, {"x-forwarded-host", "api.example"}};

  // Default (false): X-Forwarded-* are ignored, the URL is the gateway's.
  Decision d = Decide(request("https://api.example/dpop/x", forwarded));
  EXPECT_EQ(ReasonCode(d.reason), "dpop_htu_mismatch") << d.message;
  d = Decide(request(internal, forwarded));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;

  Config config = TestConfig();
  config.trusted_forwarded_headers = true;
  Build(config);
  d = Decide(request("https://api.example/dpop/x", forwarded));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  d = Decide(request(internal, forwarded));
  EXPECT_EQ(ReasonCode(d.reason), "dpop_htu_mismatch") << d.message;
  // A proto alone keeps the gateway's host and port.
  d = Decide(request("https://internal:8080/dpop/x", {{"x-forwarded-proto", "https"}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  d = Decide(request("http://api.example/dpop/x", {{"x-forwarded-host", "api.example"}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  // A forwarded scheme popguard cannot use makes the request invalid.
  d = Decide(request("https://api.example/dpop/x", {{"x-forwarded-proto", "gopher"}}));
  EXPECT_EQ(ReasonCode(d.reason), "request_invalid") << d.message;
}

// A trusted forwarded header must be one header with one value: with append
// semantics the first element is the client's (issue 10 item 10).
TEST_P(AuthenticatorTest, ForwardedHeaderListsAreRefused) {
  Config config = TestConfig();
  config.trusted_forwarded_headers = true;
  Build(config);
  const std::string internal = "http://internal:8080/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  const struct {
    const char* name;
    std::vector<std::pair<std::string, std::string>> forwarded;
    bool merged;  // Envoy's headers map: repeats joined with ","
  } cases[] = {
      {"host list", {{"x-forwarded-host", "evil.example, api.example"}}, false},
      {"host list without space", {{"x-forwarded-host", "evil.example,api.example"}}, false},
      {"host repeated",
       {{"x-forwarded-host", "evil.example"}, {"x-forwarded-host", "api.example"}},
       false},
      {"host merged by envoy", {{"x-forwarded-host", "evil.example,api.example"}}, true},
      {"proto list",
       {{"x-forwarded-proto", "http, https"}, {"x-forwarded-host", "api.example"}},
       false},
      {"proto repeated", {{"x-forwarded-proto", "http"}, {"x-forwarded-proto", "https"}}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequestInfo r = Req("GET", internal,
                            {{"authorization", "DPoP " + token},
                             {"dpop", Proof("GET", "https://api.example/dpop/x", token)}});
    for (const auto& h : c.forwarded) r.headers.push_back(h);
    r.merged_headers = c.merged;
    Decision d = Decide(r);
    EXPECT_EQ(ReasonCode(d.reason), "forwarded_header_invalid") << d.message;
    EXPECT_EQ(d.http_status, 400);
  }
  // Not trusted: the same headers are ignored.
  Build(TestConfig());
  HttpRequestInfo r = Req("GET", internal,
                          {{"authorization", "DPoP " + token},
                           {"dpop", Proof("GET", internal, token)},
                           {"x-forwarded-host", "evil.example, api.example"},
                           {"x-forwarded-host", "a.example"}});
  EXPECT_EQ(ReasonCode(Decide(r).reason), "ok");
}

// Routes match the request's own host (or the trusted forwarded host), never
// external_origin, which only feeds the htu comparison (issue 10 item 2).
TEST_P(AuthenticatorTest, RoutesMatchTheRequestHost) {
  Config config = TestConfig();
  RouteConfig admin_host = Route("admin-host", "", BindingRequirement::kDpop);
  admin_host.match.host = "admin.example";
  config.routes.insert(config.routes.begin(), admin_host);
  config.default_binding = BindingRequirement::kBearer;
  config.external_origin = NormalizeAbsoluteUrl("https://api.example").value();
  Build(config);
  const std::string bearer = "Bearer " + Token(TokenKind::kUnbound);
  Decision d = Decide(Req("GET", "https://admin.example/x", {{"authorization", bearer}}));
  EXPECT_EQ(d.route, "admin-host");
  EXPECT_EQ(ReasonCode(d.reason), "binding_required") << d.message;
  d = Decide(Req("GET", "https://other.example/x", {{"authorization", bearer}}));
  EXPECT_EQ(d.route, "default");
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  // The htu is still the external origin's.
  const std::string token = Token(TokenKind::kDpopBound);
  d = Decide(Req("GET", "http://admin.example:8080/x",
                 {{"authorization", "DPoP " + token},
                  {"dpop", Proof("GET", "https://api.example/x", token)}}));
  EXPECT_EQ(d.route, "admin-host");
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;

  // With trusted forwarding headers, the forwarded host selects the route.
  config.external_origin.reset();
  config.trusted_forwarded_headers = true;
  Build(config);
  d = Decide(Req("GET", "http://internal:8080/x",
                 {{"authorization", bearer}, {"x-forwarded-host", "admin.example"}}));
  EXPECT_EQ(d.route, "admin-host");
  EXPECT_EQ(ReasonCode(d.reason), "binding_required") << d.message;
}

// Routes name the issuers they accept; a token of another configured issuer
// is refused before its signature is checked (issue 10 item 13).
TEST_P(AuthenticatorTest, RouteIssuers) {
  constexpr char kPartner[] = "https://partner.example";
  Config config = TestConfig();
  IssuerConfig partner = config.issuers[0];
  partner.issuer = kPartner;
  config.issuers.push_back(partner);
  RouteConfig payments = Route("payments", "/payments", BindingRequirement::kBearer, {"pay"});
  payments.issuers = {unit::kIssuer};
  config.routes.insert(config.routes.begin(), payments);
  config.upstream_headers = {{"x-popguard-sub", "sub"}, {"x-popguard-iss", "@issuer"}};
  Build(config);
  auto token = [&](const std::string& iss) {
    JsonValue claims = WithMember(Claims(TokenKind::kUnbound), "iss", Str(iss));
    return Token(WithMember(claims, "scope", Str("pay")));
  };
  std::string forged = token(kPartner);
  char& sig = forged[forged.rfind('.') + 5];  // the signature no longer verifies
  sig = sig == 'A' ? 'B' : 'A';
  const struct {
    const char* name;
    std::string token;
    const char* path;
    const char* reason;
  } cases[] = {
      {"own issuer", token(unit::kIssuer), "/payments/x", "ok"},
      {"partner issuer", token(kPartner), "/payments/x", "token_issuer_not_allowed"},
      {"partner, bad signature: refused before the signature", forged, "/payments/x",
       "token_issuer_not_allowed"},
      {"partner on a route without a list", token(kPartner), "/public/x", "ok"},
      {"unknown issuer", token("https://unknown.example"), "/payments/x", "token_issuer_unknown"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Decision d =
        Decide(Req("GET", std::string(kOrigin) + c.path, {{"authorization", "Bearer " + c.token}}));
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
  }
  // A cached token of the partner is refused the same way.
  const std::string cached = token(kPartner);
  ASSERT_EQ(ReasonCode(Decide(Req("GET", std::string(kOrigin) + "/public/x",
                                  {{"authorization", "Bearer " + cached}}))
                           .reason),
            "ok");
  Decision d = Decide(
      Req("GET", std::string(kOrigin) + "/payments/x", {{"authorization", "Bearer " + cached}}));
  EXPECT_EQ(ReasonCode(d.reason), "token_issuer_not_allowed");
  EXPECT_EQ(d.http_status, 401);
  // The upstream learns which issuer vouched for the subject.
  d = Decide(Req("GET", std::string(kOrigin) + "/public/x",
                 {{"authorization", "Bearer " + token(kPartner)}}));
  EXPECT_EQ(d.upstream_headers,
            (HeaderList{{"x-popguard-sub", "alice"}, {"x-popguard-iss", kPartner}}));
}

TEST_P(AuthenticatorTest, ShadowedRoutesAreWarnedAbout) {
  Config config = TestConfig();
  config.routes.push_back(Route("admin-users", "/admin/users", BindingRequirement::kMtls));
  std::vector<std::string> warnings;
  auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, replay_.get(),
                                 &warnings, nullptr, nullptr);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(warnings, std::vector<std::string>{
                          "route \"admin-users\" (routes[9]) can never match: earlier route "
                          "\"admin\" takes every request it matches"});
}

TEST_P(AuthenticatorTest, CacheSizesComeFromTheConfig) {
  EXPECT_EQ(auth_->dpop().key_cache().capacity(), ProofKeyCache::kDefaultCapacity);
  EXPECT_EQ(auth_->cert_thumbprints().capacity(), CertThumbprintCache::kDefaultCapacity);
  Config config = TestConfig();
  config.proof_key_cache_entries = 7;
  config.cert_thumbprint_cache_entries = 0;
  Build(config);
  EXPECT_EQ(auth_->dpop().key_cache().capacity(), 7u);
  EXPECT_EQ(auth_->cert_thumbprints().capacity(), 0u);
  // Caches off or small, decisions are the same.
  Decision d = Decide(DpopReq(std::string(kOrigin) + "/dpop/x", Token(TokenKind::kDpopBound)));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
}

TEST_P(AuthenticatorTest, DecideCallsDoneExactlyOnce) {
  std::atomic<int> calls{0};
  Decision got;
  absl::Notification decided;
  // A token the cache has not seen and a proof: with a scheduler both
  // signatures are verified on workers, after the request below is gone.
  auth_->Decide(DpopReq(std::string(kOrigin) + "/dpop/x", Token(TokenKind::kDpopBound)),
                [&](Decision d) {
                  if (calls.fetch_add(1) == 0) {
                    got = std::move(d);
                    decided.Notify();
                  }
                });
  // Inline: the memory store completes inline, so `done` has run already.
  if (!GetParam()) {
    EXPECT_EQ(calls.load(), 1);
  }
  ASSERT_TRUE(decided.WaitForNotificationWithTimeout(absl::Seconds(30)));
  scheduler_.reset();  // joins the workers: no call can still be on its way
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ReasonCode(got.reason), "ok") << got.message;
}

class AuthenticatorNonceTest : public AuthenticatorTest {
 protected:
  void SetUp() override {
    secret_path_ = ::testing::TempDir() + "/popguard_unit_nonce_secret";
    std::ofstream(secret_path_, std::ios::binary) << secret_;
    Config config = TestConfig();
    config.dpop.nonce.required = true;
    config.dpop.nonce.secret_file = secret_path_;
    config.dpop.nonce.step = absl::Seconds(30);
    Build(config);
  }
  void TearDown() override { std::remove(secret_path_.c_str()); }

  const std::string secret_ = std::string(40, 'n');
  std::string secret_path_;
};

TEST_P(AuthenticatorNonceTest, NonceRequired) {
  const DpopNonces nonces(secret_, absl::Seconds(30));
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  Decision d = Decide(DpopReq(url, token));
  EXPECT_EQ(ReasonCode(d.reason), "dpop_nonce_missing");
  EXPECT_EQ(d.http_status, 401);
  EXPECT_EQ(
      d.response_headers,
      (HeaderList{
          {"www-authenticate",
           std::string(R"(DPoP error="use_dpop_nonce", error_description="dpop_nonce_missing", )") +
               kAlgs},
          {"dpop-nonce", nonces.Current(kNow)}}));

  unit::ProofOptions o;
  o.htu = url;
  o.jti = unit::UniqueId("jti");
  o.access_token = token;
  o.nonce = nonces.Current(kNow);
  d = Decide(Req("GET", url,
                 {{"authorization", "DPoP " + token}, {"dpop", unit::MintProof(ProofKey(), o)}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  // Every success hands out the current nonce.
  EXPECT_EQ(d.response_headers, (HeaderList{{"dpop-nonce", nonces.Current(kNow)}}));

  o.jti = unit::UniqueId("jti");
  o.nonce = "stale";
  d = Decide(Req("GET", url,
                 {{"authorization", "DPoP " + token}, {"dpop", unit::MintProof(ProofKey(), o)}}));
  EXPECT_EQ(ReasonCode(d.reason), "dpop_nonce_invalid");
  EXPECT_EQ(d.response_headers.back(),
            (std::pair<std::string, std::string>{"dpop-nonce", nonces.Current(kNow)}));
}

// RFC 9449 section 8.2: a proof carrying the previous step's nonce (accepted
// until the end of this step) is allowed, and the ALLOW offers this step's
// nonce before the old one expires.
TEST_P(AuthenticatorNonceTest, AllowOffersAFreshNonceBeforeTheOldOneExpires) {
  const DpopNonces nonces(secret_, absl::Seconds(30));
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  const std::string previous = nonces.Current(kNow - absl::Seconds(30));
  ASSERT_NE(previous, nonces.Current(kNow));
  unit::ProofOptions o;
  o.htu = url;
  o.jti = unit::UniqueId("jti");
  o.access_token = token;
  o.nonce = previous;
  Decision d = Decide(Req(
      "GET", url, {{"authorization", "DPoP " + token}, {"dpop", unit::MintProof(ProofKey(), o)}}));
  EXPECT_EQ(ReasonCode(d.reason), "ok") << d.message;
  EXPECT_EQ(d.response_headers, (HeaderList{{"dpop-nonce", nonces.Current(kNow)}}));
}

// cors_expose_headers: answers that carry WWW-Authenticate or DPoP-Nonce also
// expose them to a browser's script; answers without either are unchanged.
TEST_P(AuthenticatorNonceTest, CorsExposeHeaders) {
  Config config = TestConfig();
  config.dpop.nonce.required = true;
  config.dpop.nonce.secret_file = secret_path_;
  config.cors_expose_headers = true;
  Build(config);
  const DpopNonces nonces(secret_, absl::Seconds(30));
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  const std::pair<std::string, std::string> expose = {"access-control-expose-headers",
                                                      "DPoP-Nonce, WWW-Authenticate"};
  auto proof = [&](std::string nonce) {
    unit::ProofOptions o;
    o.htu = url;
    o.jti = unit::UniqueId("jti");
    o.access_token = token;
    o.nonce = std::move(nonce);
    return unit::MintProof(ProofKey(), o);
  };
  struct Case {
    std::string why;
    HttpRequestInfo req;
    std::string reason;
    HeaderList headers;
  };
  const std::vector<Case> cases = {
      {"nonce challenge",
       DpopReq(url, token),
       "dpop_nonce_missing",
       {{"www-authenticate",
         std::string(R"(DPoP error="use_dpop_nonce", error_description="dpop_nonce_missing", )") +
             kAlgs},
        {"dpop-nonce", nonces.Current(kNow)},
        expose}},
      {"denial with a challenge",
       Req("GET", url, {}),
       "token_missing",
       {{"www-authenticate", std::string("DPoP ") + kAlgs}, expose}},
      {"allow with a nonce",
       Req("GET", url, {{"authorization", "DPoP " + token}, {"dpop", proof(nonces.Current(kNow))}}),
       "ok",
       {{"dpop-nonce", nonces.Current(kNow)}, expose}},
      {"allow without either header",
       Req("GET", std::string(kOrigin) + "/public/x",
           {{"authorization", "Bearer " + Token(TokenKind::kUnbound)}}),
       "ok",
       {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    Decision d = Decide(c.req);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
    EXPECT_EQ(d.response_headers, c.headers);
  }
}

TEST_P(AuthenticatorTest, NonceRequiredWithoutSecretFileIsAConfigError) {
  Config config = TestConfig();
  config.dpop.nonce.required = true;
  std::vector<std::string> warnings;
  auto a =
      Authenticator::Create(config, NativeVerifier::Create(), &clock_, replay_.get(), &warnings);
  EXPECT_EQ(a.status(),
            absl::InvalidArgumentError("dpop.nonce.required needs dpop.nonce.secret_file"));
  config.dpop.nonce.secret_file = ::testing::TempDir() + "/popguard_unit_short_secret";
  std::ofstream(config.dpop.nonce.secret_file) << "too short";
  a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, replay_.get(), &warnings);
  EXPECT_EQ(a.status(), absl::InvalidArgumentError(
                            "dpop.nonce.secret_file must be readable and hold at least 32 bytes"));
  std::remove(config.dpop.nonce.secret_file.c_str());
}

// ScriptedClock answers the times it is given, one per read, and then the
// last one forever: a decision reads the clock when the request arrives and
// again at its replay check, so Script(arrival, check) makes the decision
// wait check - arrival in between, deterministically.
class ScriptedClock final : public Clock {
 public:
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    const absl::Time t = script_.front();
    if (script_.size() > 1) script_.pop_front();
    return t;
  }
  void Script(absl::Time arrival, absl::Time check) {
    absl::MutexLock lock(&mu_);
    script_ = {arrival, check};
  }
  // Current is what the next read will answer (the "real" time meanwhile).
  absl::Time Current() const {
    absl::MutexLock lock(&mu_);
    return script_.front();
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::deque<absl::Time> script_ ABSL_GUARDED_BY(mu_) = {kNow};
};

// RealTimeStore is a MemoryReplayStore that, like Redis, expires entries by
// the time that actually passes (the clock's current time), not by the
// `now` the caller passes in.
class RealTimeStore final : public ReplayStore {
 public:
  explicit RealTimeStore(const ScriptedClock* clock, absl::Time window_start)
      : clock_(clock), inner_(1000, 8, window_start) {}
  using ReplayStore::CheckAndInsert;
  void CheckAndInsert(std::string_view key, absl::Time, absl::Time expiry, absl::Time issued_at,
                      Done done) override {
    inner_.CheckAndInsert(key, clock_->Current(), expiry, issued_at, std::move(done));
  }
  size_t Size() const override { return inner_.Size(); }

 private:
  const ScriptedClock* clock_;
  MemoryReplayStore inner_;
};

// The replay check happens at one instant read when the store is asked
// (issue 10.3): freshness is judged then, a decision that waited longer than
// limits.max_queue_wait is refused as overloaded, and a store that lost its
// entries after the proof was issued refuses it. A proof is first used at
// kNow (arrival = check = kNow), then the case's request follows.
class ReplayCheckTimeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SetLogLevel(LogLevel::kError); }
};

TEST_F(ReplayCheckTimeTest, FreshnessAndQueueWaitAtTheReplayCheck) {
  struct Case {
    std::string name;
    bool replay;  // the case's request replays the first proof, else a new one issued at kNow + 9s
    absl::Duration arrival, check;  // after kNow
    absl::Duration max_queue_wait;
    absl::Duration window_start = -absl::Hours(1);  // the store's memory begins (after kNow)
    std::string want;
    int status;
  };
  const absl::Duration s = absl::Seconds(1);
  const std::vector<Case> cases = {
      {"replay answered at once", true, 9.2 * s, 9.2 * s, 5 * s, -absl::Hours(1), "dpop_replayed",
       401},
      // The issue's case: sent at +9.2 s of a 10 s window, answered at +12.6 s,
      // when Redis had expired the first use's entry (it lives until
      // iat + max_age + 1 s at the old code) - ALLOWED before the fix.
      {"replay that waited past its window", true, 9.2 * s, 12.6 * s, 5 * s, -absl::Hours(1),
       "dpop_iat_stale", 401},
      {"replay that waited past max_queue_wait", true, 9.2 * s, 12.6 * s, 1 * s, -absl::Hours(1),
       "overloaded", 503},
      {"new proof that waited less than max_queue_wait", false, 9.2 * s, 10.1 * s, 1 * s,
       -absl::Hours(1), "ok", 200},
      {"new proof that waited longer than max_queue_wait", false, 9.2 * s, 10.3 * s, 1 * s,
       -absl::Hours(1), "overloaded", 503},
      {"new proof issued before the store lost its entries", false, 9.5 * s, 9.5 * s, 1 * s,
       9.1 * s, "dpop_replay_window_reset", 401},
      {"new proof issued after the store lost its entries", false, 9.5 * s, 9.5 * s, 1 * s, 9 * s,
       "ok", 200},
  };
  const std::string url = std::string(kOrigin) + "/dpop/x";
  const std::string token = Token(TokenKind::kDpopBound);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Config config = TestConfig();
    config.dpop.max_age = absl::Seconds(10);
    config.limits.max_queue_wait = c.max_queue_wait;
    ScriptedClock clock;
    // The first use happens before the store's memory begins in the loss
    // cases; its iat is before the loss, so it is not recorded there.
    RealTimeStore store(&clock, kNow + c.window_start);
    std::vector<std::string> warnings;
    auto auth = Authenticator::Create(config, NativeVerifier::Create(), &clock, &store, &warnings);
    ASSERT_TRUE(auth.ok()) << auth.status();
    const HttpRequestInfo first = DpopReq(url, token);
    clock.Script(kNow, kNow);
    if (c.window_start < absl::ZeroDuration()) {
      const Decision d = (*auth)->DecideSync(first);
      ASSERT_EQ(ReasonCode(d.reason), "ok") << d.message;
    }
    const HttpRequestInfo req =
        c.replay ? first
                 : Req("GET", url,
                       {{"authorization", "DPoP " + token},
                        {"dpop", Proof("GET", url, token, kNow + absl::Seconds(9))}});
    clock.Script(kNow + c.arrival, kNow + c.check);
    const Decision d = (*auth)->DecideSync(req);
    EXPECT_EQ(ReasonCode(d.reason), c.want) << d.message;
    EXPECT_EQ(d.http_status, c.status);
    EXPECT_EQ(d.allow, c.want == "ok");
    if (c.want != "ok") EXPECT_TRUE(d.upstream_headers.empty());
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, AuthenticatorTest, ::testing::Bool(), ModeName);
INSTANTIATE_TEST_SUITE_P(Modes, AuthenticatorNonceTest, ::testing::Bool(), ModeName);

}  // namespace
}  // namespace popguard
