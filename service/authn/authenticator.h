// Authenticator: the whole per-request decision, top to bottom.
//
//   request URL  →  route (policy)  →  Authorization (scheme, one credential)
//   → access token (access_token.h) → scheme/binding rules → mTLS binding
//   → DPoP proof (dpop.h) → scopes → replay window (async) → Decision
//
// Every step either continues or ends the request with one Reason. Decide
// calls `done` exactly once: inline, from the replay store's completion thread,
// from a VerifyScheduler worker (signature checks: the proof's on every DPoP
// request, the token's on a cache miss), or from a key fetch thread (a token whose key the issuer's current key set
// lacks makes the key source refresh, rate-limited, and the decision is made
// once more when that refresh is done). An Authenticator is immutable after
// Create and safe to share between threads; a config reload builds a new one
// around the same (long-lived) replay store.
#ifndef POPGUARD_SERVICE_AUTHENTICATOR_H_
#define POPGUARD_SERVICE_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "service/authn/access_token.h"
#include "service/authn/cert_thumbprint_cache.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/authn/decision.h"
#include "service/authn/dpop.h"
#include "service/keys/issuers.h"
#include "service/authn/nonce.h"
#include "service/authn/policy.h"
#include "service/authn/request.h"
#include "service/jose/signature.h"
#include "service/authn/url.h"
#include "service/jose/verify_scheduler.h"
#include "storage/replay_store.h"

namespace popguard {

class Authenticator {
 public:
  using Done = absl::AnyInvocable<void(Decision) &&>;

  // Create builds an Authenticator for `config` that verifies every
  // signature with `verifier` (not null). The caller picks it: the server
  // wiring builds the one config.crypto asks for, counted for the metrics
  // (service/server/verifier_factory.h), so this layer knows no metrics.
  // Issuer keys known now are prepared on it (PrepareVerifierKeys). `clock`
  // and `replay` must outlive it. Start-up warnings (skipped keys) are appended to *warnings.
  // `token_cache` (may be null) is a verified-token cache that outlives this
  // Authenticator, so a config reload keeps it warm (see AccessTokenValidator).
  // `scheduler` (may be null: signatures are then verified inline, on the
  // caller's thread) verifies signatures in batches; it must outlive every
  // decision this Authenticator starts.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      const Config& config, SignatureVerifierPtr verifier, const Clock* clock, ReplayStore* replay,
      std::vector<std::string>* warnings, BoundedCache<VerifiedToken>* token_cache = nullptr,
      VerifyScheduler* scheduler = nullptr);

  // Decide evaluates `request` and calls `done` exactly once.
  void Decide(const HttpRequestInfo& request, Done done) const;

  // DecideSync is Decide for callers that can wait (CLI, tests); it blocks
  // until the decision is made.
  Decision DecideSync(const HttpRequestInfo& request) const;

  const AccessTokenValidator& tokens() const { return *tokens_; }
  // dpop is the proof validator (dpop().key_cache(): parsed proof key counters).
  const DpopValidator& dpop() const { return *dpop_; }
  // cert_thumbprints caches mTLS client certificate thumbprints (counters).
  const CertThumbprintCache& cert_thumbprints() const { return *cert_thumbprints_; }
  // issuers is the issuer registry (for readiness: IssuerRegistry::Ready).
  const IssuerRegistry& issuers() const { return *issuers_; }
  // verifier is the signature verifier (for its key table counters).
  const SignatureVerifier& verifier() const { return *verifier_; }
  const Config& config() const { return config_; }

 private:
  Authenticator() = default;

  // DecideOnce is Decide; after_key_refresh is true when this is the one
  // re-run after an unknown key made the issuer's key source refresh.
  void DecideOnce(const HttpRequestInfo& request, Done done, bool after_key_refresh) const;

  // AfterToken continues a decision once the access token is verified;
  // AfterProof once the DPoP proof is (proof null: no proof needed).
  void AfterToken(const HttpRequestInfo& req, const NormalizedUrl& url, const RouteConfig& route,
                  int scheme_flags, Decision d, std::shared_ptr<const VerifiedToken> vt,
                  absl::Time now, Done done) const;
  void AfterProof(Decision d, const RouteConfig& route, int scheme_flags, const VerifiedToken& vt,
                  const DpopResult* proof, absl::Time now, Done done) const;

  // Finish applies report-only mode, builds headers and logs the decision.
  void Finish(Decision d, const RouteConfig& route, Done done) const;
  void Deny(Decision d, Reason reason, std::string detail, const RouteConfig& route,
            int scheme_flags, Done done) const;

  Config config_;
  const Clock* clock_ = nullptr;
  ReplayStore* replay_ = nullptr;
  VerifyScheduler* scheduler_ = nullptr;  // null: verify inline
  std::unique_ptr<IssuerRegistry> issuers_;
  std::unique_ptr<SignatureVerifier> verifier_;
  std::unique_ptr<DpopNonces> nonces_;
  std::unique_ptr<AccessTokenValidator> tokens_;
  std::unique_ptr<DpopValidator> dpop_;
  std::unique_ptr<Policy> policy_;
  std::optional<NormalizedUrl> external_origin_;  // config.external_origin, normalised
  std::unique_ptr<CertThumbprintCache> cert_thumbprints_;  // thread-safe
  std::string resource_metadata_url_;  // for challenges; empty: none (config/resource_metadata.h)
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHENTICATOR_H_
