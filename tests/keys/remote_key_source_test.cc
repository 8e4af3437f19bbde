// Tests for service/keys/remote_key_source.h, service/keys/jwks_fetcher.h and the
// unknown-kid retry in service/authn/authenticator.cc, against a real HTTPS server
// on loopback (tests/testing/https_test_server.h) with a CA made per test.
// No fetcher is mocked: every fetch is a libcurl transfer over TLS. Time that
// matters (refresh schedule, backoff, max_stale, kid rate limit) comes from a
// FakeClock; real time only bounds how long a test waits for a fetch.
#include "service/keys/remote_key_source.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/authn/authenticator.h"
#include "service/authn/reason.h"
#include "service/common/log.h"
#include "service/jose/native_verifier.h"
#include "service/keys/jwks_fetcher.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/https_test_server.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using ::popguard::testserver::HttpRequest;
using ::popguard::testserver::HttpResponse;
using ::popguard::testserver::HttpsTestServer;
using ::popguard::unit::kNow;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Real-time bound for one fetch to complete (they take milliseconds).
constexpr absl::Duration kWait = absl::Seconds(10);

const PrivateKey& KeyA() { return unit::SharedKey(JwsAlg::kES256, 0); }  // kid ES256-0
const PrivateKey& KeyB() { return unit::SharedKey(JwsAlg::kES256, 1); }  // kid ES256-1

std::string Jwks(const std::vector<const PrivateKey*>& keys) { return unit::JwksJson(keys); }

// JwksWith returns Jwks(keys) with the raw JWK objects `extra` placed first.
std::string JwksWith(const std::string& extra, const std::vector<const PrivateKey*>& keys) {
  std::string jwks = Jwks(keys);
  return absl::StrCat(R"({"keys":[)", extra, keys.empty() ? "" : ",", jwks.substr(9));
}

// An X25519 key (RFC 8037 appendix A.6): a key agreement key, never a signer.
constexpr char kX25519Jwk[] = R"({"kty":"OKP","crv":"X25519","kid":"x25519",)"
                              R"("x":"3p7bfXt9wbTTW2HC7OQ1Nz-DQ8hbeGdNrfx-FG-IK08"})";
constexpr char kOctJwk[] = R"({"kty":"oct","kid":"hmac","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"})";

std::vector<std::string> Kids(const KeySet& keys) {
  std::vector<std::string> kids;
  for (const auto& k : keys.keys()) kids.push_back(k->kid());
  return kids;
}

class RemoteKeySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kError);
    auto server = HttpsTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})));
    fetcher_ = JwksFetcher::CreateCurl(2);
  }

  RemoteKeySource::Options BaseOptions() const {
    RemoteKeySource::Options o;
    o.issuer = server_->Url("");
    o.jwks_uri = server_->Url("/jwks");
    o.fetch.ca_file = server_->ca_file();
    o.min_refresh = absl::Minutes(5);
    o.max_refresh = absl::Hours(1);
    o.max_stale = absl::Hours(1);
    o.kid_refetch_interval = absl::Seconds(30);
    o.retry_initial = absl::Seconds(1);
    o.retry_max = absl::Minutes(1);
    o.jitter = 0;
    o.poll_interval = absl::Milliseconds(5);
    return o;
  }

  // Create starts a source and waits until its first fetch has completed.
  std::unique_ptr<RemoteKeySource> Create(const RemoteKeySource::Options& options) {
    auto source = RemoteKeySource::Create(options, fetcher_.get(), &clock_);
    EXPECT_TRUE(source.ok()) << source.status();
    if (!source.ok()) return nullptr;
    EXPECT_TRUE((*source)->AwaitCompletedFetches(1, kWait));
    return *std::move(source);
  }

  // Advance moves the fake clock by `d` and waits until `completed` fetches
  // have completed (the scheduler notices the new time within a few ms).
  void Advance(RemoteKeySource& source, absl::Duration d, uint64_t completed) {
    clock_.Advance(d);
    ASSERT_TRUE(source.AwaitCompletedFetches(completed, kWait))
        << "fetch #" << completed << " did not complete";
  }

  FakeClock clock_{kNow};
  std::unique_ptr<HttpsTestServer> server_;
  std::unique_ptr<JwksFetcher> fetcher_;
};

