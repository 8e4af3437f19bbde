// AccessTokenValidator: RFC 9068 / RFC 7519 access token validation.
//
// Flow: size cap → compact JWS parse (jws.h) → header rules (alg allowlist,
// no none, no HMAC, no embedded keys, typ) → issuer by exact iss → key by
// exact kid → signature → claims (aud, exp, nbf, iat, lifetime) → binding
// claims (cnf). A verified token is cached by the SHA-256 of its bytes until
// its exp; every cache hit re-checks the time-dependent claims, so the cache
// can never extend a token's life.
#ifndef POPGUARD_SERVICE_ACCESS_TOKEN_H_
#define POPGUARD_SERVICE_ACCESS_TOKEN_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "service/authn/reason.h"
#include "service/common/bounded_cache.h"
#include "service/config/config.h"
#include "service/jose/jws.h"
#include "service/jose/signature.h"
#include "service/keys/issuers.h"

namespace popguard {

// The parts of a verified access token that decisions and upstream headers use.
struct VerifiedToken {
  std::string issuer;
  std::string subject;              // sub, may be empty
  std::string client_id;            // client_id, may be empty
  std::string jti;                  // jti, may be empty (for the revocation list)
  std::string azp;                  // azp when a string, may be empty (rollout counting's fallback)
  std::vector<std::string> scopes;  // from scope (space-separated) or scp (array)
  std::string cnf_jkt;              // cnf.jkt: DPoP key thumbprint, empty if unbound
  std::string cnf_x5t;              // cnf.x5t#S256: certificate thumbprint, empty if none
  std::string kid;
  absl::Time exp;
  std::optional<absl::Time> nbf;
  std::optional<absl::Time> iat;
  // Values of the claims named in upstream_headers, rendered as strings.
  std::vector<std::pair<std::string, std::string>> claim_values;
  // The token's hash (SHA-256, raw), used for the cache and logs.
  std::string token_hash;
  // The key that verified the signature (RFC 7638 thumbprint) and the set it
  // came from: a cache hit is only good while the issuer still has that key.
  std::string key_thumbprint;
  std::weak_ptr<const KeySet> key_set;

  bool IsDpopBound() const { return !cnf_jkt.empty(); }
  bool IsMtlsBound() const { return !cnf_x5t.empty(); }
  std::string Principal() const { return subject.empty() ? client_id : subject; }
  const std::string* ClaimValue(std::string_view name) const;
};

// KeyMiss names the issuer whose current key set lacked the token's key
// (Reason::kTokenKeyNotFound), so the caller can ask that source to refresh.
struct KeyMiss {
  const Issuer* issuer = nullptr;
  std::string kid;  // the token's kid (at most 100 bytes); empty when none
};

// TokenSignatureCheck is a token that missed the cache, parsed and checked up
// to its signature, waiting for the verdict on signature() (see
// AccessTokenValidator::Validate's `pending`). It owns a copy of the token,
// which the parsed parts view: it is neither copied nor moved.
struct TokenSignatureCheck {
  TokenSignatureCheck() = default;
  TokenSignatureCheck(const TokenSignatureCheck&) = delete;
  TokenSignatureCheck& operator=(const TokenSignatureCheck&) = delete;

  SignatureCheck signature() const {
    return SignatureCheck{alg, key.get(), jws.signing_input, jws.signature};
  }

  std::string token;       // the token (a copy, when the check outlives the request)
  std::string token_hash;  // SHA-256 of token, raw
  Jws jws;
  JwsAlg alg = JwsAlg::kRS256;
  const Issuer* issuer = nullptr;
  std::shared_ptr<const KeySet> keys;  // the set `key` was selected from
  std::shared_ptr<const PublicKey> key;
};

class AccessTokenValidator {
 public:
  // The validator keeps pointers to `issuers`, `verifier` and `shared_cache`;
  // all must outlive it. `shared_cache` (may be null: the validator then owns
  // a cache) is the process-wide verified-token cache that survives config
  // reloads; entries are scoped by a fingerprint of the configuration they
  // were validated under (see CacheScope), so a reload that changes issuers,
  // audiences, algorithms or skew never serves an entry checked under the
  // old rules, while an unrelated change keeps every entry warm.
  AccessTokenValidator(const Config& config, const IssuerRegistry* issuers,
                       const SignatureVerifier* verifier,
                       BoundedCache<VerifiedToken>* shared_cache = nullptr);

  // Validate checks `token` at time `now`. On kOk fills *out (shared, immutable);
  // otherwise *detail says what differed (never the token itself). On
  // kTokenKeyNotFound, *miss (if non-null) names the issuer whose keys lacked it.
  //
  // With `pending` (non-null), a token that is not cached stops before its
  // signature check: Validate returns kOk with *out null and *pending set to
  // the check, and the caller verifies (*pending)->signature() elsewhere and
  // calls Complete. Everything found wrong before that point is returned as
  // without `pending`.
  Reason Validate(std::string_view token, absl::Time now, std::shared_ptr<const VerifiedToken>* out,
                  std::string* detail, KeyMiss* miss = nullptr,
                  std::unique_ptr<TokenSignatureCheck>* pending = nullptr);

  // Complete finishes a Validate that returned `pending`: `signature` is the
  // verdict on check.signature(). Same reasons, same caching as Validate.
  Reason Complete(const TokenSignatureCheck& check, SignatureResult signature, absl::Time now,
                  std::shared_ptr<const VerifiedToken>* out, std::string* detail);

  // CheckTimes re-checks exp, nbf and iat of an already verified token.
  Reason CheckTimes(const VerifiedToken& token, absl::Time now, std::string* detail) const;

  const BoundedCache<VerifiedToken>& cache() const { return *cache_; }

 private:
  // Begin runs the checks before the signature on check->token.
  Reason Begin(TokenSignatureCheck* check, std::string* detail, KeyMiss* miss) const;
  // KeyStillTrusted reports whether the key that verified the cached `t` is
  // still in its issuer's current key set.
  bool KeyStillTrusted(const VerifiedToken& t) const;

  absl::Duration clock_skew_;
  size_t max_token_bytes_;
  JsonLimits json_limits_;
  std::vector<std::string> claims_to_render_;
  const IssuerRegistry* issuers_;
  const SignatureVerifier* verifier_;
  std::unique_ptr<BoundedCache<VerifiedToken>> owned_cache_;
  BoundedCache<VerifiedToken>* cache_;
  std::string cache_scope_;  // prefix of every cache key
};

// CacheScope returns a short fingerprint of everything in `config` that a
// verified-token cache entry depends on.
std::string CacheScope(const Config& config);

// DescribeTime renders a time for denial messages: "<unix seconds> (<RFC 3339>)".
std::string DescribeTime(absl::Time t);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_ACCESS_TOKEN_H_
