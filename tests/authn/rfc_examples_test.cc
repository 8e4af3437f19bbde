// The published RFC 9449 (DPoP) and RFC 7638 (JWK thumbprint) examples,
// from shared/testvectors/rfc (provenance in its README.md), through the
// validators. The DPoP examples date from 2019, so `now` is the file's NOW.
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/authn/dpop.h"
#include "service/common/crypto_util.h"
#include "service/common/url.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"
#include "service/jose/signature.h"
#include "tests/testing/test_vectors.h"

namespace popguard {
namespace {

using testdata::KeyValueCase;

const KeyValueCase& FindCase(const std::vector<KeyValueCase>& cases, std::string_view prefix) {
  for (const KeyValueCase& c : cases) {
    auto it = c.find("CASE");
    if (it != c.end() && it->second.rfind(prefix, 0) == 0) return c;
  }
  static const KeyValueCase* empty = new KeyValueCase();
  ADD_FAILURE() << "no case " << prefix;
  return *empty;
}

std::string Get(const KeyValueCase& c, std::string_view key) {
  auto it = c.find(key);
  if (it == c.end()) {
    ADD_FAILURE() << "missing " << key;
    return "";
  }
  return it->second;
}

absl::Time NowOf(const KeyValueCase& c) { return absl::FromUnixSeconds(std::stoll(Get(c, "NOW"))); }

class Rfc9449ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cases_ = testdata::ParseKeyValueCases(
        testdata::ReadSharedFile("testvectors/rfc/rfc9449_examples.txt"));
    ASSERT_EQ(cases_.size(), 3u);
    verifier_ = CreateOpenSslVerifier();
  }

  // Validate runs `c`'s proof through a DpopValidator with RFC 9449's
  // resource-server defaults, at `now`.
  Reason Validate(const KeyValueCase& c, absl::Time now, std::string_view access_token,
                  DpopResult* out, std::string* detail) {
    DpopValidator validator(DpopConfig(), LimitsConfig(), verifier_.get(), /*nonces=*/nullptr);
    absl::StatusOr<NormalizedUrl> url = NormalizeAbsoluteUrl(Get(c, "URL"));
    EXPECT_TRUE(url.ok()) << url.status();
    const std::string request_url = url.ok() ? url->ToString() : "";
    const std::string proof = Get(c, "PROOF");
    const std::string method = Get(c, "METHOD");
    const std::string jkt = Get(c, "JKT");
    DpopRequest req;
    req.proof = proof;
    req.method = method;
    req.request_url = request_url;
    req.access_token = access_token;
    req.expected_jkt = jkt;
    req.now = now;
    return validator.Validate(req, out, detail);
  }

  std::vector<KeyValueCase> cases_;
  SignatureVerifierPtr verifier_;
};

// RFC 9449 section 7.1: the proof sent with GET /protectedresource.
TEST_F(Rfc9449ExamplesTest, ResourceRequestProofVerifies) {
  const KeyValueCase& c = FindCase(cases_, "section 7.1");
  EXPECT_EQ(Get(c, "METHOD"), "GET");
  EXPECT_EQ(Get(c, "URL"), "https://resource.example.org/protectedresource");
  const std::string token = Get(c, "ACCESS_TOKEN");
  EXPECT_EQ(Get(c, "AUTHORIZATION"), "DPoP " + token);
  DpopResult out;
  std::string detail;
  ASSERT_EQ(ReasonCode(Validate(c, NowOf(c), token, &out, &detail)), "ok") << detail;
  EXPECT_EQ(out.jkt, Get(c, "JKT"));
  EXPECT_EQ(out.replay_key.size(), 16u);
  // iat is NOW in the example; the jti is remembered until
  // iat + max_age + clock_skew + 1 s.
  EXPECT_EQ(out.issued_at, NowOf(c));
  EXPECT_EQ(out.replay_until, NowOf(c) + absl::Seconds(66));
}

// The same proof at the edge of max_age (60 s) and one second past it.
TEST_F(Rfc9449ExamplesTest, ResourceRequestProofGoesStale) {
  const KeyValueCase& c = FindCase(cases_, "section 7.1");
  const std::string token = Get(c, "ACCESS_TOKEN");
  DpopResult out;
  std::string detail;
  const absl::Duration max_age = DpopConfig().max_age;
  EXPECT_EQ(ReasonCode(Validate(c, NowOf(c) + max_age, token, &out, &detail)), "ok") << detail;
  EXPECT_EQ(ReasonCode(Validate(c, NowOf(c) + max_age + absl::Seconds(1), token, &out, &detail)),
            "dpop_iat_stale");
  // And before its iat beyond the clock skew (5 s).
  EXPECT_EQ(ReasonCode(Validate(c, NowOf(c) - absl::Seconds(6), token, &out, &detail)),
            "dpop_iat_future");
}