TEST_F(RemoteKeySourceTest, InitialFetchLoadsTheKeys) {
  auto source = Create(BaseOptions());
  ASSERT_NE(source, nullptr);
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-0"));
  std::string why;
  EXPECT_TRUE(source->Ready(&why)) << why;
  const RemoteKeySource::Stats s = source->stats();
  EXPECT_EQ(s.fetches, 1u);
  EXPECT_EQ(s.http_requests, 1u);
  EXPECT_EQ(s.successes, 1u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_EQ(s.keys, 1u);
  EXPECT_EQ(s.age, absl::ZeroDuration());
  EXPECT_EQ(s.next_refresh, kNow + absl::Minutes(5));  // no Cache-Control: min_refresh
  EXPECT_EQ(s.last_error, "");
  EXPECT_EQ(server_->RequestCount("/jwks"), 1);
  EXPECT_EQ(server_->LastRequest("/jwks").Header("accept"),
            "application/json, application/jwk-set+json");
}

TEST_F(RemoteKeySourceTest, KeysOfUnsupportedTypeAreSkippedNotFatal) {
  server_->SetRoute("/jwks",
                    HttpResponse::Reply(
                        200, JwksWith(absl::StrCat(kX25519Jwk, ",", kOctJwk), {&KeyA(), &KeyB()})));
  auto source = Create(BaseOptions());
  ASSERT_NE(source, nullptr);
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-0", "ES256-1"));
  EXPECT_EQ(source->stats().successes, 1u);
}

TEST_F(RemoteKeySourceTest, SetWithoutUsableKeyIsAFailedFetch) {
  server_->SetRoute("/jwks", HttpResponse::Reply(200, JwksWith(kOctJwk, {})));
  auto source = Create(BaseOptions());
  ASSERT_NE(source, nullptr);
  EXPECT_TRUE(source->Current()->empty());
  std::string why;
  EXPECT_FALSE(source->Ready(&why));
  EXPECT_EQ(why, absl::StrCat("no key set fetched yet; last error: jwks ", server_->Url("/jwks"),
                              ": no usable key (1 skipped)"));
  EXPECT_EQ(source->stats().failures, 1u);
}

TEST(DiscoveryUrlsTest, FollowsOpenIdConnectThenRfc8414) {
  struct Case {
    std::string issuer;
    std::vector<std::string> urls;
  };
  const Case cases[] = {
      {"https://a.example",
       {"https://a.example/.well-known/openid-configuration",
        "https://a.example/.well-known/oauth-authorization-server"}},
      {"https://a.example/",
       {"https://a.example/.well-known/openid-configuration",
        "https://a.example/.well-known/oauth-authorization-server"}},
      // RFC 8414 3.1: the well-known segment goes between host and path.
      {"https://a.example:8443/tenants/t1/",
       {"https://a.example:8443/tenants/t1/.well-known/openid-configuration",
        "https://a.example:8443/.well-known/oauth-authorization-server/tenants/t1"}},
      {"https://a.example/?q=1", {}},
      {"https://a.example/#f", {}},
      {"https://user@a.example/", {}},
      {"ftp://a.example/", {}},
      {"https:///x", {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.issuer);
    EXPECT_EQ(RemoteKeySource::DiscoveryUrls(c.issuer), c.urls);
  }
}

TEST_F(RemoteKeySourceTest, DiscoveryFindsTheJwksUri) {
  struct Case {
    std::string name;
    std::string tenant;
    std::string document_path;  // where the test server publishes the document
    uint64_t http_requests;     // discovery documents tried + the JWKS
  };
  const Case cases[] = {
      {"openid-configuration", "/t-oidc", "/t-oidc/.well-known/openid-configuration", 2},
      // The OpenID Connect document answers 404; RFC 8414's is next.
      {"oauth-authorization-server", "/t-oauth", "/.well-known/oauth-authorization-server/t-oauth",
       3},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string issuer = server_->Url(c.tenant);
    const std::string keys_path = c.tenant + "/keys";
    server_->SetRoute(keys_path, HttpResponse::Reply(200, Jwks({&KeyB()})));
    server_->SetRoute(
        c.document_path,
        HttpResponse::Reply(200, absl::StrCat(R"({"issuer":")", issuer, R"(","jwks_uri":")",
                                              server_->Url(keys_path), R"("})")));
    RemoteKeySource::Options o = BaseOptions();
    o.issuer = issuer;
    o.jwks_uri = "";
    auto source = Create(o);
    ASSERT_NE(source, nullptr);
    EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-1"));
    EXPECT_EQ(server_->RequestCount(c.tenant + "/.well-known/openid-configuration"), 1);
    EXPECT_EQ(server_->RequestCount(keys_path), 1);
    EXPECT_EQ(source->stats().http_requests, c.http_requests);
  }
}

TEST_F(RemoteKeySourceTest, DiscoveryDocumentMustNameTheConfiguredIssuer) {
  struct Case {
    std::string name;
    std::string document;  // @ISS@ is the configured issuer, @KEYS@ the keys URL
    std::string error;
  };
  const Case cases[] = {
      {"trailing slash differs", R"({"issuer":"@ISS@/","jwks_uri":"@KEYS@"})",
       "differs from the configured"},
      {"another issuer", R"({"issuer":"https://evil.example","jwks_uri":"@KEYS@"})",
       "issuer \"https://evil.example\" differs from the configured \"@ISS@\""},
      {"issuer missing", R"({"jwks_uri":"@KEYS@"})", "no issuer string"},
      {"issuer not a string", R"({"issuer":1,"jwks_uri":"@KEYS@"})", "no issuer string"},
      {"jwks_uri missing", R"({"issuer":"@ISS@"})", "no jwks_uri string"},
      {"not JSON", R"({"issuer":"@ISS@",)", "not valid JSON"},
      {"duplicate member", R"({"issuer":"@ISS@","issuer":"@ISS@","jwks_uri":"@KEYS@"})",
       "not valid JSON"},
      {"not an object", R"(["@ISS@"])", "not a JSON object"},
      {"jwks_uri over plain http", R"({"issuer":"@ISS@","jwks_uri":"http://127.0.0.1:1/k"})",
       "refusing plain http:// URL http://127.0.0.1:1/k (allow_http is false)"},
  };
  int n = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string tenant = absl::StrCat("/bad-", n++);
    const std::string issuer = server_->Url(tenant);
    const std::string keys_path = tenant + "/keys";
    auto fill = [&](std::string s) {
      for (auto [from, to] : {std::pair<std::string, std::string>{"@ISS@", issuer},
                              {"@KEYS@", server_->Url(keys_path)}}) {
        for (size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, from.size(), to);
      }
      return s;
    };
    server_->SetRoute(keys_path, HttpResponse::Reply(200, Jwks({&KeyA()})));
    server_->SetRoute(tenant + "/.well-known/openid-configuration",
                      HttpResponse::Reply(200, fill(c.document)));
    RemoteKeySource::Options o = BaseOptions();
    o.issuer = issuer;
    o.jwks_uri = "";
    auto source = Create(o);
    ASSERT_NE(source, nullptr);
    EXPECT_TRUE(source->Current()->empty());
    EXPECT_THAT(source->stats().last_error, HasSubstr(fill(c.error)));
    EXPECT_EQ(source->stats().failures, 1u);
    EXPECT_EQ(server_->RequestCount(keys_path), 0);
  }
}

TEST_F(RemoteKeySourceTest, OutageServesLastGoodSetUntilMaxStaleThenRecovers) {
  auto source = Create(BaseOptions());  // max_stale 1h, min_refresh 5m
  ASSERT_NE(source, nullptr);
  const std::shared_ptr<const KeySet> good = source->Current();
  server_->SetRoute("/jwks", HttpResponse::Reply(503, "down"));
  std::string why;

  Advance(*source, absl::Minutes(5), 2);  // the regular refresh fails
  EXPECT_EQ(source->Current(), good);
  EXPECT_TRUE(source->Ready(&why)) << why;
  EXPECT_THAT(source->stats().last_error, HasSubstr("HTTP status 503"));
  EXPECT_EQ(source->stats().next_refresh, kNow + absl::Minutes(5) + absl::Seconds(1));

  Advance(*source, absl::Minutes(50), 3);  // 55 minutes after the last success
  EXPECT_EQ(source->Current(), good);
  EXPECT_TRUE(source->Ready(&why)) << why;
  // Backoff doubles: the third failure in a row waits 4 s.
  Advance(*source, absl::Seconds(4), 4);
  EXPECT_EQ(source->stats().next_refresh, clock_.Now() + absl::Seconds(4));

  Advance(*source, absl::Minutes(6), 5);  // now past max_stale
  EXPECT_TRUE(source->Current()->empty());
  EXPECT_FALSE(source->Ready(&why));
  EXPECT_THAT(why, HasSubstr("keys are stale: last successful fetch 1h1m4s ago, max_stale 1h"));
  EXPECT_EQ(source->stats().keys, 1u);
  EXPECT_EQ(source->stats().failures, 4u);

  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})));
  Advance(*source, absl::Minutes(1), 6);
  EXPECT_TRUE(source->Ready(&why)) << why;
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-0"));
  EXPECT_EQ(source->stats().last_error, "");
}

