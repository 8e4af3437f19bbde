// Tests for service/authn/dpop.h: the DPoP proof checks of RFC 9449 section 4.3 at
// a resource server (section 7), one row per reason, the htu comparison after
// RFC 3986 normalisation (section 4.3 check 9), the exact iat window edges, the
// server nonce (section 8), and the replay key the caller records.
#include "service/authn/dpop.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "service/common/crypto_util.h"
#include "service/common/url.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

using unit::Compact;
using unit::kNow;
using unit::ProofOptions;
using unit::Secs;
using unit::SharedKey;
using unit::Str;
using unit::WithMember;
using unit::WithoutMember;

constexpr char kToken[] = "the-access-token.payload.signature";
constexpr char kUrl[] = "https://api.example/resource";
const std::string kSecret(32, 's');

const PrivateKey& Key() { return SharedKey(JwsAlg::kES256); }
const PrivateKey& OtherKey() { return SharedKey(JwsAlg::kES256, 1); }

ProofOptions Opts() {
  ProofOptions o;
  o.access_token = kToken;
  o.htu = kUrl;
  return o;
}
JsonValue Header() { return unit::ProofHeader(Key(), JwsAlg::kES256); }
JsonValue Claims() { return unit::ProofClaims(Opts()); }
JsonValue HeaderWith(std::string_view name, JsonValue v) { return WithMember(Header(), name, v); }
JsonValue ClaimsWith(std::string_view name, JsonValue v) { return WithMember(Claims(), name, v); }
JsonValue JwkWith(std::string_view name, JsonValue v) {
  return WithMember(Key().RequiredPublicJwk(), name, v);
}
// Proof signs `claims` with Key() under `header`.
std::string Proof(const JsonValue& header, const JsonValue& claims) {
  return unit::Sign(Key(), JwsAlg::kES256, header, claims);
}
std::string ProofC(const JsonValue& claims) { return Proof(Header(), claims); }
// A proof with a junk signature, for rows refused before the signature.
std::string Raw(const JsonValue& header, const JsonValue& claims = Claims()) {
  return Compact(SerializeJson(header), SerializeJson(claims), std::string(64, '\x01'));
}
std::string Normalized(std::string_view url) {
  absl::StatusOr<NormalizedUrl> u = NormalizeAbsoluteUrl(url);
  EXPECT_TRUE(u.ok()) << u.status();
  return u.ok() ? u->ToString() : "";
}

struct Case {
  std::string why;
  std::string proof;
  Reason want;
  std::string method = "GET";
  std::string url = kUrl;  // the request URL, normalised before the call
  std::string jkt = Key().Thumbprint();
  absl::Time now = kNow;
};

class DpopValidatorTest : public ::testing::Test {
 protected:
  DpopValidatorTest() : verifier_(CreateOpenSslVerifier()) { Build(DpopConfig(), nullptr); }

  void Build(const DpopConfig& config, const DpopNonces* nonces) {
    config_ = config;
    validator_ = std::make_unique<DpopValidator>(config, limits_, verifier_.get(), nonces);
  }

  Reason Validate(const Case& c, DpopResult* out = nullptr) {
    const std::string url = Normalized(c.url);
    DpopRequest req;
    req.proof = c.proof;
    req.method = c.method;
    req.request_url = url;
    req.access_token = kToken;
    req.expected_jkt = c.jkt;
    req.now = c.now;
    DpopResult scratch;
    detail_.clear();
    Reason r = validator_->Validate(req, out ? out : &scratch, &detail_);
    if (r != Reason::kOk) {
      EXPECT_FALSE(detail_.empty());
    }
    return r;
  }

  void RunTable(const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      SCOPED_TRACE(c.why);
      EXPECT_EQ(ReasonCode(Validate(c)), ReasonCode(c.want)) << detail_;
    }
  }

  LimitsConfig limits_;
  DpopConfig config_;
  SignatureVerifierPtr verifier_;
  std::unique_ptr<DpopValidator> validator_;
  std::string detail_;
};

