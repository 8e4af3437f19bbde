// Tests for service/jose/jwk.h: public JWK parsing (RFC 7517, RFC 7518 section 6,
// RFC 8037 section 2), FitsAlg, RFC 7638 thumbprints and KeySet selection.
#include "service/jose/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/common/json.h"
#include "service/jose/base64url.h"
#include "tests/testing/test_seed.h"
#include "tests/testing/test_vectors.h"

namespace popguard {
namespace {

// Public keys from published examples.
// RFC 9449 section 4.1 (P-256).
constexpr char kP256X[] = "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs";
constexpr char kP256Y[] = "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA";
// The P-384 base point (SEC 2 section 2.5.1).
constexpr char kP384X[] = "qofKIr6LBTeOscce8yCtdG4dO2KLp5uYWfdB4IJUKjhVAvJdv1UpbDpUXjhydgq3";
constexpr char kP384Y[] = "NhfeSpYmLG9dnpi_kpLcKfj0Hb0omhR86doxE7XwuMAKYLHOHX6BnXpDHXyQ6g5f";
// RFC 7520 section 3.2 (P-521).
constexpr char kP521X[] =
    "AHKZLLOsCOzz5cY97ewNUajB957y-C-U88c3v13nmGZx6sYl_oJXu9A5RkTKqjqvjyekWF-7ytDyRXYgCF5cj0Kt";
constexpr char kP521Y[] =
    "AdymlHvOiLxXkEhayXQnNCvDX4h9htZaCJN34kfmC6pV5OhQHiraVySsUdaQkAgDPrwQrJmbnX9cwlGfP-HqHZR1";
// RFC 8037 appendix A.2 (Ed25519).
constexpr char kEdX[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
// RFC 7638 section 3.1 (RSA-2048).
constexpr char kRsaN[] =
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPeb"
    "WKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368Q"
    "QMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2"
    "NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
// A P-256 point whose x is written as p + 5 instead of 5: on the curve only
// after reduction mod p, so the encoding is not canonical and must fail.
constexpr char kP256UnreducedX[] = "_____wAAAAEAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAQ";
constexpr char kP256ReducedX[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAU";
constexpr char kP256SmallY[] = "RZJDuapYGAb-kTvOmYF63hHKUDxk2aPFM0FcCDJI-8w";

JsonValue Json(std::string_view text) {
  absl::StatusOr<JsonValue> v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << text;
  return v.ok() ? *v : JsonValue();
}

// Subst replaces each "$NAME" of `vars` in `text` (longest names first).
std::string Subst(std::string text, const std::map<std::string, std::string>& vars) {
  for (auto it = vars.rbegin(); it != vars.rend(); ++it) {
    for (size_t pos; (pos = text.find("$" + it->first)) != std::string::npos;) {
      text.replace(pos, it->first.size() + 1, it->second);
    }
  }
  return text;
}

std::string Bytes(std::string_view b64) { return Base64UrlDecode(b64).value_or(""); }

// EdEncoding returns base64url of the 32-byte Ed25519 encoding whose first
// byte is `first`, whose bytes 1..30 are `middle` and whose last is `last`.
std::string EdEncoding(uint8_t first, uint8_t middle, uint8_t last) {
  std::string e(32, static_cast<char>(middle));
  e.front() = static_cast<char>(first);
  e.back() = static_cast<char>(last);
  return Base64UrlEncode(e);
}

const std::map<std::string, std::string>& Vars() {
  static const auto* vars = [] {
    std::string n = Bytes(kRsaN);
    std::string n_even = n;
    n_even.back() = static_cast<char>(n_even.back() & 0xfe);
    std::string n_8192(1024, '\xff');  // 2^8192 - 1: odd, divisible by 3, so not ROCA-shaped
    std::string n_8200(1025, '\xff');
    std::string x_short = Bytes(kP256X).substr(1);
    std::string x_long = "\x01" + Bytes(kP256X);
    auto* v = new std::map<std::string, std::string>{
        {"P256X", kP256X},
        {"P256Y", kP256Y},
        {"P384X", kP384X},
        {"P384Y", kP384Y},
        {"P521X", kP521X},
        {"P521Y", kP521Y},
        {"EDX", kEdX},
        {"N", kRsaN},
        {"N1024", Base64UrlEncode(n.substr(0, 128))},
        {"NEVEN", Base64UrlEncode(n_even)},
        {"NLEADZERO", Base64UrlEncode(std::string(1, '\0') + n)},
        {"N8192", Base64UrlEncode(n_8192)},
        {"N8200", Base64UrlEncode(n_8200)},
        {"XSHORT", Base64UrlEncode(x_short)},
        {"XLONG", Base64UrlEncode(x_long)},
        // y with its last bit flipped: (x, y') is not on the curve.
        {"YOFF", Base64UrlEncode(Bytes(kP256Y).substr(0, 31) +
                                 std::string(1, static_cast<char>(Bytes(kP256Y)[31] ^ 1)))},
        {"XUNRED", kP256UnreducedX},
        {"XRED", kP256ReducedX},
        {"YSMALL", kP256SmallY},
        {"EDX31", Base64UrlEncode(Bytes(kEdX).substr(1))},
        // Ed25519 encodings (little-endian y, sign of x in the top bit):
        // the identity (y = 1), the point of order 2 (y = p - 1), a point of
        // order 4 (y = 0), and non-canonical encodings of small-order points.
        {"EDIDENTITY", EdEncoding(1, 0x00, 0x00)},
        {"EDORDER2", EdEncoding(0xec, 0xff, 0x7f)},
        {"EDORDER4", EdEncoding(0x00, 0x00, 0x00)},
        {"EDYP", EdEncoding(0xed, 0xff, 0x7f)},     // y = p (0 unreduced)
        {"EDYP1", EdEncoding(0xee, 0xff, 0x7f)},    // y = p + 1 (the identity)
        {"EDNEGZERO", EdEncoding(1, 0x00, 0x80)},   // the identity with x = -0
        {"EDNOTPOINT", EdEncoding(2, 0x00, 0x00)},  // y = 2: no x fits
        // 2^32 + 1: odd, but 33 bits.
        {"E33", Base64UrlEncode(std::string("\x01\x00\x00\x00\x01", 5))},
        // 2^32 - 1: the largest exponent accepted.
        {"E32", Base64UrlEncode(std::string(4, '\xff'))},
    };
    return v;
  }();
  return *vars;
}

struct ParseCase {
  std::string name;
  std::string jwk;  // with $VARS
  absl::StatusCode code;
  std::string member;  // the member the error message must name ("" for OK)
};

class PublicKeyFromJwkTest : public ::testing::Test {};

TEST_F(PublicKeyFromJwkTest, Table) {
  using C = absl::StatusCode;
  const std::vector<ParseCase> cases = {
      // Accepted keys.
      {"ec p256", R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y"})", C::kOk, ""},
      {"ec p384", R"({"kty":"EC","crv":"P-384","x":"$P384X","y":"$P384Y"})", C::kOk, ""},
      {"ec p521", R"({"kty":"EC","crv":"P-521","x":"$P521X","y":"$P521Y"})", C::kOk, ""},
      {"ec small x", R"({"kty":"EC","crv":"P-256","x":"$XRED","y":"$YSMALL"})", C::kOk, ""},
      {"okp ed25519", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX"})", C::kOk, ""},
      {"rsa 2048", R"({"kty":"RSA","n":"$N","e":"AQAB"})", C::kOk, ""},
      {"rsa e=3", R"({"kty":"RSA","n":"$N","e":"Aw"})", C::kOk, ""},
      {"rsa e=2^32-1", R"({"kty":"RSA","n":"$N","e":"$E32"})", C::kOk, ""},
      {"rsa 8192 bits", R"({"kty":"RSA","n":"$N8192","e":"AQAB"})", C::kOk, ""},
      {"metadata", R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"k","use":"sig",
                      "alg":"ES256","key_ops":["verify"],"x5t":"ignored","ext":true})",
       C::kOk, ""},
      {"unknown alg string", R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","alg":"X"})",
       C::kOk, ""},
      // Structure and kty.
      {"not an object", R"(["kty","EC"])", C::kInvalidArgument, ""},
      {"kty missing", R"({"crv":"P-256","x":"$P256X","y":"$P256Y"})", C::kInvalidArgument, "kty"},
      {"kty number", R"({"kty":1,"crv":"P-256","x":"$P256X","y":"$P256Y"})", C::kInvalidArgument,
       "kty"},
      {"kty unknown", R"({"kty":"ec","crv":"P-256","x":"$P256X","y":"$P256Y"})",
       C::kInvalidArgument, "kty"},
      {"kty oct without k", R"({"kty":"oct","alg":"HS256"})", C::kInvalidArgument, "kty"},
      // EC.
      {"ec crv missing", R"({"kty":"EC","x":"$P256X","y":"$P256Y"})", C::kInvalidArgument, "crv"},
      {"ec crv secp256k1", R"({"kty":"EC","crv":"secp256k1","x":"$P256X","y":"$P256Y"})",
       C::kInvalidArgument, "crv"},
      {"ec crv Ed25519", R"({"kty":"EC","crv":"Ed25519","x":"$P256X","y":"$P256Y"})",
       C::kInvalidArgument, "crv"},
      {"ec x missing", R"({"kty":"EC","crv":"P-256","y":"$P256Y"})", C::kInvalidArgument, "x"},
      {"ec y missing", R"({"kty":"EC","crv":"P-256","x":"$P256X"})", C::kInvalidArgument, "y"},
      {"ec x number", R"({"kty":"EC","crv":"P-256","x":5,"y":"$P256Y"})", C::kInvalidArgument, "x"},
      {"ec x 31 bytes", R"({"kty":"EC","crv":"P-256","x":"$XSHORT","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec x 33 bytes", R"({"kty":"EC","crv":"P-256","x":"$XLONG","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec p256 coords as p384", R"({"kty":"EC","crv":"P-384","x":"$P256X","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec p384 coords as p256", R"({"kty":"EC","crv":"P-256","x":"$P384X","y":"$P384Y"})",
       C::kInvalidArgument, "x"},
      {"ec x padded", R"({"kty":"EC","crv":"P-256","x":"$P256X=","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec x std alphabet",
       R"({"kty":"EC","crv":"P-256","x":"l8tFrhx+34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec x non-canonical tail",
       R"({"kty":"EC","crv":"P-256","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFt","y":"$P256Y"})",
       C::kInvalidArgument, "x"},
      {"ec point off curve", R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$YOFF"})",
       C::kInvalidArgument, "x"},
      {"ec x not reduced", R"({"kty":"EC","crv":"P-256","x":"$XUNRED","y":"$YSMALL"})",
       C::kInvalidArgument, "x"},
      {"ec zero point",
       R"({"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})",
       C::kInvalidArgument, "x"},
      // OKP.
      {"okp x25519", R"({"kty":"OKP","crv":"X25519","x":"$EDX"})", C::kInvalidArgument, "crv"},
      {"okp ed448", R"({"kty":"OKP","crv":"Ed448","x":"$EDX"})", C::kInvalidArgument, "crv"},
      {"okp crv missing", R"({"kty":"OKP","x":"$EDX"})", C::kInvalidArgument, "crv"},
      {"okp x missing", R"({"kty":"OKP","crv":"Ed25519"})", C::kInvalidArgument, "x"},
      {"okp x 31 bytes", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX31"})", C::kInvalidArgument, "x"},
      // Small-order points (every verifier would accept forgeries under some
      // of them) and non-canonical encodings are refused when loaded.
      {"okp identity", R"({"kty":"OKP","crv":"Ed25519","x":"$EDIDENTITY"})", C::kInvalidArgument,
       "x"},
      {"okp point of order 2", R"({"kty":"OKP","crv":"Ed25519","x":"$EDORDER2"})",
       C::kInvalidArgument, "x"},
      {"okp point of order 4", R"({"kty":"OKP","crv":"Ed25519","x":"$EDORDER4"})",
       C::kInvalidArgument, "x"},
      {"okp y = p", R"({"kty":"OKP","crv":"Ed25519","x":"$EDYP"})", C::kInvalidArgument, "x"},
      {"okp y = p + 1", R"({"kty":"OKP","crv":"Ed25519","x":"$EDYP1"})", C::kInvalidArgument, "x"},
      {"okp identity with the sign bit", R"({"kty":"OKP","crv":"Ed25519","x":"$EDNEGZERO"})",
       C::kInvalidArgument, "x"},
      {"okp y without a point", R"({"kty":"OKP","crv":"Ed25519","x":"$EDNOTPOINT"})",
       C::kInvalidArgument, "x"},
      // RSA.
      {"rsa n missing", R"({"kty":"RSA","e":"AQAB"})", C::kInvalidArgument, "n"},
      {"rsa e missing", R"({"kty":"RSA","n":"$N"})", C::kInvalidArgument, "e"},
      {"rsa n empty", R"({"kty":"RSA","n":"","e":"AQAB"})", C::kInvalidArgument, "n"},
      {"rsa 1024 bits", R"({"kty":"RSA","n":"$N1024","e":"AQAB"})", C::kInvalidArgument, "n"},
      {"rsa 8200 bits", R"({"kty":"RSA","n":"$N8200","e":"AQAB"})", C::kInvalidArgument, "n"},
      {"rsa n even", R"({"kty":"RSA","n":"$NEVEN","e":"AQAB"})", C::kInvalidArgument, "n"},
      {"rsa n leading zero", R"({"kty":"RSA","n":"$NLEADZERO","e":"AQAB"})", C::kInvalidArgument,
       "n"},
      {"rsa e=1", R"({"kty":"RSA","n":"$N","e":"AQ"})", C::kInvalidArgument, "e"},
      {"rsa e=2", R"({"kty":"RSA","n":"$N","e":"Ag"})", C::kInvalidArgument, "e"},
      {"rsa e=65536", R"({"kty":"RSA","n":"$N","e":"AQAA"})", C::kInvalidArgument, "e"},
      {"rsa e leading zero", R"({"kty":"RSA","n":"$N","e":"AAEAAQ"})", C::kInvalidArgument, "e"},
      {"rsa e 65 bits", R"({"kty":"RSA","n":"$N","e":"AQAAAAAAAAAB"})", C::kInvalidArgument, "e"},
      {"rsa e 2^64 - 1", R"({"kty":"RSA","n":"$N","e":"__________8"})", C::kInvalidArgument, "e"},
      {"rsa e 2^32 + 1", R"({"kty":"RSA","n":"$N","e":"$E33"})", C::kInvalidArgument, "e"},
      // Metadata of the wrong type.
      {"kid number", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","kid":7})", C::kInvalidArgument,
       "kid"},
      {"use array", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","use":["sig"]})",
       C::kInvalidArgument, "use"},
      {"alg null", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","alg":null})", C::kInvalidArgument,
       "alg"},
      {"key_ops string", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","key_ops":"verify"})",
       C::kInvalidArgument, "key_ops"},
      {"key_ops number item", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","key_ops":[1]})",
       C::kInvalidArgument, "key_ops"},
      // Private members.
      {"ec with d",
       R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","d":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"})",
       C::kFailedPrecondition, ""},
      {"okp with d", R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","d":"$EDX"})",
       C::kFailedPrecondition, ""},
      {"rsa with p", R"({"kty":"RSA","n":"$N","e":"AQAB","p":"AQAB"})", C::kFailedPrecondition, ""},
      {"rsa with oth", R"({"kty":"RSA","n":"$N","e":"AQAB","oth":[]})", C::kFailedPrecondition, ""},
      {"oct with k", R"({"kty":"oct","k":"c2VjcmV0"})", C::kFailedPrecondition, ""},
      {"private member of wrong type", R"({"kty":"RSA","n":"$N","e":"AQAB","dq":null})",
       C::kFailedPrecondition, ""},
  };
  for (const ParseCase& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string text = Subst(c.jwk, Vars());
    absl::StatusOr<std::shared_ptr<const PublicKey>> key = PublicKey::FromJwk(Json(text));
    EXPECT_EQ(key.status().code(), c.code) << key.status();
    if (key.ok()) {
      EXPECT_NE((*key)->pkey(), nullptr);
      EXPECT_EQ((*key)->thumbprint(), JwkThumbprint(Json(text)).value());
      continue;
    }
    const std::string message(key.status().message());
    if (!c.member.empty()) {
      EXPECT_NE(message.find("\"" + c.member + "\""), std::string::npos) << message;
    }
    // No key material in messages: none of the long base64url values.
    for (const auto& [name, value] : Vars()) {
      EXPECT_EQ(message.find(value.substr(0, 12)), std::string::npos) << name << ": " << message;
    }
  }
}

