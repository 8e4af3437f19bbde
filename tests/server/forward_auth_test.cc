// Tests of the forward-auth adapter (service/forward_auth.h): how each
// gateway's description of the original request becomes an HttpRequestInfo,
// which descriptions are refused and with which reason (checked through the
// real Authenticator, so the refusal is the Decision a gateway gets), the
// client certificate header formats, the HTTP answer written from a
// Decision, and IpCidr (service/ip_cidr.h).
#include "service/server/forward_auth.h"

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "service/authn/authenticator.h"
#include "service/common/clock.h"
#include "service/common/ip_cidr.h"
#include "service/jose/native_verifier.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/test_env.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// B64Std is standard base64 with padding (RFC 9440 and Caddy's DER form).
std::string B64Std(std::string_view bytes) {
  std::string s = e2e::B64(bytes);
  for (char& c : s) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (s.size() % 4 != 0) s.push_back('=');
  return s;
}

class ForwardAuthAdapterTest : public ::testing::Test {
 protected:
  static ForwardAuthConfig Fa() {
    ForwardAuthConfig fa;
    fa.listen = "127.0.0.1:0";
    fa.trusted_sources = {"127.0.0.1/32", "10.1.0.0/16", "fd00::/8"};
    fa.envoy_path_prefix = "/envoy";
    return fa;
  }
  static HttpRequestView View(std::string method, std::string target, HeaderList headers,
                              std::string peer = "127.0.0.1") {
    return {std::move(method), std::move(target), std::move(headers), std::move(peer)};
  }
  static HeaderList Nginx(std::string method, std::string uri) {
    return {{"x-original-method", std::move(method)},
            {"x-original-uri", std::move(uri)},
            {"x-forwarded-proto", "https"},
            {"x-forwarded-host", "api.test"}};
  }
  static HeaderList With(HeaderList h, std::string name, std::string value) {
    h.emplace_back(std::move(name), std::move(value));
    return h;
  }
};

TEST_F(ForwardAuthAdapterTest, RebuildsTheOriginalRequest) {
  struct Case {
    std::string name;
    HttpRequestView view;
    std::string method, scheme, authority, path;
  };
  const std::vector<Case> cases = {
      {"nginx auth_request", View("GET", "/auth", Nginx("POST", "/dpop/x?a=1,2")), "POST", "https",
       "api.test", "/dpop/x?a=1,2"},
      {"oauth2-proxy path", View("GET", "/oauth2/auth", Nginx("GET", "/")), "GET", "https",
       "api.test", "/"},
      {"query on the endpoint is ignored", View("GET", "/auth?rd=x", Nginx("PUT", "/p")), "PUT",
       "https", "api.test", "/p"},
      {"Caddy and Traefik",
       View("GET", "/auth",
            {{"x-forwarded-method", "DELETE"},
             {"x-forwarded-uri", "/admin/1"},
             {"x-forwarded-proto", "http"},
             {"x-forwarded-host", "127.0.0.1:8080"}}),
       "DELETE", "http", "127.0.0.1:8080", "/admin/1"},
      {"Envoy path prefix",
       View("PATCH", "/envoy/dpop/1?q", {{"host", "api.test"}, {"x-forwarded-proto", "https"}}),
       "PATCH", "https", "api.test", "/dpop/1?q"},
      {"Envoy path prefix, root",
       View("GET", "/envoy", {{"host", "api.test"}, {"x-forwarded-proto", "https"}}), "GET",
       "https", "api.test", "/"},
      {"IPv4-mapped trusted peer", View("GET", "/auth", Nginx("GET", "/"), "::ffff:10.1.2.3"),
       "GET", "https", "api.test", "/"},
      {"IPv6 trusted peer", View("GET", "/auth", Nginx("GET", "/"), "fd12::1"), "GET", "https",
       "api.test", "/"},
  };
  auto adapter = ForwardAuthAdapter::Create(Fa());
  ASSERT_TRUE(adapter.ok()) << adapter.status();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::optional<HttpRequestInfo> info = adapter->FromRequest(c.view);
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->rebuild_failure, Reason::kOk) << info->rebuild_detail;
    EXPECT_EQ(info->method, c.method);
    EXPECT_EQ(info->scheme, c.scheme);
    EXPECT_EQ(info->authority, c.authority);
    EXPECT_EQ(info->path, c.path);
    EXPECT_TRUE(info->url.empty());
    EXPECT_EQ(info->headers, c.view.headers);
  }
}