TEST_F(DpopValidatorTest, ProofStructureAndHeader) {
  const std::string good = ProofC(Claims());
  const std::string h = good.substr(0, good.find('.'));
  ProofOptions big = Opts();
  big.jti = std::string(200, 'j');
  RunTable({
      {"good", good, Reason::kOk},
      {"over max_proof_bytes", ProofC(ClaimsWith("pad", Str(std::string(4096, 'p')))),
       Reason::kDpopProofTooLarge},
      {"two segments", good.substr(0, good.rfind('.')), Reason::kDpopProofMalformed},
      {"empty", "", Reason::kDpopProofMalformed},
      {"two proofs joined by a comma", good + "," + good, Reason::kDpopProofMalformed},
      {"padded header", h + "=" + good.substr(h.size()), Reason::kDpopProofBadBase64},
      {"header not JSON", Compact("{", SerializeJson(Claims()), "sig"), Reason::kDpopProofBadJson},
      {"duplicate claim", Compact(SerializeJson(Header()), R"({"jti":"a","jti":"b"})", "sig"),
       Reason::kDpopProofBadJson},
      {"alg missing", Raw(WithoutMember(Header(), "alg")), Reason::kDpopHeaderInvalid},
      {"crit", Raw(HeaderWith("crit", JsonValue::Array({Str("htm")}))), Reason::kDpopHeaderInvalid},
      {"b64", Raw(HeaderWith("b64", JsonValue::Bool(false))), Reason::kDpopHeaderInvalid},
      {"zip", Raw(HeaderWith("zip", Str("DEF"))), Reason::kDpopHeaderInvalid},
      {"kid a number", Raw(HeaderWith("kid", unit::Num(1))), Reason::kDpopHeaderInvalid},
      // RFC 9449 4.3 (4): explicit typing.
      {"typ missing", Raw(WithoutMember(Header(), "typ")), Reason::kDpopTypInvalid},
      {"typ JWT", Raw(HeaderWith("typ", Str("JWT"))), Reason::kDpopTypInvalid},
      {"typ at+jwt (an access token)", Raw(HeaderWith("typ", Str("at+jwt"))),
       Reason::kDpopTypInvalid},
      {"typ with a trailing space", Raw(HeaderWith("typ", Str("dpop+jwt "))),
       Reason::kDpopTypInvalid},
      {"typ application/dpop+jwt", Proof(HeaderWith("typ", Str("application/dpop+jwt")), Claims()),
       Reason::kOk},
      {"typ DPoP+JWT", Proof(HeaderWith("typ", Str("DPoP+JWT")), Claims()), Reason::kOk},
      // (5): asymmetric, allowed algorithms only.
      {"alg none", Raw(HeaderWith("alg", Str("none"))), Reason::kDpopAlgNotAllowed},
      {"alg HS256", Raw(HeaderWith("alg", Str("HS256"))), Reason::kDpopAlgNotAllowed},
      {"alg RS384 (not in dpop.algorithms)", Raw(HeaderWith("alg", Str("RS384"))),
       Reason::kDpopAlgNotAllowed},
      {"alg es256", Raw(HeaderWith("alg", Str("es256"))), Reason::kDpopAlgNotAllowed},
      {"typ is judged before alg",
       Raw(WithMember(HeaderWith("typ", Str("JWT")), "alg", Str("none"))), Reason::kDpopTypInvalid},
  });
}