TEST_F(PublicKeyFromJwkTest, Accessors) {
  auto ec = PublicKey::FromJwk(Json(Subst(
      R"({"kty":"EC","crv":"P-521","x":"$P521X","y":"$P521Y","kid":"k1","use":"sig","alg":"ES512",
          "key_ops":["verify","sign"]})",
      Vars())));
  ASSERT_TRUE(ec.ok()) << ec.status();
  EXPECT_EQ((*ec)->kty(), KeyType::kEc);
  EXPECT_EQ((*ec)->crv(), "P-521");
  EXPECT_EQ((*ec)->kid(), "k1");
  EXPECT_EQ((*ec)->use(), "sig");
  EXPECT_EQ((*ec)->alg(), "ES512");
  EXPECT_EQ((*ec)->key_ops(), (std::vector<std::string>{"verify", "sign"}));

  auto rsa = PublicKey::FromJwk(Json(Subst(R"({"kty":"RSA","n":"$N","e":"AQAB"})", Vars())));
  ASSERT_TRUE(rsa.ok()) << rsa.status();
  EXPECT_EQ((*rsa)->kty(), KeyType::kRsa);
  EXPECT_EQ((*rsa)->crv(), "");
  EXPECT_EQ((*rsa)->kid(), "");
  EXPECT_EQ((*rsa)->alg(), std::nullopt);
  EXPECT_EQ((*rsa)->use(), std::nullopt);
  EXPECT_EQ((*rsa)->key_ops(), std::nullopt);

  auto okp = PublicKey::FromJwk(Json(Subst(R"({"kty":"OKP","crv":"Ed25519","x":"$EDX"})", Vars())));
  ASSERT_TRUE(okp.ok()) << okp.status();
  EXPECT_EQ((*okp)->kty(), KeyType::kOkp);
  EXPECT_EQ((*okp)->crv(), "Ed25519");
}

