// End-to-end tests of Envoy's envoy.service.auth.v3.Authorization/Check
// against the real popguard binary, with CheckRequests shaped as Envoy sends
// them: attributes.request.http with method, scheme, host, path (with the
// query), a headers map with lower-case names (repeated headers merged with
// ",") or the raw header_map, the URL-encoded PEM peer certificate in
// attributes.source.certificate, and context extension popguard_route.
#include <string>
#include <tuple>
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

using ::envoy::config::core::v3::HeaderValueOption;
using ::envoy::service::auth::v3::CheckRequest;
using ::envoy::service::auth::v3::CheckResponse;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// (key, value, append) of each header option, plus the append_action.
using HeaderOption = std::tuple<std::string, std::string, bool, int>;

std::vector<HeaderOption> HeaderOptions(
    const google::protobuf::RepeatedPtrField<HeaderValueOption>& headers) {
  std::vector<HeaderOption> out;
  for (const HeaderValueOption& h : headers) {
    EXPECT_TRUE(h.has_append()) << h.header().key();
    out.emplace_back(h.header().key(), h.header().value(), h.append().value(),
                     static_cast<int>(h.append_action()));
  }
  return out;
}

constexpr int kOverwrite = HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD;
constexpr int kAppend = HeaderValueOption::APPEND_IF_EXISTS_OR_ADD;

HeaderOption Set(std::string k, std::string v) {
  return {std::move(k), std::move(v), false, kOverwrite};
}
HeaderOption Add(std::string k, std::string v) {
  return {std::move(k), std::move(v), true, kAppend};
}

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

std::vector<HeaderOption> IdentityHeaders(const std::string& binding) {
  return {Set("x-popguard-sub", "alice"), Set("x-popguard-client-id", "client-1"),
          Set("x-popguard-scope", "read"), Set("x-popguard-binding", binding),
          Set("x-popguard-issuer", TestEnv::Get().issuer().iss())};
}

template <typename Derived>
class ServerTest : public ServerTestBase<Derived> {
 protected:
  using ServerTestBase<Derived>::server;
  using ServerTestBase<Derived>::env;

  // A DPoP request for `url` whose proof's htu is `htu` (default: url).
  HttpSpec DpopRequest(const std::string& url, std::string htu = "", TokenOptions t = {}) {
    const PrivateKey& key = env().client_key(JwsAlg::kES256);
    t.jkt = key.Thumbprint();
    std::string token = env().issuer().MintToken(t);
    std::string proof = MintProof(key, {.url = htu.empty() ? url : htu, .token = token});
    return {.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}};
  }
};

void ExpectOk(const CheckResponse& r, const std::vector<HeaderOption>& upstream,
              const std::vector<std::string>& remove = {}) {
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  ASSERT_TRUE(r.has_ok_response()) << r.DebugString();
  EXPECT_FALSE(r.has_denied_response());
  EXPECT_EQ(HeaderOptions(r.ok_response().headers()), upstream);
  EXPECT_THAT(r.ok_response().headers_to_remove(), ::testing::ElementsAreArray(remove));
}

void ExpectDenied(const CheckResponse& r, const std::string& code, int http_status, int grpc_code) {
  EXPECT_EQ(r.status().code(), grpc_code);
  EXPECT_EQ(r.status().message(), code);
  ASSERT_TRUE(r.has_denied_response()) << r.DebugString();
  EXPECT_FALSE(r.has_ok_response());
  EXPECT_EQ(static_cast<int>(r.denied_response().status().code()), http_status);
}

class ExtAuthzE2eTest : public ServerTest<ExtAuthzE2eTest> {
 public:
  static constexpr char kConfigName[] = "ext-authz.yaml";
  static ConfigOptions Options() { return {}; }
};

TEST_F(ExtAuthzE2eTest, AllowSetsIdentityHeadersWithoutAppending) {
  CheckResponse r = server()->Check(DpopRequest(TestEnv::Url("/dpop/orders")));
  ExpectOk(r, IdentityHeaders("dpop"));
  EXPECT_THAT(r.ok_response().response_headers_to_add(), IsEmpty());
}