TEST_F(DpopValidatorTest, ProofKey) {
  const std::string good = ProofC(Claims());
  RunTable({
      // (7): jwk is a public key that fits alg.
      {"jwk missing", Raw(WithoutMember(Header(), "jwk")), Reason::kDpopJwkInvalid},
      {"jwk a string", Raw(HeaderWith("jwk", Str("key"))), Reason::kDpopJwkInvalid},
      {"jwk with d", Raw(HeaderWith("jwk", Key().PrivateJwk())), Reason::kDpopJwkPrivate},
      {"jwk with an empty d", Raw(HeaderWith("jwk", JwkWith("d", Str("")))),
       Reason::kDpopJwkPrivate},
      {"jwk oct with k",
       Raw(HeaderWith("jwk", JsonValue::Object({{"kty", Str("oct")}, {"k", Str("c2VjcmV0")}}))),
       Reason::kDpopJwkPrivate},
      {"jwk oct without k", Raw(HeaderWith("jwk", JsonValue::Object({{"kty", Str("oct")}}))),
       Reason::kDpopJwkInvalid},
      {"jwk x of 31 bytes",
       Raw(HeaderWith("jwk", JwkWith("x", Str(Base64UrlEncode(std::string(31, 'x')))))),
       Reason::kDpopJwkInvalid},
      {"jwk point not on the curve",
       Raw(HeaderWith("jwk", JwkWith("y", Str(Base64UrlEncode(std::string(32, '\x01')))))),
       Reason::kDpopJwkInvalid},
      {"jwk unknown kty", Raw(HeaderWith("jwk", JwkWith("kty", Str("XYZ")))),
       Reason::kDpopJwkInvalid},
      {"P-256 jwk with alg ES384", Raw(HeaderWith("alg", Str("ES384"))), Reason::kDpopJwkInvalid},
      {"P-256 jwk with alg EdDSA", Raw(HeaderWith("alg", Str("EdDSA"))), Reason::kDpopJwkInvalid},
      {"P-256 jwk with alg Ed25519", Raw(HeaderWith("alg", Str("Ed25519"))),
       Reason::kDpopJwkInvalid},
      {"RSA jwk with alg Ed25519",
       Raw(WithMember(HeaderWith("alg", Str("Ed25519")), "jwk",
                      SharedKey(JwsAlg::kRS256).RequiredPublicJwk())),
       Reason::kDpopJwkInvalid},
      {"Ed448 jwk with alg Ed25519",
       Raw(WithMember(HeaderWith("alg", Str("Ed25519")), "jwk",
                      JsonValue::Object({{"kty", Str("OKP")},
                                         {"crv", Str("Ed448")},
                                         {"x", Str(Base64UrlEncode(std::string(57, 'x')))}}))),
       Reason::kDpopJwkInvalid},
      {"P-256 jwk with alg RS256", Raw(HeaderWith("alg", Str("RS256"))), Reason::kDpopJwkInvalid},
      {"jwk restricted to ES384 by its alg member",
       Proof(HeaderWith("jwk", JwkWith("alg", Str("ES384"))), Claims()), Reason::kDpopJwkInvalid},
      {"jwk for encryption (use enc)",
       Proof(HeaderWith("jwk", JwkWith("use", Str("enc"))), Claims()), Reason::kDpopJwkInvalid},
      {"jwk key_ops without verify",
       Proof(HeaderWith("jwk", JwkWith("key_ops", JsonValue::Array({Str("sign")}))), Claims()),
       Reason::kDpopJwkInvalid},
      {"jwk with use sig and kid", Proof(HeaderWith("jwk", JwkWith("use", Str("sig"))), Claims()),
       Reason::kOk},
      // (6): the signature verifies with that jwk.
      {"signature truncated", unit::TruncateSignature(good), Reason::kDpopSignatureMalformed},
      {"signature r = s = 0", unit::WithSignature(good, std::string(64, '\0')),
       Reason::kDpopSignatureMalformed},
      {"signed by another key", unit::Sign(OtherKey(), JwsAlg::kES256, Header(), Claims()),
       Reason::kDpopSignatureInvalid},
      {"claims swapped after signing",
       good.substr(0, good.find('.') + 1) +
           Base64UrlEncode(SerializeJson(ClaimsWith("jti", Str("another-jti")))) +
           good.substr(good.rfind('.')),
       Reason::kDpopSignatureInvalid},
      // Binding to the token's cnf.jkt (RFC 9449 section 6.1).
      {"jkt of another key", good, Reason::kDpopJktMismatch, "GET", kUrl, OtherKey().Thumbprint()},
      {"empty expected jkt", good, Reason::kDpopJktMismatch, "GET", kUrl, ""},
      {"another key's proof for this token", unit::MintProof(OtherKey(), Opts()),
       Reason::kDpopJktMismatch},
      {"jkt is judged before the claims", ProofC(WithoutMember(Claims(), "jti")),
       Reason::kDpopJktMismatch, "GET", kUrl, OtherKey().Thumbprint()},
      {"jkt is judged before the signature", Raw(Header()), Reason::kDpopJktMismatch, "GET", kUrl,
       OtherKey().Thumbprint()},
  });
}

// RsaJwk returns an RSA public JWK with a random odd modulus of `bits` bits
// and the base64url exponent `e`: a key nobody holds, which is all an
// attacker needs to make a server verify under it.
JsonValue RsaJwk(int bits, std::string_view e) {
  std::string n = RandomBytes(static_cast<size_t>(bits + 7) / 8);
  const int top = (bits - 1) % 8;  // the highest bit's position in the first byte
  n.front() = static_cast<char>((n.front() & ((2 << top) - 1)) | (1 << top));
  n.back() = static_cast<char>(n.back() | 0x01);
  return JsonValue::Object({{"kty", Str("RSA")}, {"e", Str(e)}, {"n", Str(Base64UrlEncode(n))}});
}

// RsaProof returns a proof with good claims under `jwk` (RS256) and a random
// signature of the modulus' length; the case expects the token bound to jwk.
Case RsaProof(std::string why, const JsonValue& jwk, Reason want) {
  const JsonValue header =
      JsonValue::Object({{"typ", Str("dpop+jwt")}, {"alg", Str("RS256")}, {"jwk", jwk}});
  const size_t sig_bytes = Base64UrlDecode(*jwk.FindString("n"))->size();
  Case c{std::move(why),
         Compact(SerializeJson(header), SerializeJson(Claims()), RandomBytes(sig_bytes)), want};
  c.jkt = JwkThumbprint(jwk).value();
  return c;
}

