// Tests for service/authn/diagnostics.h through the Authenticator, in process:
// probes in the Envoy ext_authz shape (CheckRequest through the server's
// adapter) and the Verify shape, each deliberate rewrite named with its hop
// and fix; off by default; never an allow (report-only routes too); invalid
// statements; the global rate limit on an injected clock. The gateways
// (nginx, Caddy) are driven in tests/e2e/gateway_test.cc.
#include "service/authn/diagnostics.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/authn/authenticator.h"
#include "service/common/crypto_util.h"
#include "service/common/log.h"
#include "service/jose/base64url.h"
#include "service/jose/native_verifier.h"
#include "service/server/adapters.h"
#include "service/tools/mint/probe.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using unit::kNow;

namespace auth = envoy::service::auth::v3;

const std::string kThumbprint = Base64UrlEncode(Sha256("the client certificate"));

RouteConfig Route(std::string name, std::string prefix, bool report_only = false) {
  RouteConfig r;
  r.name = std::move(name);
  r.match.path_prefix = std::move(prefix);
  r.binding = BindingRequirement::kBearer;
  r.report_only = report_only;
  return r;
}

Config DiagnosticsConfigFor(bool enabled, uint64_t burst = 100) {
  Config config = unit::BaseConfig();
  config.routes = {Route("public", "/public"), Route("report", "/report", true),
                   Route("quiet", "/quiet")};
  config.diagnostics.enabled = enabled;
  config.diagnostics.routes = {"public", "report"};
  config.diagnostics.path = "/.well-known/popguard-probe";
  config.diagnostics.rate_per_minute = 60;
  config.diagnostics.burst = burst;
  return config;
}

// Probe is what a client sent: the URL it addressed and its certificate.
struct Probe {
  std::string url;
  std::string cert_thumbprint;
  absl::Time iat = kNow;
};

ProbeHeaderValues Mint(const Probe& p) {
  auto probe = MintProbe(
      unit::SharedKey(JwsAlg::kES256, 9),
      {.method = "GET", .url = p.url, .cert_thumbprint = p.cert_thumbprint, .now = p.iat});
  EXPECT_TRUE(probe.ok()) << probe.status();
  return probe.ok() ? *probe : ProbeHeaderValues{};
}

// Arrived is what Envoy tells popguard (ext_authz attributes).
struct Arrived {
  std::string scheme = "https";
  std::string host = "api.example";
  std::string path = "/public/orders";
  std::vector<std::pair<std::string, std::string>> headers;
};

auth::CheckRequest CheckFor(const ProbeHeaderValues& probe, const Arrived& a) {
  auth::CheckRequest req;
  auto* http = req.mutable_attributes()->mutable_request()->mutable_http();
  http->set_method("GET");
  http->set_scheme(a.scheme);
  http->set_host(a.host);
  http->set_path(a.path);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* h = http->add_headers();
    h->set_key(k);
    h->set_value(v);
  };
  add("dpop", probe.dpop);
  add("popguard-probe", probe.statement);
  for (const auto& [k, v] : a.headers) add(k, v);
  return req;
}

class DiagnosticsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SetLogLevel(LogLevel::kError); }
  void SetUp() override { Build(DiagnosticsConfigFor(true)); }

  void Build(const Config& config) {
    auth_.reset();
    std::vector<std::string> warnings;
    auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, &replay_, &warnings);
    ASSERT_TRUE(a.ok()) << a.status();
    auth_ = *std::move(a);
  }

  Decision Decide(const HttpRequestInfo& req) { return auth_->DecideSync(req); }

  // Report parses a decision's report, failing the test when it has none.
  static JsonValue Report(const Decision& d) {
    auto parsed = ParseJson(d.diagnostics_report);
    EXPECT_TRUE(parsed.ok()) << ReasonCode(d.reason) << " " << d.message;
    return parsed.ok() ? *parsed : JsonValue();
  }

  FakeClock clock_{kNow};
  MemoryReplayStore replay_{1000, 4};
  std::unique_ptr<Authenticator> auth_;
};

