// Tests for service/jose/signature.h: every algorithm round-trips, every mutation
// of a good signature fails, ECDSA range checks (RFC 7518 section 3.4; SEC 1
// section 4.1.4), RSA-PSS parameters (RFC 7518 section 3.5), and the RFC 7520
// and RFC 8037 published examples verify.
#include "service/jose/signature.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/tools/mint/signer.h"
#include "tests/testing/test_vectors.h"

namespace popguard {
namespace {

constexpr std::string_view kMessage = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9";

std::string ResultName(SignatureResult r) {
  switch (r) {
    case SignatureResult::kValid:
      return "kValid";
    case SignatureResult::kInvalid:
      return "kInvalid";
    case SignatureResult::kMalformed:
      return "kMalformed";
  }
  return "?";
}

class JwsAlgTest : public ::testing::Test {};

TEST_F(JwsAlgTest, ParseAndName) {
  const std::vector<std::pair<std::string, std::optional<JwsAlg>>> cases = {
      {"RS256", JwsAlg::kRS256},
      {"RS384", JwsAlg::kRS384},
      {"RS512", JwsAlg::kRS512},
      {"PS256", JwsAlg::kPS256},
      {"PS384", JwsAlg::kPS384},
      {"PS512", JwsAlg::kPS512},
      {"ES256", JwsAlg::kES256},
      {"ES384", JwsAlg::kES384},
      {"ES512", JwsAlg::kES512},
      {"EdDSA", JwsAlg::kEdDSA},
      {"Ed25519", JwsAlg::kEd25519},  // RFC 9864 section 2.2
      // Never accepted: none, HMAC, other spellings, other families.
      {"none", std::nullopt},
      {"None", std::nullopt},
      {"HS256", std::nullopt},
      {"HS384", std::nullopt},
      {"HS512", std::nullopt},
      {"es256", std::nullopt},
      {"ES256 ", std::nullopt},
      {"ES256K", std::nullopt},
      {"EDDSA", std::nullopt},
      {"ed25519", std::nullopt},
      {"Ed448", std::nullopt},  // RFC 9864: a curve popguard does not verify
      {"ES521", std::nullopt},
      {"RSA-OAEP", std::nullopt},
      {"", std::nullopt},
      {std::string("ES256\0", 6), std::nullopt},
  };
  for (const auto& [name, alg] : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(ParseJwsAlg(name), alg);
    if (alg.has_value()) {
      EXPECT_EQ(JwsAlgName(*alg), name);
    }
  }
  for (JwsAlg alg : kAllJwsAlgs) EXPECT_EQ(ParseJwsAlg(JwsAlgName(alg)), alg);
}

// One key per algorithm family, generated once (RSA generation is slow).
class SignatureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    keys_ = new std::map<std::string, PrivateKey>();
    for (auto [name, alg] :
         {std::pair{"P-256", JwsAlg::kES256}, std::pair{"P-384", JwsAlg::kES384},
          std::pair{"P-521", JwsAlg::kES512}, std::pair{"Ed25519", JwsAlg::kEdDSA},
          std::pair{"RSA", JwsAlg::kRS256}}) {
      absl::StatusOr<PrivateKey> key = PrivateKey::Generate(alg);
      ASSERT_TRUE(key.ok()) << key.status();
      keys_->emplace(name, *std::move(key));
    }
  }
  static void TearDownTestSuite() {
    delete keys_;
    keys_ = nullptr;
  }

  static const PrivateKey& KeyFor(JwsAlg alg) {
    switch (alg) {
      case JwsAlg::kES256:
        return keys_->at("P-256");
      case JwsAlg::kES384:
        return keys_->at("P-384");
      case JwsAlg::kES512:
        return keys_->at("P-521");
      case JwsAlg::kEdDSA:
      case JwsAlg::kEd25519:
        return keys_->at("Ed25519");
      default:
        return keys_->at("RSA");
    }
  }

  std::string Sign(JwsAlg alg, std::string_view message = kMessage) {
    absl::StatusOr<std::string> sig = KeyFor(alg).Sign(alg, message);
    EXPECT_TRUE(sig.ok()) << sig.status();
    return sig.value_or("");
  }

  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view sig,
                         std::string_view message = kMessage) {
    SignatureResult r = verifier_->Verify(alg, key, message, sig);
    EXPECT_EQ(ERR_peek_error(), 0u) << "OpenSSL error queue not cleared";
    return r;
  }

  static std::map<std::string, PrivateKey>* keys_;
  SignatureVerifierPtr verifier_ = CreateOpenSslVerifier();
};
std::map<std::string, PrivateKey>* SignatureTest::keys_ = nullptr;

