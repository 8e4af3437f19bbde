// End-to-end: the real popguard binary with an issuer whose keys come from a
// jwks_uri on a test HTTPS server (tests/testing/https_test_server.h), trusted
// through ca_file = the CA the server made at start. Shows that gRPC health
// is NOT_SERVING until the keys have arrived, that tokens verify once they
// have, and that a key the issuer adds later is fetched on its first use
// while made-up kids cause no further fetches.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/common/json.h"
#include "tests/testing/https_test_server.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::popguard::testserver::HttpResponse;
using ::popguard::testserver::HttpsTestServer;

constexpr char kIss[] = "https://issuer.jwks.test";
constexpr int kServing = 1;
constexpr int kNotServing = 2;

std::string JwksOf(const std::vector<const PrivateKey*>& keys) {
  std::vector<JsonValue> jwks;
  for (const PrivateKey* k : keys) jwks.push_back(k->PublicJwk());
  return SerializeJson(JsonValue::Object({{"keys", JsonValue::Array(std::move(jwks))}}));
}

// WaitForHealth polls the health status until it is `want`; false on timeout.
bool WaitForHealth(const std::shared_ptr<grpc::Channel>& channel, int want,
                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    absl::StatusOr<int> status = HealthCheck(channel, "");
    if (status.ok() && *status == want) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

class E2eJwksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpsTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    jwks_server_ = *std::move(server);
  }

  // Verify sends a GET with `token` as a bearer token and returns the answer.
  popguard::v1::VerifyResponse Verify(const std::string& token) {
    HttpSpec spec;
    spec.url = "https://api.test/orders";
    spec.headers = {{"Authorization", "Bearer " + token}};
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    popguard::v1::VerifyResponse response;
    grpc::Status status = stub_->Verify(&ctx, ToVerifyRequest(spec, "jwks"), &response);
    EXPECT_TRUE(status.ok()) << status.error_message() << "\n" << process_->LogText();
    return response;
  }

  std::unique_ptr<HttpsTestServer> jwks_server_;
  TempDir dir_;
  std::unique_ptr<PopguardProcess> process_;
  std::unique_ptr<popguard::v1::Verifier::Stub> stub_;
};

TEST_F(E2eJwksTest, ServingOnlyWithKeysAndRotatedKeyIsFetchedOnFirstUse) {
  const TestIssuer issuer(
      kIss, {{"k1", JwsAlg::kES256}, {"k2", JwsAlg::kES256}, {"unpublished", JwsAlg::kES256}});
  const PrivateKey& k1 = issuer.keys()[0];
  const PrivateKey& k2 = issuer.keys()[1];
  const PrivateKey& unpublished = issuer.keys()[2];

  // The issuer is not serving keys yet when popguard starts.
  jwks_server_->SetRoute("/jwks", HttpResponse::Reply(503, "starting"));
  const std::string config =
      dir_.Write("popguard.yaml", absl::StrCat(R"(log_level: info
issuers:
  - issuer: )",
                                               kIss, R"(
    jwks_uri: )",
                                               jwks_server_->Url("/jwks"), R"(
    ca_file: )",
                                               jwks_server_->ca_file(), R"(
    audiences: [https://api.test]
    kid_refetch_interval: 1h
default_binding: bearer
)"));
  auto process = PopguardProcess::Start(config);
  ASSERT_TRUE(process.ok()) << process.status();
  process_ = *std::move(process);
  std::shared_ptr<grpc::Channel> channel = process_->NewChannel();
  stub_ = popguard::v1::Verifier::NewStub(channel);

  // Started, but not ready: no keys, and tokens are refused for that reason.
  absl::StatusOr<int> health = HealthCheck(channel, "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, kNotServing);
  const std::string token1 = issuer.MintToken({.key = &k1});
  popguard::v1::VerifyResponse r = Verify(token1);
  EXPECT_EQ(r.decision(), popguard::v1::DENY);
  EXPECT_EQ(r.reason_code(), "token_key_not_found");

  // The issuer comes up: popguard's retry finds the keys and it turns ready.
  jwks_server_->SetRoute("/jwks", HttpResponse::Reply(200, JwksOf({&k1})));
  ASSERT_TRUE(WaitForHealth(channel, kServing, absl::Seconds(20))) << process_->LogText();
  r = Verify(token1);
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW) << r.reason_code() << ": " << r.message();

  // A fresh process, that has not yet fetched for an unknown kid (token1
  // above may have made the first one start such a fetch), with keys from
  // the start. kid_refetch_interval is 1h, so no wall clock decides below.
  ASSERT_EQ(process_->Stop(), 0) << process_->LogText();
  process = PopguardProcess::Start(config);
  ASSERT_TRUE(process.ok()) << process.status();
  process_ = *std::move(process);
  channel = process_->NewChannel();
  stub_ = popguard::v1::Verifier::NewStub(channel);
  ASSERT_TRUE(WaitForHealth(channel, kServing, absl::Seconds(20))) << process_->LogText();

  // The issuer rotates in k2. The first token signed by k2 makes popguard
  // fetch at once (its first unknown-kid fetch).
  jwks_server_->SetRoute("/jwks", HttpResponse::Reply(200, JwksOf({&k1, &k2})));
  const int fetches = jwks_server_->RequestCount("/jwks");
  r = Verify(issuer.MintToken({.key = &k2}));
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW) << r.reason_code() << ": " << r.message();
  EXPECT_EQ(jwks_server_->RequestCount("/jwks"), fetches + 1);

  // Tokens with kids the issuer never published: denied, and inside the
  // interval they cost no fetch at all.
  for (int i = 0; i < 20; ++i) {
    r = Verify(issuer.MintToken({.kid = absl::StrCat("made-up-", i), .key = &unpublished}));
    EXPECT_EQ(r.reason_code(), "token_key_not_found");
  }
  EXPECT_EQ(jwks_server_->RequestCount("/jwks"), fetches + 1);

  // The old key still verifies while the issuer keeps publishing it.
  r = Verify(token1);
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW) << r.reason_code() << ": " << r.message();
  EXPECT_TRUE(WaitForHealth(channel, kServing, absl::Seconds(10)));
  EXPECT_TRUE(process_->WaitForLogLine("\"event\":\"jwks_updated\"", absl::Seconds(10)));
}

}  // namespace
}  // namespace popguard::e2e