// A P-256 key's EVP_PKEY is built only when an OpenSSL operation first asks
// for it (the native verifier reads the raw point), once, whichever thread
// asks first; OpenSSL then holds exactly the JWK's point. Keys of other types
// and curves get theirs while parsing.
TEST_F(PublicKeyFromJwkTest, P256OpenSslKeyBuiltOnFirstUse) {
  auto p256 = PublicKey::FromJwk(
      Json(Subst(R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y"})", Vars())));
  ASSERT_TRUE(p256.ok()) << p256.status();
  const PublicKey& key = **p256;
  EXPECT_FALSE(key.pkey_built());
  ASSERT_EQ(key.raw_public_key().size(), 64u);

  std::vector<EVP_PKEY*> seen(4, nullptr);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&key, &seen, i] { seen[i] = key.pkey(); });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_NE(seen[0], nullptr);
  for (EVP_PKEY* p : seen) EXPECT_EQ(p, seen[0]);
  EXPECT_TRUE(key.pkey_built());
  EXPECT_EQ(EVP_PKEY_get_bits(key.pkey()), 256);
  unsigned char encoded[65];
  size_t len = 0;
  ASSERT_EQ(EVP_PKEY_get_octet_string_param(key.pkey(), OSSL_PKEY_PARAM_PUB_KEY, encoded,
                                            sizeof(encoded), &len),
            1);
  ASSERT_EQ(len, sizeof(encoded));
  EXPECT_EQ(encoded[0], 0x04);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(encoded + 1), 64), key.raw_public_key());

  for (const char* jwk :
       {R"({"kty":"EC","crv":"P-384","x":"$P384X","y":"$P384Y"})",
        R"({"kty":"OKP","crv":"Ed25519","x":"$EDX"})", R"({"kty":"RSA","n":"$N","e":"AQAB"})"}) {
    SCOPED_TRACE(jwk);
    auto other = PublicKey::FromJwk(Json(Subst(jwk, Vars())));
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_TRUE((*other)->pkey_built());
  }
}

