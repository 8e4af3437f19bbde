// Runs the C2SP Wycheproof vectors (testvectors_v1 schema; provenance in
// shared/testvectors/wycheproof/README.md) through PublicKey::FromJwk and the
// OpenSSL verifier.
//
// Verdicts: a "valid" vector must verify (kValid); an "invalid" one must not;
// an "acceptable" one is recorded either way. A group whose key popguard
// refuses by policy counts as rejected for all its vectors: right for invalid
// ones, and valid ones are counted as policy skips, whose expected number is
// part of each file's table row.
#include <iostream>
#include <map>
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

constexpr char kDir[] = "testvectors/wycheproof/";

std::string Hex(const JsonValue& obj, std::string_view name) {
  const std::string* hex = obj.FindString(name);
  EXPECT_NE(hex, nullptr) << name;
  std::optional<std::string> bytes = testdata::HexDecode(hex != nullptr ? *hex : "");
  EXPECT_TRUE(bytes.has_value()) << name;
  return bytes.value_or("");
}

// Fixed length big-endian: strips the sign octet Wycheproof adds, or pads.
std::string FixedLength(std::string bytes, size_t len) {
  while (bytes.size() > len && bytes[0] == '\0') bytes.erase(0, 1);
  if (bytes.size() < len) bytes.insert(0, len - bytes.size(), '\0');
  return bytes;
}

std::string Minimal(std::string bytes) {
  while (bytes.size() > 1 && bytes[0] == '\0') bytes.erase(0, 1);
  return bytes;
}

JsonValue::Member B64(std::string name, std::string_view bytes) {
  return {std::move(name), JsonValue::String(Base64UrlEncode(bytes))};
}

// GroupJwk builds the group's public JWK from its raw key fields (publicKey:
// wx/wy, pk, or modulus/publicExponent), so every group, also those without a
// JWK in the file, goes through PublicKey::FromJwk. When the file has a JWK
// too, its key members must agree with the raw ones.
JsonValue GroupJwk(const JsonValue& group) {
  const JsonValue& pk = *group.Find("publicKey");
  std::vector<JsonValue::Member> m;
  const std::string* curve = pk.FindString("curve");
  if (curve != nullptr && *curve == "edwards25519") {
    m = {{"kty", JsonValue::String("OKP")},
         {"crv", JsonValue::String("Ed25519")},
         B64("x", Hex(pk, "pk"))};
  } else if (curve != nullptr) {
    const std::map<std::string, std::pair<std::string, size_t>> curves = {
        {"secp256r1", {"P-256", 32}}, {"secp384r1", {"P-384", 48}}, {"secp521r1", {"P-521", 66}}};
    const auto& [crv, len] = curves.at(*curve);
    m = {{"kty", JsonValue::String("EC")},
         {"crv", JsonValue::String(crv)},
         B64("x", FixedLength(Hex(pk, "wx"), len)),
         B64("y", FixedLength(Hex(pk, "wy"), len))};
  } else {
    m = {{"kty", JsonValue::String("RSA")},
         B64("n", Minimal(Hex(pk, "modulus"))),
         B64("e", Minimal(Hex(pk, "publicExponent")))};
  }
  JsonValue built = JsonValue::Object(m);
  const JsonValue* given = group.Find("publicKeyJwk");
  if (given == nullptr) given = group.Find("keyJwk");
  if (given != nullptr) {
    for (const char* name : {"kty", "crv", "x", "y", "n", "e"}) {
      const std::string* a = built.FindString(name);
      const std::string* b = given->FindString(name);
      EXPECT_EQ(a == nullptr, b == nullptr) << name;
      if (a != nullptr && b != nullptr) {
        EXPECT_EQ(*a, *b) << name;
      }
    }
  }
  return built;
}

struct FileCase {
  std::string file;
  std::string label;
  JwsAlg alg;
  // Expected counts, from the file (see README.md): they make the run exact.
  int total;
  int valid;
  int invalid;
  int acceptable;
  int valid_skipped_by_policy;
  // Invalid vectors refused before any cryptography: wrong length, or ECDSA r
  // or s outside [1, n-1]. Pins the kMalformed classification.
  int invalid_malformed;
};

