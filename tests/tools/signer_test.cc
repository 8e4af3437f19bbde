// Tests for service/tools/mint/signer.h: key generation, private JWK round trips and
// validation, deterministic signatures against RFC 7520 / RFC 8037, and
// SignCompactJws.
#include "service/tools/mint/signer.h"

#include <openssl/evp.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"
#include "tests/testing/test_vectors.h"

namespace popguard {
namespace {

JsonValue Json(std::string_view text) {
  absl::StatusOr<JsonValue> v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : JsonValue();
}

// WithMember returns `obj` with member `name` set to `value` (replaced or
// appended); WithoutMember returns it without `name`.
JsonValue WithMember(const JsonValue& obj, const std::string& name, JsonValue value) {
  std::vector<JsonValue::Member> members;
  bool replaced = false;
  for (const auto& m : obj.object_members()) {
    if (m.first == name) {
      members.push_back({name, value});
      replaced = true;
    } else {
      members.push_back(m);
    }
  }
  if (!replaced) members.push_back({name, std::move(value)});
  return JsonValue::Object(std::move(members));
}
JsonValue WithoutMember(const JsonValue& obj, const std::string& name) {
  std::vector<JsonValue::Member> members;
  for (const auto& m : obj.object_members()) {
    if (m.first != name) members.push_back(m);
  }
  return JsonValue::Object(std::move(members));
}

class PrivateKeyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = new std::vector<std::pair<JwsAlg, PrivateKey>>();
    for (JwsAlg alg :
         {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA, JwsAlg::kRS256}) {
      absl::StatusOr<PrivateKey> key = PrivateKey::Generate(alg);
      ASSERT_TRUE(key.ok()) << key.status();
      keys_->emplace_back(alg, *std::move(key));
    }
  }
  static void TearDownTestSuite() {
    delete keys_;
    keys_ = nullptr;
  }
  static const PrivateKey& Key(JwsAlg alg) {
    for (const auto& [a, key] : *keys_) {
      if (a == alg) return key;
    }
    return keys_->back().second;  // RSA for RS*/PS*
  }

  static std::vector<std::pair<JwsAlg, PrivateKey>>* keys_;
  SignatureVerifierPtr verifier_ = CreateOpenSslVerifier();
};
std::vector<std::pair<JwsAlg, PrivateKey>>* PrivateKeyTest::keys_ = nullptr;

TEST_F(PrivateKeyTest, GenerateMakesTheRightKeyType) {
  struct Case {
    JwsAlg alg;
    KeyType kty;
    std::string crv;
  };
  const std::vector<Case> cases = {
      {JwsAlg::kES256, KeyType::kEc, "P-256"}, {JwsAlg::kES384, KeyType::kEc, "P-384"},
      {JwsAlg::kES512, KeyType::kEc, "P-521"}, {JwsAlg::kEdDSA, KeyType::kOkp, "Ed25519"},
      {JwsAlg::kRS256, KeyType::kRsa, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(JwsAlgName(c.alg));
    const PrivateKey& key = Key(c.alg);
    EXPECT_EQ(key.kty(), c.kty);
    EXPECT_EQ(key.crv(), c.crv);
    EXPECT_EQ(key.kid(), "");
    EXPECT_EQ(key.alg(), std::nullopt);
    EXPECT_TRUE(key.public_key()->FitsAlg(c.alg));
  }
  absl::StatusOr<PrivateKey> ps = PrivateKey::Generate(JwsAlg::kPS512);
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(ps->kty(), KeyType::kRsa);
  EXPECT_EQ(EVP_PKEY_get_bits(ps->pkey()), 2048);
}

TEST_F(PrivateKeyTest, PrivateJwkRoundTrip) {
  for (const auto& [alg, key] : *keys_) {
    SCOPED_TRACE(JwsAlgName(alg));
    JsonValue jwk = key.PrivateJwk();
    EXPECT_TRUE(JwkHasPrivateMembers(jwk));
    EXPECT_EQ(jwk.Find("kid"), nullptr);
    EXPECT_EQ(jwk.Find("alg"), nullptr);
    absl::StatusOr<PrivateKey> loaded = PrivateKey::FromJwk(jwk);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->Thumbprint(), key.Thumbprint());
    EXPECT_EQ(SerializeJson(loaded->PrivateJwk()), SerializeJson(jwk));
    // The loaded key signs what the original's public key verifies.
    absl::StatusOr<std::string> sig = loaded->Sign(alg, "payload");
    ASSERT_TRUE(sig.ok()) << sig.status();
    EXPECT_EQ(verifier_->Verify(alg, *key.public_key(), "payload", *sig), SignatureResult::kValid);
  }
}