TEST_F(RemoteKeySourceTest, SlowResponseTimesOutAndCountsAsFailure) {
  RemoteKeySource::Options o = BaseOptions();
  o.fetch.timeout = absl::Milliseconds(300);
  auto source = Create(o);
  ASSERT_NE(source, nullptr);
  const std::shared_ptr<const KeySet> good = source->Current();
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyB()})).WithDelay(absl::Seconds(3)));
  const absl::Time start = absl::Now();
  Advance(*source, absl::Minutes(5), 2);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(source->stats().failures, 1u);
  EXPECT_THAT(source->stats().last_error, HasSubstr("no complete response within 300ms"));
  EXPECT_EQ(source->Current(), good);
}

TEST_F(RemoteKeySourceTest, BadResponsesKeepTheLastGoodSet) {
  const std::string big(1048577, ' ');
  struct Case {
    std::string name;
    HttpResponse response;
    std::string error;
  };
  const Case cases[] = {
      {"truncated JSON", HttpResponse::Reply(200, R"({"keys":[)"), "jwks: "},
      {"trailing garbage", HttpResponse::Reply(200, Jwks({&KeyB()}) + " x"), "jwks: "},
      {"duplicate member", HttpResponse::Reply(200, R"({"keys":[],"keys":[]})"), "jwks: "},
      {"keys not an array", HttpResponse::Reply(200, R"({"keys":{}})"),
       "jwks \"keys\" is not an array"},
      {"an HTML page", HttpResponse::Reply(200, "<html><body>Sign in</body></html>"), "jwks: "},
      {"no usable key", HttpResponse::Reply(200, JwksWith(kOctJwk, {})),
       "no usable key (1 skipped)"},
      {"server error", HttpResponse::Reply(500, "{}"), "HTTP status 500"},
      {"redirect (not followed)",
       HttpResponse::Reply(302, "").WithHeader("Location", "https://127.0.0.1:1/elsewhere"),
       "HTTP status 302"},
      {"body over 1 MiB (Content-Length)", HttpResponse::Reply(200, "{\"keys\":[]}" + big),
       "response body exceeds 1048576 bytes"},
      {"body over 1 MiB (streamed)",
       HttpResponse::Raw("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"keys\":[]}" + big),
       "response body exceeds 1048576 bytes"},
      {"not HTTP", HttpResponse::Raw("SSH-2.0-OpenSSH\r\n\r\n"), "jwks https://"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    clock_.Set(kNow);
    server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})));
    auto source = Create(BaseOptions());
    ASSERT_NE(source, nullptr);
    const std::shared_ptr<const KeySet> good = source->Current();
    ASSERT_EQ(good->size(), 1u);
    server_->SetRoute("/jwks", c.response);
    Advance(*source, absl::Minutes(5), 2);
    EXPECT_EQ(source->stats().failures, 1u);
    EXPECT_THAT(source->stats().last_error, HasSubstr(c.error));
    EXPECT_EQ(source->Current(), good);
    std::string why;
    EXPECT_TRUE(source->Ready(&why)) << why;
  }
}

