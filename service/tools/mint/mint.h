// Minting for popguard-cli, the tests, the benchmarks and popguard-load: RFC
// 9068 access tokens, RFC 9449 DPoP proofs, JWKS documents, self-signed client
// certificates and Envoy's certificate encoding, all with the claims and
// member order popguard-cli writes. Never on the verification path: the
// server binary does not link popguard_mint.
//
//   TokenSpec t{.iss = "https://issuer.example", .aud = "https://api.example", .iat = now};
//   t.jkt = client_key.Thumbprint();
//   absl::StatusOr<std::string> token = MintToken(issuer_key, issuer_key.DefaultAlg(), t);
//   ProofSpec p{.url = "https://api.example/r", .iat = now, .access_token = *token};
//   absl::StatusOr<std::string> proof = MintProof(client_key, JwsAlg::kES256, p);
//
// Values that must stay independent of the code under test (the DPoP ath, a
// certificate's x5t#S256) are computed here from their RFC definitions rather
// than with the verifier's own functions, so a test comparing them checks the
// verifier instead of agreeing with it.
#ifndef POPGUARD_SERVICE_TOOLS_MINT_MINT_H_
#define POPGUARD_SERVICE_TOOLS_MINT_MINT_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/common/json.h"
#include "service/jose/signature.h"
#include "service/tools/mint/signer.h"

namespace popguard {

// TokenSpec is the claims set of an access token. Empty strings leave their
// claim out (except iss and aud, always written).
struct TokenSpec {
  std::string iss{};
  std::string aud{};
  std::string sub{};
  std::string client_id{};
  std::string scope{};
  std::string jkt{};  // cnf.jkt (RFC 9449)
  std::string x5t{};  // cnf.x5t#S256 (RFC 8705)
  absl::Time iat = absl::UnixEpoch();
  absl::Duration ttl = absl::Minutes(5);  // exp = iat + ttl, in whole seconds
  std::string jti{};                      // "": 12 random bytes, base64url
};

// TokenClaims returns the claims of `spec` in popguard-cli's order: iss, aud,
// iat, exp, jti, sub, client_id, scope, cnf {jkt, x5t#S256}.
JsonValue TokenClaims(const TokenSpec& spec);

// TokenHeader returns {"alg", "typ", "kid"}; an empty typ or kid is left out.
JsonValue TokenHeader(JwsAlg alg, std::string_view kid, std::string_view typ = "at+jwt");

// MintToken signs TokenClaims(spec) under TokenHeader(alg, key.kid()).
absl::StatusOr<std::string> MintToken(const PrivateKey& key, JwsAlg alg, const TokenSpec& spec);

// ProofSpec is the claims set of a DPoP proof (RFC 9449 section 4.2).
struct ProofSpec {
  std::string method = "GET";
  std::string url{};
  absl::Time iat = absl::UnixEpoch();
  std::string jti{};                          // "": 16 random bytes, base64url
  std::optional<std::string> access_token{};  // sets ath = Ath(*access_token)
  std::optional<std::string> nonce{};
};

// ProofClaims returns {jti, htm, htu, iat[, ath][, nonce]}, in that order.
JsonValue ProofClaims(const ProofSpec& spec);

// ProofHeader returns {"typ":"dpop+jwt","alg":<alg>,"jwk":<RFC 7638 members of key>}.
JsonValue ProofHeader(const PrivateKey& key, JwsAlg alg);

// MintProof signs ProofClaims(spec) under ProofHeader(key, alg).
absl::StatusOr<std::string> MintProof(const PrivateKey& key, JwsAlg alg, const ProofSpec& spec);

// ProofMinter is MintProof for many proofs of one key: the header is
// serialised once, each proof differs only in its claims (benchmarks, load).
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

// Ath returns the DPoP ath of `access_token`: base64url(SHA-256(token)).
std::string Ath(std::string_view access_token);

// JwksJson returns {"keys":[...]} with the public JWK (kid and alg if set,
// use=sig) of each key.
std::string JwksJson(const std::vector<const PrivateKey*>& keys);

struct SelfSignedCert {
  std::string pem;
  std::string der;
  std::string thumbprint;  // RFC 8705 x5t#S256: base64url(SHA-256(der))
};

// MakeSelfSignedCert returns a fresh self-signed P-256 certificate for
// `common_name`, valid from an hour ago for a week.
absl::StatusOr<SelfSignedCert> MakeSelfSignedCert(std::string_view common_name);

// EnvoyUrlEncode percent-encodes every byte but RFC 3986 unreserved ones,
// with upper-case hex, as Envoy encodes attributes.source.certificate.
std::string EnvoyUrlEncode(std::string_view in);

// UniqueJtiPrefix returns 9 random bytes, base64url: distinct per process, so
// two runs against one server never collide in its replay window.
std::string UniqueJtiPrefix();

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_MINT_MINT_H_