TEST_F(PrivateKeyTest, KidAndAlgAreCarried) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(JwsAlg::kES256);
  ASSERT_TRUE(key.ok());
  key->set_kid("key-1");
  key->set_alg(JwsAlg::kES256);
  JsonValue priv = key->PrivateJwk();
  EXPECT_EQ(*priv.FindString("kid"), "key-1");
  EXPECT_EQ(*priv.FindString("alg"), "ES256");
  absl::StatusOr<PrivateKey> loaded = PrivateKey::FromJwk(priv);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->kid(), "key-1");
  EXPECT_EQ(loaded->alg(), JwsAlg::kES256);

  JsonValue pub = key->PublicJwk();
  EXPECT_FALSE(JwkHasPrivateMembers(pub));
  EXPECT_EQ(*pub.FindString("kid"), "key-1");
  EXPECT_EQ(*pub.FindString("alg"), "ES256");
  EXPECT_EQ(*pub.FindString("use"), "sig");
  auto parsed = PublicKey::FromJwk(pub);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ((*parsed)->kid(), "key-1");
  EXPECT_TRUE((*parsed)->FitsAlg(JwsAlg::kES256));
  EXPECT_EQ((*parsed)->thumbprint(), key->Thumbprint());

  // RFC 7638 members only, in canonical order.
  EXPECT_EQ(SerializeJson(key->RequiredPublicJwk()).substr(0, 25), R"({"crv":"P-256","kty":"EC")");
  EXPECT_EQ(JwkThumbprint(key->RequiredPublicJwk()).value(), key->Thumbprint());

  key->set_alg(std::nullopt);
  key->set_kid("");
  EXPECT_EQ(key->PublicJwk().Find("alg"), nullptr);
  EXPECT_EQ(key->PublicJwk().Find("kid"), nullptr);
}

TEST_F(PrivateKeyTest, DefaultAlgFollowsAlgThenKeyType) {
  const struct {
    JwsAlg generated_for;
    JwsAlg expected;
  } kCases[] = {
      {JwsAlg::kES256, JwsAlg::kES256},   {JwsAlg::kES384, JwsAlg::kES384},
      {JwsAlg::kES512, JwsAlg::kES512},   {JwsAlg::kEdDSA, JwsAlg::kEdDSA},
      {JwsAlg::kEd25519, JwsAlg::kEdDSA},  // one Ed25519 key type: EdDSA
      {JwsAlg::kPS256, JwsAlg::kRS256},    // RSA without an alg member signs RS256
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(JwsAlgName(c.generated_for));
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(c.generated_for);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->DefaultAlg(), c.expected);
    // The alg member wins when set.
    key->set_alg(c.generated_for);
    EXPECT_EQ(key->DefaultAlg(), c.generated_for);
  }
}

TEST_F(PrivateKeyTest, MovedKeyStillSigns) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(JwsAlg::kEdDSA);
  ASSERT_TRUE(key.ok());
  const std::string thumbprint = key->Thumbprint();
  PrivateKey moved = *std::move(key);
  PrivateKey assigned = std::move(moved);
  EXPECT_EQ(assigned.Thumbprint(), thumbprint);
  absl::StatusOr<std::string> sig = assigned.Sign(JwsAlg::kEdDSA, "m");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(verifier_->Verify(JwsAlg::kEdDSA, *assigned.public_key(), "m", *sig),
            SignatureResult::kValid);
}

TEST_F(PrivateKeyTest, SignRefusesAlgTheKeyDoesNotFit) {
  const std::vector<std::pair<JwsAlg, JwsAlg>> cases = {
      {JwsAlg::kES256, JwsAlg::kES384}, {JwsAlg::kES384, JwsAlg::kES256},
      {JwsAlg::kES512, JwsAlg::kEdDSA}, {JwsAlg::kEdDSA, JwsAlg::kES256},
      {JwsAlg::kRS256, JwsAlg::kES256}, {JwsAlg::kES256, JwsAlg::kPS256},
  };
  for (const auto& [key_alg, sign_alg] : cases) {
    SCOPED_TRACE(std::string(JwsAlgName(key_alg)) + " key signing " +
                 std::string(JwsAlgName(sign_alg)));
    EXPECT_EQ(Key(key_alg).Sign(sign_alg, "x").status().code(), absl::StatusCode::kInvalidArgument);
  }
  // The alg member is not consulted: a key labelled ES256 may still sign
  // ES256 only by type, and an RSA key labelled RS256 may sign PS256.
  absl::StatusOr<PrivateKey> rsa = PrivateKey::FromJwk(Key(JwsAlg::kRS256).PrivateJwk());
  ASSERT_TRUE(rsa.ok());
  rsa->set_alg(JwsAlg::kRS256);
  EXPECT_TRUE(rsa->Sign(JwsAlg::kPS256, "x").ok());
}