// A proof key is chosen by the sender, so its cost is bounded (issue 10 item
// 4): RSA proof keys must have a 2048..4096-bit modulus and the exponent 65537.
TEST_F(DpopValidatorTest, ProofRsaKeySizeBounds) {
  RunTable({
      // Sizes popguard accepts get as far as the (random) signature.
      RsaProof("2048 bits, e = 65537", RsaJwk(2048, "AQAB"), Reason::kDpopSignatureInvalid),
      RsaProof("4096 bits, e = 65537", RsaJwk(4096, "AQAB"), Reason::kDpopSignatureInvalid),
      // Refused before the key is even parsed.
      RsaProof("4097 bits", RsaJwk(4097, "AQAB"), Reason::kDpopJwkSizeUnsupported),
      RsaProof("4104 bits", RsaJwk(4104, "AQAB"), Reason::kDpopJwkSizeUnsupported),
      RsaProof("8192 bits", RsaJwk(8192, "AQAB"), Reason::kDpopJwkSizeUnsupported),
      RsaProof("8192 bits, e = 2^64 - 1", RsaJwk(8192, "__________8"),
               Reason::kDpopJwkSizeUnsupported),
      RsaProof("2048 bits, e = 2^64 - 1", RsaJwk(2048, "__________8"),
               Reason::kDpopJwkSizeUnsupported),
      RsaProof("2048 bits, e = 3", RsaJwk(2048, "Aw"), Reason::kDpopJwkSizeUnsupported),
      RsaProof("2048 bits, e = 2^32 - 1", RsaJwk(2048, "_____w"), Reason::kDpopJwkSizeUnsupported),
      RsaProof("2048 bits, e = 65537 with a leading zero", RsaJwk(2048, "AAEAAQ"),
               Reason::kDpopJwkSizeUnsupported),
      // Below 2048 bits stays a key PublicKey::FromJwk refuses.
      RsaProof("1024 bits", RsaJwk(1024, "AQAB"), Reason::kDpopJwkInvalid),
  });
}

// SpyVerifier is OpenSSL's verifier, counting the verifications it runs.
class SpyVerifier final : public SignatureVerifier {
 public:
  SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view signing_input,
                         std::string_view signature) const override {
    ++verifications;
    return inner_->Verify(alg, key, signing_input, signature);
  }
  void VerifyBatch(std::span<const SignatureCheck> checks,
                   std::span<SignatureResult> results) const override {
    verifications += static_cast<int>(checks.size());
    inner_->VerifyBatch(checks, results);
  }
  mutable int verifications = 0;

 private:
  SignatureVerifierPtr inner_ = CreateOpenSslVerifier();
};

// Cheapest checks first (issue 10 item 4): a proof that fails anything but
// its signature costs no verification at all; one that passes everything
// else costs exactly one. The signatures here are junk (or made by another
// key), so on the old order every row cost a verification and said
// dpop_signature_invalid.
TEST_F(DpopValidatorTest, EverythingButTheSignatureIsCheckedBeforeIt) {
  const DpopConfig config;
  const std::string nonce_secret(32, 'n');
  DpopNonces nonces(nonce_secret, config.nonce.step);
  DpopConfig nonce_config;
  nonce_config.nonce.required = true;
  auto junk = [](const JsonValue& claims) { return Raw(Header(), claims); };
  struct Row {
    Case c;
    bool nonce_required = false;
    int verifications;
  };
  const std::vector<Row> rows = {
      {{"proof key is not the token's", unit::MintProof(OtherKey(), Opts()),
        Reason::kDpopJktMismatch},
       false,
       0},
      {{"proof key is not the token's, junk signature", Raw(Header()), Reason::kDpopJktMismatch,
        "GET", kUrl, OtherKey().Thumbprint()},
       false,
       0},
      {RsaProof("8192-bit RSA key with e = 2^64 - 1", RsaJwk(8192, "__________8"),
                Reason::kDpopJwkSizeUnsupported),
       false, 0},
      {{"jti missing", junk(WithoutMember(Claims(), "jti")), Reason::kDpopJtiInvalid}, false, 0},
      {{"htm differs", junk(Claims()), Reason::kDpopHtmMismatch, "POST"}, false, 0},
      {{"htu differs", junk(Claims()), Reason::kDpopHtuMismatch, "GET",
        "https://api.example/other"},
       false,
       0},
      {{"iat stale", junk(Claims()), Reason::kDpopIatStale, "GET", kUrl, Key().Thumbprint(),
        kNow + absl::Minutes(5)},
       false,
       0},
      {{"ath of another token", junk(ClaimsWith("ath", Str(unit::Ath("another")))),
        Reason::kDpopAthMismatch},
       false,
       0},
      {{"nonce missing", junk(Claims()), Reason::kDpopNonceMissing}, true, 0},
      // Everything else holds: now the signature is checked, once.
      {{"junk signature", junk(Claims()), Reason::kDpopSignatureInvalid}, false, 1},
      {{"signed by another key than its jwk",
        unit::Sign(OtherKey(), JwsAlg::kES256, Header(), Claims()), Reason::kDpopSignatureInvalid},
       false,
       1},
      {{"valid", ProofC(Claims()), Reason::kOk}, false, 1},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.c.why);
    SpyVerifier spy;
    validator_ =
        std::make_unique<DpopValidator>(row.nonce_required ? nonce_config : config, limits_, &spy,
                                        row.nonce_required ? &nonces : nullptr);
    EXPECT_EQ(ReasonCode(Validate(row.c)), ReasonCode(row.c.want)) << detail_;
    EXPECT_EQ(spy.verifications, row.verifications);
  }
}