// The Envoy shape: each deliberate misconfiguration is named by the report,
// with the hop and a fix; a correct chain reports no difference.
TEST_F(DiagnosticsTest, EnvoyCheckShapeNamesEachRewrite) {
  struct Case {
    std::string name;
    Probe sent;
    Arrived arrived;
    std::string what;     // "" for no difference
    std::string finding;  // substring
    std::string hop;      // substring
    std::string fix;      // substring
  };
  const std::vector<Case> cases = {
      {"correct chain", {"https://api.example/public/orders"}, {}, "", "", "", ""},
      {"TLS terminated before Envoy",
       {"https://api.example/public/orders"},
       {.scheme = "http"},
       "scheme",
       "scheme https became http: TLS was terminated before popguard",
       "a proxy or load balancer between the client and the gateway",
       "set external_origin: https://api.example"},
      {"X-Forwarded-Proto from a hop popguard does not trust",
       {"https://api.example/public/orders"},
       {.scheme = "http", .headers = {{"x-forwarded-proto", "https"}}},
       "scheme",
       "X-Forwarded-Proto: https arrived, but popguard does not trust forwarded headers",
       "popguard's config",
       "trusted_forwarded_headers: true"},
      {"Host rewritten",
       {"https://api.example/public/orders"},
       {.host = "backend.internal"},
       "host",
       "host api.example became backend.internal: a proxy rewrote the Host header",
       "a proxy or load balancer",
       "proxy_set_header Host $http_host"},
      {"path prefix stripped",
       {"https://api.example/api/public/orders"},
       {},
       "path",
       "path prefix /api was stripped before popguard",
       "a proxy or load balancer",
       "ask popguard before the prefix is stripped"},
      {"query dropped",
       {"https://api.example/public/orders?page=2"},
       {},
       "query",
       "the query string was dropped",
       "the gateway's call to popguard",
       "$request_uri"},
      {"client certificate not forwarded",
       {"https://api.example/public/orders", kThumbprint},
       {},
       "client_certificate",
       "client certificate not forwarded",
       "the gateway that terminates the client's TLS",
       "include_peer_certificate: true"},
      {"XFCC from a hop popguard does not trust",
       {"https://api.example/public/orders", kThumbprint},
       {.headers = {{"x-forwarded-client-cert", "Hash=00"}}},
       "client_certificate",
       "client certificate not forwarded",
       "the gateway that terminates the client's TLS",
       "x-forwarded-client-cert arrived but popguard does not trust it"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const auth::CheckRequest check = CheckFor(Mint(c.sent), c.arrived);
    const Decision d = Decide(FromCheckRequest(check));
    ASSERT_EQ(ReasonCode(d.reason), "diagnostics_probe") << d.message;
    EXPECT_FALSE(d.allow);
    EXPECT_EQ(d.http_status, 403);
    auth::CheckResponse resp;
    ToCheckResponse(d, &resp);
    EXPECT_EQ(resp.status().code(), 7);
    EXPECT_EQ(resp.denied_response().body(), d.diagnostics_report);
    const JsonValue report = Report(d);
    EXPECT_EQ(*report.FindString("api"), "check");
    EXPECT_EQ(*report.FindString("route"), "public");
    const auto& diffs = report.Find("differences")->array_items();
    if (c.what.empty()) {
      EXPECT_TRUE(diffs.empty()) << d.diagnostics_report;
      EXPECT_EQ(*report.FindString("probe"), "no_difference");
      EXPECT_EQ(*report.FindString("dpop_htu_check"), "ok");
      continue;
    }
    ASSERT_EQ(diffs.size(), 1u) << d.diagnostics_report;
    EXPECT_EQ(*diffs[0].FindString("what"), c.what);
    EXPECT_THAT(*diffs[0].FindString("finding"), HasSubstr(c.finding));
    EXPECT_THAT(*diffs[0].FindString("hop"), HasSubstr(c.hop));
    EXPECT_THAT(*diffs[0].FindString("fix"), HasSubstr(c.fix));
  }
}

// The report reaches the client in a header too (nginx passes no body), and
// never echoes a forwarded header that is not about the URL.
TEST_F(DiagnosticsTest, ReportHeaderAndNoSecretHeaderValues) {
  const Decision d = Decide(FromCheckRequest(CheckFor(
      Mint({"https://api.example/public/orders"}),
      {.headers = {{"x-forwarded-for", "10.1.2.3"}, {"authorization", "Bearer secret-token"}}})));
  ASSERT_EQ(ReasonCode(d.reason), "diagnostics_probe") << d.message;
  std::string header;
  for (const auto& [k, v] : d.response_headers) {
    if (k == kProbeReportHeader) header = v;
  }
  EXPECT_EQ(Base64UrlDecode(header), d.diagnostics_report);
  EXPECT_THAT(d.diagnostics_report, HasSubstr(R"({"name":"x-forwarded-for","use":"not read"})"));
  EXPECT_THAT(d.diagnostics_report, Not(HasSubstr("10.1.2.3")));
  EXPECT_THAT(d.diagnostics_report, Not(HasSubstr("secret-token")));
}

// The Verify shape: the gateway gives the absolute URL it rebuilt.
TEST_F(DiagnosticsTest, VerifyShapeNamesTheRewrite) {
  const ProbeHeaderValues probe = Mint({"https://api.example/public/orders", kThumbprint});
  popguard::v1::VerifyRequest req;
  req.set_method("GET");
  req.set_url("http://api.example/public/orders");
  for (const auto& [k, v] : {std::pair{"DPoP", probe.dpop}, {"PopGuard-Probe", probe.statement}}) {
    auto* h = req.add_headers();
    h->set_name(k);
    h->set_value(v);
  }
  const Decision d = Decide(FromVerifyRequest(req));
  ASSERT_EQ(ReasonCode(d.reason), "diagnostics_probe") << d.message;
  popguard::v1::VerifyResponse resp;
  ToVerifyResponse(d, "", &resp);
  EXPECT_EQ(resp.decision(), popguard::v1::DENY);
  EXPECT_EQ(resp.diagnostics_report(), d.diagnostics_report);
  const JsonValue report = Report(d);
  std::vector<std::string> whats;
  for (const JsonValue& diff : report.Find("differences")->array_items()) {
    whats.push_back(*diff.FindString("what"));
  }
  EXPECT_EQ(whats, (std::vector<std::string>{"scheme", "client_certificate"}));
  EXPECT_THAT(report.Find("differences")->array_items()[1].FindString("fix")->c_str(),
              HasSubstr("VerifyRequest.certificate"));
  EXPECT_EQ(*report.FindString("dpop_htu_check"), "dpop_htu_mismatch");
}

// Off by default, and only on the listed routes or the dedicated path:
// anywhere else the probe header means nothing.
TEST_F(DiagnosticsTest, OffByDefaultAndOnlyWhereEnabled) {
  struct Case {
    std::string name;
    bool enabled;
    std::string url;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"diagnostics off (the default)", false, "https://api.example/public/x", "token_missing"},
      {"a route not listed", true, "https://api.example/quiet/x", "token_missing"},
      {"a listed route", true, "https://api.example/public/x", "diagnostics_probe"},
      {"the dedicated path", true, "https://api.example/.well-known/popguard-probe",
       "diagnostics_probe"},
      // Report-only lets would-be denials through; never a probe.
      {"a listed report-only route", true, "https://api.example/report/x", "diagnostics_probe"},
  };
  EXPECT_FALSE(Config().diagnostics.enabled);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Build(DiagnosticsConfigFor(c.enabled));
    const ProbeHeaderValues probe = Mint({c.url});
    HttpRequestInfo req;
    req.method = "GET";
    req.url = c.url;
    req.headers = {{"dpop", probe.dpop}, {"popguard-probe", probe.statement}};
    const Decision d = Decide(req);
    EXPECT_EQ(ReasonCode(d.reason), c.reason) << d.message;
    EXPECT_FALSE(d.allow);
    EXPECT_EQ(d.diagnostics_report.empty(), c.reason != "diagnostics_probe");
  }
}

