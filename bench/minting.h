// Minting for the benchmarks and popguard-load: access tokens, DPoP proofs and
// self-signed client certificates with the same claims popguard-cli puts in
// them. Never on the verification path; keys made here are for load and
// benchmark runs only.
#ifndef POPGUARD_BENCH_MINTING_H_
#define POPGUARD_BENCH_MINTING_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/jose/signature.h"
#include "service/tools/mint/signer.h"

namespace popguard::bench {

struct TokenClaims {
  std::string iss;
  std::string aud;
  std::string sub = "load-user";
  std::string client_id = "load-client";
  std::string scope = "read";
  std::string jkt;  // cnf.jkt; empty leaves it out
  std::string x5t;  // cnf.x5t#S256; empty leaves it out
  absl::Time iat;
  absl::Duration ttl = absl::Minutes(10);
  std::string jti;  // empty: 12 random bytes, base64url
};

// MintToken returns an at+jwt access token signed with `key` and `alg`; the
// header carries key.kid() when it is set.
absl::StatusOr<std::string> MintToken(const PrivateKey& key, JwsAlg alg, const TokenClaims& claims);

// ProofMinter signs DPoP proofs (RFC 9449 section 4.2) for one client key. The
// header {typ, alg, jwk} is built once; each proof differs only in its claims.
class ProofMinter {
 public:
  // `key` must outlive the minter.
  ProofMinter(const PrivateKey& key, JwsAlg alg);

  // Mint returns a proof for `method` and `url` bound to `access_token` (ath),
  // issued at `iat`, with `jti`.
  absl::StatusOr<std::string> Mint(std::string_view method, std::string_view url,
                                   std::string_view access_token, absl::Time iat,
                                   std::string_view jti) const;

  const PrivateKey& key() const { return *key_; }
  JwsAlg alg() const { return alg_; }

 private:
  const PrivateKey* key_;
  JwsAlg alg_;
  std::string header_json_;
};

struct SelfSignedCert {
  std::string pem;
  std::string der;
  std::string thumbprint;  // x5t#S256
};

// MakeSelfSignedCert returns a fresh self-signed P-256 certificate for
// `common_name`, valid from an hour ago for a week.
absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(std::string_view common_name);

// EnvoyUrlEncode percent-encodes every byte but RFC 3986 unreserved ones, as
// Envoy encodes attributes.source.certificate.
std::string EnvoyUrlEncode(std::string_view in);

// JwksJson returns {"keys":[...]} with the public JWK of each key.
std::string JwksJson(const std::vector<const PrivateKey*>& keys);

// DefaultAlgFor returns the algorithm a key signs with by default: its alg
// member, else ES256/ES384/ES512 by curve, EdDSA for Ed25519, RS256 for RSA.
JwsAlg DefaultAlgFor(const PrivateKey& key);

// UniqueJtiPrefix returns 9 random bytes, base64url: distinct per process, so
// two runs against one server never collide in its replay window.
std::string UniqueJtiPrefix();

}  // namespace popguard::bench

#endif  // POPGUARD_BENCH_MINTING_H_