TEST_F(DpopValidatorTest, ProofClaims) {
  RunTable({
      // (8)-(12): jti, htm, htu, iat present and typed.
      {"jti missing", ProofC(WithoutMember(Claims(), "jti")), Reason::kDpopJtiInvalid},
      {"jti empty", ProofC(ClaimsWith("jti", Str(""))), Reason::kDpopJtiInvalid},
      {"jti a number", ProofC(ClaimsWith("jti", unit::Num(7))), Reason::kDpopJtiInvalid},
      {"jti 257 bytes", ProofC(ClaimsWith("jti", Str(std::string(257, 'j')))),
       Reason::kDpopJtiInvalid},
      {"jti 256 bytes", ProofC(ClaimsWith("jti", Str(std::string(256, 'j')))), Reason::kOk},
      {"htm missing", ProofC(WithoutMember(Claims(), "htm")), Reason::kDpopClaimsInvalid},
      {"htm a number", ProofC(ClaimsWith("htm", unit::Num(1))), Reason::kDpopClaimsInvalid},
      {"htu missing", ProofC(WithoutMember(Claims(), "htu")), Reason::kDpopClaimsInvalid},
      {"htu an array", ProofC(ClaimsWith("htu", JsonValue::Array({Str(kUrl)}))),
       Reason::kDpopClaimsInvalid},
      {"iat missing", ProofC(WithoutMember(Claims(), "iat")), Reason::kDpopClaimsInvalid},
      {"iat a string", ProofC(ClaimsWith("iat", Str("1900000000"))), Reason::kDpopClaimsInvalid},
      {"iat beyond 2^53", ProofC(ClaimsWith("iat", unit::Num(1e17))), Reason::kDpopClaimsInvalid},
      {"jti is judged before the other claims",
       ProofC(WithoutMember(WithoutMember(Claims(), "jti"), "htm")), Reason::kDpopJtiInvalid},
      // htm: case-sensitive method (RFC 9110 section 9.1).
      {"htm get", ProofC(ClaimsWith("htm", Str("get"))), Reason::kDpopHtmMismatch},
      {"htm POST", ProofC(ClaimsWith("htm", Str("POST"))), Reason::kDpopHtmMismatch},
      {"htm with a space", ProofC(ClaimsWith("htm", Str("GET "))), Reason::kDpopHtmMismatch},
      {"htm POST for a POST", ProofC(ClaimsWith("htm", Str("POST"))), Reason::kOk, "POST"},
      // ath (4.3 (11), 7.1): the hash of this exact token.
      {"ath missing", ProofC(WithoutMember(Claims(), "ath")), Reason::kDpopAthMissing},
      {"ath of another token", ProofC(ClaimsWith("ath", Str(unit::Ath("another token")))),
       Reason::kDpopAthMismatch},
      {"ath padded", ProofC(ClaimsWith("ath", Str(unit::Ath(kToken) + "="))),
       Reason::kDpopAthMismatch},
      {"ath hex", ProofC(ClaimsWith("ath", Str(HexEncode(Sha256(kToken))))),
       Reason::kDpopAthMismatch},
      {"ath of the token with Bearer prefix",
       ProofC(ClaimsWith("ath", Str(unit::Ath(std::string("DPoP ") + kToken)))),
       Reason::kDpopAthMismatch},
      {"ath a number", ProofC(ClaimsWith("ath", unit::Num(1))), Reason::kDpopAthMismatch},
      {"ath null", ProofC(ClaimsWith("ath", JsonValue::Null())), Reason::kDpopAthMismatch},
  });
}

