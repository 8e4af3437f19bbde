// Private keys and JWS signing, for the CLI (minting demo tokens and DPoP
// proofs) and for tests. Never on the verification path.
#ifndef POPGUARD_SERVICE_SIGNER_H_
#define POPGUARD_SERVICE_SIGNER_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "service/common/json.h"
#include "service/jose/jwk.h"
#include "service/jose/signature.h"

namespace popguard {

// PrivateKey is an EC (P-256/384/521), Ed25519 or RSA private key with an
// optional kid and alg. Move-only; the key material never leaves it except
// through PrivateJwk().
class PrivateKey {
 public:
  // Generate makes a fresh key for `alg`: an EC key on alg's curve for ES*, an
  // Ed25519 key for EdDSA, an RSA-2048 key (e = 65537) for RS* and PS*. kid and
  // alg are left unset.
  static absl::StatusOr<PrivateKey> Generate(JwsAlg alg);

  // FromJwk loads a private JWK: EC or OKP with d, RSA with n, e, d and either
  // all of p, q, dp, dq, qi or none of them. The public members are validated
  // exactly like PublicKey::FromJwk; d must belong to the public key (checked
  // by a sign/verify round trip). An alg member must name a JwsAlg the key
  // fits. InvalidArgument on any problem; messages never contain key material.
  static absl::StatusOr<PrivateKey> FromJwk(const JsonValue& jwk);

  PrivateKey(PrivateKey&&) = default;
  PrivateKey& operator=(PrivateKey&&) = default;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  KeyType kty() const { return public_key_->kty(); }
  // crv returns the JWK curve name; empty for RSA.
  const std::string& crv() const { return public_key_->crv(); }

  // kid is empty when unset; an empty kid is never written to a JWK.
  const std::string& kid() const { return kid_; }
  void set_kid(std::string kid) { kid_ = std::move(kid); }
  const std::optional<JwsAlg>& alg() const { return alg_; }
  void set_alg(std::optional<JwsAlg> alg) { alg_ = alg; }
  // DefaultAlg is the algorithm this key signs with unless told otherwise:
  // alg() when set, else ES256/ES384/ES512 by curve, EdDSA for Ed25519 and
  // RS256 for RSA (what popguard-cli signs with when --alg is not given).
  JwsAlg DefaultAlg() const;

  // PrivateJwk returns the full private JWK, plus kid and alg if set.
  JsonValue PrivateJwk() const;
  // PublicJwk returns the public members, plus kid and alg if set, and
  // "use":"sig".
  JsonValue PublicJwk() const;
  // RequiredPublicJwk returns only the RFC 7638 required public members in
  // canonical order (e.g. for a DPoP proof's jwk header).
  JsonValue RequiredPublicJwk() const;
  // Thumbprint returns the RFC 7638 SHA-256 thumbprint of the public key.
  std::string Thumbprint() const { return public_key_->thumbprint(); }
  // public_key returns the public half, parsed from RequiredPublicJwk() (so it
  // has no kid, alg or use restrictions).
  const std::shared_ptr<const PublicKey>& public_key() const { return public_key_; }

  // pkey returns the OpenSSL key (private), owned by this object.
  EVP_PKEY* pkey() const { return pkey_.get(); }

  // Sign returns the JOSE-encoded signature of `signing_input` (ECDSA raw
  // r||s of fixed length; RSA-PSS with MGF1 and salt length = hash length).
  // InvalidArgument when the key's type or curve does not fit `alg`; the alg
  // member is not consulted, so tests can produce mismatches on purpose.
  absl::StatusOr<std::string> Sign(JwsAlg alg, std::string_view signing_input) const;

 private:
  PrivateKey() = default;
  // Init derives the public JWK members and public_key_ from pkey_.
  absl::Status Init();

  PkeyPtr pkey_;
  std::vector<JsonValue::Member> public_members_;   // RFC 7638 order
  std::vector<JsonValue::Member> private_members_;  // d, then RSA CRT values
  std::shared_ptr<const PublicKey> public_key_;
  std::string kid_;
  std::optional<JwsAlg> alg_;
};

// SignCompactJws serialises `header` and `payload` as compact JSON (members in
// the order given; `alg` is not added or checked), base64url-encodes them,
// signs "header.payload" with `alg` and returns header.payload.signature.
absl::StatusOr<std::string> SignCompactJws(const PrivateKey& key, JwsAlg alg,
                                           const JsonValue& header, const JsonValue& payload);

// SignCompactJwsRaw is SignCompactJws over exact bytes: `header_json` and
// `payload` are encoded as given, so tests can sign malformed or unusual JSON.
absl::StatusOr<std::string> SignCompactJwsRaw(const PrivateKey& key, JwsAlg alg,
                                              std::string_view header_json,
                                              std::string_view payload);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_SIGNER_H_
