// Public JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) and an
// issuer's key set.
//
// A JWK is parsed and validated once into an immutable PublicKey holding its
// OpenSSL EVP_PKEY; verification then never re-parses. A P-256 key is
// validated by the native P-256 code and its EVP_PKEY built only when an
// OpenSSL operation first asks for it (pkey()): the native ES256 verifier
// reads the raw point, and building the EVP_PKEY was most of the cost of a
// never-seen DPoP key (bench/README.md, issue 15). PublicKeys are shared
// through shared_ptr<const PublicKey> and safe to use from many threads.
//
// Accepted: EC P-256/P-384/P-521, OKP Ed25519, RSA with a 2048..8192-bit
// modulus. Everything else (oct keys, other curves, X25519) is refused.
#ifndef POPGUARD_SERVICE_JWK_H_
#define POPGUARD_SERVICE_JWK_H_

#include <openssl/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"
#include "service/jose/signature.h"

namespace popguard {

enum class KeyType { kRsa, kEc, kOkp };

class PublicKey {
 public:
  // FromJwk parses the public JWK object `jwk`. InvalidArgument (the message
  // names the member, never key material) when: kty is missing or unknown; an
  // EC crv is not P-256/P-384/P-521, x or y is not exactly the field length
  // (32/48/66 bytes) or the point is not on the curve; an OKP crv is not
  // Ed25519 or x is not 32 bytes; an RSA n is not 2048..8192 bits, is even,
  // has a leading zero octet or the ROCA structure (CVE-2017-15361); e is
  // even, < 3, 2^32 or more, or has a leading zero octet; an Ed25519 x is
  // not the canonical encoding of a curve point or is a point of small order
  // (CheckEd25519PublicKey_vartime); a key member
  // is not strict base64url; use, alg or kid is not a string or key_ops not an
  // array of strings. FailedPrecondition when the JWK carries private members
  // (JwkHasPrivateMembers), so callers can report that distinctly.
  static absl::StatusOr<std::shared_ptr<const PublicKey>> FromJwk(const JsonValue& jwk);

  PublicKey(const PublicKey&) = delete;
  PublicKey& operator=(const PublicKey&) = delete;

  KeyType kty() const { return kty_; }
  // crv returns "P-256", "P-384", "P-521" or "Ed25519"; empty for RSA.
  const std::string& crv() const { return crv_; }
  // kid returns the kid member; empty when absent.
  const std::string& kid() const { return kid_; }
  const std::optional<std::string>& alg() const { return alg_; }
  const std::optional<std::string>& use() const { return use_; }
  const std::optional<std::vector<std::string>>& key_ops() const { return key_ops_; }

  // FitsAlg returns true when this key may verify `alg`: the key type and curve
  // match (ES256/P-256, ES384/P-384, ES512/P-521, EdDSA/Ed25519, RS* and
  // PS*/RSA), the alg member is absent or names `alg`, use is absent or "sig",
  // and key_ops is absent or contains "verify".
  bool FitsAlg(JwsAlg alg) const;

  // thumbprint returns the RFC 7638 SHA-256 thumbprint, base64url-encoded.
  const std::string& thumbprint() const { return thumbprint_; }

  // pkey returns the OpenSSL key, owned by this object. Use it read-only. A
  // P-256 key's is built on the first call (thread-safe; ~20 us); null only
  // if OpenSSL then refused a point the native check accepted, which no
  // valid point does, and every OpenSSL operation on a null key fails closed.
  EVP_PKEY* pkey() const;

  // pkey_built returns whether the EVP_PKEY exists yet (tests, benchmarks).
  bool pkey_built() const;

  // raw_public_key returns the key bytes as the JWK carried them, already
  // validated: EC x || y (the curve's field length each), OKP x (32 bytes);
  // empty for RSA. Native verifiers read it instead of asking OpenSSL to
  // re-encode its internal point (which costs microseconds per key).
  const std::string& raw_public_key() const { return raw_public_key_; }

 private:
  PublicKey() = default;

  KeyType kty_ = KeyType::kEc;
  std::string crv_;
  std::string kid_;
  std::optional<std::string> alg_;
  std::optional<std::string> use_;
  std::optional<std::vector<std::string>> key_ops_;
  std::string thumbprint_;
  std::string raw_public_key_;
  // Set by FromJwk (RSA, OKP, P-384, P-521) or, for P-256, on the first
  // pkey() call under pkey_once_.
  mutable absl::once_flag pkey_once_;
  mutable PkeyPtr pkey_;
  mutable std::atomic<bool> pkey_built_{false};
};

// JwkHasPrivateMembers returns true if the object `jwk` has any of the
// members d, p, q, dp, dq, qi, oth or k.
bool JwkHasPrivateMembers(const JsonValue& jwk);

// JwkThumbprint returns the RFC 7638 thumbprint of the JWK object `jwk`:
// base64url(SHA-256(canonical JSON of the required members: EC crv,kty,x,y;
// OKP crv,kty,x; RSA e,kty,n)). It does not validate the key itself;
// InvalidArgument when kty is unknown or a required member is not a string.
absl::StatusOr<std::string> JwkThumbprint(const JsonValue& jwk);

// KeySelection is the result of KeySet::Select.
struct KeySelection {
  enum class Outcome {
    kFound,           // `key` is set
    kKidNotFound,     // no key has the requested kid
    kKidAlgMismatch,  // keys have the kid, but none of them fits alg
    kNoKeyFitsAlg,    // no kid requested and no key fits alg
    kAmbiguous,       // no kid requested and more than one key fits alg
  };
  Outcome outcome = Outcome::kKidNotFound;
  std::shared_ptr<const PublicKey> key;  // non-null iff outcome == kFound
};

// KeySet is an issuer's parsed JWKS. Copies share the immutable keys.
class KeySet {
 public:
  KeySet() = default;

  // Parse reads the JWKS document `jwks_json` ({"keys":[...]}) strictly.
  // Keys of unsupported type or curve, with private members, or otherwise
  // invalid are skipped, each described in `*warnings` (if non-null) by index,
  // kid and reason, never key material. An empty usable set is not an error;
  // malformed JSON or a missing or non-array "keys" is InvalidArgument.
  static absl::StatusOr<KeySet> Parse(std::string_view jwks_json,
                                      std::vector<std::string>* warnings);

  // FromKeys builds a set from already parsed keys (tests, static config).
  static KeySet FromKeys(std::vector<std::shared_ptr<const PublicKey>> keys);

  // Select returns the key to verify `alg` with. With a kid, only keys whose
  // kid equals it exactly are candidates (an empty kid never matches), and the
  // first one that FitsAlg(alg) wins. Without a kid, the single key of the set
  // that fits alg wins; zero or several is a miss. See KeySelection::Outcome.
  KeySelection Select(std::optional<std::string_view> kid, JwsAlg alg) const;

  size_t size() const { return keys_.size(); }
  bool empty() const { return keys_.empty(); }
  const std::vector<std::shared_ptr<const PublicKey>>& keys() const { return keys_; }

 private:
  std::vector<std::shared_ptr<const PublicKey>> keys_;
  // kid -> indexes into keys_, in document order. kid is only ever an exact
  // map key: no prefix, case-folding or path interpretation.
  absl::flat_hash_map<std::string, std::vector<size_t>> by_kid_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_JWK_H_