TEST_F(DpopValidatorTest, HtuComparison) {
  auto htu = [](std::string_view u) { return ProofC(ClaimsWith("htu", Str(u))); };
  RunTable({
      {"htu relative", htu("/resource"), Reason::kDpopHtuInvalid},
      {"htu without scheme", htu("api.example/resource"), Reason::kDpopHtuInvalid},
      {"htu scheme-relative", htu("//api.example/resource"), Reason::kDpopHtuInvalid},
      {"htu ftp", htu("ftp://api.example/resource"), Reason::kDpopHtuInvalid},
      {"htu with userinfo", htu("https://user@api.example/resource"), Reason::kDpopHtuInvalid},
      {"htu port 0", htu("https://api.example:0/resource"), Reason::kDpopHtuInvalid},
      {"htu port 65536", htu("https://api.example:65536/resource"), Reason::kDpopHtuInvalid},
      {"htu with a space", htu("https://api.example/res ource"), Reason::kDpopHtuInvalid},
      {"htu bad percent-encoding", htu("https://api.example/%zz"), Reason::kDpopHtuInvalid},
      {"htu empty", htu(""), Reason::kDpopHtuInvalid},
      {"htu empty host", htu("https:///resource"), Reason::kDpopHtuInvalid},
      // Different resources.
      {"other path", htu("https://api.example/other"), Reason::kDpopHtuMismatch},
      {"http instead of https", htu("http://api.example/resource"), Reason::kDpopHtuMismatch},
      {"other host", htu("https://evil.example/resource"), Reason::kDpopHtuMismatch},
      {"other port", htu("https://api.example:8443/resource"), Reason::kDpopHtuMismatch},
      {"https on port 80", htu("https://api.example:80/resource"), Reason::kDpopHtuMismatch},
      {"trailing slash", htu("https://api.example/resource/"), Reason::kDpopHtuMismatch},
      {"path case", htu("https://api.example/Resource"), Reason::kDpopHtuMismatch},
      {"prefix of the path", htu("https://api.example/res"), Reason::kDpopHtuMismatch},
      {"%2F is not a slash", htu("https://api.example/a%2Fb"), Reason::kDpopHtuMismatch, "GET",
       "https://api.example/a/b"},
      {"double slash is not merged", htu("https://api.example//resource"),
       Reason::kDpopHtuMismatch},
      {"origin only", htu("https://api.example"), Reason::kDpopHtuMismatch},
      // RFC 9449 4.3 (9): compared without query and fragment, after
      // syntax- and scheme-based normalisation (RFC 3986 6.2.2, 6.2.3).
      {"query in htu", htu("https://api.example/resource?a=1"), Reason::kOk},
      {"fragment in htu", htu("https://api.example/resource#top"), Reason::kOk},
      {"query in the request", htu(kUrl), Reason::kOk, "GET", "https://api.example/resource?b=2#x"},
      {"different queries", htu("https://api.example/resource?a=1"), Reason::kOk, "GET",
       "https://api.example/resource?a=2"},
      {"upper-case scheme and host", htu("HTTPS://API.EXAMPLE/resource"), Reason::kOk},
      {"mixed-case host", htu("https://Api.Example/resource"), Reason::kOk},
      {"explicit default port in htu", htu("https://api.example:443/resource"), Reason::kOk},
      {"explicit default port in the request", htu(kUrl), Reason::kOk, "GET",
       "https://api.example:443/resource"},
      {"empty port", htu("https://api.example:/resource"), Reason::kOk},
      {"http default port", htu("http://api.example:80/resource"), Reason::kOk, "GET",
       "http://api.example/resource"},
      {"port with leading zeros", htu("https://api.example:08443/resource"), Reason::kOk, "GET",
       "https://api.example:8443/resource"},
      {"%7E in htu, ~ in the request", htu("https://api.example/%7Euser"), Reason::kOk, "GET",
       "https://api.example/~user"},
      {"%7e in htu, ~ in the request", htu("https://api.example/%7euser"), Reason::kOk, "GET",
       "https://api.example/~user"},
      {"~ in htu, %7E in the request", htu("https://api.example/~user"), Reason::kOk, "GET",
       "https://api.example/%7Euser"},
      {"encoded unreserved letter", htu("https://api.example/%72esource"), Reason::kOk},
      {"lower-case hex of a reserved character", htu("https://api.example/a%2fb"), Reason::kOk,
       "GET", "https://api.example/a%2Fb"},
      {"dot segment", htu("https://api.example/./resource"), Reason::kOk},
      {"dot-dot segment", htu("https://api.example/x/../resource"), Reason::kOk},
      {"encoded dot-dot segment", htu("https://api.example/x/%2E%2E/resource"), Reason::kOk},
      {"dot segments in the request", htu(kUrl), Reason::kOk, "GET",
       "https://api.example/a/b/../../resource"},
      {"IPv6 literal", htu("https://[0:0::1]/resource"), Reason::kOk, "GET",
       "https://[::1]/resource"},
  });
}

TEST_F(DpopValidatorTest, HtuMismatchDetailNamesBothUrls) {
  Case c{"mismatch", ProofC(ClaimsWith("htu", Str("HTTPS://API.example:443/other?q=secret"))),
         Reason::kDpopHtuMismatch};
  ASSERT_EQ(Validate(c), Reason::kDpopHtuMismatch);
  // Both normalised, so an operator sees what was compared; the query (which
  // may hold secrets) is not part of either.
  EXPECT_NE(detail_.find("https://api.example/other"), std::string::npos) << detail_;
  EXPECT_NE(detail_.find(kUrl), std::string::npos) << detail_;
  EXPECT_EQ(detail_.find("secret"), std::string::npos) << detail_;
}