TEST_F(SignatureTest, RoundTripEveryAlg) {
  for (JwsAlg alg : kAllJwsAlgs) {
    SCOPED_TRACE(JwsAlgName(alg));
    const PrivateKey& key = KeyFor(alg);
    std::string sig = Sign(alg);
    size_t expected_len = 0;
    switch (alg) {
      case JwsAlg::kES256:
        expected_len = 64;
        break;
      case JwsAlg::kES384:
        expected_len = 96;
        break;
      case JwsAlg::kES512:
        expected_len = 132;
        break;
      case JwsAlg::kEdDSA:
      case JwsAlg::kEd25519:
        expected_len = 64;
        break;
      default:
        expected_len = 256;
        break;
    }
    EXPECT_EQ(sig.size(), expected_len);
    EXPECT_EQ(Verify(alg, *key.public_key(), sig), SignatureResult::kValid);
    // Also through a key parsed from the published JWK (with kid/use).
    auto pub = PublicKey::FromJwk(key.PublicJwk());
    ASSERT_TRUE(pub.ok()) << pub.status();
    EXPECT_EQ(Verify(alg, **pub, sig), SignatureResult::kValid);
  }
}

// Every bit of a good signature flipped must fail: all bits for ES256 and
// EdDSA, every 7th bit plus both ends for the others (RSA has 2048 bits).
TEST_F(SignatureTest, EveryBitFlipFails) {
  for (JwsAlg alg : kAllJwsAlgs) {
    SCOPED_TRACE(JwsAlgName(alg));
    const std::string sig = Sign(alg);
    const size_t bits = sig.size() * 8;
    const size_t step = (alg == JwsAlg::kES256 || IsEd25519Signature(alg)) ? 1 : 7;
    int tried = 0;
    for (size_t bit = 0; bit < bits; bit += step) {
      std::string mutated = sig;
      mutated[bit / 8] = static_cast<char>(mutated[bit / 8] ^ (1 << (bit % 8)));
      ASSERT_NE(Verify(alg, *KeyFor(alg).public_key(), mutated), SignatureResult::kValid)
          << "bit " << bit;
      ++tried;
    }
    std::string last = sig;
    last.back() = static_cast<char>(last.back() ^ 0x80);
    EXPECT_NE(Verify(alg, *KeyFor(alg).public_key(), last), SignatureResult::kValid);
    EXPECT_GE(tried, static_cast<int>(bits / 7));
  }
}

TEST_F(SignatureTest, WrongLengthIsMalformed) {
  for (JwsAlg alg : kAllJwsAlgs) {
    SCOPED_TRACE(JwsAlgName(alg));
    const std::string sig = Sign(alg);
    const PublicKey& key = *KeyFor(alg).public_key();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"empty", ""},
        {"one byte", sig.substr(0, 1)},
        {"truncated by one", sig.substr(0, sig.size() - 1)},
        {"first half", sig.substr(0, sig.size() / 2)},
        {"zero appended", sig + std::string(1, '\0')},
        {"zero prepended", std::string(1, '\0') + sig},
        {"doubled", sig + sig},
    };
    for (const auto& [name, mutated] : cases) {
      SCOPED_TRACE(name);
      EXPECT_EQ(Verify(alg, key, mutated), SignatureResult::kMalformed);
    }
  }
}

// JOSE ECDSA signatures are raw r||s; the DER form OpenSSL itself produces is
// refused, since it is a second encoding of the same signature.
TEST_F(SignatureTest, EcdsaDerEncodingIsMalformed) {
  const PrivateKey& key = KeyFor(JwsAlg::kES256);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.pkey()), 1);
  size_t len = 0;
  ASSERT_EQ(
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(kMessage.data()),
                     kMessage.size()),
      1);
  std::string der(len, '\0');
  ASSERT_EQ(
      EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()), &len,
                     reinterpret_cast<const unsigned char*>(kMessage.data()), kMessage.size()),
      1);
  der.resize(len);
  EVP_MD_CTX_free(ctx);
  EXPECT_EQ(Verify(JwsAlg::kES256, *key.public_key(), der), SignatureResult::kMalformed);
}