TEST_F(ExtAuthzE2eTest, AllowRemovesIdentityHeadersItDoesNotSet) {
  // No client_id and no scope: a client-sent x-popguard-client-id or
  // x-popguard-scope must not reach the upstream.
  std::string token = env().issuer().MintToken({.client_id = "", .scope = ""});
  HttpSpec spec = {
      .url = TestEnv::Url("/public/x"),
      .headers = {H("Authorization", "Bearer " + token), H("X-Popguard-Client-Id", "forged")}};
  ExpectOk(server()->Check(spec),
           {Set("x-popguard-sub", "alice"), Set("x-popguard-binding", "none"),
            Set("x-popguard-issuer", env().issuer().iss())},
           {"x-popguard-client-id", "x-popguard-scope"});
}

TEST_F(ExtAuthzE2eTest, AllowWithRawHeaderMap) {
  CheckResponse r = server()->Check(ToCheckRequest(DpopRequest(TestEnv::Url("/dpop/raw")),
                                                   /*raw_header_map=*/true));
  ExpectOk(r, IdentityHeaders("dpop"));
}

TEST_F(ExtAuthzE2eTest, MtlsBoundTokenWithPeerCertificate) {
  const TestCert& cert = env().cert();
  HttpSpec spec = {.url = TestEnv::Url("/mtls/x"),
                   .headers = {H("authorization",
                                 "Bearer " + env().issuer().MintToken({.x5t = cert.thumbprint()}))},
                   .cert_form = HttpSpec::CertForm::kPem,
                   .cert = cert.pem()};
  CheckRequest req = ToCheckRequest(spec);
  ASSERT_EQ(req.attributes().source().certificate(), cert.EnvoyUrlEncodedPem());
  ExpectOk(server()->Check(req), IdentityHeaders("mtls"));

  spec.cert = env().other_cert().pem();
  CheckResponse mismatch = server()->Check(spec);
  ExpectDenied(mismatch, "mtls_thumbprint_mismatch", 401, 16);

  spec.cert_form = HttpSpec::CertForm::kNone;
  ExpectDenied(server()->Check(spec), "mtls_cert_missing", 401, 16);
}

TEST_F(ExtAuthzE2eTest, Deny401CarriesChallengeAndReasonHeaders) {
  HttpSpec spec = DpopRequest(TestEnv::Url("/dpop/x"), "",
                              {.iat = absl::Now() - absl::Hours(2), .ttl = absl::Hours(1)});
  CheckResponse r = server()->Check(spec);
  ExpectDenied(r, "token_expired", 401, 16);
  EXPECT_EQ(HeaderOptions(r.denied_response().headers()),
            (std::vector<HeaderOption>{
                Add("www-authenticate", DpopChallenge("invalid_token", "token_expired")),
                Set("x-popguard-reason", "token_expired")}));
}

TEST_F(ExtAuthzE2eTest, MissingCredentialChallengesEverySchemeTheRouteAccepts) {
  CheckResponse r = server()->Check(HttpSpec{.url = TestEnv::Url("/orders")});
  ExpectDenied(r, "token_missing", 401, 16);
  EXPECT_EQ(HeaderOptions(r.denied_response().headers()),
            (std::vector<HeaderOption>{
                Add("www-authenticate", absl::StrCat("DPoP algs=\"", TestEnv::kDpopAlgs, "\"")),
                Add("www-authenticate", "Bearer"), Set("x-popguard-reason", "token_missing")}));
}

TEST_F(ExtAuthzE2eTest, InsufficientScopeIs403PermissionDenied) {
  CheckResponse r = server()->Check(DpopRequest(TestEnv::Url("/admin/users")));
  ExpectDenied(r, "insufficient_scope", 403, 7);
  EXPECT_EQ(
      HeaderOptions(r.denied_response().headers()),
      (std::vector<HeaderOption>{
          Add("www-authenticate",
              absl::StrCat(
                  "DPoP error=\"insufficient_scope\", error_description=\"insufficient_scope\", "
                  "scope=\"admin\", algs=\"",
                  TestEnv::kDpopAlgs, "\"")),
          Set("x-popguard-reason", "insufficient_scope")}));
}

