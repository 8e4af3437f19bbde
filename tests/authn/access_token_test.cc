// Tests for service/authn/access_token.h: RFC 9068 / RFC 7519 access token
// validation at an explicit `now`, one row per rejection reason, the cache of
// verified tokens, the claims rendered for upstream headers, and the
// signature mutations every accepted token must not survive.
#include "service/authn/access_token.h"

#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "service/jose/base64url.h"
#include "service/keys/issuers.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::Compact;
using unit::kAudience;
using unit::kIssuer;
using unit::kNow;
using unit::Secs;
using unit::SharedKey;
using unit::Str;
using unit::WithMember;
using unit::WithoutMember;

// A second issuer with every optional rule switched on.
constexpr char kStrictIssuer[] = "https://strict.example";
constexpr char kOtherAudience[] = "https://other.example";
// A well-formed 43-character thumbprint.
const std::string kJkt = Base64UrlEncode(Sha256("dpop key"));
const std::string kX5t = Base64UrlEncode(Sha256("client certificate"));

Config TestConfig() {
  Config config = unit::BaseConfig();
  IssuerConfig strict;
  strict.issuer = kStrictIssuer;
  strict.audiences = {kAudience, kOtherAudience};
  strict.algorithms = {"ES256"};
  strict.require_typ = true;
  strict.max_lifetime = absl::Hours(1);
  strict.jwks_inline = unit::JwksJson({&SharedKey(JwsAlg::kES256), &SharedKey(JwsAlg::kRS256)});
  config.issuers.push_back(strict);
  return config;
}

class AccessTokenValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(TestConfig()); }

  void Build(const Config& config) {
    std::vector<std::string> warnings;
    auto registry = IssuerRegistry::Create(config, &warnings);
    ASSERT_TRUE(registry.ok()) << registry.status();
    validator_.reset();
    registry_ = *std::move(registry);
    verifier_ = CreateOpenSslVerifier();
    validator_ = std::make_unique<AccessTokenValidator>(config, registry_.get(), verifier_.get());
  }

  Reason Validate(std::string_view token, absl::Time now,
                  std::shared_ptr<const VerifiedToken>* out = nullptr) {
    std::shared_ptr<const VerifiedToken> scratch;
    std::string detail;
    Reason r = validator_->Validate(token, now, out ? out : &scratch, &detail);
    last_detail_ = detail;
    if (r != Reason::kOk) {
      EXPECT_FALSE(detail.empty()) << ReasonCode(r);
    }
    return r;
  }

  std::unique_ptr<IssuerRegistry> registry_;
  SignatureVerifierPtr verifier_;
  std::unique_ptr<AccessTokenValidator> validator_;
  std::string last_detail_;
};

const PrivateKey& Es() { return SharedKey(JwsAlg::kES256); }

// Tok signs `claims` with ES256-0 under the usual header.
std::string Tok(const JsonValue& claims) { return unit::MintToken(Es(), JwsAlg::kES256, claims); }
// TokH signs `claims` with ES256-0 under `header`.
std::string TokH(const JsonValue& header, const JsonValue& claims) {
  return unit::Sign(Es(), JwsAlg::kES256, header, claims);
}
JsonValue Claims() { return unit::TokenClaims(kNow); }
JsonValue Header() { return unit::TokenHeader(Es(), JwsAlg::kES256); }
JsonValue HeaderWith(std::string_view name, JsonValue v) { return WithMember(Header(), name, v); }
JsonValue ClaimsWith(std::string_view name, JsonValue v) { return WithMember(Claims(), name, v); }
JsonValue StrictClaims() { return WithMember(Claims(), "iss", Str(kStrictIssuer)); }
// A junk signature of the right length: for rows refused before the
// signature is checked.
std::string Junk() { return std::string(64, '\x01'); }
std::string Raw(std::string_view header, const JsonValue& claims) {
  return Compact(header, SerializeJson(claims), Junk());
}

struct Case {
  std::string why;
  std::string token;
  Reason want;
  absl::Time now = kNow;
  JwsAlg alg = JwsAlg::kES256;  // for the mutations of positive rows
};