TEST_F(Rfc9449ExamplesTest, ResourceRequestProofIsBoundToItsToken) {
  const KeyValueCase& c = FindCase(cases_, "section 7.1");
  const std::string token = Get(c, "ACCESS_TOKEN");
  // ath = base64url(SHA-256(ASCII(access token))) (RFC 9449 section 4.2).
  EXPECT_EQ(Get(c, "ATH"), Base64UrlEncode(Sha256(token)));
  DpopResult out;
  std::string detail;
  EXPECT_EQ(ReasonCode(Validate(c, NowOf(c), token + "x", &out, &detail)), "dpop_ath_mismatch");
  // The proof carries exactly that ath.
  Jws jws;
  const std::string proof = Get(c, "PROOF");
  ASSERT_EQ(ParseCompactJws(proof, JsonLimits(), &jws, &detail), JwsError::kOk) << detail;
  ASSERT_NE(jws.payload.FindString("ath"), nullptr);
  EXPECT_EQ(*jws.payload.FindString("ath"), Get(c, "ATH"));
}

// RFC 9449 section 4.1: the token request proof has no ath (it is sent to the
// token endpoint, before there is a token), so a resource server refuses it;
// its signature and key are nevertheless good.
TEST_F(Rfc9449ExamplesTest, TokenRequestProof) {
  const KeyValueCase& c = FindCase(cases_, "section 4.1");
  DpopResult out;
  std::string detail;
  EXPECT_EQ(ReasonCode(Validate(c, NowOf(c), "any token", &out, &detail)), "dpop_ath_missing")
      << detail;

  const std::string proof = Get(c, "PROOF");
  Jws jws;
  ASSERT_EQ(ParseCompactJws(proof, JsonLimits(), &jws, &detail), JwsError::kOk) << detail;
  EXPECT_EQ(*jws.header.FindString("typ"), "dpop+jwt");
  EXPECT_EQ(jws.payload.Find("ath"), nullptr);
  const JsonValue* jwk = jws.header.Find("jwk");
  ASSERT_NE(jwk, nullptr);
  absl::StatusOr<std::string> thumbprint = JwkThumbprint(*jwk);
  ASSERT_TRUE(thumbprint.ok()) << thumbprint.status();
  EXPECT_EQ(*thumbprint, Get(c, "JKT"));
  absl::StatusOr<std::shared_ptr<const PublicKey>> key = PublicKey::FromJwk(*jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->thumbprint(), Get(c, "JKT"));
  std::optional<JwsAlg> alg = ParseJwsAlg(jws.alg);
  ASSERT_EQ(alg, JwsAlg::kES256);
  EXPECT_EQ(verifier_->Verify(*alg, **key, jws.signing_input, jws.signature),
            SignatureResult::kValid);
  // The file's JWK line is the same key.
  absl::StatusOr<JsonValue> file_jwk = ParseJson(Get(c, "JWK"));
  ASSERT_TRUE(file_jwk.ok()) << file_jwk.status();
  EXPECT_EQ(JwkThumbprint(*file_jwk).value_or(""), Get(c, "JKT"));
}

// RFC 9449 section 6.1: the example access token is bound to the same key.
// Its issuer key is not published, so only its structure and cnf are checked.
TEST_F(Rfc9449ExamplesTest, AccessTokenCnfJktMatches) {
  const KeyValueCase& token_case = FindCase(cases_, "section 6.1");
  const KeyValueCase& proof_case = FindCase(cases_, "section 4.1");
  Jws jws;
  std::string detail;
  const std::string token = Get(token_case, "ACCESS_TOKEN");
  ASSERT_EQ(ParseCompactJws(token, JsonLimits(), &jws, &detail), JwsError::kOk) << detail;
  const JsonValue* cnf = jws.payload.Find("cnf");
  ASSERT_NE(cnf, nullptr);
  ASSERT_NE(cnf->FindString("jkt"), nullptr);
  EXPECT_EQ(*cnf->FindString("jkt"), Get(token_case, "JKT"));
  EXPECT_EQ(Get(token_case, "JKT"), Get(proof_case, "JKT"));
  // Valid when the token request proof was made.
  const absl::Time now = NowOf(proof_case);
  EXPECT_LE(absl::FromUnixSeconds(*jws.payload.Find("nbf")->AsInt64()), now);
  EXPECT_GT(absl::FromUnixSeconds(*jws.payload.Find("exp")->AsInt64()), now);
}

// RFC 7638 section 3.1.
TEST(Rfc7638ExampleTest, Thumbprint) {
  std::vector<KeyValueCase> cases =
      testdata::ParseKeyValueCases(testdata::ReadSharedFile("testvectors/rfc/rfc7638_example.txt"));
  ASSERT_EQ(cases.size(), 1u);
  const KeyValueCase& c = cases[0];
  absl::StatusOr<JsonValue> jwk = ParseJson(Get(c, "JWK"));
  ASSERT_TRUE(jwk.ok()) << jwk.status();
  EXPECT_EQ(JwkThumbprint(*jwk).value_or(""), Get(c, "THUMBPRINT"));
  EXPECT_EQ(Base64UrlEncode(Sha256(Get(c, "CANONICAL"))), Get(c, "THUMBPRINT"));
  absl::StatusOr<std::shared_ptr<const PublicKey>> key = PublicKey::FromJwk(*jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->thumbprint(), Get(c, "THUMBPRINT"));
}

}  // namespace
}  // namespace popguard