TEST_F(ForwardAuthAdapterTest, UnknownPathsAreNotForwardAuth) {
  auto adapter = ForwardAuthAdapter::Create(Fa());
  ASSERT_TRUE(adapter.ok());
  for (const std::string target : {"/", "/auth/x", "/authz", "/envoyx/a", "/AUTH"}) {
    SCOPED_TRACE(target);
    EXPECT_FALSE(adapter->FromRequest(View("GET", target, Nginx("GET", "/"))).has_value());
  }
}

// Refusals go through the real Authenticator: the reason is the Decision's.
class ForwardAuthRefusalTest : public ForwardAuthAdapterTest {
 protected:
  void SetUp() override {
    std::vector<std::string> warnings;
    auto a = Authenticator::Create(unit::BaseConfig(), NativeVerifier::Create(), &clock_, &replay_,
                                   &warnings);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = *std::move(a);
  }
  FakeClock clock_{unit::kNow};
  MemoryReplayStore replay_{1000, 1};
  std::unique_ptr<Authenticator> auth_;
};

TEST_F(ForwardAuthRefusalTest, RefusesWhatCannotBeBelieved) {
  struct Case {
    std::string name;
    ForwardAuthConfig config;
    HttpRequestView view;
    Reason reason;
  };
  ForwardAuthConfig with_cert = Fa();
  with_cert.client_cert_header = "x-client-cert";
  with_cert.client_cert_format = ClientCertFormat::kRfc9440;
  ForwardAuthConfig with_b64 = with_cert;
  with_b64.client_cert_format = ClientCertFormat::kDerBase64;
  const std::vector<Case> cases = {
      {"untrusted peer", Fa(), View("GET", "/auth", Nginx("GET", "/"), "192.0.2.1"),
       Reason::kForwardedHeaderInvalid},
      {"untrusted IPv6 peer", Fa(), View("GET", "/auth", Nginx("GET", "/"), "2001:db8::1"),
       Reason::kForwardedHeaderInvalid},
      {"untrusted peer, Envoy form", Fa(),
       View("GET", "/envoy/a", {{"host", "a"}, {"x-forwarded-proto", "https"}}, "10.2.0.1"),
       Reason::kForwardedHeaderInvalid},
      {"no original URI", Fa(),
       View("GET", "/auth",
            {{"x-original-method", "GET"},
             {"x-forwarded-proto", "https"},
             {"x-forwarded-host", "api.test"}}),
       Reason::kForwardedHeaderInvalid},
      {"no original method", Fa(),
       View("GET", "/auth",
            {{"x-original-uri", "/"},
             {"x-forwarded-proto", "https"},
             {"x-forwarded-host", "api.test"}}),
       Reason::kForwardedHeaderInvalid},
      {"URI twice, two spellings", Fa(),
       View("GET", "/auth", With(Nginx("GET", "/a"), "x-forwarded-uri", "/a")),
       Reason::kForwardedHeaderInvalid},
      {"URI twice, same spelling", Fa(),
       View("GET", "/auth", With(Nginx("GET", "/a"), "x-original-uri", "/b")),
       Reason::kForwardedHeaderInvalid},
      {"method twice", Fa(),
       View("GET", "/auth", With(Nginx("GET", "/a"), "x-forwarded-method", "POST")),
       Reason::kForwardedHeaderInvalid},
      {"proto as a list", Fa(),
       View("GET", "/auth",
            {{"x-original-method", "GET"},
             {"x-original-uri", "/"},
             {"x-forwarded-proto", "http, https"},
             {"x-forwarded-host", "api.test"}}),
       Reason::kForwardedHeaderInvalid},
      {"host repeated", Fa(),
       View("GET", "/auth", With(Nginx("GET", "/a"), "x-forwarded-host", "evil.test")),
       Reason::kForwardedHeaderInvalid},
      {"Envoy form without proto", Fa(), View("GET", "/envoy/a", {{"host", "api.test"}}),
       Reason::kForwardedHeaderInvalid},
      {"Envoy form, two hosts", Fa(),
       View("GET", "/envoy/a",
            {{"host", "api.test"}, {"host", "b.test"}, {"x-forwarded-proto", "https"}}),
       Reason::kForwardedHeaderInvalid},
      {"method not a token", Fa(), View("GET", "/auth", Nginx("GE T", "/")),
       Reason::kRequestInvalid},
      {"URI not origin-form", Fa(), View("GET", "/auth", Nginx("GET", "http://x/")),
       Reason::kRequestInvalid},
      {"certificate header twice", with_cert,
       View("GET", "/auth",
            With(With(Nginx("GET", "/public"), "x-client-cert", ":AAAA:"), "x-client-cert",
                 ":AAAA:")),
       Reason::kMtlsCertInvalid},
      {"RFC 9440 value without colons", with_cert,
       View("GET", "/auth", With(Nginx("GET", "/public"), "x-client-cert", "AAAA")),
       Reason::kMtlsCertInvalid},
      {"base64 DER that is not base64", with_b64,
       View("GET", "/auth", With(Nginx("GET", "/public"), "x-client-cert", "%%%")),
       Reason::kMtlsCertInvalid},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto adapter = ForwardAuthAdapter::Create(c.config);
    ASSERT_TRUE(adapter.ok());
    std::optional<HttpRequestInfo> info = adapter->FromRequest(c.view);
    ASSERT_TRUE(info.has_value());
    Decision d = auth_->DecideSync(*info);
    EXPECT_FALSE(d.allow);
    EXPECT_EQ(ReasonCode(d.reason), ReasonCode(c.reason)) << d.message;
    HttpResponse r = ToForwardAuthResponse(d);
    EXPECT_EQ(r.status, HttpStatusFor(c.reason));
    EXPECT_THAT(r.headers, Contains(Pair("x-popguard-reason", std::string(ReasonCode(c.reason)))));
  }
}