// OpenSslAcceptsP256 is the check FromJwk made for every P-256 key before it
// validated them natively: decode the uncompressed point, then OpenSSL's quick
// public key check.
bool OpenSslAcceptsP256(const std::string& xy) {
  const std::string point = "\x04" + xy;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"),
                                       0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* pkey = nullptr;
  const bool decoded = ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                       EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
  EVP_PKEY_CTX_free(ctx);
  bool ok = false;
  if (decoded) {
    EVP_PKEY_CTX* check = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
    ok = check != nullptr && EVP_PKEY_public_check_quick(check) == 1;
    EVP_PKEY_CTX_free(check);
  }
  EVP_PKEY_free(pkey);
  ERR_clear_error();
  return ok;
}

// P-256 points are validated by the native core now; it must accept and refuse
// exactly what OpenSSL did, with the same error: multiples k*G, their
// negations, coordinates replaced by 0, p - 1, p, p + 1 (and the largest
// 256-bit value), a flipped bit in y, and random coordinates (TestSeed).
TEST_F(PublicKeyFromJwkTest, P256PointCheckAgreesWithOpenSsl) {
  const std::string p = Bytes("_____wAAAAEAAAAAAAAAAAAAAAD_______________8");
  ASSERT_EQ(p.size(), 32u);
  auto add_small = [](std::string v, int delta) {  // v + delta, delta in [-1, 1], no wrap
    for (int i = 31; i >= 0 && delta != 0; --i) {
      const int b = static_cast<unsigned char>(v[i]) + delta;
      v[i] = static_cast<char>(b & 0xff);
      delta = b < 0 ? -1 : (b > 255 ? 1 : 0);
    }
    return v;
  };
  const std::vector<std::string> bad_coords = {std::string(32, '\0'), add_small(p, -1), p,
                                               add_small(p, 1), std::string(32, '\xff')};

  EC_GROUP* group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  ASSERT_NE(group, nullptr);
  EC_POINT* point = EC_POINT_new(group);
  BIGNUM* k = BN_new();
  std::vector<std::string> candidates;
  for (unsigned long i : {1ul, 2ul, 3ul, 255ul, 65537ul, 0xfffffffful}) {
    ASSERT_EQ(BN_set_word(k, i), 1);
    ASSERT_EQ(EC_POINT_mul(group, point, k, nullptr, nullptr, nullptr), 1);
    unsigned char oct[65];
    ASSERT_EQ(
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, oct, sizeof(oct), nullptr),
        sizeof(oct));
    const std::string x(reinterpret_cast<char*>(oct + 1), 32);
    const std::string y(reinterpret_cast<char*>(oct + 33), 32);
    candidates.push_back(x + y);
    ASSERT_EQ(EC_POINT_invert(group, point, nullptr), 1);  // (x, p - y)
    ASSERT_EQ(
        EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, oct, sizeof(oct), nullptr),
        sizeof(oct));
    candidates.emplace_back(reinterpret_cast<char*>(oct + 1), 64);
    std::string flipped = y;
    flipped[31] = static_cast<char>(flipped[31] ^ 1);
    candidates.push_back(x + flipped);
    for (const std::string& c : bad_coords) {
      candidates.push_back(c + y);
      candidates.push_back(x + c);
    }
  }
  BN_free(k);
  EC_POINT_free(point);
  EC_GROUP_free(group);
  std::mt19937_64 rng(testing_support::TestSeed());
  for (int i = 0; i < 64; ++i) {
    std::string xy(64, '\0');
    for (char& c : xy) c = static_cast<char>(rng() & 0xff);
    candidates.push_back(xy);
  }

  int accepted = 0;
  for (const std::string& xy : candidates) {
    const std::string x = Base64UrlEncode(xy.substr(0, 32));
    const std::string y = Base64UrlEncode(xy.substr(32));
    SCOPED_TRACE(x + " " + y);
    auto key = PublicKey::FromJwk(
        Json(absl::StrCat(R"({"kty":"EC","crv":"P-256","x":")", x, R"(","y":")", y, R"("})")));
    const bool openssl = OpenSslAcceptsP256(xy);
    EXPECT_EQ(key.ok(), openssl) << key.status();
    if (key.ok()) {
      ++accepted;
      EXPECT_NE((*key)->pkey(), nullptr);
    } else {
      EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(key.status().message(), "jwk member \"x\" and \"y\" are not a point on the curve");
    }
  }
  EXPECT_EQ(accepted, 12);  // the six multiples and their negations
}