TEST_F(DpopValidatorTest, IatWindowEdges) {
  auto at = [](absl::Duration offset) {
    ProofOptions o = Opts();
    o.iat = kNow + offset;
    return unit::MintProof(Key(), o);
  };
  // Defaults: max_age 60 s, clock_skew 5 s.
  RunTable({
      {"iat now", at(absl::ZeroDuration()), Reason::kOk},
      {"iat exactly max_age ago", at(-absl::Seconds(60)), Reason::kOk},
      {"iat max_age + 1 s ago", at(-absl::Seconds(61)), Reason::kDpopIatStale},
      {"iat an hour ago", at(-absl::Hours(1)), Reason::kDpopIatStale},
      {"iat exactly clock_skew ahead", at(absl::Seconds(5)), Reason::kOk},
      {"iat clock_skew + 1 s ahead", at(absl::Seconds(6)), Reason::kDpopIatFuture},
      {"iat a day ahead", at(absl::Hours(24)), Reason::kDpopIatFuture},
      {"now 0.5 s past the max_age edge", at(-absl::Seconds(60)), Reason::kDpopIatStale, "GET",
       kUrl, Key().Thumbprint(), kNow + absl::Milliseconds(500)},
      {"now 0.5 s before the skew edge", at(absl::Seconds(6)), Reason::kDpopIatFuture, "GET", kUrl,
       Key().Thumbprint(), kNow + absl::Milliseconds(500)},
      {"now 1 s later: the skew edge moves", at(absl::Seconds(6)), Reason::kOk, "GET", kUrl,
       Key().Thumbprint(), kNow + absl::Seconds(1)},
      {"iat 0", at(absl::FromUnixSeconds(0) - kNow), Reason::kDpopIatStale},
  });
  DpopConfig config;
  config.max_age = absl::Minutes(5);
  config.clock_skew = absl::ZeroDuration();
  Build(config, nullptr);
  RunTable({
      {"max_age 300: 300 s ago", at(-absl::Seconds(300)), Reason::kOk},
      {"max_age 300: 301 s ago", at(-absl::Seconds(301)), Reason::kDpopIatStale},
      {"skew 0: iat now", at(absl::ZeroDuration()), Reason::kOk},
      {"skew 0: iat 1 s ahead", at(absl::Seconds(1)), Reason::kDpopIatFuture},
  });
}

TEST_F(DpopValidatorTest, ValidProofsOfEveryAlgorithmSurviveNoSignatureMutation) {
  for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA,
                     JwsAlg::kEd25519, JwsAlg::kRS256, JwsAlg::kPS256}) {
    const PrivateKey& key = SharedKey(alg);
    SCOPED_TRACE(key.kid());
    ProofOptions o = Opts();
    o.alg = alg;
    const std::string proof = unit::MintProof(key, o);
    Case c{"valid", proof, Reason::kOk};
    c.jkt = key.Thumbprint();
    ASSERT_EQ(Validate(c), Reason::kOk) << detail_;
    const size_t sig_bytes = unit::SignatureBytes(proof).size();
    for (size_t bit : unit::SignatureBitsToFlip(alg, sig_bytes)) {
      c.proof = unit::FlipSignatureBit(proof, bit);
      Reason r = Validate(c);
      if (r != Reason::kDpopSignatureInvalid && r != Reason::kDpopSignatureMalformed) {
        ADD_FAILURE() << "bit " << bit << ": " << ReasonCode(r);
      }
    }
    c.proof = unit::TruncateSignature(proof);
    EXPECT_EQ(Validate(c), Reason::kDpopSignatureMalformed);
  }
}

TEST_F(DpopValidatorTest, ProofSizeLimitIsInclusive) {
  const std::string proof = ProofC(Claims());
  limits_.max_proof_bytes = proof.size();
  Build(DpopConfig(), nullptr);
  EXPECT_EQ(Validate({"at the limit", proof, Reason::kOk}), Reason::kOk) << detail_;
  limits_.max_proof_bytes = proof.size() - 1;
  Build(DpopConfig(), nullptr);
  EXPECT_EQ(Validate({"one byte over", proof, Reason::kOk}), Reason::kDpopProofTooLarge);
}

TEST_F(DpopValidatorTest, ResultReplayKeyAndWindow) {
  auto result = [&](const PrivateKey& key, std::string_view jti, absl::Time iat) {
    ProofOptions o = Opts();
    o.jti = std::string(jti);
    o.iat = iat;
    Case c{"result", unit::MintProof(key, o), Reason::kOk};
    c.jkt = key.Thumbprint();
    DpopResult out;
    EXPECT_EQ(Validate(c, &out), Reason::kOk) << detail_;
    return out;
  };
  const DpopResult a = result(Key(), "jti-a", kNow);
  EXPECT_EQ(a.jkt, Key().Thumbprint());
  ASSERT_EQ(a.replay_key.size(), 16u);
  EXPECT_EQ(a.replay_key,
            Sha256(Key().Thumbprint() + std::string(1, '\0') + "jti-a").substr(0, 16));
  // replay_until = iat + max_age + clock_skew + 1 s: the proof is acceptable
  // until iat + max_age by this replica's clock, and another replica's clock
  // may trail it by up to clock_skew, so the jti must be remembered that long.
  EXPECT_EQ(a.issued_at, kNow);
  EXPECT_EQ(a.replay_until, kNow + absl::Seconds(66));

  // Same (jkt, jti) in another proof (other iat): the same key.
  const DpopResult again = result(Key(), "jti-a", kNow - absl::Seconds(10));
  EXPECT_EQ(again.replay_key, a.replay_key);
  EXPECT_EQ(again.replay_until, kNow + absl::Seconds(56));
  // Another jti, or the same jti under another key: a different key.
  const DpopResult b = result(Key(), "jti-b", kNow);
  EXPECT_NE(b.replay_key, a.replay_key);
  const DpopResult other = result(OtherKey(), "jti-a", kNow);
  EXPECT_NE(other.replay_key, a.replay_key);
  EXPECT_EQ(other.jkt, OtherKey().Thumbprint());
  // A proof from the future (within skew) is remembered from its own iat.
  const DpopResult future = result(Key(), "jti-f", kNow + absl::Seconds(5));
  EXPECT_EQ(future.replay_until, kNow + absl::Seconds(71));
}