struct Tally {
  int total = 0, valid = 0, valid_accepted = 0, valid_skipped = 0;
  int invalid = 0, invalid_rejected = 0, invalid_malformed = 0, invalid_key_refused = 0;
  int acceptable = 0, acceptable_accepted = 0;
};

class WycheproofSignatureTest : public ::testing::TestWithParam<FileCase> {};

TEST_P(WycheproofSignatureTest, AllVectors) {
  const FileCase& fc = GetParam();
  JsonValue doc = testdata::ReadSharedJson(std::string(kDir) + fc.file);
  ASSERT_TRUE(doc.is_object());
  ASSERT_EQ(doc.Find("numberOfTests")->AsInt64(), fc.total);
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  Tally t;
  for (const JsonValue& group : doc.Find("testGroups")->array_items()) {
    absl::StatusOr<std::shared_ptr<const PublicKey>> key = PublicKey::FromJwk(GroupJwk(group));
    // No group in these files has a key popguard refuses; if one appears, its
    // vectors are handled below and the table's counts catch the change.
    for (const JsonValue& test : group.Find("tests")->array_items()) {
      const int64_t id = test.Find("tcId")->AsInt64().value_or(-1);
      const std::string& result = *test.FindString("result");
      SCOPED_TRACE(fc.label + " tcId " + std::to_string(id) + " (" + result + ") " +
                   *test.FindString("comment"));
      ++t.total;
      SignatureResult r = SignatureResult::kInvalid;
      if (key.ok()) {
        r = verifier->Verify(fc.alg, **key, Hex(test, "msg"), Hex(test, "sig"));
      }
      if (result == "valid") {
        ++t.valid;
        if (!key.ok()) {
          ++t.valid_skipped;  // refused by policy: reported in the summary
        } else {
          EXPECT_EQ(r, SignatureResult::kValid);
          t.valid_accepted += r == SignatureResult::kValid;
        }
      } else if (result == "invalid") {
        ++t.invalid;
        EXPECT_NE(r, SignatureResult::kValid);
        t.invalid_rejected += r != SignatureResult::kValid;
        t.invalid_malformed += key.ok() && r == SignatureResult::kMalformed;
        t.invalid_key_refused += !key.ok();
      } else {
        ASSERT_EQ(result, "acceptable");
        ++t.acceptable;
        t.acceptable_accepted += r == SignatureResult::kValid;
      }
    }
  }
  std::cout << fc.label << " (" << fc.file << "): " << t.total << " vectors, " << t.valid_accepted
            << " valid accepted, " << t.valid_skipped << " valid skipped by policy, "
            << t.invalid_rejected << " invalid rejected (" << t.invalid_malformed
            << " as malformed, " << t.invalid_key_refused << " by key refusal), " << t.acceptable
            << " acceptable (" << t.acceptable_accepted << " accepted)\n";
  EXPECT_EQ(t.total, fc.total);
  EXPECT_EQ(t.valid, fc.valid);
  EXPECT_EQ(t.invalid, fc.invalid);
  EXPECT_EQ(t.acceptable, fc.acceptable);
  EXPECT_EQ(t.valid + t.invalid + t.acceptable, t.total);
  EXPECT_EQ(t.valid_accepted + t.valid_skipped, t.valid);
  EXPECT_EQ(t.valid_skipped, fc.valid_skipped_by_policy);
  EXPECT_EQ(t.invalid_rejected, t.invalid);
  EXPECT_EQ(t.invalid_malformed, fc.invalid_malformed);
}