// Wycheproof json_web_key_test.json group "jws_rsa_roca_key": a 2049-bit
// modulus with the ROCA structure (CVE-2017-15361) must be refused.
TEST_F(PublicKeyFromJwkTest, RefusesRocaModulus) {
  JsonValue file = testdata::ReadSharedJson("testvectors/wycheproof/json_web_key_test.json");
  const JsonValue* roca = nullptr;
  for (const JsonValue& group : file.Find("testGroups")->array_items()) {
    if (*group.FindString("comment") == "jws_rsa_roca_key") {
      roca = &group.Find("public")->Find("keys")->array_items()[0];
    }
  }
  ASSERT_NE(roca, nullptr);
  auto key = PublicKey::FromJwk(*roca);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(key.status().message()).find("ROCA"), std::string::npos);
}

class JwkHasPrivateMembersTest : public ::testing::Test {};

TEST_F(JwkHasPrivateMembersTest, Table) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {R"({"kty":"EC"})", false},
      {R"({"kty":"EC","x":"a","y":"b","crv":"P-256","kid":"d"})", false},
      {R"({"kty":"EC","D":"a"})", false},
      {R"({"kty":"EC","d":"a"})", true},
      {R"({"kty":"RSA","p":"a"})", true},
      {R"({"kty":"RSA","q":"a"})", true},
      {R"({"kty":"RSA","dp":"a"})", true},
      {R"({"kty":"RSA","dq":"a"})", true},
      {R"({"kty":"RSA","qi":"a"})", true},
      {R"({"kty":"RSA","oth":[]})", true},
      {R"({"kty":"oct","k":"a"})", true},
      {R"({"kty":"EC","d":null})", true},
      {R"([])", false},
  };
  for (const auto& [text, expected] : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(JwkHasPrivateMembers(Json(text)), expected);
  }
}

