// Runs Wycheproof's json_web_signature_test.json (C2SP Wycheproof,
// testvectors_v1; provenance in shared/testvectors/wycheproof/README.md)
// through popguard's JWS pipeline as AccessTokenValidator runs it
// (service/authn/access_token.cc): ParseCompactJws (service/jose/jws.h) → ParseJwsAlg →
// the group's "public" key as the issuer's JWKS (KeySet::Parse) →
// KeySet::Select by the header's kid and alg → the signature verifier, once
// with the OpenSSL verifier and once with the native one (the production
// default), which must give the same counts. The file's private keys then
// sign JWTs that the production AccessTokenValidator itself must accept (and
// refuse with one signature bit flipped), with both verifiers.
//
// What the file expects and where popguard deliberately differs:
//   - JSON-serialized JWS (RFC 7515 section 7.2) is out of scope: skipped.
//   - HMAC groups (no public key; hs256, base64, RFC 7520 figure 35): popguard
//     never accepts a symmetric algorithm, so ParseJwsAlg must refuse HS*;
//     their "valid" vectors are counted as refused by design.
//   - Every "valid" vector signs a payload that is not a JSON object ("foo",
//     "", zero bytes, RFC 7520's text). ParseCompactJws parses JWTs only
//     (access tokens and DPoP proofs) and refuses such payloads (kBadJson, or
//     kMalformed for an empty one). So each valid vector is also run through
//     the same stages at the signature level: the header parsed strictly (via
//     ParseCompactJws with a stand-in "{}" payload), the real payload segment
//     strict base64url, and the signature verified over the real signing
//     input. That level must accept it.
//   - RFC 7520 figures 20 and 27 are signed with PS384 / ES512 while their
//     JWKs say "alg":"PS256" / "alg":"ES521" (the latter a typo in the
//     vectors). RFC 7517 section 4.4: a key's alg names the algorithm it is
//     for, so KeySet::Select finds no key for them (kKidAlgMismatch); without
//     the alg member the signatures must verify.
// Every "invalid" vector must be rejected by the full pipeline AND at the
// signature level, so a rejection never rests on the JWT payload rule alone.
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "service/authn/access_token.h"
#include "service/authn/reason.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"
#include "service/jose/native_verifier.h"
#include "service/jose/signature.h"
#include "service/keys/issuers.h"
#include "tests/testing/test_vectors.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

enum class Stage { kAccepted, kParse, kAlg, kKey, kSignature };

std::string StageName(Stage s) {
  switch (s) {
    case Stage::kAccepted:
      return "accepted";
    case Stage::kParse:
      return "parse";
    case Stage::kAlg:
      return "alg";
    case Stage::kKey:
      return "key";
    case Stage::kSignature:
      return "signature";
  }
  return "?";
}

struct Outcome {
  Stage stage = Stage::kParse;
  JwsError parse_error = JwsError::kOk;
  std::string detail;
};

// Verify runs the alg, key and signature stages on a parsed `jws` (its alg
// and kid), as AccessTokenValidator does: the key comes from a KeySet parsed
// from {"keys":[public_jwk]} and selected by kid and alg.
Outcome Verify(const Jws& jws, const JsonValue* public_jwk, std::string_view signing_input,
               std::string_view signature, const SignatureVerifier& verifier) {
  std::optional<JwsAlg> alg = ParseJwsAlg(jws.alg);
  if (!alg) return {Stage::kAlg, JwsError::kOk, "alg " + jws.alg};
  if (public_jwk == nullptr) return {Stage::kKey, JwsError::kOk, "no public key"};
  std::vector<std::string> warnings;
  absl::StatusOr<KeySet> keys = KeySet::Parse(
      SerializeJson(JsonValue::Object({{"keys", JsonValue::Array({*public_jwk})}})), &warnings);
  if (!keys.ok()) return {Stage::kKey, JwsError::kOk, std::string(keys.status().message())};
  const std::string* kid = jws.header.FindString("kid");
  KeySelection sel = keys->Select(kid ? std::optional<std::string_view>(*kid) : std::nullopt, *alg);
  if (sel.outcome != KeySelection::Outcome::kFound) {
    return {Stage::kKey, JwsError::kOk,
            absl::StrCat("key selection outcome ", static_cast<int>(sel.outcome), " ",
                         absl::StrJoin(warnings, "; "))};
  }
  SignatureResult r = verifier.Verify(*alg, *sel.key, signing_input, signature);
  if (r != SignatureResult::kValid) return {Stage::kSignature, JwsError::kOk, ""};
  return {Stage::kAccepted, JwsError::kOk, ""};
}

