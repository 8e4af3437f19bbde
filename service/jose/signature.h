// JWS signature algorithms (RFC 7518 section 3, RFC 8037 section 3.1, RFC 9864
// section 2.2) and the narrow interface that verifies one signature.
//
// Verification only ever sees public data (the key, the signing input and the
// signature), so the implementation may take variable time.
#ifndef POPGUARD_SERVICE_SIGNATURE_H_
#define POPGUARD_SERVICE_SIGNATURE_H_

#include <memory>
#include <optional>
#include <span>
#include <string_view>

namespace popguard {

class PublicKey;  // service/jose/jwk.h

// The asymmetric JWS algorithms popguard accepts. There is deliberately no
// value for "none" or the HMAC algorithms: a verifier that cannot name them
// cannot be talked into using them.
enum class JwsAlg {
  kRS256,
  kRS384,
  kRS512,
  kPS256,
  kPS384,
  kPS512,
  kES256,
  kES384,
  kES512,
  kEdDSA,
  // RFC 9864 fully-specified "Ed25519": the same signature as EdDSA with an
  // Ed25519 key, under a name that fixes the curve. A distinct value so that a
  // config can allow one name and not the other.
  kEd25519,
};

// All algorithms, in declaration order (for tests and documentation).
inline constexpr JwsAlg kAllJwsAlgs[] = {
    JwsAlg::kRS256, JwsAlg::kRS384, JwsAlg::kRS512, JwsAlg::kPS256, JwsAlg::kPS384,  JwsAlg::kPS512,
    JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kES512, JwsAlg::kEdDSA, JwsAlg::kEd25519};

// IsEd25519Signature returns true for EdDSA and Ed25519: both verify a 64-byte
// Ed25519 signature (RFC 8032) with an OKP Ed25519 key and nothing else.
constexpr bool IsEd25519Signature(JwsAlg alg) {
  return alg == JwsAlg::kEdDSA || alg == JwsAlg::kEd25519;
}

// ParseJwsAlg maps a JOSE alg name (case-sensitive) to JwsAlg. "none", HS256,
// HS384, HS512 and every unknown name return nullopt.
std::optional<JwsAlg> ParseJwsAlg(std::string_view name);

// JwsAlgName returns the JOSE name of `alg`, e.g. "ES256".
std::string_view JwsAlgName(JwsAlg alg);

enum class SignatureResult {
  // The signature verifies.
  kValid,
  // Well-formed, but does not verify; or the key does not fit the algorithm.
  kInvalid,
  // Wrong length for the algorithm and key, or an ECDSA r or s outside [1, n-1].
  kMalformed,
};

// All results, in declaration order (metric labels).
inline constexpr SignatureResult kAllSignatureResults[] = {
    SignatureResult::kValid, SignatureResult::kInvalid, SignatureResult::kMalformed};

// SignatureCheck is one signature to verify: a member of a VerifyBatch call
// or a job of the VerifyScheduler. The key and the strings are views: whoever
// makes the check keeps them alive until its verdict is delivered.
struct SignatureCheck {
  JwsAlg alg;
  const PublicKey* key;
  std::string_view signing_input;
  std::string_view signature;
};

// SignatureVerifier verifies one JWS signature. Kept narrow so a faster core
// can replace OpenSSL for one algorithm without touching callers.
// Implementations are thread-safe.
class SignatureVerifier {
 public:
  virtual ~SignatureVerifier() = default;

  // Verify checks `signature` in its JOSE encoding (raw r||s of fixed length
  // for ECDSA, 64 bytes for Ed25519, modulus length for RSA) over
  // `signing_input` with `key`. Returns kInvalid when `key` does not fit `alg`
  // (PublicKey::FitsAlg) or the signature does not verify, kMalformed when the
  // length is wrong or ECDSA r or s is 0 or >= the group order. Never throws,
  // and leaves the OpenSSL error queue empty.
  virtual SignatureResult Verify(JwsAlg alg, const PublicKey& key, std::string_view signing_input,
                                 std::string_view signature) const = 0;

  // VerifyBatch writes results[i] for checks[i] (same sizes), each exactly
  // what Verify would return. The default verifies one by one; a core that
  // can share work between signatures (NativeVerifier) overrides it.
  virtual void VerifyBatch(std::span<const SignatureCheck> checks,
                           std::span<SignatureResult> results) const;

  // BatchesWell reports whether VerifyBatch verifies `alg` signatures
  // markedly cheaper per signature than Verify (so a scheduler should gather
  // them into batches). The default: no.
  virtual bool BatchesWell(JwsAlg alg) const { return false; }
};

using SignatureVerifierPtr = std::unique_ptr<SignatureVerifier>;

// CreateOpenSslVerifier returns the OpenSSL 3 EVP implementation.
SignatureVerifierPtr CreateOpenSslVerifier();

}  // namespace popguard

#endif  // POPGUARD_SERVICE_SIGNATURE_H_