TEST(ParseCacheControlMaxAgeTest, ReadsMaxAgeAndNoStore) {
  struct Case {
    std::string value;
    std::optional<absl::Duration> max_age;
  };
  const Case cases[] = {
      {"max-age=600", absl::Seconds(600)},
      {"public, max-age=3600, must-revalidate", absl::Seconds(3600)},
      {"Max-Age=\"60\"", absl::Seconds(60)},
      {"max-age=0", absl::ZeroDuration()},
      {"no-store", absl::ZeroDuration()},
      {"max-age=600, no-cache", absl::ZeroDuration()},
      {"max-age=99999999999999999999", absl::Seconds(1000000000)},
      {"max-age=-5", std::nullopt},
      {"max-age=1e3", std::nullopt},
      {"max-age=", std::nullopt},
      {"s-maxage=600", std::nullopt},
      {"public", std::nullopt},
      {"", std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.value);
    EXPECT_EQ(ParseCacheControlMaxAge(c.value), c.max_age);
  }
}

TEST_F(RemoteKeySourceTest, CacheControlMaxAgeSetsTheRefreshWithinBounds) {
  struct Case {
    std::string cache_control;  // "" sends none
    absl::Duration next;        // min_refresh 5m, max_refresh 1h
  };
  const Case cases[] = {
      {"", absl::Minutes(5)},
      {"max-age=600", absl::Minutes(10)},
      {"public, max-age=1200", absl::Minutes(20)},
      {"max-age=10", absl::Minutes(5)},   // clamped up to min_refresh
      {"max-age=86400", absl::Hours(1)},  // clamped down to max_refresh
      {"no-store", absl::Minutes(5)},
      {"max-age=soon", absl::Minutes(5)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.cache_control);
    clock_.Set(kNow);
    HttpResponse r = HttpResponse::Reply(200, Jwks({&KeyA()}));
    if (!c.cache_control.empty()) r = r.WithHeader("Cache-Control", c.cache_control);
    server_->SetRoute("/jwks", r);
    auto source = Create(BaseOptions());
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->stats().next_refresh, kNow + c.next);
  }
}