// r and s must be in [1, n-1]. r = s = 0 is the "psychic signature"
// (CVE-2022-21449) that verified any message in Java 15-18.
TEST_F(SignatureTest, EcdsaOutOfRangeScalarsAreMalformed) {
  struct Curve {
    JwsAlg alg;
    const char* order_hex;
  };
  const Curve curves[] = {
      {JwsAlg::kES256, "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"},
      {JwsAlg::kES384,
       "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc"
       "52973"},
      {JwsAlg::kES512,
       "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc014"
       "8f70"
       "9a5d03bb5c9b8899c47aebb6fb71e91386409"},
  };
  for (const Curve& curve : curves) {
    SCOPED_TRACE(JwsAlgName(curve.alg));
    const std::string n = testdata::HexDecode(curve.order_hex).value();
    const size_t len = n.size();
    const std::string good = Sign(curve.alg);
    ASSERT_EQ(good.size(), 2 * len);
    const std::string r = good.substr(0, len), s = good.substr(len);
    const std::string zero(len, '\0');
    const std::string ones(len, '\xff');
    std::string n_minus_1 = n;
    n_minus_1.back() = static_cast<char>(n_minus_1.back() - 1);  // n is odd: no borrow
    std::string n_plus_1 = n;
    n_plus_1.back() = static_cast<char>(n_plus_1.back() + 1);  // low byte 0x51/0x73/0x09
    std::string one = zero;
    one.back() = 1;
    const PublicKey& key = *KeyFor(curve.alg).public_key();
    const std::vector<std::tuple<std::string, std::string, SignatureResult>> cases = {
        {"r=0", zero + s, SignatureResult::kMalformed},
        {"s=0", r + zero, SignatureResult::kMalformed},
        {"r=s=0 (psychic signature)", zero + zero, SignatureResult::kMalformed},
        {"r=n", n + s, SignatureResult::kMalformed},
        {"s=n", r + n, SignatureResult::kMalformed},
        {"r=s=n", n + n, SignatureResult::kMalformed},
        {"r=n+1", n_plus_1 + s, SignatureResult::kMalformed},
        {"s=n+1", r + n_plus_1, SignatureResult::kMalformed},
        {"r=all ones", ones + s, SignatureResult::kMalformed},
        {"s=all ones", r + ones, SignatureResult::kMalformed},
        // In range but wrong: well-formed, so kInvalid.
        {"r=n-1", n_minus_1 + s, SignatureResult::kInvalid},
        {"s=n-1", r + n_minus_1, SignatureResult::kInvalid},
        {"r=1 s=1", one + one, SignatureResult::kInvalid},
        {"r and s swapped", s + r, SignatureResult::kInvalid},
        {"good", good, SignatureResult::kValid},
    };
    for (const auto& [name, sig, expected] : cases) {
      SCOPED_TRACE(name);
      EXPECT_EQ(ResultName(Verify(curve.alg, key, sig)), ResultName(expected));
    }
  }
}

TEST_F(SignatureTest, WrongMessageIsInvalid) {
  for (JwsAlg alg : kAllJwsAlgs) {
    SCOPED_TRACE(JwsAlgName(alg));
    const std::string sig = Sign(alg);
    const PublicKey& key = *KeyFor(alg).public_key();
    std::string flipped(kMessage);
    flipped[5] ^= 1;
    for (std::string_view other : {std::string_view(""), kMessage.substr(1),
                                   std::string_view(flipped), std::string_view("x")}) {
      EXPECT_EQ(Verify(alg, key, sig, other), SignatureResult::kInvalid);
    }
    EXPECT_EQ(Verify(alg, key, sig, std::string(kMessage) + "."), SignatureResult::kInvalid);
  }
}