// FullPipeline is what a token or proof goes through.
Outcome FullPipeline(const std::string& compact, const JsonValue* public_jwk,
                     const SignatureVerifier& verifier) {
  Jws jws;
  std::string detail;
  JwsError err = ParseCompactJws(compact, JsonLimits(), &jws, &detail);
  if (err != JwsError::kOk) return {Stage::kParse, err, detail};
  return Verify(jws, public_jwk, jws.signing_input, jws.signature, verifier);
}

// SignatureLevel is FullPipeline without the rule that the payload is a JSON
// object (see the file comment).
Outcome SignatureLevel(const std::string& compact, const JsonValue* public_jwk,
                       const SignatureVerifier& verifier) {
  const size_t first = compact.find('.');
  const size_t last = compact.rfind('.');
  if (first == std::string::npos || first == last || compact.find('.', first + 1) != last) {
    return {Stage::kParse, JwsError::kMalformed, "not three segments"};
  }
  const std::string payload_b64 = compact.substr(first + 1, last - first - 1);
  const std::string stand_in = compact.substr(0, first) + ".e30" + compact.substr(last);
  Jws jws;
  std::string detail;
  JwsError err = ParseCompactJws(stand_in, JsonLimits(), &jws, &detail);
  if (err != JwsError::kOk) return {Stage::kParse, err, detail};
  if (!Base64UrlDecode(payload_b64).has_value()) {
    return {Stage::kParse, JwsError::kBadBase64, "payload is not strict base64url"};
  }
  return Verify(jws, public_jwk, std::string_view(compact).substr(0, last), jws.signature,
                verifier);
}

// IsJwtPayloadRule reports whether ParseCompactJws refused `o` only because
// the payload is not a JSON object (or is empty).
bool IsJwtPayloadRule(const Outcome& o) {
  if (o.stage != Stage::kParse) return false;
  if (o.parse_error == JwsError::kBadJson) return o.detail.rfind("payload", 0) == 0;
  return o.parse_error == JwsError::kMalformed && o.detail == "empty segment";
}

struct Tally {
  int valid = 0, valid_full = 0, valid_signature_level = 0, valid_key_alg_policy = 0,
      valid_hmac = 0;
  int invalid = 0, invalid_rejected = 0;
  std::map<std::string, int> invalid_stage;  // stage at the signature level
  int skipped_json = 0;
  int hmac_refused = 0;  // HS* refused by ParseJwsAlg
};

struct Expected {
  int valid, valid_signature_level, valid_key_alg_policy, valid_hmac, invalid, skipped_json;
};

// Per group label of the file: counts of valid vectors (and how they are
// accepted or refused by design), invalid vectors, and skipped ones.
const std::map<std::string, Expected>& ExpectedCounts() {
  static const auto* m = new std::map<std::string, Expected>{
      {"hs256", {1, 0, 0, 1, 15, 1}},         {"es256", {1, 1, 0, 0, 14, 0}},
      {"rs256", {6, 6, 0, 0, 225, 0}},        {"rs384", {4, 4, 0, 0, 0, 0}},
      {"rs512", {4, 4, 0, 0, 0, 0}},          {"ps256", {6, 6, 0, 0, 42, 0}},
      {"ps384", {4, 4, 0, 0, 1, 0}},          {"ps512", {4, 4, 0, 0, 16, 0}},
      {"rfc7520", {5, 1, 2, 2, 0, 0}},        {"rfc7520WithKeyOps", {3, 1, 2, 0, 0, 0}},
      {"rsa_encryption", {0, 0, 0, 0, 2, 0}}, {"ec_key_for_encryption", {0, 0, 0, 0, 2, 0}},
      {"base64", {7, 0, 0, 7, 14, 0}},        {"SpecialCaseEs256", {1, 1, 0, 0, 23, 0}},
  };
  return *m;
}

// Runs with the OpenSSL verifier (false) and the native one (true).
class JwsWycheproofTest : public ::testing::TestWithParam<bool> {
 protected:
  SignatureVerifierPtr MakeVerifier() const {
    if (GetParam()) return SignatureVerifierPtr(NativeVerifier::Create());
    return CreateOpenSslVerifier();
  }
};

std::string VerifierName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Native" : "OpenSsl";
}