TEST_F(PrivateKeyTest, FromJwkErrors) {
  const JsonValue ec = Key(JwsAlg::kES256).PrivateJwk();
  const JsonValue other_ec = PrivateKey::Generate(JwsAlg::kES256)->PrivateJwk();
  const JsonValue ed = Key(JwsAlg::kEdDSA).PrivateJwk();
  const JsonValue other_ed = PrivateKey::Generate(JwsAlg::kEdDSA)->PrivateJwk();
  const JsonValue rsa = Key(JwsAlg::kRS256).PrivateJwk();
  const JsonValue& p384 = Key(JwsAlg::kES384).PrivateJwk();
  struct Case {
    std::string name;
    JsonValue jwk;
    absl::StatusCode code;
  };
  const std::vector<Case> cases = {
      {"not an object", JsonValue::Array({}), absl::StatusCode::kInvalidArgument},
      {"ec public only", WithoutMember(ec, "d"), absl::StatusCode::kInvalidArgument},
      {"ec d of another key", WithMember(ec, "d", *other_ec.Find("d")),
       absl::StatusCode::kInvalidArgument},
      {"ec d short", WithMember(ec, "d", JsonValue::String(Base64UrlEncode(std::string(31, '\1')))),
       absl::StatusCode::kInvalidArgument},
      {"ec d zero", WithMember(ec, "d", JsonValue::String(Base64UrlEncode(std::string(32, '\0')))),
       absl::StatusCode::kInvalidArgument},
      {"ec d >= n",
       WithMember(ec, "d", JsonValue::String(Base64UrlEncode(std::string(32, '\xff')))),
       absl::StatusCode::kInvalidArgument},
      {"ec d not base64url", WithMember(ec, "d", JsonValue::String("a+b")),
       absl::StatusCode::kInvalidArgument},
      {"ec d of P-384 key", WithMember(ec, "d", *p384.Find("d")),
       absl::StatusCode::kInvalidArgument},
      {"ec bad public point", WithMember(ec, "y", *other_ec.Find("y")),
       absl::StatusCode::kInvalidArgument},
      {"ed d of another key", WithMember(ed, "d", *other_ed.Find("d")),
       absl::StatusCode::kInvalidArgument},
      {"ed public only", WithoutMember(ed, "d"), absl::StatusCode::kInvalidArgument},
      {"rsa partial crt", WithoutMember(rsa, "qi"), absl::StatusCode::kInvalidArgument},
      {"rsa d missing", WithoutMember(rsa, "d"), absl::StatusCode::kInvalidArgument},
      {"rsa wrong d", WithMember(rsa, "d", *rsa.Find("dp")), absl::StatusCode::kInvalidArgument},
      {"rsa oth", WithMember(rsa, "oth", JsonValue::Array({})), absl::StatusCode::kInvalidArgument},
      {"alg HS256", WithMember(ec, "alg", JsonValue::String("HS256")),
       absl::StatusCode::kInvalidArgument},
      {"alg of another curve", WithMember(ec, "alg", JsonValue::String("ES384")),
       absl::StatusCode::kInvalidArgument},
      {"alg not a string", WithMember(ec, "alg", JsonValue::Number(1)),
       absl::StatusCode::kInvalidArgument},
      {"oct key", Json(R"({"kty":"oct","k":"c2VjcmV0"})"), absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PrivateKey> key = PrivateKey::FromJwk(c.jwk);
    EXPECT_EQ(key.status().code(), c.code) << key.status();
    // Never key material in the message.
    const std::string message(key.status().message());
    EXPECT_EQ(message.find(ec.FindString("d")->substr(0, 10)), std::string::npos);
    EXPECT_EQ(message.find(rsa.FindString("d")->substr(0, 10)), std::string::npos);
  }
}

TEST_F(PrivateKeyTest, RsaWithoutCrtValuesLoads) {
  JsonValue jwk = Key(JwsAlg::kRS256).PrivateJwk();
  for (const char* name : {"p", "q", "dp", "dq", "qi"}) jwk = WithoutMember(jwk, name);
  absl::StatusOr<PrivateKey> key = PrivateKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->Thumbprint(), Key(JwsAlg::kRS256).Thumbprint());
  absl::StatusOr<std::string> sig = key->Sign(JwsAlg::kRS256, "m");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(verifier_->Verify(JwsAlg::kRS256, *Key(JwsAlg::kRS256).public_key(), "m", *sig),
            SignatureResult::kValid);
}