// A key of the wrong type or curve, or one restricted to another alg, is
// kInvalid however well-formed the signature is.
TEST_F(SignatureTest, KeyNotFittingAlgIsInvalid) {
  struct Case {
    JwsAlg sign_alg;
    JwsAlg verify_alg;
    const char* key;
  };
  const std::vector<Case> cases = {
      {JwsAlg::kES256, JwsAlg::kES256, "P-384"},
      {JwsAlg::kES256, JwsAlg::kES256, "Ed25519"},
      {JwsAlg::kES256, JwsAlg::kES256, "RSA"},
      {JwsAlg::kES384, JwsAlg::kES384, "P-256"},
      {JwsAlg::kES512, JwsAlg::kES512, "P-384"},
      {JwsAlg::kEdDSA, JwsAlg::kEdDSA, "P-256"},
      {JwsAlg::kEd25519, JwsAlg::kEd25519, "P-256"},
      {JwsAlg::kEd25519, JwsAlg::kEd25519, "RSA"},
      {JwsAlg::kRS256, JwsAlg::kRS256, "P-256"},
      {JwsAlg::kPS256, JwsAlg::kPS256, "Ed25519"},
      // The right key but verified as a different algorithm.
      {JwsAlg::kES256, JwsAlg::kEdDSA, "P-256"},
      {JwsAlg::kEdDSA, JwsAlg::kES256, "Ed25519"},
      {JwsAlg::kEd25519, JwsAlg::kES256, "Ed25519"},
      {JwsAlg::kES384, JwsAlg::kES256, "P-384"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(JwsAlgName(c.sign_alg)) + " as " +
                 std::string(JwsAlgName(c.verify_alg)) + " with " + c.key);
    const std::string sig = Sign(c.sign_alg);
    EXPECT_EQ(Verify(c.verify_alg, *keys_->at(c.key).public_key(), sig), SignatureResult::kInvalid);
  }
  // An alg member restricting the key to another algorithm.
  const PrivateKey& rsa = KeyFor(JwsAlg::kRS256);
  JsonValue jwk = rsa.RequiredPublicJwk();
  std::vector<JsonValue::Member> members = jwk.object_members();
  members.push_back({"alg", JsonValue::String("PS256")});
  auto restricted = PublicKey::FromJwk(JsonValue::Object(members));
  ASSERT_TRUE(restricted.ok());
  EXPECT_EQ(Verify(JwsAlg::kRS256, **restricted, Sign(JwsAlg::kRS256)), SignatureResult::kInvalid);
  EXPECT_EQ(Verify(JwsAlg::kPS256, **restricted, Sign(JwsAlg::kPS256)), SignatureResult::kValid);
}

// RSA signatures of one padding or hash never verify as another.
TEST_F(SignatureTest, RsaCrossAlgorithmIsInvalid) {
  const PublicKey& key = *KeyFor(JwsAlg::kRS256).public_key();
  const JwsAlg rsa[] = {JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kRS512,
                        JwsAlg::kPS256, JwsAlg::kPS384, JwsAlg::kPS512};
  for (JwsAlg signed_as : rsa) {
    const std::string sig = Sign(signed_as);
    for (JwsAlg verified_as : rsa) {
      SCOPED_TRACE(std::string(JwsAlgName(signed_as)) + " verified as " +
                   std::string(JwsAlgName(verified_as)));
      EXPECT_EQ(Verify(verified_as, key, sig),
                signed_as == verified_as ? SignatureResult::kValid : SignatureResult::kInvalid);
    }
  }
}

// RFC 7518 section 3.5: PS256 means MGF1 with SHA-256 and a 32-byte salt.
// PSS signatures with other salt lengths or MGF1 hashes must not verify.
TEST_F(SignatureTest, PssParametersAreFixed) {
  const PrivateKey& key = KeyFor(JwsAlg::kPS256);
  struct Case {
    std::string name;
    int salt_len;
    const EVP_MD* mgf1;
    SignatureResult expected;
  };
  const std::vector<Case> cases = {
      {"salt 32, mgf1 sha256", 32, EVP_sha256(), SignatureResult::kValid},
      {"salt 0", 0, EVP_sha256(), SignatureResult::kInvalid},
      {"salt 20", 20, EVP_sha256(), SignatureResult::kInvalid},
      {"salt 64", 64, EVP_sha256(), SignatureResult::kInvalid},
      {"salt max", RSA_PSS_SALTLEN_MAX, EVP_sha256(), SignatureResult::kInvalid},
      {"mgf1 sha1", 32, EVP_sha1(), SignatureResult::kInvalid},
      {"mgf1 sha512", 32, EVP_sha512(), SignatureResult::kInvalid},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    ASSERT_EQ(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), nullptr, key.pkey()), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, c.mgf1), 1);
    ASSERT_EQ(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, c.salt_len), 1);
    std::string sig(256, '\0');
    size_t len = sig.size();
    ASSERT_EQ(
        EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(kMessage.data()), kMessage.size()),
        1);
    EVP_MD_CTX_free(ctx);
    sig.resize(len);
    EXPECT_EQ(ResultName(Verify(JwsAlg::kPS256, *key.public_key(), sig)), ResultName(c.expected));
  }
}