TEST_F(ForwardAuthAdapterTest, ClientCertificateHeaderFormats) {
  const e2e::TestCert cert = e2e::TestCert::Create("client");
  struct Case {
    std::string format;
    std::string value;
    HttpRequestInfo::CertKind kind;
    std::string cert;
  };
  const std::vector<Case> cases = {
      {"escaped_pem", cert.EnvoyUrlEncodedPem(), HttpRequestInfo::CertKind::kEnvoyUrlEncodedPem,
       cert.EnvoyUrlEncodedPem()},
      {"der_base64", B64Std(cert.der()), HttpRequestInfo::CertKind::kPemOrDer, cert.der()},
      {"rfc9440", ":" + B64Std(cert.der()) + ":", HttpRequestInfo::CertKind::kPemOrDer, cert.der()},
      {"rfc9440", "", HttpRequestInfo::CertKind::kNone, ""},  // empty: no certificate
      // Caddy 2.6 leaves the placeholder as it is when the client sent no
      // certificate: exactly that text is no certificate.
      {"der_base64", "{http.request.tls.client.certificate_der_base64}",
       HttpRequestInfo::CertKind::kNone, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.format + " " + c.value.substr(0, 10));
    ForwardAuthConfig fa = Fa();
    fa.client_cert_header = "x-client-cert";
    fa.client_cert_format = ParseClientCertFormat(c.format).value();
    auto adapter = ForwardAuthAdapter::Create(fa);
    ASSERT_TRUE(adapter.ok());
    auto info = adapter->FromRequest(
        View("GET", "/auth", With(Nginx("GET", "/"), "x-client-cert", c.value)));
    ASSERT_TRUE(info.has_value());
    EXPECT_EQ(info->rebuild_failure, Reason::kOk) << info->rebuild_detail;
    EXPECT_EQ(info->cert_kind, c.kind);
    EXPECT_EQ(info->cert, c.cert);
  }
  // Without client_cert_header the same header is an ordinary header.
  auto plain = ForwardAuthAdapter::Create(Fa());
  auto info = plain->FromRequest(
      View("GET", "/auth", With(Nginx("GET", "/"), "x-client-cert", cases[0].value)));
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->cert_kind, HttpRequestInfo::CertKind::kNone);
}