// RFC 7520 section 4.1 (RS256) and RFC 8037 appendix A.4 (EdDSA) signatures
// are deterministic: signing the published input with the published key must
// give the published signature. 4.2 (PS384) and 4.3 (ES512) are randomised:
// the fresh signature must verify.
TEST_F(PrivateKeyTest, CookbookKeysSign) {
  struct Case {
    std::string file;
    JwsAlg alg;
    bool deterministic;
  };
  const std::vector<Case> cases = {
      {"testvectors/jose-cookbook/jws/4_1.rsa_v15_signature.json", JwsAlg::kRS256, true},
      {"testvectors/jose-cookbook/jws/4_2.rsa-pss_signature.json", JwsAlg::kPS384, false},
      {"testvectors/jose-cookbook/jws/4_3.ecdsa_signature.json", JwsAlg::kES512, false},
      {"testvectors/jose-cookbook/curve25519/jws.json", JwsAlg::kEdDSA, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    JsonValue doc = testdata::ReadSharedJson(c.file);
    ASSERT_TRUE(doc.is_object());
    absl::StatusOr<PrivateKey> key = PrivateKey::FromJwk(*doc.Find("input")->Find("key"));
    ASSERT_TRUE(key.ok()) << key.status();
    const std::string& input = *doc.Find("signing")->FindString("sig-input");
    absl::StatusOr<std::string> sig = key->Sign(c.alg, input);
    ASSERT_TRUE(sig.ok()) << sig.status();
    if (c.deterministic) {
      EXPECT_EQ(Base64UrlEncode(*sig), *doc.Find("signing")->FindString("sig"));
    }
    EXPECT_EQ(verifier_->Verify(c.alg, *key->public_key(), input, *sig), SignatureResult::kValid);
    // PrivateJwk writes back the same members the file has.
    const JsonValue written_jwk = key->PrivateJwk();
    for (const auto& [name, value] : doc.Find("input")->Find("key")->object_members()) {
      if (name == "use") continue;  // not written by PrivateJwk
      SCOPED_TRACE(name);
      const JsonValue* written = written_jwk.Find(name);
      ASSERT_NE(written, nullptr);
      EXPECT_EQ(SerializeJson(*written), SerializeJson(value));
    }
  }
}

class SignCompactJwsTest : public ::testing::Test {};

TEST_F(SignCompactJwsTest, OutputVerifies) {
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  for (JwsAlg alg : kAllJwsAlgs) {
    SCOPED_TRACE(JwsAlgName(alg));
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(alg);
    ASSERT_TRUE(key.ok());
    JsonValue header = JsonValue::Object({{"typ", JsonValue::String("at+jwt")},
                                          {"alg", JsonValue::String(std::string(JwsAlgName(alg)))},
                                          {"kid", JsonValue::String("k")}});
    JsonValue payload = JsonValue::Object(
        {{"sub", JsonValue::String("alice")}, {"exp", JsonValue::Number(1700000000)}});
    absl::StatusOr<std::string> jws = SignCompactJws(*key, alg, header, payload);
    ASSERT_TRUE(jws.ok()) << jws.status();
    const size_t first = jws->find('.');
    const size_t last = jws->rfind('.');
    ASSERT_NE(first, last);
    ASSERT_EQ(jws->find('.', first + 1), last);  // exactly three segments
    EXPECT_EQ(Base64UrlDecode(jws->substr(0, first)).value(),
              R"({"typ":"at+jwt","alg":")" + std::string(JwsAlgName(alg)) + R"(","kid":"k"})");
    EXPECT_EQ(Base64UrlDecode(jws->substr(first + 1, last - first - 1)).value(),
              R"({"sub":"alice","exp":1700000000})");
    std::optional<std::string> sig = Base64UrlDecode(jws->substr(last + 1));
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(verifier->Verify(alg, *key->public_key(), jws->substr(0, last), *sig),
              SignatureResult::kValid);
  }
}

TEST_F(SignCompactJwsTest, RawKeepsExactBytes) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(JwsAlg::kES256);
  ASSERT_TRUE(key.ok());
  const std::string header = R"({"alg":"ES256","alg":"none"})";  // duplicate member on purpose
  const std::string payload = std::string("\xff\x00 not json", 11);
  absl::StatusOr<std::string> jws = SignCompactJwsRaw(*key, JwsAlg::kES256, header, payload);
  ASSERT_TRUE(jws.ok());
  const size_t first = jws->find('.');
  const size_t last = jws->rfind('.');
  EXPECT_EQ(Base64UrlDecode(jws->substr(0, first)).value(), header);
  EXPECT_EQ(Base64UrlDecode(jws->substr(first + 1, last - first - 1)).value(), payload);
  EXPECT_EQ(
      CreateOpenSslVerifier()->Verify(JwsAlg::kES256, *key->public_key(), jws->substr(0, last),
                                      Base64UrlDecode(jws->substr(last + 1)).value()),
      SignatureResult::kValid);
  EXPECT_EQ(SignCompactJwsRaw(*key, JwsAlg::kEdDSA, header, payload).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace popguard