TEST_F(DpopValidatorTest, AlgsParam) {
  EXPECT_EQ(validator_->algs_param(), "ES256 ES384 ES512 EdDSA Ed25519 RS256 PS256");
  DpopConfig config;
  config.algorithms = {"EdDSA", "HS256", "none", "bogus", "ES256"};
  Build(config, nullptr);
  EXPECT_EQ(validator_->algs_param(), "EdDSA ES256");
  // An algorithm the validator dropped is refused like any other.
  EXPECT_EQ(Validate({"ES384 not configured",
                      unit::MintProof(SharedKey(JwsAlg::kES384),
                                      [] {
                                        ProofOptions o = Opts();
                                        o.alg = JwsAlg::kES384;
                                        return o;
                                      }()),
                      Reason::kOk}),
            Reason::kDpopAlgNotAllowed);
  // EdDSA allowed does not allow Ed25519 (RFC 9864): each name is its own entry.
  const PrivateKey& ed = SharedKey(JwsAlg::kEdDSA);
  for (auto [alg, want] : {std::pair{JwsAlg::kEdDSA, Reason::kOk},
                           std::pair{JwsAlg::kEd25519, Reason::kDpopAlgNotAllowed}}) {
    SCOPED_TRACE(JwsAlgName(alg));
    ProofOptions o = Opts();
    o.alg = alg;
    Case c{"EdDSA configured", unit::MintProof(ed, o), want};
    c.jkt = ed.Thumbprint();
    EXPECT_EQ(ReasonCode(Validate(c)), ReasonCode(want)) << detail_;
  }
}

TEST(IsHttpMethodTokenTest, Table) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"GET", true},
      {"POST", true},
      {"M-SEARCH", true},
      {"get", true},
      {"X!#$%&'*+-.^_`|~9", true},
      {std::string(32, 'A'), true},
      {"", false},
      {std::string(33, 'A'), false},
      {"GE T", false},
      {"GET\r", false},
      {"GET\n", false},
      {"GE(T", false},
      {"G\xc3\x89T", false},
      {std::string("GET\0", 4), false},
      {"GET/", false},
  };
  for (const auto& [method, want] : cases) {
    SCOPED_TRACE(method);
    EXPECT_EQ(IsHttpMethodToken(method), want);
  }
}

class DpopServerNonceTest : public DpopValidatorTest {};

TEST_F(DpopServerNonceTest, CurrentPreviousAndOlderSteps) {
  const absl::Duration step = absl::Seconds(30);
  DpopNonces nonces(kSecret, step);
  DpopNonces other(std::string(32, 'o'), step);
  DpopConfig config;
  config.nonce.required = true;
  Build(config, &nonces);
  auto with_nonce = [](std::string_view n) { return ProofC(ClaimsWith("nonce", Str(n))); };
  // kNow is 1/3 into its step, so now - step is the previous step and
  // now - 2 * step the one before.
  RunTable({
      {"nonce missing", ProofC(Claims()), Reason::kDpopNonceMissing},
      {"nonce garbage", with_nonce("garbage"), Reason::kDpopNonceInvalid},
      {"nonce empty", with_nonce(""), Reason::kDpopNonceInvalid},
      {"nonce a number", ProofC(ClaimsWith("nonce", unit::Num(1))), Reason::kDpopNonceInvalid},
      {"nonce of another secret", with_nonce(other.Current(kNow)), Reason::kDpopNonceInvalid},
      {"nonce current", with_nonce(nonces.Current(kNow)), Reason::kOk},
      {"nonce of the previous step", with_nonce(nonces.Current(kNow - step)), Reason::kOk},
      {"nonce two steps old", with_nonce(nonces.Current(kNow - 2 * step)),
       Reason::kDpopNonceInvalid},
      {"nonce of the next step", with_nonce(nonces.Current(kNow + step)),
       Reason::kDpopNonceInvalid},
      {"ath is judged before the nonce", ProofC(WithoutMember(Claims(), "ath")),
       Reason::kDpopAthMissing},
  });
  // Not required: a nonce is not checked, present or not.
  config.nonce.required = false;
  Build(config, &nonces);
  RunTable({
      {"not required, none", ProofC(Claims()), Reason::kOk},
      {"not required, garbage", with_nonce("garbage"), Reason::kOk},
  });
}

}  // namespace
}  // namespace popguard