TEST_F(ExtAuthzE2eTest, MergedDpopHeaderWithTwoProofsIsMultiple) {
  HttpSpec spec = DpopRequest(TestEnv::Url("/dpop/x"));
  const std::string proof = spec.headers[1].second;
  // Two "DPoP:" lines, merged by Envoy into "proof1,proof2".
  spec.headers.push_back(H("dpop", proof));
  CheckRequest req = ToCheckRequest(spec);
  bool merged = false;
  for (const auto& h : req.attributes().request().http().headers()) {
    merged = merged || (h.key() == "dpop" && h.value() == proof + "," + proof);
  }
  ASSERT_TRUE(merged);
  ExpectDenied(server()->Check(req), "dpop_proof_multiple", 401, 16);
}

TEST_F(ExtAuthzE2eTest, RawHeaderMapWithTwoDpopEntriesIsMultiple) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  const std::string url = TestEnv::Url("/dpop/x");
  HttpSpec spec = DpopRequest(url);
  // Two distinct, individually valid proofs.
  std::string token = spec.headers[0].second.substr(5);
  spec.headers.push_back(H("DPoP", MintProof(key, {.url = url, .token = token})));
  CheckRequest req = ToCheckRequest(spec, /*raw_header_map=*/true);
  ASSERT_TRUE(req.attributes().request().http().headers().empty());
  ExpectDenied(server()->Check(req), "dpop_proof_multiple", 401, 16);
}

TEST_F(ExtAuthzE2eTest, MergedAuthorizationWithBearerAndDpopIsMultiple400) {
  HttpSpec spec = DpopRequest(TestEnv::Url("/dpop/x"));
  const std::string token = spec.headers[0].second.substr(5);
  spec.headers[0] = H("authorization", absl::StrCat("Bearer ", token, ", DPoP ", token));
  CheckResponse r = server()->Check(spec);
  ExpectDenied(r, "authorization_multiple", 400, 16);
  EXPECT_EQ(
      HeaderOptions(r.denied_response().headers()),
      (std::vector<HeaderOption>{
          Add("www-authenticate",
              absl::StrCat(
                  "DPoP error=\"invalid_request\", error_description=\"authorization_multiple\", "
                  "algs=\"",
                  TestEnv::kDpopAlgs, "\"")),
          Set("x-popguard-reason", "authorization_multiple")}));
}

TEST_F(ExtAuthzE2eTest, HtuMatchesDespiteQueryCaseAndDefaultPort) {
  struct Case {
    std::string scheme, host, path, htu;
  };
  const Case cases[] = {
      {"https", "api.test", "/dpop/x?a=1&b=%20two", "https://api.test/dpop/x"},
      {"https", "api.test", "/dpop/x?a=1", "https://api.test/dpop/x?other=2#frag"},
      {"HTTPS", "API.Test", "/dpop/x", "https://api.test/dpop/x"},
      {"https", "api.test", "/dpop/x", "HTTPS://API.TEST/dpop/x"},
      {"https", "api.test:443", "/dpop/x", "https://api.test/dpop/x"},
      {"https", "api.test", "/dpop/x", "https://api.test:443/dpop/x"},
      {"https", "api.test", "/dpop/%78", "https://api.test/dpop/x"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.scheme, "://", c.host, c.path, " vs ", c.htu));
    CheckRequest req = ToCheckRequest(DpopRequest(TestEnv::Url("/dpop/x"), c.htu));
    auto* http = req.mutable_attributes()->mutable_request()->mutable_http();
    http->set_scheme(c.scheme);
    http->set_host(c.host);
    http->set_path(c.path);
    SetCheckHeader(http, ":authority", c.host);
    SetCheckHeader(http, ":path", c.path);
    ExpectOk(server()->Check(req), IdentityHeaders("dpop"));
  }
}

TEST_F(ExtAuthzE2eTest, HtuOfAnotherPathOrPortIsAMismatch) {
  for (const char* htu :
       {"https://api.test/dpop/y", "https://api.test:8443/dpop/x", "http://api.test/dpop/x"}) {
    SCOPED_TRACE(htu);
    ExpectDenied(server()->Check(DpopRequest(TestEnv::Url("/dpop/x"), htu)), "dpop_htu_mismatch",
                 401, 16);
  }
}