TEST_F(DiagnosticsTest, InvalidProbesAreRefusedWithTheirOwnReason) {
  const std::string url = "https://api.example/public/orders";
  const ProbeHeaderValues good = Mint({url});
  const ProbeHeaderValues other_key =
      *MintProbe(unit::SharedKey(JwsAlg::kES256, 8), {.url = url, .now = kNow});
  const ProbeHeaderValues stale = Mint({url, "", kNow - absl::Hours(1)});
  const ProbeHeaderValues other_url = Mint({"https://api.example/public/other"});
  std::string tampered = good.statement;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  struct Case {
    std::string name;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"statement and proof by different keys",
       {{"dpop", good.dpop}, {"popguard-probe", other_key.statement}},
       "different keys"},
      {"statement altered on the way",
       {{"dpop", good.dpop}, {"popguard-probe", tampered}},
       "statement"},
      {"stale statement",
       {{"dpop", stale.dpop}, {"popguard-probe", stale.statement}},
       "statement iat"},
      {"proof over another URL than the statement",
       {{"dpop", other_url.dpop}, {"popguard-probe", good.statement}},
       "htm/htu are not the statement's"},
      {"a DPoP proof as the statement",
       {{"dpop", good.dpop}, {"popguard-probe", good.dpop}},
       "statement typ"},
      {"not a JWS", {{"popguard-probe", "hello"}}, "statement"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HttpRequestInfo req;
    req.method = "GET";
    req.url = url;
    req.headers = c.headers;
    const Decision d = Decide(req);
    EXPECT_EQ(ReasonCode(d.reason), "diagnostics_probe_invalid");
    EXPECT_EQ(d.http_status, 400);
    EXPECT_THAT(d.message, HasSubstr(c.detail));
    EXPECT_TRUE(d.diagnostics_report.empty());
  }
}

// One global bucket (burst 3, 60 per minute): the fourth probe at once is
// refused; a second later one token is back.
TEST_F(DiagnosticsTest, RateLimitedByOneGlobalBucket) {
  Build(DiagnosticsConfigFor(true, /*burst=*/3));
  const std::string url = "https://api.example/public/orders";
  auto probe = [&] {
    const ProbeHeaderValues p = Mint({url, "", clock_.Now()});
    HttpRequestInfo req;
    req.method = "GET";
    req.url = url;
    req.headers = {{"dpop", p.dpop}, {"popguard-probe", p.statement}};
    return Decide(req);
  };
  const std::vector<std::string> expected = {"diagnostics_probe", "diagnostics_probe",
                                             "diagnostics_probe", "diagnostics_rate_limited"};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    const Decision d = probe();
    EXPECT_EQ(ReasonCode(d.reason), expected[i]) << d.message;
  }
  const Decision limited = probe();
  EXPECT_EQ(ReasonCode(limited.reason), "diagnostics_rate_limited");
  EXPECT_EQ(limited.http_status, 429);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(ReasonCode(probe().reason), "diagnostics_probe");
  EXPECT_EQ(ReasonCode(probe().reason), "diagnostics_rate_limited");
}

}  // namespace
}  // namespace popguard
