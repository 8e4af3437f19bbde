// Shared fixtures for the unit tests of token, proof and request validation:
// process-wide signing keys, a Config with one in-process issuer, and minting
// of access tokens and DPoP proofs with service/tools/mint/signer.h.
//
// Keys are generated once per process (RSA generation is slow) and identified
// by (alg, slot); the kid of SharedKey(alg, slot) is "<ALG>-<slot>", e.g.
// "ES256-0". Nothing here reads a clock: every time is an argument, and kNow
// is the fixed "now" the tests validate at.
#ifndef POPGUARD_TESTS_TESTING_UNIT_FIXTURES_H_
#define POPGUARD_TESTS_TESTING_UNIT_FIXTURES_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "service/common/json.h"
#include "service/config/config.h"
#include "service/jose/signature.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"

namespace popguard::unit {

// The issuer and audience of BaseConfig().
inline constexpr char kIssuer[] = "https://issuer.example";
inline constexpr char kAudience[] = "https://api.example";

// kNow is the time tests validate at (2030-03-17T17:46:40Z).
inline constexpr absl::Time kNow = absl::FromUnixSeconds(1900000000);

// Json parses `text` strictly; records a gtest failure and returns null when
// it does not parse.
JsonValue Json(std::string_view text);

// Str, Num and Secs build JSON values; Secs is a NumericDate.
JsonValue Str(std::string_view s);
JsonValue Num(double d);
JsonValue Secs(absl::Time t);

// WithMember returns the object `obj` with member `name` set to `value`
// (replaced in place, or appended); WithoutMember returns it without `name`.
JsonValue WithMember(const JsonValue& obj, std::string_view name, JsonValue value);
JsonValue WithoutMember(const JsonValue& obj, std::string_view name);

// SharedKey returns the process-wide key for (`alg`, `slot`), generating it on
// first use. Its kid is "<ALG>-<slot>"; its alg member is unset.
const PrivateKey& SharedKey(JwsAlg alg, int slot = 0);

// Ath, JwksJson and ProofHeader are service/tools/mint/mint.h's.
using ::popguard::Ath;
using ::popguard::JwksJson;
using ::popguard::ProofHeader;

// IssuerKeys returns the keys BaseConfig() gives kIssuer: ES256-0, ES256-1,
// ES384-0, ES512-0, EdDSA-0, RS256-0, PS256-0. Two ES256 keys make a token
// without kid ambiguous for ES256; EdDSA-0 is the only EdDSA key.
std::vector<const PrivateKey*> IssuerKeys();

// BaseConfig returns a Config with one issuer, kIssuer (audience kAudience,
// every algorithm, no typ requirement, no lifetime bound, inline JWKS of
// IssuerKeys()); token clock_skew 60s; DPoP defaults (max_age 60s,
// clock_skew 5s); no routes; default binding "bound".
Config BaseConfig();

// Sign returns header.payload.signature signed by `key` with `alg`; records a
// gtest failure and returns "" on error.
std::string Sign(const PrivateKey& key, JwsAlg alg, const JsonValue& header,
                 const JsonValue& payload);

// TokenHeader returns {"alg":<alg>,"typ":"at+jwt","kid":<key.kid()>}
// (popguard::TokenHeader with the key's kid).
JsonValue TokenHeader(const PrivateKey& key, JwsAlg alg);

// TokenClaims returns the claims of a good unbound token issued at `now`
// (popguard::TokenClaims of a TokenSpec): iss kIssuer, aud kAudience, iat now,
// exp now + 5 min, jti "token-1", sub "alice", client_id "client-1",
// scope "read write".
JsonValue TokenClaims(absl::Time now);

// MintToken signs `claims` under TokenHeader(key, alg).
std::string MintToken(const PrivateKey& key, JwsAlg alg, const JsonValue& claims);

struct ProofOptions {
  JwsAlg alg = JwsAlg::kES256;
  std::string htm = "GET";
  std::string htu = "https://api.example/resource";
  absl::Time iat = kNow;
  std::string jti = "proof-1";
  // When set, ath = Ath(*access_token).
  std::optional<std::string> access_token;
  std::optional<std::string> nonce;
};

// ProofClaims returns {"jti","htm","htu","iat"[,"ath"][,"nonce"]} from `o`
// (popguard::ProofClaims of the matching ProofSpec).
JsonValue ProofClaims(const ProofOptions& o);

// MintProof signs ProofClaims(o) under ProofHeader(key, o.alg).
std::string MintProof(const PrivateKey& key, const ProofOptions& o);

// UniqueId returns `prefix` + a process-wide counter, for fresh jti values.
std::string UniqueId(std::string_view prefix);

// SignatureBytes returns the decoded signature of a compact JWS ("" when the
// last segment is not base64url).
std::string SignatureBytes(std::string_view compact);

// WithSignature returns `compact` with its signature replaced by `sig`.
std::string WithSignature(std::string_view compact, std::string_view sig);

// FlipSignatureBit returns `compact` with bit `bit` of its decoded signature
// flipped (bit 0 is the most significant bit of the first byte).
std::string FlipSignatureBit(std::string_view compact, size_t bit);

// TruncateSignature returns `compact` with the last byte of its decoded
// signature removed.
std::string TruncateSignature(std::string_view compact);

// SignatureBitsToFlip returns the bits FlipSignatureBit should try for a
// signature of `alg` and `sig_bytes` bytes: every bit for ECDSA and EdDSA, an
// evenly spread sample of 64 bits (first and last included) for RSA.
std::vector<size_t> SignatureBitsToFlip(JwsAlg alg, size_t sig_bytes);

// Compact joins base64url(header_json).base64url(payload).base64url(sig).
std::string Compact(std::string_view header_json, std::string_view payload, std::string_view sig);

}  // namespace popguard::unit

#endif  // POPGUARD_TESTS_TESTING_UNIT_FIXTURES_H_
