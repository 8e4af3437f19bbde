// Authenticator: the whole per-request decision, top to bottom.
//
//   request URL  →  route (policy)  →  Authorization (scheme, one credential)
//   → access token (access_token.h) → scheme/binding rules → mTLS binding
//   → DPoP proof (dpop.h) → scopes → replay window (async) → Decision
//
// Every step either continues or ends the request with one Reason. Decide
// calls `done` exactly once: inline, from the replay store's completion thread,
// from a VerifyScheduler worker (signature checks: the proof's on every DPoP
// request, the token's on a cache miss), or from a key fetch thread (a token whose key the issuer's
// current key set lacks makes the key source refresh, rate-limited, and the decision is made once
// more when that refresh is done). An Authenticator is immutable after Create and safe to share
// between threads; a config reload builds a new one around the same (long-lived) replay store.
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
#include "service/authn/client_cert.h"
#include "service/authn/decision.h"
#include "service/authn/decision_log.h"
#include "service/authn/diagnostics.h"
#include "service/authn/dpop.h"
#include "service/authn/nonce.h"
#include "service/authn/policy.h"
#include "service/authn/request.h"
#include "service/authn/revocation.h"
#include "service/authn/rollout_stats.h"
#include "service/common/clock.h"
#include "service/common/url.h"
#include "service/config/config.h"
#include "service/config/resource_metadata.h"
#include "service/jose/signature.h"
#include "service/jose/verify_scheduler.h"
#include "service/keys/issuers.h"
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
  // decision this Authenticator starts. `live_revocations` (may be null) is
  // the process-wide list learned from Redis; revocation.file is read here,
  // so a bad file fails Create (and a reload) like a bad config. `rollout`
  // (may be null) counts every decision for rollout readiness
  // (rollout_stats.h) and outlives it too.
  static absl::StatusOr<std::unique_ptr<Authenticator>> Create(
      const Config& config, SignatureVerifierPtr verifier, const Clock* clock, ReplayStore* replay,
      std::vector<std::string>* warnings, BoundedCache<VerifiedToken>* token_cache = nullptr,
      VerifyScheduler* scheduler = nullptr, const LiveRevocations* live_revocations = nullptr,
      RolloutStats* rollout = nullptr);

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
  // file_revocations is the set read from revocation.file (empty without one).
  const RevocationSet& file_revocations() const { return *file_revocations_; }
  // resource_metadata holds the RFC 9728 documents of this config.
  const ResourceMetadataSet& resource_metadata() const { return resource_metadata_; }
  // FindResourceMetadata returns the document whose path every reading of
  // `path_as_sent` (route_path.h, the readings routes are matched in) is,
  // or null: a path some proxy or upstream could read as another one is not
  // the metadata path. `host` as for ResourceMetadataSet::Find.
  const ResourceMetadataDoc* FindResourceMetadata(std::string_view host,
                                                  std::string_view path_as_sent) const;

 private:
  Authenticator() = default;

  // InFlight is what every stage of one decision carries. It moves from stage
  // to stage, into the asynchronous ones, and Deny or Finish consume it. The
  // request itself is borrowed only until the first asynchronous step; the
  // stages that outlive it copy what they still need.
  struct InFlight {
    Decision decision;
    const RouteConfig* route = nullptr;          // the "none" route until one is selected
    Scheme scheme = Scheme::kNone;               // the Authorization scheme, once read
    absl::Time now;                              // read once, when the request arrived
    RequestLogContext request_log;               // what the decision's log line says of the request
    std::shared_ptr<const VerifiedToken> token;  // once verified (rollout counting)
    Done done;
  };

  // The stages, in order. DecideOnce is Decide; after_key_refresh is true
  // when this is the one re-run after an unknown key made the issuer's key
  // source refresh. SelectRoute rebuilds the URL and picks the route;
  // VerifyToken verifies the access token (perhaps on a scheduler worker);
  // OnTokenVerified applies the scheme and binding rules and proves an mTLS
  // binding; VerifyProof checks the DPoP proof; OnProofVerified checks scopes
  // and prepares the allow (proof null: no proof needed); CheckReplay records
  // the proof's jti (asynchronously) before the allow is final.
  void DecideOnce(const HttpRequestInfo& request, Done done, bool after_key_refresh) const;
  // SelectRoute returns kResourceMetadata with *metadata set for a metadata
  // request it may answer (HttpRequestInfo::metadata_answer).
  Reason SelectRoute(const HttpRequestInfo& request, NormalizedUrl* url, const RouteConfig** route,
                     const ResourceMetadataDoc** metadata, std::string* detail) const;
  void VerifyToken(const HttpRequestInfo& request, NormalizedUrl url, std::string_view token_text,
                   InFlight&& f, bool after_key_refresh) const;
  // AwaitTokenSignature queues a token's signature check (a cache miss) and
  // goes on with OnTokenVerified on the scheduler worker.
  void AwaitTokenSignature(const HttpRequestInfo& request, NormalizedUrl url, InFlight&& f,
                           std::unique_ptr<TokenSignatureCheck> check) const;
  void OnTokenVerified(const HttpRequestInfo& request, const NormalizedUrl& url, InFlight&& f,
                       std::shared_ptr<const VerifiedToken> token) const;
  Reason ProveMtls(const HttpRequestInfo& request, const VerifiedToken& token,
                   std::string* detail) const;
  void VerifyProof(const HttpRequestInfo& request, const NormalizedUrl& url, InFlight&& f,
                   std::shared_ptr<const VerifiedToken> token) const;
  void OnProofVerified(InFlight&& f, const VerifiedToken& token, const DpopResult* proof) const;
  void CheckReplay(InFlight&& f, const DpopResult& proof) const;
  // AnswerProbe answers a path diagnostics probe (diagnostics.h): never an allow.
  void AnswerProbe(const HttpRequestInfo& request, const NormalizedUrl& url, InFlight&& f) const;

  // Deny ends the decision with `reason`: status, challenges, DPoP-Nonce.
  void Deny(InFlight&& f, Reason reason, std::string detail) const;
  // Finish applies report-only mode, removes unset identity headers and logs
  // the decision.
  void Finish(InFlight&& f) const;

  Config config_;
  const Clock* clock_ = nullptr;
  ReplayStore* replay_ = nullptr;
  VerifyScheduler* scheduler_ = nullptr;  // null: verify inline
  RolloutStats* rollout_ = nullptr;       // null: not counted
  std::unique_ptr<IssuerRegistry> issuers_;
  std::unique_ptr<SignatureVerifier> verifier_;
  std::unique_ptr<DpopNonces> nonces_;
  std::unique_ptr<AccessTokenValidator> tokens_;
  std::unique_ptr<DpopValidator> dpop_;
  std::unique_ptr<Policy> policy_;
  std::optional<NormalizedUrl> external_origin_;           // config.external_origin, normalised
  std::unique_ptr<CertThumbprintCache> cert_thumbprints_;  // thread-safe
  XfccPolicy xfcc_policy_;  // which x-forwarded-client-cert element is the client's
  std::shared_ptr<const RevocationSet> file_revocations_;  // never null
  const LiveRevocations* live_revocations_ = nullptr;      // null: no Redis list
  std::unique_ptr<ProbeDiagnostics> diagnostics_;          // null: diagnostics off
  ResourceMetadataSet resource_metadata_;                  // config/resource_metadata.h
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_AUTHENTICATOR_H_