// One verifier and one key shared by several threads (PublicKey is parsed
// once and used read-only).
TEST_F(SignatureTest, ConcurrentVerification) {
  const std::vector<JwsAlg> algs = {JwsAlg::kES256, JwsAlg::kEdDSA, JwsAlg::kPS256};
  std::vector<std::string> sigs;
  for (JwsAlg alg : algs) sigs.push_back(Sign(alg));
  std::atomic<int> valid{0}, wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 60; ++i) {
        size_t k = (i + t) % algs.size();
        SignatureResult r =
            verifier_->Verify(algs[k], *KeyFor(algs[k]).public_key(), kMessage, sigs[k]);
        (r == SignatureResult::kValid ? valid : wrong)++;
        std::string bad = sigs[k];
        bad[3] ^= 4;
        if (verifier_->Verify(algs[k], *KeyFor(algs[k]).public_key(), kMessage, bad) ==
            SignatureResult::kValid) {
          wrong++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(valid.load(), 240);
  EXPECT_EQ(wrong.load(), 0);
}

// RFC 7520 sections 4.1 (RS256), 4.2 (PS384), 4.3 (ES512) and RFC 8037
// appendix A.4 (EdDSA): the compact serialisations verify with the public
// part of the published key, and one flipped signature bit fails.
class CookbookTest : public ::testing::Test {};

TEST_F(CookbookTest, CompactSignaturesVerify) {
  struct Case {
    std::string file;
    JwsAlg alg;
  };
  const std::vector<Case> cases = {
      {"testvectors/jose-cookbook/jws/4_1.rsa_v15_signature.json", JwsAlg::kRS256},
      {"testvectors/jose-cookbook/jws/4_2.rsa-pss_signature.json", JwsAlg::kPS384},
      {"testvectors/jose-cookbook/jws/4_3.ecdsa_signature.json", JwsAlg::kES512},
      {"testvectors/jose-cookbook/curve25519/jws.json", JwsAlg::kEdDSA},
  };
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  for (const Case& c : cases) {
    SCOPED_TRACE(c.file);
    JsonValue doc = testdata::ReadSharedJson(c.file);
    ASSERT_TRUE(doc.is_object());
    EXPECT_EQ(*doc.Find("input")->FindString("alg"), JwsAlgName(c.alg));
    // The public members only: the file's key is a private JWK.
    std::vector<JsonValue::Member> public_members;
    for (const auto& m : doc.Find("input")->Find("key")->object_members()) {
      if (m.first != "d" && m.first != "p" && m.first != "q" && m.first != "dp" &&
          m.first != "dq" && m.first != "qi") {
        public_members.push_back(m);
      }
    }
    auto key = PublicKey::FromJwk(JsonValue::Object(public_members));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(PublicKey::FromJwk(*doc.Find("input")->Find("key")).status().code(),
              absl::StatusCode::kFailedPrecondition);

    const std::string& compact = *doc.Find("output")->FindString("compact");
    const size_t dot = compact.rfind('.');
    ASSERT_NE(dot, std::string::npos);
    const std::string signing_input = compact.substr(0, dot);
    EXPECT_EQ(signing_input, *doc.Find("signing")->FindString("sig-input"));
    std::optional<std::string> sig = Base64UrlDecode(compact.substr(dot + 1));
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(verifier->Verify(c.alg, **key, signing_input, *sig), SignatureResult::kValid);

    std::string flipped = *sig;
    flipped[flipped.size() / 2] ^= 0x10;
    EXPECT_NE(verifier->Verify(c.alg, **key, signing_input, flipped), SignatureResult::kValid);
    EXPECT_EQ(verifier->Verify(c.alg, **key, signing_input + "x", *sig), SignatureResult::kInvalid);
  }
}

// RFC 9449 sections 4.1 and 7.1: the example proofs' ES256 signatures verify
// with the embedded jwk (the proof semantics are tested elsewhere).
TEST_F(CookbookTest, Rfc9449ProofSignaturesVerify) {
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  int checked = 0;
  for (const auto& c : testdata::ParseKeyValueCases(
           testdata::ReadSharedFile("testvectors/rfc/rfc9449_examples.txt"))) {
    if (!c.contains("PROOF")) continue;
    SCOPED_TRACE(c.at("CASE"));
    absl::StatusOr<JsonValue> jwk = ParseJson(c.at("JWK"));
    ASSERT_TRUE(jwk.ok());
    auto key = PublicKey::FromJwk(*jwk);
    ASSERT_TRUE(key.ok()) << key.status();
    const std::string& proof = c.at("PROOF");
    const size_t dot = proof.rfind('.');
    std::optional<std::string> sig = Base64UrlDecode(proof.substr(dot + 1));
    ASSERT_TRUE(sig.has_value());
    EXPECT_EQ(verifier->Verify(JwsAlg::kES256, **key, proof.substr(0, dot), *sig),
              SignatureResult::kValid);
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

}  // namespace
}  // namespace popguard