// Columns: file, label, alg, total, valid, invalid, acceptable, valid vectors
// skipped by policy, invalid vectors classified kMalformed.
INSTANTIATE_TEST_SUITE_P(
    Files, WycheproofSignatureTest,
    ::testing::Values(FileCase{"ecdsa_secp256r1_sha256_p1363_test.json", "ES256", JwsAlg::kES256,
                               262, 173, 89, 0, 0, 71},
                      FileCase{"ecdsa_secp384r1_sha384_p1363_test.json", "ES384", JwsAlg::kES384,
                               280, 193, 87, 0, 0, 69},
                      FileCase{"ecdsa_secp521r1_sha512_p1363_test.json", "ES512", JwsAlg::kES512,
                               318, 231, 87, 0, 0, 69},
                      FileCase{"ed25519_test.json", "EdDSA", JwsAlg::kEdDSA, 151, 88, 63, 0, 0, 12},
                      FileCase{"rsa_signature_2048_sha256_test.json", "RS256-2048", JwsAlg::kRS256,
                               259, 9, 249, 1, 0, 2},
                      FileCase{"rsa_signature_3072_sha256_test.json", "RS256-3072", JwsAlg::kRS256,
                               259, 8, 250, 1, 0, 2},
                      FileCase{"rsa_signature_4096_sha512_test.json", "RS512-4096", JwsAlg::kRS512,
                               259, 7, 251, 1, 0, 2},
                      FileCase{"rsa_pss_2048_sha256_mgf1_32_test.json", "PS256-2048",
                               JwsAlg::kPS256, 108, 63, 45, 0, 0, 5},
                      FileCase{"rsa_pss_3072_sha256_mgf1_32_test.json", "PS256-3072",
                               JwsAlg::kPS256, 108, 63, 45, 0, 0, 5}),
    [](const ::testing::TestParamInfo<FileCase>& info) {
      std::string name = info.param.label;
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      return name;
    });

// json_web_key_test.json checks how a keyset is used to verify a compact JWS.
// Applied here: the keyset (the group's "public" set, else its "private" one)
// goes through KeySet::Parse, the JWS header's alg through ParseJwsAlg and its
// kid through KeySet::Select, then the signature through the verifier. The
// splitting of the JWS below is the minimum to reach the header; the real
// compact parser is service/jose/jws.h. Each vector also names the stage at which
// popguard must stop it, so a rejection for the wrong reason fails.
class WycheproofJsonWebKeyTest : public ::testing::Test {};

enum class Stage {
  kAccepted,
  kAlgRefused,      // HMAC: popguard never accepts symmetric algorithms
  kKidNotFound,     // the key was skipped by KeySet::Parse (invalid or refused)
  kKidAlgMismatch,  // the key exists but does not fit the alg (use/alg/kty)
  kSignature,       // the signature did not verify
};

std::string StageName(Stage s) {
  switch (s) {
    case Stage::kAccepted:
      return "accepted";
    case Stage::kAlgRefused:
      return "alg refused";
    case Stage::kKidNotFound:
      return "kid not found";
    case Stage::kKidAlgMismatch:
      return "key/alg mismatch";
    case Stage::kSignature:
      return "signature";
  }
  return "?";
}

Stage RunJws(const KeySet& set, const std::string& jws, const SignatureVerifier& verifier) {
  const size_t first = jws.find('.');
  const size_t last = jws.rfind('.');
  EXPECT_NE(first, last);
  std::optional<std::string> header_text = Base64UrlDecode(jws.substr(0, first));
  EXPECT_TRUE(header_text.has_value());
  absl::StatusOr<JsonValue> header = ParseJson(header_text.value_or(""));
  EXPECT_TRUE(header.ok());
  std::optional<JwsAlg> alg = ParseJwsAlg(*header->FindString("alg"));
  if (!alg.has_value()) return Stage::kAlgRefused;
  std::optional<std::string_view> kid;
  if (const std::string* k = header->FindString("kid")) kid = *k;
  KeySelection sel = set.Select(kid, *alg);
  if (sel.outcome == KeySelection::Outcome::kKidAlgMismatch) return Stage::kKidAlgMismatch;
  if (sel.outcome != KeySelection::Outcome::kFound) return Stage::kKidNotFound;
  std::optional<std::string> sig = Base64UrlDecode(jws.substr(last + 1));
  if (!sig.has_value()) return Stage::kSignature;
  return verifier.Verify(*alg, *sel.key, jws.substr(0, last), *sig) == SignatureResult::kValid
             ? Stage::kAccepted
             : Stage::kSignature;
}

