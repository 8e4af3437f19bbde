// DpopValidator: checks a DPoP proof (RFC 9449 section 4.3) presented with an
// access token at a protected resource (section 7).
//
// Order matters, cheapest first: everything that needs no signature check
// (syntax, typ, alg, the jwk and its size, the binding to the token's
// cnf.jkt, the claims) is checked before the signature, so a request that
// fails for any other reason never costs a signature verification (an
// attacker-chosen proof key is the most expensive thing a request can bring).
// The signature comes last, and the replay window after it (by the caller,
// asynchronously), so that only a proof that passed every other check, the
// signature included, can consume its jti.
#ifndef POPGUARD_SERVICE_DPOP_H_
#define POPGUARD_SERVICE_DPOP_H_

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "service/authn/nonce.h"
#include "service/authn/proof_key_cache.h"
#include "service/authn/reason.h"
#include "service/common/json.h"
#include "service/config/config.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"
#include "service/jose/signature.h"

namespace popguard {

struct DpopRequest {
  std::string_view proof;         // the DPoP header value (exactly one proof)
  std::string_view method;        // request method, e.g. "GET"
  std::string_view request_url;   // normalised request URL without query/fragment
  std::string_view access_token;  // the token the proof must be bound to (ath)
  // Optional: the raw SHA-256 of exactly `access_token`, when the caller has
  // it already (VerifiedToken::token_hash); otherwise it is computed.
  std::string_view access_token_sha256;
  std::string_view expected_jkt;  // the token's cnf.jkt
  absl::Time now;
};

struct DpopResult {
  std::string jkt;          // thumbprint of the proof key
  std::string replay_key;   // 16 bytes: SHA-256(jkt || 0x00 || jti) truncated
  absl::Time issued_at;     // the proof's iat
  absl::Time replay_until;  // how long the jti must be remembered
};

// DpopProofCheck is a proof that passed every check but its signature
// (DpopValidator::Begin), waiting for the verdict on signature(). It owns a
// copy of the proof, which the parsed parts view: it is neither copied nor
// moved (make it where it will stay, e.g. inside a heap-allocated state).
struct DpopProofCheck {
  DpopProofCheck() = default;
  DpopProofCheck(const DpopProofCheck&) = delete;
  DpopProofCheck& operator=(const DpopProofCheck&) = delete;

  SignatureCheck signature() const {
    return SignatureCheck{alg, key.get(), jws.signing_input, jws.signature};
  }

  std::string proof;
  Jws jws;
  JwsAlg alg = JwsAlg::kES256;
  std::shared_ptr<const PublicKey> key;
  DpopResult result;  // what Complete hands out once the signature is valid
};

class DpopValidator {
 public:
  // `nonces` may be null when no nonce is configured; it must outlive this.
  // `key_cache_entries`: size of the parsed proof key cache (0: off).
  DpopValidator(const DpopConfig& config, const LimitsConfig& limits,
                const SignatureVerifier* verifier, const DpopNonces* nonces,
                size_t key_cache_entries = ProofKeyCache::kDefaultCapacity);

  // Validate runs every check except replay. On failure *detail says what
  // differed; for kDpopHtuMismatch it names both URLs.
  // It is Begin, the signature check and Complete in one call.
  Reason Validate(const DpopRequest& req, DpopResult* out, std::string* detail) const;

  // Begin and Complete are Validate in two halves around the signature check,
  // for callers that verify signatures elsewhere (VerifyScheduler). Begin
  // copies req.proof into *check and runs every check but the signature
  // (size, JWS syntax, typ, alg, jwk and its size bounds, cnf.jkt, claims);
  // `req` is not read after it returns. Complete takes the verdict on
  // check.signature() and, when it is valid, sets *out. The reason for any
  // input is the same as Validate's.
  Reason Begin(const DpopRequest& req, DpopProofCheck* check, std::string* detail) const;
  Reason Complete(const DpopProofCheck& check, SignatureResult signature, DpopResult* out,
                  std::string* detail) const;

  // The algorithms accepted for proofs, space-separated (WWW-Authenticate algs).
  const std::string& algs_param() const { return algs_param_; }

  // key_cache returns the cache of parsed proof keys (hit/miss counters).
  const ProofKeyCache& key_cache() const { return key_cache_; }

 private:
  DpopConfig config_;
  size_t max_proof_bytes_;
  JsonLimits json_limits_;
  std::vector<JwsAlg> algorithms_;
  std::string algs_param_;
  const SignatureVerifier* verifier_;
  const DpopNonces* nonces_;
  mutable ProofKeyCache key_cache_;  // thread-safe; filled by Validate
};

// IsSafeHttpMethodToken returns true when `s` is a valid HTTP method token.
bool IsHttpMethodToken(std::string_view s);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_DPOP_H_