// WatchedClock forwards to a FakeClock and counts the reads made by threads
// other than the one that created it (here: the source's scheduler), so a test
// can wait until the scheduler has looked at a time instead of sleeping.
class WatchedClock final : public Clock {
 public:
  explicit WatchedClock(const FakeClock* clock) : clock_(clock) {}
  absl::Time Now() const override {
    if (std::this_thread::get_id() != owner_) {
      absl::MutexLock lock(&mu_);
      ++other_reads_;
    }
    return clock_->Now();
  }
  uint64_t other_reads() const {
    absl::MutexLock lock(&mu_);
    return other_reads_;
  }
  // AwaitOtherReads waits until other threads have read the clock `n` times.
  bool AwaitOtherReads(uint64_t n) const {
    absl::MutexLock lock(&mu_);
    auto done = [this, n] { return other_reads_ >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), kWait);
  }

 private:
  const FakeClock* clock_;
  const std::thread::id owner_ = std::this_thread::get_id();
  mutable absl::Mutex mu_;
  mutable uint64_t other_reads_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(RemoteKeySourceTest, RefreshRunsWhenMaxAgeHasPassedNotBefore) {
  server_->SetRoute(
      "/jwks",
      HttpResponse::Reply(200, Jwks({&KeyA()})).WithHeader("Cache-Control", "max-age=600"));
  WatchedClock watched(&clock_);
  auto created = RemoteKeySource::Create(BaseOptions(), fetcher_.get(), &watched);
  ASSERT_TRUE(created.ok()) << created.status();
  std::unique_ptr<RemoteKeySource> source = *std::move(created);
  ASSERT_TRUE(source->AwaitCompletedFetches(1, kWait));
  clock_.Advance(absl::Seconds(599));
  // The scheduler reads the clock twice per round (before its wait and at
  // its decision) and starts a fetch (counting it) before its next round.
  // Three reads after the advance thus include a whole decision at 599 s.
  ASSERT_TRUE(watched.AwaitOtherReads(watched.other_reads() + 3));
  EXPECT_EQ(source->stats().fetches, 1u);
  EXPECT_EQ(server_->RequestCount("/jwks"), 1);
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA(), &KeyB()})));
  Advance(*source, absl::Seconds(1), 2);
  EXPECT_EQ(server_->RequestCount("/jwks"), 2);
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-0", "ES256-1"));
}

TEST_F(RemoteKeySourceTest, EtagAndUnchangedBodyKeepTheSameSet) {
  const std::string jwks = Jwks({&KeyA()});
  server_->SetHandler("/jwks", [jwks](const HttpRequest& req) {
    if (req.Header("if-none-match") == "\"v1\"") return HttpResponse::Reply(304, "");
    return HttpResponse::Reply(200, jwks).WithHeader("ETag", "\"v1\"");
  });
  server_->SetRoute("/plain", HttpResponse::Reply(200, jwks));
  for (const std::string path : {"/jwks", "/plain"}) {
    SCOPED_TRACE(path);
    clock_.Set(kNow);
    RemoteKeySource::Options o = BaseOptions();
    o.jwks_uri = server_->Url(path);
    auto source = Create(o);
    ASSERT_NE(source, nullptr);
    const std::shared_ptr<const KeySet> first = source->Current();
    Advance(*source, absl::Minutes(5), 2);
    EXPECT_EQ(source->Current(), first);
    EXPECT_EQ(source->stats().successes, 2u);
    EXPECT_EQ(source->stats().not_modified, 1u);
    EXPECT_EQ(source->stats().next_refresh, kNow + absl::Minutes(10));
    EXPECT_EQ(server_->LastRequest(path).Header("if-none-match"), path == "/jwks" ? "\"v1\"" : "");
  }
}