std::vector<Case> PositiveCases() {
  std::vector<Case> cases;
  for (auto [alg, slot, key_alg] :
       std::vector<std::tuple<JwsAlg, int, JwsAlg>>{{JwsAlg::kES256, 0, JwsAlg::kES256},
                                                    {JwsAlg::kES256, 1, JwsAlg::kES256},
                                                    {JwsAlg::kES384, 0, JwsAlg::kES384},
                                                    {JwsAlg::kES512, 0, JwsAlg::kES512},
                                                    {JwsAlg::kEdDSA, 0, JwsAlg::kEdDSA},
                                                    {JwsAlg::kEd25519, 0, JwsAlg::kEdDSA},
                                                    {JwsAlg::kRS256, 0, JwsAlg::kRS256},
                                                    {JwsAlg::kRS384, 0, JwsAlg::kRS256},
                                                    {JwsAlg::kRS512, 0, JwsAlg::kRS256},
                                                    {JwsAlg::kPS256, 0, JwsAlg::kPS256},
                                                    {JwsAlg::kPS384, 0, JwsAlg::kRS256},
                                                    {JwsAlg::kPS512, 0, JwsAlg::kPS256}}) {
    const PrivateKey& key = SharedKey(key_alg, slot);
    cases.push_back({std::string(JwsAlgName(alg)) + " with key " + key.kid(),
                     unit::MintToken(key, alg, Claims()), Reason::kOk, kNow, alg});
  }
  const PrivateKey& ed = SharedKey(JwsAlg::kEdDSA);
  cases.push_back(
      {"no kid, the only EdDSA key",
       unit::Sign(ed, JwsAlg::kEdDSA, WithoutMember(unit::TokenHeader(ed, JwsAlg::kEdDSA), "kid"),
                  Claims()),
       Reason::kOk, kNow, JwsAlg::kEdDSA});
  cases.push_back({"no typ", TokH(WithoutMember(Header(), "typ"), Claims()), Reason::kOk});
  cases.push_back(
      {"typ JWT on a lax issuer", TokH(HeaderWith("typ", Str("JWT")), Claims()), Reason::kOk});
  cases.push_back({"strict issuer, typ at+jwt", TokH(Header(), StrictClaims()), Reason::kOk});
  cases.push_back({"strict issuer, typ application/at+jwt",
                   TokH(HeaderWith("typ", Str("application/at+jwt")), StrictClaims()),
                   Reason::kOk});
  cases.push_back({"strict issuer, typ AT+JWT (media types are case-insensitive)",
                   TokH(HeaderWith("typ", Str("AT+JWT")), StrictClaims()), Reason::kOk});
  cases.push_back({"strict issuer, lifetime exactly max_lifetime",
                   TokH(Header(), WithMember(StrictClaims(), "exp", Secs(kNow + absl::Hours(1)))),
                   Reason::kOk});
  cases.push_back({"strict issuer, second audience",
                   TokH(Header(), WithMember(StrictClaims(), "aud", Str(kOtherAudience))),
                   Reason::kOk});
  cases.push_back({"aud array holding the audience",
                   Tok(ClaimsWith("aud", JsonValue::Array({Str("x"), Str(kAudience)}))),
                   Reason::kOk});
  cases.push_back({"exp one second before expiry with skew",
                   Tok(ClaimsWith("exp", Secs(kNow - absl::Seconds(59)))), Reason::kOk});
  cases.push_back({"nbf exactly now + skew", Tok(ClaimsWith("nbf", Secs(kNow + absl::Seconds(60)))),
                   Reason::kOk});
  cases.push_back({"iat exactly now + skew", Tok(ClaimsWith("iat", Secs(kNow + absl::Seconds(60)))),
                   Reason::kOk});
  cases.push_back(
      {"only iss, aud and exp",
       Tok(WithoutMember(
           WithoutMember(
               WithoutMember(WithoutMember(WithoutMember(Claims(), "iat"), "sub"), "client_id"),
               "scope"),
           "jti")),
       Reason::kOk});
  cases.push_back(
      {"cnf.jkt and cnf.x5t#S256",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str(kJkt)}, {"x5t#S256", Str(kX5t)}}))),
       Reason::kOk});
  cases.push_back({"scp array",
                   Tok(WithMember(WithoutMember(Claims(), "scope"), "scp",
                                  JsonValue::Array({Str("a"), Str("b")}))),
                   Reason::kOk});
  cases.push_back({"fractional exp", Tok(ClaimsWith("exp", unit::Num(1900000300.5))), Reason::kOk});
  return cases;
}