class JwkThumbprintTest : public ::testing::Test {};

// RFC 7638 section 3.1: the example RSA key and its thumbprint.
TEST_F(JwkThumbprintTest, Rfc7638Example) {
  std::vector<testdata::KeyValueCase> cases =
      testdata::ParseKeyValueCases(testdata::ReadSharedFile("testvectors/rfc/rfc7638_example.txt"));
  ASSERT_EQ(cases.size(), 1u);
  const std::string& jwk_text = cases[0].at("JWK");
  const std::string& expected = cases[0].at("THUMBPRINT");
  EXPECT_EQ(JwkThumbprint(Json(jwk_text)).value(), expected);
  auto key = PublicKey::FromJwk(Json(jwk_text));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->thumbprint(), expected);
  EXPECT_EQ(expected, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

// RFC 8037 appendix A.3: the thumbprint of the Ed25519 key of A.2 (the same
// key as the JOSE cookbook's curve25519/jws.json), as printed in the RFC:
// SHA-256 90facafe...282b4b89 of {"crv":"Ed25519","kty":"OKP","x":"11qY...URo"}.
TEST_F(JwkThumbprintTest, Rfc8037OkpExample) {
  const JsonValue cookbook =
      Json(testdata::ReadSharedFile("testvectors/jose-cookbook/curve25519/jws.json"));
  const JsonValue* input = cookbook.Find("input");
  ASSERT_NE(input, nullptr);
  const JsonValue* key_with_d = input->Find("key");
  ASSERT_NE(key_with_d, nullptr);
  const std::string* x = key_with_d->FindString("x");
  ASSERT_NE(x, nullptr);
  ASSERT_EQ(*x, "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");  // RFC 8037 A.2
  constexpr char kExpected[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
  // Members in another order plus ones the thumbprint ignores.
  const JsonValue jwk = Json(absl::StrCat(R"({"x":")", *x, R"(","use":"sig","kid":"k",)",
                                          R"("kty":"OKP","crv":"Ed25519"})"));
  EXPECT_EQ(JwkThumbprint(jwk).value_or(""), kExpected);
  auto key = PublicKey::FromJwk(jwk);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ((*key)->thumbprint(), kExpected);
}

// RFC 9449 sections 4.1 and 7.1: the proof key's jkt.
TEST_F(JwkThumbprintTest, Rfc9449Jkt) {
  std::vector<testdata::KeyValueCase> cases = testdata::ParseKeyValueCases(
      testdata::ReadSharedFile("testvectors/rfc/rfc9449_examples.txt"));
  int checked = 0;
  for (const auto& c : cases) {
    if (!c.contains("JWK")) continue;
    SCOPED_TRACE(c.at("CASE"));
    EXPECT_EQ(JwkThumbprint(Json(c.at("JWK"))).value(), c.at("JKT"));
    auto key = PublicKey::FromJwk(Json(c.at("JWK")));
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ((*key)->thumbprint(), c.at("JKT"));
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST_F(JwkThumbprintTest, IgnoresOrderAndOptionalMembers) {
  std::string a = Subst(R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y"})", Vars());
  std::string b = Subst(
      R"({"y":"$P256Y","use":"sig","x":"$P256X","kid":"z","crv":"P-256","kty":"EC"})", Vars());
  EXPECT_EQ(JwkThumbprint(Json(a)).value(), JwkThumbprint(Json(b)).value());
  EXPECT_EQ(JwkThumbprint(Json(a)).value(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
}

TEST_F(JwkThumbprintTest, Errors) {
  const std::vector<std::string> cases = {
      R"([])",
      R"({"kty":"oct","k":"AAAA"})",
      R"({"crv":"P-256","x":"a","y":"b"})",
      R"({"kty":"EC","crv":"P-256","x":"a"})",
      R"({"kty":"OKP","crv":"Ed25519"})",
      R"({"kty":"RSA","n":"a","e":3})",
  };
  for (const std::string& text : cases) {
    SCOPED_TRACE(text);
    EXPECT_EQ(JwkThumbprint(Json(text)).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

class FitsAlgTest : public ::testing::Test {};

TEST_F(FitsAlgTest, Table) {
  using A = JwsAlg;
  const std::set<A> kRsaAll = {A::kRS256, A::kRS384, A::kRS512, A::kPS256, A::kPS384, A::kPS512};
  struct Case {
    std::string jwk;
    std::set<A> fits;
  };
  const std::vector<Case> cases = {
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y"})", {A::kES256}},
      {R"({"kty":"EC","crv":"P-384","x":"$P384X","y":"$P384Y"})", {A::kES384}},
      {R"({"kty":"EC","crv":"P-521","x":"$P521X","y":"$P521Y"})", {A::kES512}},
      {R"({"kty":"OKP","crv":"Ed25519","x":"$EDX"})", {A::kEdDSA, A::kEd25519}},
      {R"({"kty":"RSA","n":"$N","e":"AQAB"})", kRsaAll},
      // alg member restricts to one algorithm; must be the exact name.
      {R"({"kty":"RSA","n":"$N","e":"AQAB","alg":"PS256"})", {A::kPS256}},
      {R"({"kty":"RSA","n":"$N","e":"AQAB","alg":"ps256"})", {}},
      {R"({"kty":"RSA","n":"$N","e":"AQAB","alg":"RSA-OAEP"})", {}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","alg":"ES256"})", {A::kES256}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","alg":"ES384"})", {}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","alg":"ES512"})", {}},
      // On an Ed25519 key, EdDSA and Ed25519 (RFC 9864) name one algorithm.
      {R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","alg":"EdDSA"})", {A::kEdDSA, A::kEd25519}},
      {R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","alg":"Ed25519"})", {A::kEdDSA, A::kEd25519}},
      {R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","alg":"Ed448"})", {}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","alg":"Ed25519"})", {}},
      // use.
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","use":"sig"})", {A::kES256}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","use":"enc"})", {}},
      {R"({"kty":"RSA","n":"$N","e":"AQAB","use":"Sig"})", {}},
      // key_ops.
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","key_ops":["verify"]})", {A::kES256}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","key_ops":["sign","verify"]})",
       {A::kES256}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","key_ops":["sign"]})", {}},
      {R"({"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","key_ops":[]})", {}},
      {R"({"kty":"RSA","n":"$N","e":"AQAB","key_ops":["encrypt"]})", {}},
      // All restrictions together.
      {R"({"kty":"RSA","n":"$N","e":"AQAB","alg":"RS512","use":"sig","key_ops":["verify"]})",
       {A::kRS512}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.jwk);
    auto key = PublicKey::FromJwk(Json(Subst(c.jwk, Vars())));
    ASSERT_TRUE(key.ok()) << key.status();
    for (JwsAlg alg : kAllJwsAlgs) {
      SCOPED_TRACE(JwsAlgName(alg));
      EXPECT_EQ((*key)->FitsAlg(alg), c.fits.contains(alg));
    }
  }
}

class KeySetTest : public ::testing::Test {
 protected:
  // Index: 0 EC kid a, 1 RSA kid a, 2 EC kid b alg ES256, 3 OKP kid c use enc,
  // 4 RSA kid r2, 5 EC kid dup (P-256 reduced-x key), 6 EC kid dup (RFC 9449 key).
  static constexpr char kJwks[] = R"({"keys":[
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"a"},
      {"kty":"RSA","n":"$N","e":"AQAB","kid":"a"},
      {"kty":"EC","crv":"P-256","x":"$XRED","y":"$YSMALL","kid":"b","alg":"ES256"},
      {"kty":"OKP","crv":"Ed25519","x":"$EDX","kid":"c","use":"enc"},
      {"kty":"RSA","n":"$N8192","e":"AQAB","kid":"r2"},
      {"kty":"EC","crv":"P-256","x":"$XRED","y":"$YSMALL","kid":"dup"},
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"dup"}
  ]})";
};

TEST_F(KeySetTest, Select) {
  std::vector<std::string> warnings;
  absl::StatusOr<KeySet> set = KeySet::Parse(Subst(kJwks, Vars()), &warnings);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 7u);
  // Only the duplicate-kid notices ("a" and "dup"); no key was skipped.
  EXPECT_EQ(warnings.size(), 2u);

  using O = KeySelection::Outcome;
  struct Case {
    std::optional<std::string> kid;
    JwsAlg alg;
    O outcome;
    int index;  // expected key, -1 for none
  };
  const std::vector<Case> cases = {
      {"a", JwsAlg::kES256, O::kFound, 0},
      {"a", JwsAlg::kRS256, O::kFound, 1},
      {"a", JwsAlg::kPS512, O::kFound, 1},
      {"a", JwsAlg::kEdDSA, O::kKidAlgMismatch, -1},
      {"a", JwsAlg::kES384, O::kKidAlgMismatch, -1},
      {"b", JwsAlg::kES256, O::kFound, 2},
      {"c", JwsAlg::kEdDSA, O::kKidAlgMismatch, -1},  // use "enc"
      {"dup", JwsAlg::kES256, O::kFound, 5},          // first of two fitting keys
      {"A", JwsAlg::kES256, O::kKidNotFound, -1},     // case-sensitive
      {"a ", JwsAlg::kES256, O::kKidNotFound, -1},
      {"", JwsAlg::kES256, O::kKidNotFound, -1},
      {"zzz", JwsAlg::kRS256, O::kKidNotFound, -1},
      {std::nullopt, JwsAlg::kES256, O::kAmbiguous, -1},  // keys 0, 2, 5, 6
      {std::nullopt, JwsAlg::kRS256, O::kAmbiguous, -1},  // keys 1, 4
      {std::nullopt, JwsAlg::kES384, O::kNoKeyFitsAlg, -1},
      {std::nullopt, JwsAlg::kEdDSA, O::kNoKeyFitsAlg, -1},  // only key has use "enc"
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.kid.value_or("<none>")) + " " + std::string(JwsAlgName(c.alg)));
    KeySelection sel = set->Select(c.kid, c.alg);
    EXPECT_EQ(sel.outcome, c.outcome);
    if (c.index < 0) {
      EXPECT_EQ(sel.key, nullptr);
    } else {
      EXPECT_EQ(sel.key, set->keys()[c.index]);
    }
  }
}