TEST_P(JwsWycheproofTest, JsonWebSignatureVectors) {
  JsonValue doc = testdata::ReadSharedJson("testvectors/wycheproof/json_web_signature_test.json");
  ASSERT_TRUE(doc.is_object());
  ASSERT_EQ(doc.Find("numberOfTests")->AsInt64(), 401);
  SignatureVerifierPtr verifier = MakeVerifier();
  std::vector<std::string> order;
  std::map<std::string, Tally> tallies;
  int total = 0;
  for (const JsonValue& group : doc.Find("testGroups")->array_items()) {
    const std::string label = *group.FindString("comment");
    if (!tallies.count(label)) order.push_back(label);
    Tally& t = tallies[label];
    const JsonValue* public_jwk = group.Find("public");
    const bool hmac_group = public_jwk == nullptr;
    for (const JsonValue& test : group.Find("tests")->array_items()) {
      ++total;
      const std::string& jws = *test.FindString("jws");
      const std::string& result = *test.FindString("result");
      SCOPED_TRACE(label + " tcId " + std::to_string(*test.Find("tcId")->AsInt64()) + " (" +
                   result + ") " + *test.FindString("comment"));
      ASSERT_TRUE(result == "valid" || result == "invalid");
      if (!jws.empty() && jws.front() == '{') {
        ++t.skipped_json;
        continue;
      }
      const Outcome full = FullPipeline(jws, public_jwk, *verifier);
      const Outcome sig = SignatureLevel(jws, public_jwk, *verifier);
      if (hmac_group) {
        // Without a public key nothing can be accepted; where the header
        // names an HMAC algorithm, ParseJwsAlg itself must refuse it.
        EXPECT_NE(full.stage, Stage::kAccepted);
        EXPECT_NE(sig.stage, Stage::kAccepted);
        if (sig.stage == Stage::kAlg) ++t.hmac_refused;
        EXPECT_NE(sig.stage, Stage::kKey) << "an HMAC vector got past ParseJwsAlg";
        if (result == "valid") {
          ++t.valid_hmac;
          // A valid HMAC vector is well-formed, so ParseJwsAlg is what stops
          // it, unless strict base64url already did (the file's lenient
          // "InvalidCharacterInserted" vectors).
          EXPECT_TRUE(sig.stage == Stage::kAlg ||
                      (sig.stage == Stage::kParse && sig.parse_error == JwsError::kBadBase64))
              << StageName(sig.stage) << ": " << sig.detail;
        }
      }
      if (result == "invalid") {
        ++t.invalid;
        EXPECT_NE(full.stage, Stage::kAccepted);
        EXPECT_NE(sig.stage, Stage::kAccepted) << "rejected only by the JWT payload rule";
        t.invalid_rejected += full.stage != Stage::kAccepted && sig.stage != Stage::kAccepted;
        ++t.invalid_stage[StageName(sig.stage)];
        continue;
      }
      ++t.valid;
      if (hmac_group) continue;
      if (full.stage == Stage::kAccepted) {
        ++t.valid_full;
        continue;
      }
      if (IsJwtPayloadRule(full) && sig.stage == Stage::kAccepted) {
        ++t.valid_signature_level;
        continue;
      }
      // The key's alg member names another algorithm (RFC 7517 section 4.4).
      const std::string* key_alg = public_jwk->FindString("alg");
      Jws parsed;
      std::string detail;
      const std::string stand_in =
          jws.substr(0, jws.find('.')) + ".e30" + jws.substr(jws.rfind('.'));
      ASSERT_EQ(ParseCompactJws(stand_in, JsonLimits(), &parsed, &detail), JwsError::kOk);
      if (sig.stage == Stage::kKey && key_alg != nullptr && *key_alg != parsed.alg) {
        const JsonValue unrestricted = unit::WithoutMember(*public_jwk, "alg");
        EXPECT_EQ(SignatureLevel(jws, &unrestricted, *verifier).stage, Stage::kAccepted)
            << "signature does not verify even without the key's alg restriction";
        ++t.valid_key_alg_policy;
        continue;
      }
      ADD_FAILURE() << "valid vector refused: full pipeline at " << StageName(full.stage) << " ("
                    << full.detail << "), signature level at " << StageName(sig.stage) << " ("
                    << sig.detail << ")";
    }
  }
  EXPECT_EQ(total, 401);

  ASSERT_EQ(order.size(), ExpectedCounts().size());
  for (const std::string& label : order) {
    const Tally& t = tallies[label];
    std::string stages;
    for (const auto& [stage, n] : t.invalid_stage) {
      stages += (stages.empty() ? "" : ", ") + stage + " " + std::to_string(n);
    }
    std::cout << "JWS " << label << ": " << (t.valid_full + t.valid_signature_level)
              << " valid accepted (" << t.valid_full << " as a JWT, " << t.valid_signature_level
              << " at the signature level: payload is not a JSON object), "
              << t.valid_key_alg_policy << " valid refused by key alg policy, " << t.valid_hmac
              << " valid HMAC refused by design (HS* refused by ParseJwsAlg in " << t.hmac_refused
              << " vectors), " << t.invalid_rejected << " invalid rejected"
              << (stages.empty() ? "" : " (" + stages + ")") << ", " << t.skipped_json
              << " skipped (JSON serialization)\n";
    SCOPED_TRACE(label);
    auto it = ExpectedCounts().find(label);
    ASSERT_NE(it, ExpectedCounts().end());
    const Expected& e = it->second;
    EXPECT_EQ(t.valid, e.valid);
    EXPECT_EQ(t.valid_full, 0);  // no vector's payload is a JSON object
    EXPECT_EQ(t.valid_signature_level, e.valid_signature_level);
    EXPECT_EQ(t.valid_key_alg_policy, e.valid_key_alg_policy);
    EXPECT_EQ(t.valid_hmac, e.valid_hmac);
    EXPECT_EQ(t.invalid, e.invalid);
    EXPECT_EQ(t.invalid_rejected, e.invalid);
    EXPECT_EQ(t.skipped_json, e.skipped_json);
  }
}