std::vector<Case> NegativeCases() {
  const JsonValue claims = Claims();
  const std::string good = Tok(claims);
  const std::string h = good.substr(0, good.find('.'));
  const std::string p = good.substr(h.size() + 1, good.rfind('.') - h.size() - 1);
  const std::string s = good.substr(good.rfind('.') + 1);
  std::vector<Case> c = {
      {"8193 bytes", std::string(8193, 'a'), Reason::kTokenTooLarge},
      {"signed, over the limit", Tok(ClaimsWith("pad", Str(std::string(8192, 'p')))),
       Reason::kTokenTooLarge},
      {"two segments", h + "." + p, Reason::kTokenMalformed},
      {"four segments", good + ".x", Reason::kTokenMalformed},
      {"empty signature", h + "." + p + ".", Reason::kTokenMalformed},
      {"padded header", h + "=." + p + "." + s, Reason::kTokenBadBase64},
      {"standard alphabet in payload", h + "." + p + "+." + s, Reason::kTokenBadBase64},
      {"header not JSON", Compact("{", SerializeJson(claims), Junk()), Reason::kTokenBadJson},
      {"duplicate claim",
       Compact(SerializeJson(Header()), R"({"iss":"https://issuer.example","iss":"x"})", Junk()),
       Reason::kTokenBadJson},
      {"payload an array", Compact(SerializeJson(Header()), "[]", Junk()), Reason::kTokenBadJson},
      {"alg missing", Raw(R"({"typ":"at+jwt","kid":"ES256-0"})", claims),
       Reason::kTokenHeaderInvalid},
      {"kid a number", Raw(R"({"alg":"ES256","kid":1})", claims), Reason::kTokenHeaderInvalid},
      {"crit", Raw(R"({"alg":"ES256","kid":"ES256-0","crit":["exp"]})", claims),
       Reason::kTokenCritUnsupported},
      {"b64", Raw(R"({"alg":"ES256","kid":"ES256-0","b64":false})", claims),
       Reason::kTokenUnencodedPayload},
      {"zip", Raw(R"({"alg":"ES256","kid":"ES256-0","zip":"DEF"})", claims),
       Reason::kTokenZipUnsupported},
      {"embedded jwk", TokH(HeaderWith("jwk", Es().RequiredPublicJwk()), claims),
       Reason::kTokenEmbeddedKey},
      {"jku", TokH(HeaderWith("jku", Str("https://evil.example/jwks")), claims),
       Reason::kTokenEmbeddedKey},
      {"x5u", TokH(HeaderWith("x5u", Str("https://evil.example/cert")), claims),
       Reason::kTokenEmbeddedKey},
      {"x5c", TokH(HeaderWith("x5c", JsonValue::Array({Str("MIIB")})), claims),
       Reason::kTokenEmbeddedKey},
      {"alg none", Raw(R"({"alg":"none"})", claims), Reason::kTokenAlgNone},
      {"alg NONE", Raw(R"({"alg":"NONE"})", claims), Reason::kTokenAlgNone},
      {"alg None with kid", Raw(R"({"alg":"None","kid":"ES256-0"})", claims),
       Reason::kTokenAlgNone},
      {"alg HS256", Raw(R"({"alg":"HS256","kid":"ES256-0"})", claims), Reason::kTokenAlgNotAllowed},
      {"alg es256 (case-sensitive)", Raw(R"({"alg":"es256","kid":"ES256-0"})", claims),
       Reason::kTokenAlgNotAllowed},
      {"alg ES256K", Raw(R"({"alg":"ES256K","kid":"ES256-0"})", claims),
       Reason::kTokenAlgNotAllowed},
      {"RS256 not in the strict issuer's allowlist",
       unit::Sign(SharedKey(JwsAlg::kRS256), JwsAlg::kRS256,
                  unit::TokenHeader(SharedKey(JwsAlg::kRS256), JwsAlg::kRS256), StrictClaims()),
       Reason::kTokenAlgNotAllowed},
      {"strict issuer, no typ", TokH(WithoutMember(Header(), "typ"), StrictClaims()),
       Reason::kTokenTypInvalid},
      {"strict issuer, typ JWT", TokH(HeaderWith("typ", Str("JWT")), StrictClaims()),
       Reason::kTokenTypInvalid},
      {"strict issuer, typ at+jwt with a space",
       TokH(HeaderWith("typ", Str("at+jwt ")), StrictClaims()), Reason::kTokenTypInvalid},
      {"lax issuer, typ dpop+jwt", TokH(HeaderWith("typ", Str("dpop+jwt")), claims),
       Reason::kTokenTypInvalid},
      {"lax issuer, typ application/DPoP+JWT",
       TokH(HeaderWith("typ", Str("application/DPoP+JWT")), claims), Reason::kTokenTypInvalid},
      {"iss missing", Tok(WithoutMember(claims, "iss")), Reason::kTokenIssuerUnknown},
      {"iss a number", Tok(ClaimsWith("iss", unit::Num(1))), Reason::kTokenIssuerUnknown},
      {"iss unknown", Tok(ClaimsWith("iss", Str("https://evil.example"))),
       Reason::kTokenIssuerUnknown},
      {"iss with a trailing slash", Tok(ClaimsWith("iss", Str(std::string(kIssuer) + "/"))),
       Reason::kTokenIssuerUnknown},
      {"iss in upper case", Tok(ClaimsWith("iss", Str("HTTPS://ISSUER.EXAMPLE"))),
       Reason::kTokenIssuerUnknown},
      {"kid unknown", TokH(HeaderWith("kid", Str("nope")), claims), Reason::kTokenKeyNotFound},
      {"kid empty", TokH(HeaderWith("kid", Str("")), claims), Reason::kTokenKeyNotFound},
      {"kid in another case", TokH(HeaderWith("kid", Str("es256-0")), claims),
       Reason::kTokenKeyNotFound},
      {"kid with a path", TokH(HeaderWith("kid", Str("../ES256-0")), claims),
       Reason::kTokenKeyNotFound},
      {"no kid, two ES256 keys", TokH(WithoutMember(Header(), "kid"), claims),
       Reason::kTokenKeyNotFound},
      {"kid of a key no issuer has", TokH(HeaderWith("kid", Str("RS384-0")), claims),
       Reason::kTokenKeyNotFound},
      {"kid of a P-256 key with ES384", Raw(R"({"alg":"ES384","kid":"ES256-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"kid of the Ed25519 key with ES256", Raw(R"({"alg":"ES256","kid":"EdDSA-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"kid of a P-256 key with Ed25519", Raw(R"({"alg":"Ed25519","kid":"ES256-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"kid of an RSA key with Ed25519", Raw(R"({"alg":"Ed25519","kid":"RS256-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"alg ed25519 (not the registered spelling)",
       Raw(R"({"alg":"ed25519","kid":"EdDSA-0"})", claims), Reason::kTokenAlgNotAllowed},
      {"alg Ed448", Raw(R"({"alg":"Ed448","kid":"EdDSA-0"})", claims), Reason::kTokenAlgNotAllowed},
      {"kid of an RSA key with ES256", Raw(R"({"alg":"ES256","kid":"RS256-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"kid of a P-256 key with RS256", Raw(R"({"alg":"RS256","kid":"ES256-0"})", claims),
       Reason::kTokenKeyAlgMismatch},
      {"signature truncated", unit::TruncateSignature(good), Reason::kTokenSignatureMalformed},
      {"signature one byte long", unit::WithSignature(good, "x"), Reason::kTokenSignatureMalformed},
      {"signature r = s = 0", unit::WithSignature(good, std::string(64, '\0')),
       Reason::kTokenSignatureMalformed},
      {"signature of a DER-encoded ECDSA length", unit::WithSignature(good, std::string(72, 'a')),
       Reason::kTokenSignatureMalformed},
      {"signed by a key the issuer does not have",
       unit::Sign(SharedKey(JwsAlg::kES256, 9), JwsAlg::kES256, Header(), claims),
       Reason::kTokenSignatureInvalid},
      {"signature of another token",
       unit::WithSignature(good, unit::SignatureBytes(Tok(ClaimsWith("sub", Str("mallory"))))),
       Reason::kTokenSignatureInvalid},
      {"payload swapped after signing",
       h + "." + Base64UrlEncode(SerializeJson(ClaimsWith("sub", Str("mallory")))) + "." + s,
       Reason::kTokenSignatureInvalid},
      {"exp a string", Tok(ClaimsWith("exp", Str("1900000300"))), Reason::kTokenClaimsInvalid},
      {"exp negative", Tok(ClaimsWith("exp", unit::Num(-1))), Reason::kTokenClaimsInvalid},
      {"exp beyond 2^53", Tok(ClaimsWith("exp", unit::Num(1e17))), Reason::kTokenClaimsInvalid},
      {"nbf negative", Tok(ClaimsWith("nbf", unit::Num(-5))), Reason::kTokenClaimsInvalid},
      {"iat a bool", Tok(ClaimsWith("iat", JsonValue::Bool(true))), Reason::kTokenClaimsInvalid},
      {"aud a number", Tok(ClaimsWith("aud", unit::Num(5))), Reason::kTokenClaimsInvalid},
      {"aud an object", Tok(ClaimsWith("aud", JsonValue::Object({}))), Reason::kTokenClaimsInvalid},
      {"aud array holding a number",
       Tok(ClaimsWith("aud", JsonValue::Array({Str(kAudience), unit::Num(5)}))),
       Reason::kTokenClaimsInvalid},
      {"sub a number", Tok(ClaimsWith("sub", unit::Num(5))), Reason::kTokenClaimsInvalid},
      {"client_id an array", Tok(ClaimsWith("client_id", JsonValue::Array({}))),
       Reason::kTokenClaimsInvalid},
      {"jti a number", Tok(ClaimsWith("jti", unit::Num(7))), Reason::kTokenClaimsInvalid},
      {"scope an array", Tok(ClaimsWith("scope", JsonValue::Array({Str("read")}))),
       Reason::kTokenClaimsInvalid},
      {"scp a number", Tok(WithMember(WithoutMember(claims, "scope"), "scp", unit::Num(1))),
       Reason::kTokenClaimsInvalid},
      {"scp array holding a number",
       Tok(WithMember(WithoutMember(claims, "scope"), "scp",
                      JsonValue::Array({Str("a"), unit::Num(1)}))),
       Reason::kTokenClaimsInvalid},
      // cnf may only hold what popguard can prove (jkt, x5t#S256): any other
      // confirmation method must not pass as an unbound bearer token.
      {"cnf a string", Tok(ClaimsWith("cnf", Str(kJkt))), Reason::kTokenBindingUnsupported},
      {"cnf an array", Tok(ClaimsWith("cnf", JsonValue::Array({}))),
       Reason::kTokenBindingUnsupported},
      {"cnf null", Tok(ClaimsWith("cnf", JsonValue::Null())), Reason::kTokenBindingUnsupported},
      {"cnf empty", Tok(ClaimsWith("cnf", JsonValue::Object({}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.jwk (RFC 7800)",
       Tok(ClaimsWith("cnf", JsonValue::Object(
                                 {{"jwk", unit::SharedKey(JwsAlg::kES256).RequiredPublicJwk()}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.kid", Tok(ClaimsWith("cnf", JsonValue::Object({{"kid", Str("key-1")}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.jku",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jku", Str("https://client.example/jwks")}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.x5t (SHA-1)", Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t", Str("c2hhMQ")}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.JKT (case differs)", Tok(ClaimsWith("cnf", JsonValue::Object({{"JKT", Str(kJkt)}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.jkt beside an unknown method",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str(kJkt)}, {"kid", Str("key-1")}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.x5t#S256 beside cnf.x5t",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t#S256", Str(kX5t)}, {"x5t", Str("c2hhMQ")}}))),
       Reason::kTokenBindingUnsupported},
      {"cnf.jkt 42 characters",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str(kJkt.substr(0, 42))}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.jkt 44 characters",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str(kJkt + "A")}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.jkt empty", Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str("")}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.jkt a number", Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", unit::Num(1)}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.x5t#S256 42 characters",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t#S256", Str(kX5t.substr(0, 42))}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.x5t#S256 44 characters",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t#S256", Str(kX5t + "A")}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.x5t#S256 hex (64 characters)",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t#S256", Str(HexEncode(Sha256("c")))}}))),
       Reason::kTokenClaimsInvalid},
      {"cnf.jkt 43 characters, not base64url",
       Tok(ClaimsWith("cnf", JsonValue::Object({{"jkt", Str("+" + kJkt.substr(1))}}))),
       Reason::kTokenClaimsInvalid},
      {"strict issuer, no iat", TokH(Header(), WithoutMember(StrictClaims(), "iat")),
       Reason::kTokenClaimsInvalid},
      {"exp missing", Tok(WithoutMember(claims, "exp")), Reason::kTokenExpMissing},
      {"exp exactly skew ago", Tok(ClaimsWith("exp", Secs(kNow - absl::Seconds(60)))),
       Reason::kTokenExpired},
      {"exp an hour ago", Tok(ClaimsWith("exp", Secs(kNow - absl::Hours(1)))),
       Reason::kTokenExpired},
      {"nbf one second past skew", Tok(ClaimsWith("nbf", Secs(kNow + absl::Seconds(61)))),
       Reason::kTokenNotYetValid},
      {"iat one second past skew", Tok(ClaimsWith("iat", Secs(kNow + absl::Seconds(61)))),
       Reason::kTokenIatInFuture},
      {"strict issuer, lifetime max_lifetime + 1s",
       TokH(Header(), WithMember(StrictClaims(), "exp", Secs(kNow + absl::Seconds(3601)))),
       Reason::kTokenLifetimeTooLong},
      {"aud missing", Tok(WithoutMember(claims, "aud")), Reason::kTokenAudienceMismatch},
      {"aud another", Tok(ClaimsWith("aud", Str("https://evil.example"))),
       Reason::kTokenAudienceMismatch},
      {"aud with a trailing slash", Tok(ClaimsWith("aud", Str(std::string(kAudience) + "/"))),
       Reason::kTokenAudienceMismatch},
      {"aud of the other issuer only", Tok(ClaimsWith("aud", Str(kOtherAudience))),
       Reason::kTokenAudienceMismatch},
      {"aud empty array", Tok(ClaimsWith("aud", JsonValue::Array({}))),
       Reason::kTokenAudienceMismatch},
  };
  return c;
}

TEST_F(AccessTokenValidatorTest, EveryReasonTable) {
  std::vector<Case> cases = PositiveCases();
  for (Case& c : NegativeCases()) cases.push_back(std::move(c));
  std::set<Reason> covered;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    std::shared_ptr<const VerifiedToken> vt;
    Reason got = Validate(c.token, c.now, &vt);
    EXPECT_EQ(ReasonCode(got), ReasonCode(c.want)) << last_detail_;
    covered.insert(got);
    if (got == Reason::kOk) {
      ASSERT_NE(vt, nullptr);
      EXPECT_EQ(vt->token_hash, Sha256(c.token));
    } else if (c.token.size() > 40) {
      // Denial details never carry the token or its segments.
      const std::string last = c.token.substr(c.token.rfind('.') + 1);
      EXPECT_EQ(last_detail_.find(c.token), std::string::npos);
      if (last.size() > 16) {
        EXPECT_EQ(last_detail_.find(last), std::string::npos);
      }
    }
  }
  for (size_t i = static_cast<size_t>(Reason::kTokenTooLarge);
       i <= static_cast<size_t>(Reason::kTokenAudienceMismatch); ++i) {
    EXPECT_EQ(covered.count(static_cast<Reason>(i)), 1u)
        << "no row for " << ReasonCode(static_cast<Reason>(i));
  }
}

// Every accepted token must stop verifying when any signature bit changes
// (all bits for ECDSA/EdDSA, 64 spread bits for RSA), and when the signature
// is one byte short.
TEST_F(AccessTokenValidatorTest, PositiveCasesFailWhenTheSignatureIsMutated) {
  for (const Case& c : PositiveCases()) {
    SCOPED_TRACE(c.why);
    ASSERT_EQ(Validate(c.token, c.now), Reason::kOk) << last_detail_;
    const size_t sig_bytes = unit::SignatureBytes(c.token).size();
    ASSERT_GT(sig_bytes, 0u);
    int flipped = 0;
    for (size_t bit : unit::SignatureBitsToFlip(c.alg, sig_bytes)) {
      Reason r = Validate(unit::FlipSignatureBit(c.token, bit), c.now);
      if (r != Reason::kTokenSignatureInvalid && r != Reason::kTokenSignatureMalformed) {
        ADD_FAILURE() << "bit " << bit << ": " << ReasonCode(r);
      }
      ++flipped;
    }
    EXPECT_GE(flipped, 64);
    EXPECT_EQ(Validate(unit::TruncateSignature(c.token), c.now), Reason::kTokenSignatureMalformed);
  }
}

TEST_F(AccessTokenValidatorTest, TokenSizeLimitIsInclusive) {
  const std::string token = Tok(Claims());
  Config config = TestConfig();
  config.limits.max_token_bytes = token.size();
  Build(config);
  EXPECT_EQ(Validate(token, kNow), Reason::kOk) << last_detail_;
  config.limits.max_token_bytes = token.size() - 1;
  Build(config);
  EXPECT_EQ(Validate(token, kNow), Reason::kTokenTooLarge);
}

TEST_F(AccessTokenValidatorTest, VerifiedTokenFields) {
  const JsonValue claims = WithMember(WithMember(ClaimsWith("nbf", Secs(kNow - absl::Seconds(10))),
                                                 "cnf", JsonValue::Object({{"jkt", Str(kJkt)}})),
                                      "scope", Str("  read   write admin "));
  const std::string token = Tok(claims);
  std::shared_ptr<const VerifiedToken> vt;
  ASSERT_EQ(Validate(token, kNow, &vt), Reason::kOk) << last_detail_;
  EXPECT_EQ(vt->issuer, kIssuer);
  EXPECT_EQ(vt->subject, "alice");
  EXPECT_EQ(vt->client_id, "client-1");
  EXPECT_EQ(vt->Principal(), "alice");
  EXPECT_EQ(vt->scopes, (std::vector<std::string>{"read", "write", "admin"}));
  EXPECT_EQ(vt->cnf_jkt, kJkt);
  EXPECT_TRUE(vt->IsDpopBound());
  EXPECT_FALSE(vt->IsMtlsBound());
  EXPECT_EQ(vt->kid, "ES256-0");
  EXPECT_EQ(vt->exp, kNow + absl::Minutes(5));
  EXPECT_EQ(vt->nbf, kNow - absl::Seconds(10));
  EXPECT_EQ(vt->iat, kNow);
  EXPECT_EQ(vt->token_hash, Sha256(token));

  // Without sub the principal is the client; without cnf nothing is bound.
  ASSERT_EQ(Validate(Tok(WithoutMember(Claims(), "sub")), kNow, &vt), Reason::kOk);
  EXPECT_EQ(vt->Principal(), "client-1");
  EXPECT_FALSE(vt->IsDpopBound());
  EXPECT_FALSE(vt->IsMtlsBound());
  EXPECT_EQ(vt->nbf, std::nullopt);
}

TEST_F(AccessTokenValidatorTest, ScopeAndScp) {
  struct ScopeCase {
    std::string why;
    JsonValue claims;
    std::vector<std::string> want;
  };
  const JsonValue base = WithoutMember(Claims(), "scope");
  const std::vector<ScopeCase> cases = {
      {"scope string", WithMember(base, "scope", Str("a b")), {"a", "b"}},
      {"scope with extra spaces", WithMember(base, "scope", Str(" a  b ")), {"a", "b"}},
      {"scope empty", WithMember(base, "scope", Str("")), {}},
      {"scp array",
       WithMember(base, "scp", JsonValue::Array({Str("a"), Str("b c")})),
       {"a", "b c"}},
      {"scp string", WithMember(base, "scp", Str("a b")), {"a", "b"}},
      {"scope wins over scp",
       WithMember(WithMember(base, "scope", Str("s")), "scp", JsonValue::Array({Str("p")})),
       {"s"}},
      {"neither", base, {}},
  };
  for (const ScopeCase& c : cases) {
    SCOPED_TRACE(c.why);
    std::shared_ptr<const VerifiedToken> vt;
    ASSERT_EQ(Validate(Tok(c.claims), kNow, &vt), Reason::kOk) << last_detail_;
    EXPECT_EQ(vt->scopes, c.want);
  }
}

TEST_F(AccessTokenValidatorTest, MtlsBinding) {
  std::shared_ptr<const VerifiedToken> vt;
  ASSERT_EQ(
      Validate(Tok(ClaimsWith("cnf", JsonValue::Object({{"x5t#S256", Str(kX5t)}}))), kNow, &vt),
      Reason::kOk);
  EXPECT_EQ(vt->cnf_x5t, kX5t);
  EXPECT_TRUE(vt->IsMtlsBound());
  EXPECT_FALSE(vt->IsDpopBound());
}

TEST_F(AccessTokenValidatorTest, ClaimRenderingForUpstreamHeaders) {
  Config config = TestConfig();
  config.upstream_headers = {
      {"x-sub", "sub"},
      {"x-scope", "scope"},
      {"x-roles", "roles"},
      {"x-level", "level"},
      {"x-neg", "neg"},
      {"x-ratio", "ratio"},
      {"x-admin", "admin"},
      {"x-off", "off"},
      {"x-utf8", "utf8"},
      {"x-obj", "obj"},
      {"x-null", "nul"},
      {"x-mixed", "mixed"},
      {"x-ctl", "ctl"},
      {"x-del", "del"},
      {"x-missing", "missing"},
      {"x-binding", "@binding"},
      {"x-empty-roles", "empty_roles"},
  };
  Build(config);
  JsonValue claims = Claims();
  for (auto& [name, value] : std::vector<std::pair<std::string, JsonValue>>{
           {"roles", JsonValue::Array({Str("a"), Str("b")})},
           {"level", unit::Num(3)},
           {"neg", unit::Num(-2)},
           {"ratio", unit::Num(1.5)},
           {"admin", JsonValue::Bool(true)},
           {"off", JsonValue::Bool(false)},
           {"utf8", Str("\xc3\xa9t\xc3\xa9")},
           {"obj", JsonValue::Object({{"k", Str("v")}})},
           {"nul", JsonValue::Null()},
           {"mixed", JsonValue::Array({Str("a"), unit::Num(1)})},
           {"ctl", Str("a\r\nx-injected: 1")},
           {"del", Str("a\x7f")},
           {"empty_roles", JsonValue::Array({})},
           {"@binding", Str("not a claim to render")},
       }) {
    claims = WithMember(claims, name, value);
  }
  std::shared_ptr<const VerifiedToken> vt;
  ASSERT_EQ(Validate(Tok(claims), kNow, &vt), Reason::kOk) << last_detail_;
  const std::vector<std::pair<std::string, std::string>> want = {
      {"sub", "alice"},    {"scope", "read write"}, {"roles", "a b"},
      {"level", "3"},      {"neg", "-2"},           {"ratio", "1.5"},
      {"admin", "true"},   {"off", "false"},        {"utf8", "\xc3\xa9t\xc3\xa9"},
      {"empty_roles", ""},
  };
  EXPECT_EQ(vt->claim_values, want);
  ASSERT_NE(vt->ClaimValue("roles"), nullptr);
  EXPECT_EQ(*vt->ClaimValue("roles"), "a b");
  EXPECT_EQ(vt->ClaimValue("ctl"), nullptr);
  EXPECT_EQ(vt->ClaimValue("@binding"), nullptr);
}

TEST_F(AccessTokenValidatorTest, SecondValidationIsACacheHit) {
  const std::string token = Tok(Claims());
  std::shared_ptr<const VerifiedToken> first, second;
  ASSERT_EQ(Validate(token, kNow, &first), Reason::kOk);
  EXPECT_EQ(validator_->cache().hits(), 0u);
  ASSERT_EQ(Validate(token, kNow + absl::Seconds(10), &second), Reason::kOk);
  EXPECT_EQ(validator_->cache().hits(), 1u);
  EXPECT_EQ(first.get(), second.get());
  // Ten more requests: ten more hits, no new verification.
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Validate(token, kNow + absl::Seconds(i)), Reason::kOk);
  EXPECT_EQ(validator_->cache().hits(), 11u);
  EXPECT_EQ(validator_->cache().misses(), 1u);
}

// A reload builds a new validator around the same shared cache: an entry
// validated under an unchanged configuration is still a hit, and one checked
// under rules that changed (here: the audience) is never served.
TEST_F(AccessTokenValidatorTest, SharedCacheSurvivesReloadOnlyForTheSameRules) {
  BoundedCache<VerifiedToken> shared(100);
  const std::string token = Tok(Claims());
  auto validate_with = [&](const Config& config) {
    std::vector<std::string> warnings;
    auto registry = IssuerRegistry::Create(config, &warnings);
    EXPECT_TRUE(registry.ok()) << registry.status();
    AccessTokenValidator v(config, registry->get(), verifier_.get(), &shared);
    std::shared_ptr<const VerifiedToken> out;
    std::string detail;
    return v.Validate(token, kNow, &out, &detail);
  };
  Config config = TestConfig();
  ASSERT_EQ(validate_with(config), Reason::kOk);
  EXPECT_EQ(shared.hits(), 0u);
  // Same rules after a "reload" (a new registry, new key objects): a hit.
  config.log_level = "debug";
  ASSERT_EQ(validate_with(config), Reason::kOk);
  EXPECT_EQ(shared.hits(), 1u);
  // The audience the token carries is no longer configured: validated again
  // under the new rules, and refused.
  config.issuers[0].audiences = {kOtherAudience};
  EXPECT_EQ(validate_with(config), Reason::kTokenAudienceMismatch);
  EXPECT_EQ(shared.hits(), 1u);
  EXPECT_NE(CacheScope(TestConfig()), CacheScope(config));
}

TEST_F(AccessTokenValidatorTest, CachedTokenStillExpires) {
  const std::string token = Tok(Claims());  // exp = kNow + 5 min, skew 60 s
  ASSERT_EQ(Validate(token, kNow), Reason::kOk);
  const absl::Time last_ok = kNow + absl::Minutes(6) - absl::Seconds(1);
  EXPECT_EQ(Validate(token, last_ok), Reason::kOk);
  EXPECT_EQ(validator_->cache().hits(), 1u);
  EXPECT_EQ(Validate(token, kNow + absl::Minutes(6)), Reason::kTokenExpired);
  EXPECT_EQ(Validate(token, kNow + absl::Hours(1)), Reason::kTokenExpired);
}

TEST_F(AccessTokenValidatorTest, CacheHitRechecksNotBefore) {
  // Verified at kNow (nbf - skew <= kNow), then presented with an earlier
  // time (another thread's clock reading): the cache must not skip nbf.
  const std::string token = Tok(ClaimsWith("nbf", Secs(kNow + absl::Seconds(30))));
  ASSERT_EQ(Validate(token, kNow), Reason::kOk) << last_detail_;
  const uint64_t hits = validator_->cache().hits();
  EXPECT_EQ(Validate(token, kNow - absl::Seconds(31)), Reason::kTokenNotYetValid);
  EXPECT_EQ(validator_->cache().hits(), hits + 1);
}

TEST_F(AccessTokenValidatorTest, FailuresAreNotCached) {
  const std::string token = Tok(ClaimsWith("aud", Str("https://evil.example")));
  EXPECT_EQ(Validate(token, kNow), Reason::kTokenAudienceMismatch);
  EXPECT_EQ(Validate(token, kNow), Reason::kTokenAudienceMismatch);
  EXPECT_EQ(validator_->cache().hits(), 0u);
  EXPECT_EQ(validator_->cache().Size(), 0u);
}

TEST_F(AccessTokenValidatorTest, CacheCanBeDisabled) {
  Config config = TestConfig();
  config.access_token_cache_entries = 0;
  Build(config);
  const std::string token = Tok(Claims());
  ASSERT_EQ(Validate(token, kNow), Reason::kOk);
  ASSERT_EQ(Validate(token, kNow), Reason::kOk);
  EXPECT_EQ(validator_->cache().hits(), 0u);
}

TEST_F(AccessTokenValidatorTest, CheckTimesBoundaries) {
  VerifiedToken t;
  t.exp = kNow + absl::Minutes(5);
  t.nbf = kNow;
  t.iat = kNow;
  std::string detail;
  const absl::Duration skew = absl::Seconds(60);
  struct TimeCase {
    absl::Time now;
    Reason want;
  };
  for (const TimeCase& c : std::vector<TimeCase>{
           {kNow, Reason::kOk},
           {t.exp + skew - absl::Nanoseconds(1), Reason::kOk},
           {t.exp + skew, Reason::kTokenExpired},
           {kNow - skew, Reason::kOk},
           {kNow - skew - absl::Nanoseconds(1), Reason::kTokenNotYetValid},
       }) {
    SCOPED_TRACE(absl::FormatTime(c.now));
    EXPECT_EQ(validator_->CheckTimes(t, c.now, &detail), c.want);
  }
  t.nbf.reset();
  EXPECT_EQ(validator_->CheckTimes(t, kNow - skew - absl::Seconds(1), &detail),
            Reason::kTokenIatInFuture);
}

TEST(DescribeTimeTest, SecondsAndRfc3339) {
  EXPECT_EQ(DescribeTime(kNow), "1900000000 (2030-03-17T17:46:40Z)");
  EXPECT_EQ(DescribeTime(absl::UnixEpoch()), "0 (1970-01-01T00:00:00Z)");
}

}  // namespace
}  // namespace popguard