TEST_F(RemoteKeySourceTest, PlainHttpOnlyWithAllowHttp) {
  auto plain = HttpsTestServer::Start({.tls = false});
  ASSERT_TRUE(plain.ok()) << plain.status();
  (*plain)->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})));
  for (bool allow_http : {false, true}) {
    SCOPED_TRACE(allow_http);
    RemoteKeySource::Options o = BaseOptions();
    o.jwks_uri = (*plain)->Url("/jwks");
    o.fetch.ca_file = "";
    o.fetch.allow_http = allow_http;
    auto source = Create(o);
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(source->Current()->size(), allow_http ? 1u : 0u);
    EXPECT_EQ((*plain)->RequestCount("/jwks"), allow_http ? 1 : 0);
    if (!allow_http) {
      EXPECT_THAT(source->stats().last_error,
                  HasSubstr(absl::StrCat("refusing plain http:// URL ", (*plain)->Url("/jwks"),
                                         " (allow_http is false)")));
    }
  }
}

TEST_F(RemoteKeySourceTest, CertificateFromAnotherCaIsRefused) {
  auto other = HttpsTestServer::Start();
  ASSERT_TRUE(other.ok()) << other.status();
  struct Case {
    std::string name;
    std::string ca_file;
  };
  const Case cases[] = {
      {"another test CA", (*other)->ca_file()},
      {"system CA bundle", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    RemoteKeySource::Options o = BaseOptions();
    o.fetch.ca_file = c.ca_file;
    auto source = Create(o);
    ASSERT_NE(source, nullptr);
    EXPECT_TRUE(source->Current()->empty());
    EXPECT_EQ(source->stats().failures, 1u);
    EXPECT_THAT(source->stats().last_error, HasSubstr("certificate"));
  }
  // The TLS handshake failed, so no request ever reached the server.
  EXPECT_EQ(server_->RequestCount("/jwks"), 0);
}

TEST_F(RemoteKeySourceTest, UnknownKidRefreshIsRateLimitedAndCoalesced) {
  auto source = Create(BaseOptions());  // kid_refetch_interval 30s
  ASSERT_NE(source, nullptr);
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA(), &KeyB()})));

  absl::Notification refreshed;
  ASSERT_TRUE(source->RefreshForUnknownKid([&] { refreshed.Notify(); }));
  ASSERT_TRUE(refreshed.WaitForNotificationWithTimeout(kWait));
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-0", "ES256-1"));
  EXPECT_FALSE(source->RefreshForUnknownKid([] { ADD_FAILURE() << "rate-limited call ran"; }));
  clock_.Advance(absl::Seconds(29));
  EXPECT_FALSE(source->RefreshForUnknownKid([] { ADD_FAILURE() << "rate-limited call ran"; }));

  // 16 concurrent misses while one slow fetch runs: one fetch, 16 releases.
  clock_.Advance(absl::Seconds(1));
  server_->SetRoute("/jwks",
                    HttpResponse::Reply(200, Jwks({&KeyB()})).WithDelay(absl::Milliseconds(300)));
  std::atomic<int> accepted{0}, released{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      if (source->RefreshForUnknownKid([&] { released.fetch_add(1); })) accepted.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(source->AwaitCompletedFetches(3, kWait));
  EXPECT_EQ(accepted.load(), 16);
  EXPECT_EQ(released.load(), 16);
  EXPECT_EQ(server_->RequestCount("/jwks"), 3);
  const RemoteKeySource::Stats s = source->stats();
  EXPECT_EQ(s.kid_miss_refreshes, 2u);
  EXPECT_EQ(s.kid_miss_coalesced, 15u);
  EXPECT_EQ(s.kid_miss_rate_limited, 2u);
  EXPECT_THAT(Kids(*source->Current()), ElementsAre("ES256-1"));
}