// The production AccessTokenValidator accepts a JWT signed with the private
// key of each of the file's signing groups whose public key names an
// algorithm popguard supports (the "valid accepted as a JWT" count above is
// zero because of the payloads only), and refuses it with one signature bit
// flipped, as kTokenSignatureInvalid.
TEST_P(JwsWycheproofTest, ValidatorAcceptsJwtsSignedWithTheFilePrivateKeys) {
  JsonValue doc = testdata::ReadSharedJson("testvectors/wycheproof/json_web_signature_test.json");
  ASSERT_TRUE(doc.is_object());
  SignatureVerifierPtr verifier = MakeVerifier();
  std::map<std::string, int> checked;
  for (const JsonValue& group : doc.Find("testGroups")->array_items()) {
    const JsonValue* pub = group.Find("public");
    const JsonValue* priv = group.Find("private");
    if (pub == nullptr || priv == nullptr) continue;
    const std::string* alg_name = pub->FindString("alg");
    std::optional<JwsAlg> alg = alg_name ? ParseJwsAlg(*alg_name) : std::nullopt;
    if (!alg) continue;  // no alg, or RFC 7520's "ES521" typo
    const std::string label = *group.FindString("comment");
    SCOPED_TRACE(label + " " + *alg_name);
    absl::StatusOr<PrivateKey> key = PrivateKey::FromJwk(*priv);
    ASSERT_TRUE(key.ok()) << key.status();
    Config config = unit::BaseConfig();
    config.issuers[0].jwks_inline =
        SerializeJson(JsonValue::Object({{"keys", JsonValue::Array({*pub})}}));
    std::vector<std::string> warnings;
    auto registry = IssuerRegistry::Create(config, &warnings);
    ASSERT_TRUE(registry.ok()) << registry.status();
    AccessTokenValidator validator(config, registry->get(), verifier.get());
    const std::string token = unit::MintToken(*key, *alg, unit::TokenClaims(unit::kNow));
    std::shared_ptr<const VerifiedToken> out;
    std::string detail;
    EXPECT_EQ(ReasonCode(validator.Validate(token, unit::kNow, &out, &detail)), "ok") << detail;
    EXPECT_EQ(
        ReasonCode(validator.Validate(unit::FlipSignatureBit(token, 8), unit::kNow, &out, &detail)),
        ReasonCode(Reason::kTokenSignatureInvalid))
        << detail;
    ++checked[label];
  }
  const std::map<std::string, int> want = {{"SpecialCaseEs256", 1},
                                           {"es256", 1},
                                           {"ps256", 1},
                                           {"ps384", 1},
                                           {"ps512", 1},
                                           {"rfc7520", 2},
                                           {"rfc7520WithKeyOps", 2},
                                           {"rs256", 2},
                                           {"rs384", 1},
                                           {"rs512", 1}};
  EXPECT_EQ(checked, want);
}

INSTANTIATE_TEST_SUITE_P(Verifiers, JwsWycheproofTest, ::testing::Bool(), VerifierName);

}  // namespace
}  // namespace popguard