TEST_F(KeySetTest, SelectWithoutKidPicksTheOnlyFittingKey) {
  absl::StatusOr<KeySet> set = KeySet::Parse(
      Subst(R"({"keys":[{"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"only"},
                        {"kty":"OKP","crv":"Ed25519","x":"$EDX"}]})",
            Vars()),
      nullptr);
  ASSERT_TRUE(set.ok()) << set.status();
  KeySelection es = set->Select(std::nullopt, JwsAlg::kES256);
  EXPECT_EQ(es.outcome, KeySelection::Outcome::kFound);
  EXPECT_EQ(es.key, set->keys()[0]);
  KeySelection ed = set->Select(std::nullopt, JwsAlg::kEdDSA);
  EXPECT_EQ(ed.outcome, KeySelection::Outcome::kFound);
  EXPECT_EQ(ed.key, set->keys()[1]);
  EXPECT_EQ(set->Select(std::nullopt, JwsAlg::kRS256).outcome,
            KeySelection::Outcome::kNoKeyFitsAlg);
}

TEST_F(KeySetTest, ParseSkipsUnusableKeysWithWarnings) {
  const std::string kSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQ";
  const std::string jwks = Subst(R"({"keys":[
      {"kty":"oct","k":")" + kSecret +
                                     R"(","kid":"hmac"},
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","d":")" +
                                     kSecret + R"(","kid":"priv"},
      {"kty":"RSA","n":"$N1024","e":"AQAB","kid":"small"},
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$YOFF","kid":"offcurve"},
      {"kty":"OKP","crv":"X25519","x":"$EDX"},
      "not a key",
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"good"},
      {"kty":"EC","crv":"P-256","x":"$P256X","y":"$P256Y","kid":"bad\nline\"quote"},
      {"kty":"OKP","crv":"Ed25519","x":"$EDIDENTITY","kid":"identity"},
      {"kty":"OKP","crv":"Ed25519","x":"$EDYP1","kid":"unreduced"},
      {"kty":"RSA","n":"$N","e":"__________8","kid":"slow-rsa"}
  ]})",
                                 Vars());
  std::vector<std::string> warnings;
  absl::StatusOr<KeySet> set = KeySet::Parse(jwks, &warnings);
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->size(), 2u);
  EXPECT_EQ(set->keys()[0]->kid(), "good");
  EXPECT_EQ(set->keys()[1]->kid(), "bad\nline\"quote");
  ASSERT_EQ(warnings.size(), 9u);
  const std::vector<std::string> expected_fragments = {
      "#0 (kid \"hmac\")",
      "#1 (kid \"priv\")",
      "#2 (kid \"small\")",
      "#3 (kid \"offcurve\")",
      "#4 (no kid)",
      "#5 (no kid) skipped: not a JSON object",
      // An Ed25519 key of small order (under the identity OpenSSL accepts
      // forged tokens), a non-canonical one, an RSA key with a 64-bit
      // exponent (four times the verification cost of 65537).
      "#8 (kid \"identity\") skipped: jwk member \"x\" is an Ed25519 point of small order",
      "#9 (kid \"unreduced\") skipped: jwk member \"x\" is not the canonical encoding",
      "#10 (kid \"slow-rsa\") skipped: jwk member \"e\" is too large",
  };
  for (size_t i = 0; i < warnings.size(); ++i) {
    SCOPED_TRACE(warnings[i]);
    EXPECT_NE(warnings[i].find(expected_fragments[i]), std::string::npos);
    EXPECT_EQ(warnings[i].find(kSecret), std::string::npos);
    EXPECT_EQ(warnings[i].find(kP256X), std::string::npos);
    EXPECT_EQ(warnings[i].find('\n'), std::string::npos);
  }
  EXPECT_NE(warnings[1].find("private"), std::string::npos);
}

