// Tests for service/tools/mint/mint.h: the exact claims and headers minted
// tokens and proofs carry (popguard-cli's order), and self-signed certificates
// whose thumbprint agrees with the verifier's (service/authn/client_cert.h).
#include "service/tools/mint/mint.h"

#include <string>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "service/authn/client_cert.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "service/tools/mint/signer.h"

namespace popguard {
namespace {

constexpr absl::Time kIat = absl::FromUnixSeconds(1900000000);

class MintTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(JwsAlg::kES256);
    ASSERT_TRUE(key.ok()) << key.status();
    key_ = new PrivateKey(*std::move(key));
    key_->set_kid("k1");
  }
  static void TearDownTestSuite() {
    delete key_;
    key_ = nullptr;
  }

  // Decoded returns the JSON text of segment `i` (0 header, 1 payload) of a compact JWS.
  static std::string Decoded(const std::string& jws, int i) {
    std::vector<std::string> parts = absl::StrSplit(jws, '.');
    std::string out;
    EXPECT_EQ(parts.size(), 3u);
    if (parts.size() == 3) {
      EXPECT_TRUE(Base64UrlDecode(parts[i], &out));
    }
    return out;
  }

  static PrivateKey* key_;
};

PrivateKey* MintTest::key_ = nullptr;

TEST_F(MintTest, TokenClaimsFollowTheCliOrder) {
  const struct {
    const char* name;
    TokenSpec spec;
    std::string want;
  } kCases[] = {
      {"minimal",
       {.iss = "i", .aud = "a", .iat = kIat, .jti = "j"},
       R"({"iss":"i","aud":"a","iat":1900000000,"exp":1900000300,"jti":"j"})"},
      {"everything",
       {.iss = "i",
        .aud = "a",
        .sub = "s",
        .client_id = "c",
        .scope = "read",
        .jkt = "t",
        .x5t = "x",
        .iat = kIat,
        .ttl = absl::Hours(1),
        .jti = "j"},
       R"({"iss":"i","aud":"a","iat":1900000000,"exp":1900003600,"jti":"j","sub":"s",)"
       R"("client_id":"c","scope":"read","cnf":{"jkt":"t","x5t#S256":"x"}})"},
      {"mtls only",
       {.iss = "i", .aud = "a", .x5t = "x", .iat = kIat, .jti = "j"},
       R"({"iss":"i","aud":"a","iat":1900000000,"exp":1900000300,"jti":"j",)"
       R"("cnf":{"x5t#S256":"x"}})"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(SerializeJson(TokenClaims(c.spec)), c.want);
  }
}

TEST_F(MintTest, EmptyJtiIsRandom) {
  const TokenSpec token{.iss = "i", .aud = "a", .iat = kIat};
  const JsonValue first = TokenClaims(token), second = TokenClaims(token);
  const std::string* a = first.FindString("jti");
  const std::string* b = second.FindString("jti");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->size(), 16u);  // 12 bytes, base64url
  EXPECT_NE(*a, *b);
  const ProofSpec proof{.url = "u", .iat = kIat};
  const JsonValue claims = ProofClaims(proof);
  const std::string* p = claims.FindString("jti");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->size(), 22u);  // 16 bytes, base64url
}