TEST_F(ExtAuthzE2eTest, ReportOnlyRouteAllowsAndRemovesIdentityHeaders) {
  HttpSpec spec = {.url = TestEnv::Url("/shadow/x"),
                   .headers = {H("authorization", "Bearer " + env().issuer().MintToken({}))}};
  ExpectOk(server()->Check(spec), {},
           {"x-popguard-sub", "x-popguard-client-id", "x-popguard-scope", "x-popguard-binding",
            "x-popguard-issuer"});
}

// --- DPoP nonces through ext_authz ---

class ExtAuthzNonceE2eTest : public ServerTest<ExtAuthzNonceE2eTest> {
 public:
  static constexpr char kConfigName[] = "ext-authz-nonce.yaml";
  static ConfigOptions Options() { return {.nonce_required = true}; }
};

TEST_F(ExtAuthzNonceE2eTest, DeniedResponseCarriesDpopNonceAndRetrySucceeds) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  const std::string url = TestEnv::Url("/dpop/pay");
  std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  HttpSpec first = {.url = url,
                    .headers = {H("Authorization", "DPoP " + token),
                                H("DPoP", MintProof(key, {.url = url, .token = token}))}};
  CheckResponse r = server()->Check(first);
  ExpectDenied(r, "dpop_nonce_missing", 401, 16);
  std::vector<HeaderOption> headers = HeaderOptions(r.denied_response().headers());
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0],
            Add("www-authenticate", DpopChallenge("use_dpop_nonce", "dpop_nonce_missing")));
  EXPECT_EQ(std::get<0>(headers[1]), "dpop-nonce");
  EXPECT_EQ(headers[2], Set("x-popguard-reason", "dpop_nonce_missing"));
  const std::string nonce = std::get<1>(headers[1]);
  ASSERT_FALSE(nonce.empty());

  HttpSpec retry = {
      .url = url,
      .headers = {H("Authorization", "DPoP " + token),
                  H("DPoP", MintProof(key, {.url = url, .token = token, .nonce = nonce}))}};
  CheckResponse ok = server()->Check(retry);
  ExpectOk(ok, IdentityHeaders("dpop"));
  std::vector<HeaderOption> to_client = HeaderOptions(ok.ok_response().response_headers_to_add());
  ASSERT_EQ(to_client.size(), 1u);
  EXPECT_EQ(std::get<0>(to_client[0]), "dpop-nonce");
  EXPECT_TRUE(server()->process().Alive());
}

// --- Browser clients: cors_expose_headers, with nonces required ---

class CorsE2eTest : public ServerTest<CorsE2eTest> {
 public:
  static constexpr char kConfigName[] = "ext-authz-cors.yaml";
  static ConfigOptions Options() {
    return {.nonce_required = true, .extra_yaml = "cors_expose_headers: true\n"};
  }
};

// The nonce challenge and the ALLOW that offers the next nonce both expose
// DPoP-Nonce and WWW-Authenticate to a browser, through Verify and Check.
TEST_F(CorsE2eTest, NonceAnswersExposeHeadersThroughBothApis) {
  const PrivateKey& key = env().client_key(JwsAlg::kES256);
  const std::string url = TestEnv::Url("/dpop/spa");
  const std::string token = env().issuer().MintToken({.jkt = key.Thumbprint()});
  const std::pair<std::string, std::string> expose = {"access-control-expose-headers",
                                                      "DPoP-Nonce, WWW-Authenticate"};
  auto spec = [&](const std::string& nonce) {
    return HttpSpec{
        .url = url,
        .headers = {H("Authorization", "DPoP " + token),
                    H("DPoP", MintProof(key, {.url = url, .token = token, .nonce = nonce}))}};
  };
  // Verify: challenge, then ALLOW with the nonce it handed out.
  popguard::v1::VerifyResponse challenge = server()->Verify(spec(""));
  EXPECT_EQ(challenge.reason_code(), "dpop_nonce_missing");
  std::vector<std::pair<std::string, std::string>> headers =
      HeaderPairs(challenge.response_headers());
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].first, "www-authenticate");
  EXPECT_EQ(headers[1].first, "dpop-nonce");
  EXPECT_EQ(headers[2], expose);
  const std::string nonce = headers[1].second;
  popguard::v1::VerifyResponse ok = server()->Verify(spec(nonce));
  EXPECT_EQ(ok.reason_code(), "ok") << ok.message();
  headers = HeaderPairs(ok.response_headers());
  ASSERT_EQ(headers.size(), 2u);
  EXPECT_EQ(headers[0].first, "dpop-nonce");
  EXPECT_EQ(headers[1], expose);

  // Check: the same in denied_response.headers and response_headers_to_add.
  CheckResponse denied = server()->Check(spec(""));
  ExpectDenied(denied, "dpop_nonce_missing", 401, 16);
  std::vector<HeaderOption> to_client = HeaderOptions(denied.denied_response().headers());
  ASSERT_EQ(to_client.size(), 4u);
  EXPECT_EQ(std::get<0>(to_client[1]), "dpop-nonce");
  EXPECT_EQ(to_client[2], Add(expose.first, expose.second));
  EXPECT_EQ(to_client[3], Set("x-popguard-reason", "dpop_nonce_missing"));
  CheckResponse allowed = server()->Check(spec(std::get<1>(to_client[1])));
  ExpectOk(allowed, IdentityHeaders("dpop"));
  to_client = HeaderOptions(allowed.ok_response().response_headers_to_add());
  ASSERT_EQ(to_client.size(), 2u);
  EXPECT_EQ(std::get<0>(to_client[0]), "dpop-nonce");
  EXPECT_EQ(to_client[1], Set(expose.first, expose.second));
}