TEST_F(KeySetTest, ParseErrors) {
  const std::vector<std::pair<std::string, absl::StatusCode>> cases = {
      {R"({"keys":[]})", absl::StatusCode::kOk},
      {R"({"keys":[{"kty":"oct","k":"AAAA"}]})", absl::StatusCode::kOk},  // empty usable set
      {R"({"keys":[],"other":1})", absl::StatusCode::kOk},
      {R"()", absl::StatusCode::kInvalidArgument},
      {R"({"keys":[])", absl::StatusCode::kInvalidArgument},
      {R"({"keys":[]} x)", absl::StatusCode::kInvalidArgument},
      {R"({"keys":[],"keys":[]})", absl::StatusCode::kInvalidArgument},  // duplicate member
      {R"([])", absl::StatusCode::kInvalidArgument},
      {R"({})", absl::StatusCode::kInvalidArgument},
      {R"({"Keys":[]})", absl::StatusCode::kInvalidArgument},
      {R"({"keys":{}})", absl::StatusCode::kInvalidArgument},
      {R"({"keys":null})", absl::StatusCode::kInvalidArgument},
  };
  for (const auto& [text, code] : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<KeySet> set = KeySet::Parse(text, nullptr);
    EXPECT_EQ(set.status().code(), code) << set.status();
    if (set.ok()) {
      EXPECT_EQ(set->size(), 0u);
    }
  }
}

TEST_F(KeySetTest, FromKeysAndCopiesShareKeys) {
  auto key = PublicKey::FromJwk(
      Json(Subst(R"({"kty":"OKP","crv":"Ed25519","x":"$EDX","kid":"e"})", Vars())));
  ASSERT_TRUE(key.ok());
  KeySet set = KeySet::FromKeys({*key});
  KeySet copy = set;
  EXPECT_EQ(copy.size(), 1u);
  EXPECT_EQ(copy.Select("e", JwsAlg::kEdDSA).key, *key);
  EXPECT_TRUE(KeySet().empty());
}

}  // namespace
}  // namespace popguard