TEST_F(MintTest, TokenHeaderLeavesOutEmptyMembers) {
  const struct {
    const char* kid;
    const char* typ;
    std::string want;
  } kCases[] = {
      {"k1", "at+jwt", R"({"alg":"ES256","typ":"at+jwt","kid":"k1"})"},
      {"", "at+jwt", R"({"alg":"ES256","typ":"at+jwt"})"},
      {"k1", "", R"({"alg":"ES256","kid":"k1"})"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(SerializeJson(TokenHeader(JwsAlg::kES256, c.kid, c.typ)), c.want);
  }
}

TEST_F(MintTest, MintTokenSignsClaimsUnderTheKeysKid) {
  const TokenSpec spec{.iss = "i", .aud = "a", .iat = kIat, .jti = "j"};
  absl::StatusOr<std::string> token = MintToken(*key_, JwsAlg::kES256, spec);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(Decoded(*token, 0), R"({"alg":"ES256","typ":"at+jwt","kid":"k1"})");
  EXPECT_EQ(Decoded(*token, 1), SerializeJson(TokenClaims(spec)));
}

TEST_F(MintTest, ProofClaimsFollowTheCliOrder) {
  const struct {
    const char* name;
    ProofSpec spec;
    std::string want;
  } kCases[] = {
      {"no token",
       {.method = "POST", .url = "https://a/r", .iat = kIat, .jti = "j"},
       R"({"jti":"j","htm":"POST","htu":"https://a/r","iat":1900000000})"},
      {"token and nonce",
       {.url = "https://a/r", .iat = kIat, .jti = "j", .access_token = "tok", .nonce = "n"},
       absl::StrCat(R"({"jti":"j","htm":"GET","htu":"https://a/r","iat":1900000000,"ath":")",
                    Ath("tok"), R"(","nonce":"n"})")},
      {"empty token still has ath",
       {.url = "u", .iat = kIat, .jti = "j", .access_token = ""},
       absl::StrCat(R"({"jti":"j","htm":"GET","htu":"u","iat":1900000000,"ath":")", Ath(""),
                    R"("})")},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(SerializeJson(ProofClaims(c.spec)), c.want);
  }
}

TEST_F(MintTest, ProofMinterMatchesMintProof) {
  ProofMinter minter(*key_, JwsAlg::kES256);
  absl::StatusOr<std::string> a = minter.Mint("GET", "https://a/r", "tok", kIat, "j");
  absl::StatusOr<std::string> b =
      MintProof(*key_, JwsAlg::kES256,
                {.url = "https://a/r", .iat = kIat, .jti = "j", .access_token = "tok"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  // ECDSA signatures are randomized: compare header and payload.
  for (int i : {0, 1}) {
    SCOPED_TRACE(i);
    EXPECT_EQ(Decoded(*a, i), Decoded(*b, i));
  }
  EXPECT_EQ(Decoded(*a, 0), SerializeJson(ProofHeader(*key_, JwsAlg::kES256)));
}

TEST_F(MintTest, AthIsTheRfc9449Example) {
  // RFC 9449 section 7.1: the ath of the example access token.
  EXPECT_EQ(Ath("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo");
}

TEST_F(MintTest, SelfSignedCertAgreesWithTheVerifier) {
  absl::StatusOr<SelfSignedCert> cert = MakeSelfSignedCert("client-1");
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<std::string> der = CertificateDer(cert->pem);
  ASSERT_TRUE(der.ok()) << der.status();
  EXPECT_EQ(*der, cert->der);
  EXPECT_EQ(CertificateThumbprint(*der), cert->thumbprint);
  absl::StatusOr<std::string> from_envoy =
      ThumbprintFromEnvoyCertificate(EnvoyUrlEncode(cert->pem));
  ASSERT_TRUE(from_envoy.ok()) << from_envoy.status();
  EXPECT_EQ(*from_envoy, cert->thumbprint);
  absl::StatusOr<SelfSignedCert> other = MakeSelfSignedCert("client-1");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_NE(other->thumbprint, cert->thumbprint);
}

TEST_F(MintTest, EnvoyUrlEncodeKeepsOnlyUnreserved) {
  const struct {
    std::string in, want;
  } kCases[] = {
      {"aZ09-._~", "aZ09-._~"},
      {"-----BEGIN CERT-----\n", "-----BEGIN%20CERT-----%0A"},
      {"a+b/c=", "a%2Bb%2Fc%3D"},
      {std::string("\xff\x00", 2), "%FF%00"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.want);
    EXPECT_EQ(EnvoyUrlEncode(c.in), c.want);
  }
}

TEST_F(MintTest, JwksJsonListsPublicKeysOnly) {
  const std::string jwks = JwksJson({key_, key_});
  absl::StatusOr<JsonValue> parsed = ParseJson(jwks);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const JsonValue* keys = parsed->Find("keys");
  ASSERT_NE(keys, nullptr);
  ASSERT_EQ(keys->array_items().size(), 2u);
  EXPECT_EQ(keys->array_items()[0].FindString("d"), nullptr);
  EXPECT_EQ(*keys->array_items()[0].FindString("kid"), "k1");
}

}  // namespace
}  // namespace popguard
