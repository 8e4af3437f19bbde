// The revocation stage of the Authenticator (service/authn/authenticator.cc):
// where in the flow the list is consulted, with the file source and the
// Redis-fed LiveRevocations, on the injected clock.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/authn/authenticator.h"
#include "service/authn/revocation.h"
#include "service/common/log.h"
#include "service/jose/native_verifier.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::kNow;
using unit::SharedKey;

constexpr char kUrl[] = "https://api.example/public/x";
constexpr char kDpopUrl[] = "https://api.example/dpop/x";

const PrivateKey& ProofKey() { return SharedKey(JwsAlg::kES256, 7); }

std::string Token(JsonValue claims = unit::TokenClaims(kNow)) {
  return unit::MintToken(SharedKey(JwsAlg::kES256), JwsAlg::kES256, claims);
}

HttpRequestInfo Bearer(const std::string& token, const std::string& url = kUrl) {
  HttpRequestInfo r;
  r.method = "GET";
  r.url = url;
  r.headers = {{"authorization", "Bearer " + token}};
  return r;
}

class RevocationStageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { SetLogLevel(LogLevel::kError); }

  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "revocation_stage.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    auth_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Build makes an Authenticator whose revocation.file holds `entries` (none:
  // no file), with the live list live_.
  absl::Status Build(const std::vector<RevocationEntry>& entries) {
    Config config = unit::BaseConfig();
    RouteConfig pub;
    pub.name = "public";
    pub.match.path_prefix = "/public";
    pub.binding = BindingRequirement::kBearer;
    RouteConfig dpop = pub;
    dpop.name = "dpop";
    dpop.match.path_prefix = "/dpop";
    dpop.binding = BindingRequirement::kDpop;
    config.routes = {pub, dpop};
    if (!entries.empty()) {
      config.revocation.file = (dir_ / "revoked.jsonl").string();
      std::ofstream out(config.revocation.file);
      for (const RevocationEntry& e : entries) out << RevocationJsonLine(e) << "\n";
    }
    std::vector<std::string> warnings;
    auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, &replay_, &warnings,
                                   nullptr, nullptr, &live_);
    if (!a.ok()) return a.status();
    auth_ = *std::move(a);
    return absl::OkStatus();
  }

  std::string Decide(const HttpRequestInfo& request) {
    return std::string(ReasonCode(auth_->DecideSync(request).reason));
  }

  std::filesystem::path dir_;
  FakeClock clock_{kNow};
  MemoryReplayStore replay_{1000, 4};
  LiveRevocations live_;
  std::unique_ptr<Authenticator> auth_;
};

RevocationEntry Entry(RevocationKind kind, std::string issuer, std::string value,
                      absl::Duration lasts = absl::Hours(1)) {
  return RevocationEntry{kind, std::move(issuer), std::move(value), kNow + lasts};
}

TEST_F(RevocationStageTest, OnlyAVerifiedTokenReachesTheList) {
  ASSERT_TRUE(Build({Entry(RevocationKind::kJti, "", "token-1")}).ok());
  const std::string good = Token();
  JsonValue expired = unit::TokenClaims(kNow - absl::Hours(1));
  struct Case {
    const char* name;
    std::string token;
    const char* reason;
  };
  const Case cases[] = {
      {"verified token with a revoked jti", good, "token_revoked"},
      // A forged token naming the revoked jti learns nothing about the list.
      {"bad signature", unit::FlipSignatureBit(good, 3), "token_signature_invalid"},
      {"expired", Token(expired), "token_expired"},
      {"another jti", Token(unit::WithMember(unit::TokenClaims(kNow), "jti", unit::Str("t-2"))),
       "ok"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Decide(Bearer(c.token)), c.reason);
  }
}

TEST_F(RevocationStageTest, ARevokedKeyIsDeniedBeforeTheProofIsChecked) {
  ASSERT_TRUE(Build({Entry(RevocationKind::kJkt, "", ProofKey().Thumbprint())}).ok());
  const std::string token =
      Token(unit::WithMember(unit::TokenClaims(kNow), "cnf",
                             JsonValue::Object({{"jkt", unit::Str(ProofKey().Thumbprint())}})));
  HttpRequestInfo r = Bearer(token, kDpopUrl);
  r.headers = {{"authorization", "DPoP " + token}, {"dpop", "not-a-proof"}};
  // No proof signature is spent, and no jti recorded, for a revoked key.
  EXPECT_EQ(Decide(r), "key_revoked");
  EXPECT_EQ(replay_.Size(), 0u);
}

TEST_F(RevocationStageTest, FileAndLiveEntriesDenyUntilTheirExpiry) {
  ASSERT_TRUE(Build({Entry(RevocationKind::kSub, unit::kIssuer, "alice", absl::Minutes(1))}).ok());
  const std::string token = Token();  // sub alice, client-1; exp in 5 minutes
  EXPECT_EQ(Decide(Bearer(token)), "token_revoked");
  live_.Add({Entry(RevocationKind::kClientId, "", "client-1", absl::Minutes(2))}, kNow);
  clock_.Advance(absl::Minutes(1));                   // the file entry has expired
  EXPECT_EQ(Decide(Bearer(token)), "token_revoked");  // the live one has not
  clock_.Advance(absl::Minutes(1));
  EXPECT_EQ(Decide(Bearer(token)), "ok");
}

TEST_F(RevocationStageTest, ABadFileFailsCreate) {
  Config config = unit::BaseConfig();
  config.revocation.file = (dir_ / "bad.jsonl").string();
  std::ofstream(config.revocation.file) << "{\"kind\":\"jti\",\"value\":\"x\"}\n";
  std::vector<std::string> warnings;
  auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, &replay_, &warnings);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(a.status().message()).find("line 1: until is missing"), std::string::npos)
      << a.status();
}

}  // namespace
}  // namespace popguard