// --- RFC 9728 metadata as the answer to Verify and Check ---

class ResourceMetadataE2eTest : public ServerTest<ResourceMetadataE2eTest> {
 public:
  static constexpr char kConfigName[] = "ext-authz-metadata.yaml";
  static ConfigOptions Options() {
    return {.extra_yaml =
                "resource_metadata:\n"
                "  answer_checks: true\n"
                "  resources:\n"
                "    - {resource: https://api.test/admin, routes: [admin]}\n"
                "    - {resource: https://api.test}\n"};
  }
};

// Only GET/HEAD of exactly a metadata path (in every reading) is answered
// with the document, as a denial with status 200; anything else is decided
// as usual. Neither API ever allows such a request.
TEST_F(ResourceMetadataE2eTest, VerifyAndCheckAnswerOnlyTheExactMetadataPath) {
  const std::string wk = "/.well-known/oauth-protected-resource";
  struct Case {
    std::string name;
    std::string method;
    std::string path;
    std::string resource;  // the document's resource; "" : decided as usual (token_missing)
  };
  const std::vector<Case> cases = {
      {"every other route's resource", "GET", wk, "https://api.test"},
      {"the admin resource, HEAD, with a query", "HEAD", wk + "/admin?x=1",
       "https://api.test/admin"},
      {"POST", "POST", wk, ""},
      {"a dot segment", "GET", "/.well-known/./oauth-protected-resource", ""},
      {"an encoded separator", "GET", "/.well-known%2Foauth-protected-resource", ""},
      {"a trailing slash", "GET", wk + "/admin/", ""},
      {"a ;param", "GET", wk + ";a", ""},
      {"below a metadata path", "GET", wk + "/admin/x", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const HttpSpec spec{.method = c.method, .url = TestEnv::Url(c.path)};
    popguard::v1::VerifyResponse v = server()->Verify(spec);
    EXPECT_EQ(v.decision(), popguard::v1::DENY);
    CheckResponse check = server()->Check(spec);
    if (c.resource.empty()) {
      EXPECT_EQ(v.reason_code(), "token_missing") << v.message();
      EXPECT_EQ(v.response_body(), "");
      ExpectDenied(check, "token_missing", 401, 16);
      EXPECT_EQ(check.denied_response().body(), "");
      continue;
    }
    EXPECT_EQ(v.reason_code(), "resource_metadata") << v.message();
    EXPECT_EQ(v.reason(), popguard::v1::REASON_RESOURCE_METADATA);
    EXPECT_EQ(v.http_status(), 200);
    EXPECT_THAT(v.response_body(), ::testing::StartsWith("{\"resource\":\"" + c.resource + "\","));
    EXPECT_THAT(HeaderPairs(v.response_headers()),
                ::testing::Contains(H("content-type", "application/json")));
    ExpectDenied(check, "resource_metadata", 200, 7);
    EXPECT_EQ(check.denied_response().body(), v.response_body());
    EXPECT_THAT(HeaderOptions(check.denied_response().headers()),
                ::testing::Contains(Set("content-type", "application/json")));
  }
}

// The challenge of each route names its own resource's metadata URL.
TEST_F(ResourceMetadataE2eTest, ChallengesNameTheRoutesResource) {
  const std::string wk = "https://api.test/.well-known/oauth-protected-resource";
  for (const auto& [path, url] : std::vector<std::pair<std::string, std::string>>{
           {"/admin/x", wk + "/admin"}, {"/public/x", wk}, {"/elsewhere", wk}}) {
    SCOPED_TRACE(path);
    popguard::v1::VerifyResponse v = server()->Verify(HttpSpec{.url = TestEnv::Url(path)});
    EXPECT_EQ(v.reason_code(), "token_missing");
    bool found = false;
    for (const auto& [name, value] : HeaderPairs(v.response_headers())) {
      if (name != "www-authenticate") continue;
      found = true;
      EXPECT_THAT(value, ::testing::HasSubstr("resource_metadata=\"" + url + "\""));
    }
    EXPECT_TRUE(found);
  }
}

// --- Istio, policy on a workload: xfcc.element before_trusted_peer ---

class IstioWorkloadE2eTest : public ServerTest<IstioWorkloadE2eTest> {
 public:
  static constexpr char kConfigName[] = "ext-authz-istio.yaml";
  static constexpr char kGateway[] =
      "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";
  static ConfigOptions Options() {
    return {.trusted_xfcc = true,
            .extra_yaml = absl::StrCat("xfcc:\n  element: before_trusted_peer\n",
                                       "  trusted_peers: [\"", kGateway, "\"]\n")};
  }
  // The header as the workload's sidecar forwards it: the ingress gateway's
  // element for `client` (SANITIZE_SET), then the sidecar's own for the hop
  // `hop_uri` whose certificate is `hop`.
  static std::string Xfcc(const TestCert& client, const TestCert& hop, const std::string& hop_uri) {
    return absl::StrCat("Hash=", HexEncode(Sha256(client.der())), ";Cert=\"",
                        client.EnvoyUrlEncodedPem(), "\";Subject=\"CN=client.test\",",
                        "By=spiffe://cluster.local/ns/shop/sa/api;Hash=",
                        HexEncode(Sha256(hop.der())), ";Subject=\"\";URI=", hop_uri);
  }
};

TEST_F(IstioWorkloadE2eTest, ClientCertificateFromTheGatewaysElement) {
  const TestCert& client = env().cert();
  const TestCert& gateway = env().other_cert();  // plays the gateway's mesh certificate
  const std::string token = env().issuer().MintToken({.x5t = client.thumbprint()});
  struct Case {
    std::string why;
    std::string xfcc;
    bool peer_certificate;  // the sidecar passes the gateway's certificate (source.certificate)
    std::string reason;     // "" allows
  };
  const std::vector<Case> cases = {
      {"through the ingress gateway", Xfcc(client, gateway, kGateway), false, ""},
      {"with the hop's certificate passed by the sidecar", Xfcc(client, gateway, kGateway), true,
       ""},
      {"a workload forged the gateway's element and called directly",
       Xfcc(client, gateway, "spiffe://cluster.local/ns/shop/sa/frontend"), false,
       "mtls_cert_invalid"},
      {"the sidecar's element names another hop certificate than the one passed",
       Xfcc(client, client, kGateway), true, "mtls_cert_conflict"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    HttpSpec spec = {
        .url = TestEnv::Url("/mtls/x"),
        .headers = {H("authorization", "Bearer " + token), H("x-forwarded-client-cert", c.xfcc)}};
    if (c.peer_certificate) {
      spec.cert_form = HttpSpec::CertForm::kPem;
      spec.cert = gateway.pem();
    }
    CheckResponse r = server()->Check(spec);
    if (c.reason.empty()) {
      ExpectOk(r, IdentityHeaders("mtls"));
    } else {
      ExpectDenied(r, c.reason, 401, 16);
    }
  }
}

}  // namespace
}  // namespace popguard::e2e