TEST(ForwardAuthResponseTest, AnswersFromTheDecision) {
  Decision allow;
  allow.allow = true;
  allow.reason = Reason::kOk;
  allow.upstream_headers = {{"x-popguard-sub", "alice"}, {"x-popguard-binding", "dpop"}};
  allow.response_headers = {{"dpop-nonce", "n1"}};
  HttpResponse r = ToForwardAuthResponse(allow);
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.headers, ElementsAre(Pair("x-popguard-sub", "alice"),
                                     Pair("x-popguard-binding", "dpop"), Pair("dpop-nonce", "n1")));
  EXPECT_THAT(r.body, IsEmpty());

  Decision deny;
  deny.reason = Reason::kDpopNonceMissing;
  deny.http_status = 401;
  deny.response_headers = {{"www-authenticate", "Bearer realm=\"x\""},
                           {"www-authenticate", "DPoP error=\"use_dpop_nonce\""},
                           {"dpop-nonce", "n2"}};
  r = ToForwardAuthResponse(deny);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "dpop_nonce_missing\n");
  // One WWW-Authenticate line: nginx's $upstream_http_www_authenticate keeps one.
  EXPECT_THAT(
      r.headers,
      ElementsAre(Pair("x-popguard-reason", "dpop_nonce_missing"), Pair("dpop-nonce", "n2"),
                  Pair("www-authenticate", "Bearer realm=\"x\", DPoP error=\"use_dpop_nonce\"")));

  r = ToForwardAuthResponse(UnavailableDecision());
  EXPECT_EQ(r.status, 503);
  EXPECT_THAT(r.headers,
              ElementsAre(Pair("x-popguard-reason", "overloaded"), Pair("retry-after", "1")));

  // Security: a denial is never a 2xx on this listener (the gateways forward
  // on 2xx), even one whose status for Verify and Check is 200.
  Decision metadata;
  metadata.reason = Reason::kResourceMetadata;
  metadata.http_status = 200;
  metadata.response_body = "{}";
  r = ToForwardAuthResponse(metadata);
  EXPECT_EQ(r.status, 400);
}

TEST(IpCidrTest, ParseAndContains) {
  struct Case {
    std::string cidr;
    std::string address;
    bool contains;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1", "127.0.0.1", true},
      {"127.0.0.1", "127.0.0.2", false},
      {"10.0.0.0/8", "10.255.1.1", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"10.1.0.0/17", "10.1.127.255", true},
      {"10.1.0.0/17", "10.1.128.0", false},
      {"0.0.0.0/0", "192.0.2.7", true},
      {"0.0.0.0/0", "::1", false},
      {"::1", "::1", true},
      {"::1/128", "::2", false},
      {"fd00::/8", "fdff::1", true},
      {"fd00::/8", "fe80::1", false},
      {"10.0.0.0/8", "::ffff:10.0.0.1", true},
      {"10.0.0.0/8", "garbage", false},
      {"10.0.0.0/8", "", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.cidr + " " + c.address);
    auto cidr = IpCidr::Parse(c.cidr);
    ASSERT_TRUE(cidr.ok()) << cidr.status();
    EXPECT_EQ(cidr->Contains(c.address), c.contains);
  }
  for (const std::string bad : {"", "10.0.0.0/", "10.0.0.0/33", "10.0.0.1/8", "::/129",
                                "10.0.0.0/-1", "host", "10.0.0.0/8x", "/8"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(IpCidr::Parse(bad).ok());
  }
}

}  // namespace
}  // namespace popguard