TEST_F(RemoteKeySourceTest, DestroyingDuringAFetchDoesNotWaitAndReleasesWaiters) {
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})).WithDelay(absl::Seconds(5)));
  auto source = RemoteKeySource::Create(BaseOptions(), fetcher_.get(), &clock_);
  ASSERT_TRUE(source.ok()) << source.status();
  absl::Notification released;
  ASSERT_TRUE((*source)->RefreshForUnknownKid([&] { released.Notify(); }));  // joins the fetch
  const absl::Time start = absl::Now();
  source->reset();
  fetcher_.reset();  // aborts the transfer in progress
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(released.HasBeenNotified());
}

// --- Through the Authenticator: the unknown-kid retry in Decide ---

class AuthenticatorJwksTest : public RemoteKeySourceTest {
 protected:
  std::unique_ptr<Authenticator> MakeAuthenticator() {
    Config config = unit::BaseConfig();
    IssuerConfig& ic = config.issuers[0];
    ic.jwks_inline.clear();
    ic.jwks_uri = server_->Url("/jwks");
    ic.ca_file = server_->ca_file();
    ic.kid_refetch_interval = absl::Seconds(30);
    config.default_binding = BindingRequirement::kBearer;
    std::vector<std::string> warnings;
    auto auth =
        Authenticator::Create(config, NativeVerifier::Create(), &clock_, &replay_, &warnings);
    EXPECT_TRUE(auth.ok()) << auth.status();
    if (!auth.ok()) return nullptr;
    source_ = dynamic_cast<RemoteKeySource*>((*auth)->issuers().Find(unit::kIssuer)->keys.get());
    EXPECT_NE(source_, nullptr);
    if (source_ == nullptr) return nullptr;
    EXPECT_TRUE(source_->AwaitCompletedFetches(1, kWait));
    return *std::move(auth);
  }

  // Token returns a bearer token signed by `key` under `kid`, valid for an hour.
  static std::string Token(const PrivateKey& key, const std::string& kid) {
    JsonValue header =
        unit::WithMember(unit::TokenHeader(key, JwsAlg::kES256), "kid", unit::Str(kid));
    JsonValue claims =
        unit::WithMember(unit::TokenClaims(kNow), "exp", unit::Secs(kNow + absl::Hours(1)));
    return unit::Sign(key, JwsAlg::kES256, header, claims);
  }

  static Decision Decide(const Authenticator& auth, const std::string& token) {
    HttpRequestInfo req;
    req.method = "GET";
    req.url = "https://api.example/resource";
    req.headers = {{"authorization", "Bearer " + token}};
    return auth.DecideSync(req);
  }

  MemoryReplayStore replay_{1000};
  RemoteKeySource* source_ = nullptr;
};

TEST_F(AuthenticatorJwksTest, RotatedKeyIsPickedUpOnFirstUseAndRemovedKeyStopsVerifying) {
  auto auth = MakeAuthenticator();
  ASSERT_NE(auth, nullptr);
  const std::string token_a = Token(KeyA(), "ES256-0");
  const std::string token_b = Token(KeyB(), "ES256-1");
  EXPECT_EQ(ReasonCode(Decide(*auth, token_a).reason), "ok");

  // The issuer adds key B: the first token signed by it makes popguard fetch.
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA(), &KeyB()})));
  EXPECT_EQ(ReasonCode(Decide(*auth, token_b).reason), "ok");
  EXPECT_EQ(server_->RequestCount("/jwks"), 2);
  EXPECT_EQ(source_->stats().kid_miss_refreshes, 1u);
  EXPECT_EQ(ReasonCode(Decide(*auth, token_a).reason), "ok");  // old key still in the set

  // The issuer drops key A. Tokens signed by A keep working until popguard
  // learns that (here: a later fetch caused by another unknown kid).
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyB()})));
  EXPECT_EQ(ReasonCode(Decide(*auth, token_a).reason), "ok");
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(ReasonCode(Decide(*auth, Token(KeyB(), "unknown")).reason), "token_key_not_found");
  EXPECT_EQ(server_->RequestCount("/jwks"), 3);
  // token_a was cached as verified; the cache must not outlive its key.
  const Decision d = Decide(*auth, token_a);
  EXPECT_EQ(ReasonCode(d.reason), "token_key_not_found");
  EXPECT_EQ(d.message, absl::StrCat("no key kid=\"ES256-0\" for issuer ", unit::kIssuer));
  EXPECT_EQ(ReasonCode(Decide(*auth, token_b).reason), "ok");
  // The miss for token_a was rate-limited: no fetch for it.
  EXPECT_EQ(server_->RequestCount("/jwks"), 3);
}