TEST_F(WycheproofJsonWebKeyTest, AllVectors) {
  JsonValue doc = testdata::ReadSharedJson(std::string(kDir) + "json_web_key_test.json");
  ASSERT_TRUE(doc.is_object());
  // tcId -> where popguard stops the JWS.
  const std::map<int64_t, Stage> expected = {
      {1, Stage::kAlgRefused},      // mixed keyset, HS256
      {2, Stage::kAlgRefused},      // valid HS256: refused by policy
      {3, Stage::kAlgRefused},      // modified HS256 signature
      {4, Stage::kAlgRefused},      // duplicate kid, HS256
      {5, Stage::kAccepted},        // valid RS256
      {6, Stage::kKidAlgMismatch},  // key has use "enc", alg RSA1_5
      {7, Stage::kKidNotFound},     // ROCA modulus refused at parse
      {8, Stage::kKidNotFound},     // 1024-bit RSA refused at parse
      {9, Stage::kKidNotFound},     // e = 1 refused at parse
      {10, Stage::kAlgRefused},     // short HMAC keys
      {11, Stage::kAlgRefused},     {12, Stage::kAlgRefused},
      {13, Stage::kAlgRefused},  // valid HS256/384/512 with long keys: policy
      {14, Stage::kAlgRefused},     {15, Stage::kAlgRefused},
      {16, Stage::kAlgRefused},  // empty HMAC keys
      {17, Stage::kAlgRefused},     {18, Stage::kAlgRefused},
      {19, Stage::kKidAlgMismatch},  // key alg "ES521" on a P-256 key
      {20, Stage::kKidAlgMismatch},  // key alg "ES224"
      {21, Stage::kKidAlgMismatch},  // key use "enc"
      {22, Stage::kKidNotFound},     // point not on the curve
      {23, Stage::kKidNotFound},     // P-256 coordinates labelled P-384
      {24, Stage::kKidNotFound},     // EC members labelled kty RSA
      {25, Stage::kAlgRefused},      // AES keys used as HS256
      {26, Stage::kAlgRefused},
  };
  SignatureVerifierPtr verifier = CreateOpenSslVerifier();
  int total = 0, valid_accepted = 0, valid_skipped = 0, invalid_rejected = 0;
  for (const JsonValue& group : doc.Find("testGroups")->array_items()) {
    const JsonValue* keyset = group.Find("public");
    if (keyset == nullptr) keyset = group.Find("private");
    ASSERT_NE(keyset, nullptr);
    absl::StatusOr<KeySet> set = KeySet::Parse(SerializeJson(*keyset), nullptr);
    ASSERT_TRUE(set.ok()) << set.status();
    for (const JsonValue& test : group.Find("tests")->array_items()) {
      const int64_t id = test.Find("tcId")->AsInt64().value_or(-1);
      const std::string& result = *test.FindString("result");
      SCOPED_TRACE("json_web_key tcId " + std::to_string(id) + " (" + result + ") " +
                   *test.FindString("comment"));
      ++total;
      Stage stage = RunJws(*set, *test.FindString("jws"), *verifier);
      ASSERT_TRUE(expected.contains(id));
      EXPECT_EQ(StageName(stage), StageName(expected.at(id)));
      if (result == "valid") {
        if (stage == Stage::kAccepted) {
          ++valid_accepted;
        } else {
          // Only HMAC, which popguard refuses by design, may stop a valid one.
          EXPECT_EQ(StageName(stage), StageName(Stage::kAlgRefused));
          ++valid_skipped;
        }
      } else {
        ASSERT_EQ(result, "invalid");
        EXPECT_NE(StageName(stage), StageName(Stage::kAccepted));
        invalid_rejected += stage != Stage::kAccepted;
      }
    }
  }
  std::cout << "JWK (json_web_key_test.json): " << total << " vectors, " << valid_accepted
            << " valid accepted, " << valid_skipped
            << " valid skipped by policy (HMAC is never accepted), " << invalid_rejected
            << " invalid rejected\n";
  EXPECT_EQ(total, doc.Find("numberOfTests")->AsInt64());
  EXPECT_EQ(total, 26);
  EXPECT_EQ(valid_accepted, 1);
  EXPECT_EQ(valid_skipped, 4);
  EXPECT_EQ(invalid_rejected, 21);
}

}  // namespace
}  // namespace popguard