TEST_F(AuthenticatorJwksTest, UnknownKidFloodStaysWithinTheRateLimit) {
  auto auth = MakeAuthenticator();  // kid_refetch_interval 30s
  ASSERT_NE(auth, nullptr);
  constexpr int kRounds = 10;
  constexpr int kPerRound = 50;
  constexpr int kThreads = 8;
  std::vector<std::string> tokens;
  for (int i = 0; i < kRounds * kPerRound; ++i) {
    tokens.push_back(Token(KeyA(), unit::UniqueId("random-kid-")));
  }
  std::atomic<int> denied_key_not_found{0};
  for (int round = 0; round < kRounds; ++round) {
    // 50 requests with made-up kids from 8 threads at once, then 10 s pass.
    std::atomic<int> next{round * kPerRound};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < (round + 1) * kPerRound;) {
          if (Decide(*auth, tokens[i]).reason == Reason::kTokenKeyNotFound) {
            denied_key_not_found.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    clock_.Advance(absl::Seconds(10));
  }
  EXPECT_EQ(denied_key_not_found.load(), kRounds * kPerRound);
  // 90 s of fake time at one fetch per 30 s: fetches at 0, 30, 60 and 90 s,
  // plus the initial one, whatever 500 attackers' kids say.
  const RemoteKeySource::Stats s = source_->stats();
  EXPECT_EQ(s.kid_miss_refreshes, 4u);
  EXPECT_EQ(s.kid_miss_refreshes + s.kid_miss_coalesced + s.kid_miss_rate_limited,
            static_cast<uint64_t>(kRounds * kPerRound));
  EXPECT_EQ(s.fetches, 5u);
  EXPECT_EQ(server_->RequestCount("/jwks"), 5);
}

TEST_F(RemoteKeySourceTest, RegistryStartsNotReadyWhenTheIssuerIsDownThenRecovers) {
  server_->SetRoute("/jwks", HttpResponse::Reply(503, "down"));
  for (bool required : {true, false}) {
    SCOPED_TRACE(required);
    clock_.Set(kNow);
    Config config = unit::BaseConfig();
    IssuerConfig& ic = config.issuers[0];
    ic.jwks_inline.clear();
    ic.jwks_uri = server_->Url("/jwks");
    ic.ca_file = server_->ca_file();
    ic.required = required;
    std::vector<std::string> warnings;
    auto registry = IssuerRegistry::Create(config, &warnings, {fetcher_.get(), &clock_});
    ASSERT_TRUE(registry.ok()) << registry.status();  // start-up does not fail
    auto* source = dynamic_cast<RemoteKeySource*>((*registry)->Find(unit::kIssuer)->keys.get());
    ASSERT_NE(source, nullptr);
    ASSERT_TRUE(source->AwaitCompletedFetches(1, kWait));
    std::string why;
    EXPECT_EQ((*registry)->Ready(&why), !required);
    if (required) {
      EXPECT_EQ(
          why, absl::StrCat("issuer ", unit::kIssuer, ": no key set fetched yet; last error: jwks ",
                            server_->Url("/jwks"), ": HTTP status 503"));
    }
  }
  // Recovery: the next retry (1 s later) finds the keys.
  clock_.Set(kNow);
  Config config = unit::BaseConfig();
  config.issuers[0].jwks_inline.clear();
  config.issuers[0].jwks_uri = server_->Url("/jwks");
  config.issuers[0].ca_file = server_->ca_file();
  std::vector<std::string> warnings;
  auto registry = IssuerRegistry::Create(config, &warnings, {fetcher_.get(), &clock_});
  ASSERT_TRUE(registry.ok()) << registry.status();
  auto* source = dynamic_cast<RemoteKeySource*>((*registry)->Find(unit::kIssuer)->keys.get());
  ASSERT_TRUE(source->AwaitCompletedFetches(1, kWait));
  server_->SetRoute("/jwks", HttpResponse::Reply(200, Jwks({&KeyA()})));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(source->AwaitCompletedFetches(2, kWait));
  std::string why;
  EXPECT_TRUE((*registry)->Ready(&why)) << why;
}

}  // namespace
}  // namespace popguard
