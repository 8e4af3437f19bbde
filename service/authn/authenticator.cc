#include "service/authn/authenticator.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "service/authn/client_cert.h"
#include "service/authn/request_url.h"
#include "service/authn/route_path.h"
#include "service/authn/upstream_headers.h"
#include "service/common/crypto_util.h"
#include "service/common/strings.h"
#include "service/common/url.h"
#include "service/config/resource_metadata.h"
#include "service/jose/base64url.h"
#include "service/jose/native_verifier.h"

namespace popguard {
namespace {

// The route of a request denied before its route is known.
const RouteConfig& NoRoute() {
  static const RouteConfig* const kNoRoute = [] {
    auto* route = new RouteConfig();
    route->name = "none";
    return route;
  }();
  return *kNoRoute;
}

// ReadCredential finds the one credential of `request`: its scheme (Bearer or
// DPoP) and the token. On kAuthorizationMalformed *scheme is already set; on
// kTokenMissing (no header, another scheme) it stays kNone.
Reason ReadCredential(const HttpRequestInfo& request, Scheme* scheme, std::string_view* token,
                      std::string* detail) {
  auto authorization = request.HeaderValues("authorization");
  if (authorization.empty()) {
    *detail = "no Authorization header";
    return Reason::kTokenMissing;
  }
  // Envoy merges repeated headers with ","; a credential never contains one.
  if (authorization.size() > 1 || authorization[0].find(',') != std::string_view::npos) {
    *detail = "more than one Authorization credential";
    return Reason::kAuthorizationMultiple;
  }
  std::string_view value = StripWhitespace(authorization[0]);
  const size_t space = value.find(' ');
  const std::string_view name = value.substr(0, space);
  *token =
      space == std::string_view::npos ? std::string_view() : StripWhitespace(value.substr(space));
  if (EqualsIgnoreCase(name, "DPoP")) {
    *scheme = Scheme::kDpop;
  } else if (EqualsIgnoreCase(name, "Bearer")) {
    *scheme = Scheme::kBearer;
  } else {
    *detail = "Authorization scheme is neither Bearer nor DPoP";
    return Reason::kTokenMissing;
  }
  // Two memchr scans: string_view::find_first_of(" \t") calls memchr once per
  // token byte.
  if (token->empty() || token->find(' ') != std::string_view::npos ||
      token->find('\t') != std::string_view::npos) {
    *detail = "Authorization credential is empty or contains whitespace";
    return Reason::kAuthorizationMalformed;
  }
  return Reason::kOk;
}

// CheckSchemeAndBinding applies the scheme and binding rules to a verified
// token: the scheme must fit the token's binding, and the token must carry
// the binding the route requires.
Reason CheckSchemeAndBinding(Scheme scheme, const RouteConfig& route, const VerifiedToken& token,
                             std::string* detail) {
  // A DPoP-bound token sent as Bearer is exactly the stolen-token case DPoP
  // exists for: whoever sends it cannot prove the key, so it is refused even
  // on routes that accept bearer tokens (RFC 9449 7.1).
  if (scheme == Scheme::kBearer && token.IsDpopBound()) {
    *detail = "token is bound to a DPoP key (cnf.jkt) but was sent with the Bearer scheme";
    return Reason::kBearerDowngrade;
  }
  if (scheme == Scheme::kDpop && !token.IsDpopBound()) {
    *detail = "DPoP scheme used with a token that has no cnf.jkt";
    return Reason::kDpopTokenUnbound;
  }
  bool binding_ok = true;
  switch (route.binding) {
    case BindingRequirement::kBearer:
      break;
    case BindingRequirement::kDpop:
      binding_ok = token.IsDpopBound();
      break;
    case BindingRequirement::kMtls:
      binding_ok = token.IsMtlsBound();
      break;
    case BindingRequirement::kBound:
      binding_ok = token.IsDpopBound() || token.IsMtlsBound();
      break;
  }
  if (!binding_ok) {
    const char* carried =
        token.IsDpopBound() ? "cnf.jkt" : (token.IsMtlsBound() ? "cnf.x5t#S256" : "no cnf");
    *detail =
        absl::StrCat("route ", route.name, " requires binding ",
                     AV(BindingRequirementName(route.binding)), "; the token carries ", carried);
    return Reason::kBindingRequired;
  }
  return Reason::kOk;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const Config& config, SignatureVerifierPtr verifier, const Clock* clock, ReplayStore* replay,
    std::vector<std::string>* warnings, BoundedCache<VerifiedToken>* token_cache,
    VerifyScheduler* scheduler, const LiveRevocations* live_revocations, RolloutStats* rollout) {
  if (verifier == nullptr) return absl::InvalidArgumentError("Authenticator::Create: no verifier");
  auto created = std::unique_ptr<Authenticator>(new Authenticator());
  Authenticator& authenticator = *created;
  authenticator.scheduler_ = scheduler;
  authenticator.live_revocations_ = live_revocations;
  auto revoked = LoadRevocationFile(config.revocation.file, clock->Now());
  if (!revoked.ok()) return revoked.status();
  authenticator.file_revocations_ = *std::move(revoked);
  authenticator.rollout_ = rollout;
  authenticator.config_ = config;
  authenticator.clock_ = clock;
  authenticator.replay_ = replay;
  auto issuers =
      IssuerRegistry::Create(config, warnings, RemoteKeyDeps{/*fetcher=*/nullptr, clock});
  if (!issuers.ok()) return issuers.status();
  authenticator.issuers_ = *std::move(issuers);
  authenticator.verifier_ = std::move(verifier);
  authenticator.resource_metadata_ = ResourceMetadataSet(config);
  // Issuer keys known now get their ES256 verification tables at once; keys
  // fetched later (jwks_uri) become hot through the verifier's key cache.
  for (const auto& issuer : authenticator.issuers_->issuers()) {
    if (std::shared_ptr<const KeySet> keys = issuer->keys->Current()) {
      PrepareVerifierKeys(*authenticator.verifier_, keys->keys());
    }
  }
  absl::StatusOr<std::string> nonce_secret = ReadNonceSecret(config);
  if (!nonce_secret.ok()) return nonce_secret.status();
  if (!nonce_secret->empty()) {
    authenticator.nonces_ =
        std::make_unique<DpopNonces>(*std::move(nonce_secret), config.dpop.nonce.step);
  }
  authenticator.tokens_ = std::make_unique<AccessTokenValidator>(
      config, authenticator.issuers_.get(), authenticator.verifier_.get(), token_cache);
  authenticator.dpop_ =
      std::make_unique<DpopValidator>(config.dpop, config.limits, authenticator.verifier_.get(),
                                      authenticator.nonces_.get(), config.proof_key_cache_entries);
  authenticator.policy_ = std::make_unique<Policy>(config);
  if (warnings != nullptr) AppendRouteWarnings(config, warnings);
  if (config.xfcc.element == XfccElement::kBeforeTrustedPeer) {
    authenticator.xfcc_policy_.element = XfccPolicy::Element::kBeforeTrustedPeer;
    authenticator.xfcc_policy_.trusted_peers = config.xfcc.trusted_peers;
  }
  authenticator.cert_thumbprints_ =
      std::make_unique<CertThumbprintCache>(config.cert_thumbprint_cache_entries);
  authenticator.external_origin_ = config.external_origin;  // normalised at config load
  authenticator.diagnostics_ =
      ProbeDiagnostics::Create(config, clock, authenticator.verifier_.get());
  return created;
}

Decision Authenticator::DecideSync(const HttpRequestInfo& request) const {
  absl::Notification done;
  Decision result;
  Decide(request, [&](Decision decision) {
    result = std::move(decision);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

void Authenticator::Deny(InFlight&& f, Reason reason, std::string detail) const {
  Decision& decision = f.decision;
  decision.allow = false;
  decision.reason = reason;
  decision.message = std::move(detail);
  decision.http_status = HttpStatusFor(reason);
  // A denial after the allow was prepared (replay window, late checks) sends
  // none of the allow's headers.
  decision.upstream_headers.clear();
  // RFC 9728: the challenge names the metadata of the resource the route
  // belongs to (resource_metadata.resources[].routes).
  decision.response_headers = ChallengeHeaders(
      reason, f.scheme, f.route->binding, f.route->scopes, dpop_->algs_param(),
      config_.resource_metadata.challenge ? resource_metadata_.UrlForRoute(f.route->name) : "");
  if (nonces_ != nullptr &&
      (reason == Reason::kDpopNonceMissing || reason == Reason::kDpopNonceInvalid)) {
    decision.response_headers.emplace_back("dpop-nonce", nonces_->Current(clock_->Now()));
  }
  Finish(std::move(f));
}

void Authenticator::Finish(InFlight&& f) const {
  Decision& decision = f.decision;
  decision.route = f.route->name;
  // Neither a diagnostics probe nor an RFC 9728 metadata answer is let
  // through, even on a report-only route, and neither is traffic: rollout
  // readiness counts only real requests (a crawler reading the public
  // metadata would otherwise count as "failed" arrivals on the "none" route).
  const bool not_traffic =
      IsDiagnosticsReason(decision.reason) || decision.reason == Reason::kResourceMetadata;
  // Counted in every mode, before report-only strips the identity.
  if (rollout_ != nullptr && !not_traffic) {
    rollout_->RecordDecision(f.route->name, decision.reason, f.token.get());
  }
  const DecisionLogKind kind = DecisionLogKindFor(decision, f.route->report_only && !not_traffic);
  LogDecision(kind, decision, f.request_log, config_.log.allow_sample_rate);
  if (kind == DecisionLogKind::kWouldDeny) {
    // Report-only: the full decision was computed and is logged and returned,
    // but the gateway lets the request through. It carries no identity
    // anywhere (no principal, issuer, client id, proof key or binding, no
    // identity headers): the token may be valid yet not proven (a bearer
    // downgrade), and a gateway or upstream that reads an identity from an
    // ALLOW would trust what popguard refused. Client-sent copies of the
    // identity headers are still removed below. The log line keeps them for
    // the operator.
    decision.allow = true;
    decision.report_only = true;
    decision.response_headers.clear();
    decision.upstream_headers.clear();
    decision.principal.clear();
    decision.issuer.clear();
    decision.client_id.clear();
    decision.jkt.clear();
    decision.binding = ProvenBinding::kNone;
  }
  if (decision.allow) {
    decision.upstream_headers_to_remove =
        UpstreamHeadersToRemove(config_.upstream_headers, decision.upstream_headers);
  }
  if (config_.cors_expose_headers) {
    // A browser's fetch() hides every response header not listed here from
    // the page's script (CORS), so a SPA could never read the challenge or
    // the nonce it must sign into its next proof. Only names are exposed,
    // and only on answers that carry one of them.
    bool exposes = false;
    for (const auto& [name, value] : decision.response_headers) {
      exposes = exposes || name == "www-authenticate" || name == "dpop-nonce";
    }
    if (exposes) {
      decision.response_headers.emplace_back("access-control-expose-headers",
                                             "DPoP-Nonce, WWW-Authenticate");
    }
  }
  std::move(f.done)(std::move(decision));
}

void Authenticator::Decide(const HttpRequestInfo& request, Done done) const {
  if (config_.noop) {
    // popguard-noop (benchmarks only, bench/popguard_noop_server.cc): the
    // wire path without validation.
    Decision decision;
    decision.allow = true;
    decision.reason = Reason::kOk;
    decision.http_status = 200;
    decision.route = "noop";
    return std::move(done)(std::move(decision));
  }
  DecideOnce(request, std::move(done), /*after_key_refresh=*/false);
}

const ResourceMetadataDoc* Authenticator::FindResourceMetadata(
    std::string_view host, std::string_view path_as_sent) const {
  if (resource_metadata_.empty()) return nullptr;
  const RoutePathReadings readings(path_as_sent);
  if (!readings.valid()) return nullptr;
  const ResourceMetadataDoc* found = nullptr;
  for (size_t i = 0; i < readings.size(); ++i) {
    const ResourceMetadataDoc* doc = resource_metadata_.Find(host, readings[i]);
    if (doc == nullptr || (found != nullptr && doc != found)) return nullptr;
    found = doc;
  }
  return found;
}

Reason Authenticator::SelectRoute(const HttpRequestInfo& request, NormalizedUrl* url,
                                  const RouteConfig** route, const ResourceMetadataDoc** metadata,
                                  std::string* detail) const {
  if (!IsHttpMethodToken(request.method)) {
    *detail = "request method is missing or invalid";
    return Reason::kRequestInvalid;
  }
  // Before anything parses a header: bytes no header popguard reads can hold.
  if (std::string_view bad = FirstUnacceptableHeader(request); !bad.empty()) {
    *detail = absl::StrCat("header ", AV(bad), " holds a control or non-ASCII byte");
    return Reason::kRequestHeaderInvalid;
  }
  std::string route_host;
  if (Reason reason =
          RequestUrl(request, config_.trusted_forwarded_headers,
                     external_origin_ ? &*external_origin_ : nullptr, url, &route_host, detail);
      reason != Reason::kOk) {
    return reason;
  }
  const std::string_view path = !request.url.empty() ? PathAsSent(request.url) : request.path;
  // RFC 9728 metadata asked through Verify or Check: public, so answered
  // before any credential is read. Security: only GET and HEAD of a path
  // that is the metadata path in every reading, and the answer is a denial
  // carrying the document, so the request itself never reaches the upstream.
  if (request.metadata_answer && config_.resource_metadata.answer_checks &&
      (request.method == "GET" || request.method == "HEAD")) {
    if (const ResourceMetadataDoc* doc = FindResourceMetadata(route_host, path)) {
      *metadata = doc;
      return Reason::kResourceMetadata;
    }
  }
  *route = policy_->MatchAll(route_host, RoutePathReadings(path), request.route_key);
  if (*route == nullptr) {
    *detail =
        "readings of the request path (as sent, normalised, %2F/%5C as separators, "
        "without ;params) select different routes";
    return Reason::kPathAmbiguous;
  }
  return Reason::kOk;
}

void Authenticator::DecideOnce(const HttpRequestInfo& request, Done done,
                               bool after_key_refresh) const {
  InFlight f;
  f.route = &NoRoute();
  f.now = clock_->Now();
  f.request_log = RequestLogContextFor(request);
  f.done = std::move(done);
  std::string detail;
  // A request the forward-auth listener could not rebuild (untrusted peer,
  // missing or repeated forwarded headers) is denied before anything else.
  if (request.rebuild_failure != Reason::kOk) {
    return Deny(std::move(f), request.rebuild_failure, request.rebuild_detail);
  }
  // --- The request and its route ---
  NormalizedUrl url;
  const RouteConfig* route = nullptr;
  const ResourceMetadataDoc* metadata = nullptr;
  if (Reason reason = SelectRoute(request, &url, &route, &metadata, &detail);
      reason != Reason::kOk) {
    if (reason == Reason::kResourceMetadata) {
      Decision& d = f.decision;
      d.allow = false;
      d.reason = reason;
      d.http_status = HttpStatusFor(reason);
      d.message = absl::StrCat("RFC 9728 metadata ", metadata->path);
      d.response_headers = {{"content-type", "application/json"},
                            {"cache-control", "max-age=3600"}};
      d.response_body = metadata->document;
      return Finish(std::move(f));
    }
    return Deny(std::move(f), reason, std::move(detail));
  }
  f.route = route;
  // --- Path diagnostics: a probe is answered here, with no credential ---
  if (diagnostics_ != nullptr && diagnostics_->IsProbe(request, url, *route)) {
    return AnswerProbe(request, url, std::move(f));
  }
  // --- Authorization: exactly one credential, Bearer or DPoP ---
  std::string_view token;
  if (Reason reason = ReadCredential(request, &f.scheme, &token, &detail); reason != Reason::kOk) {
    return Deny(std::move(f), reason, std::move(detail));
  }
  VerifyToken(request, std::move(url), token, std::move(f), after_key_refresh);
}

void Authenticator::VerifyToken(const HttpRequestInfo& request, NormalizedUrl url,
                                std::string_view token_text, InFlight&& f,
                                bool after_key_refresh) const {
  std::shared_ptr<const VerifiedToken> token;
  std::string detail;
  KeyMiss miss;
  std::unique_ptr<TokenSignatureCheck> pending;
  // A route with an issuers list stops the validation before the signature
  // (as with a scheduler), so a token from another issuer costs no signature
  // check.
  const bool stop_before_signature = scheduler_ != nullptr || !f.route->issuers.empty();
  Reason reason = tokens_->Validate(token_text, f.now, &token, &detail, &miss,
                                    stop_before_signature ? &pending : nullptr);
  if (reason == Reason::kOk) {
    // Security: a sub is unique only within its issuer, so a partner issuer
    // could mint sub "alice" with any scope; routes that name their issuers
    // refuse every other one, checked as soon as iss is known.
    const std::string& iss = pending != nullptr ? pending->issuer->config.issuer : token->issuer;
    if (!IssuerAllowed(*f.route, iss)) {
      f.decision.token_id =
          ShortHashOfDigest(pending != nullptr ? pending->token_hash : token->token_hash);
      f.decision.issuer = iss;
      return Deny(std::move(f), Reason::kTokenIssuerNotAllowed,
                  absl::StrCat("route ", f.route->name, " does not accept tokens of issuer ", iss));
    }
    if (pending != nullptr && scheduler_ == nullptr) {
      const SignatureCheck sig = pending->signature();
      reason = tokens_->Complete(
          *pending, verifier_->Verify(sig.alg, *sig.key, sig.signing_input, sig.signature), f.now,
          &token, &detail);
      pending.reset();
    }
  }
  if (reason == Reason::kOk && pending != nullptr) {
    return AwaitTokenSignature(request, std::move(url), std::move(f), std::move(pending));
  }
  if (reason == Reason::kTokenKeyNotFound && !after_key_refresh && miss.issuer != nullptr) {
    // The issuer may have rotated keys since the last fetch: its key source
    // refreshes now and this request is decided once more when that is done.
    // Sources pace these refreshes per issuer whatever the kid, so made-up
    // kids cannot turn popguard into a JWKS flood; when the source declines,
    // the denial below stands.
    struct Retry {
      HttpRequestInfo request;  // a copy: the caller's request may be gone by then
      Done done;
    };
    auto retry = std::make_shared<Retry>(Retry{request, std::move(f.done)});
    if (miss.issuer->keys->RefreshForUnknownKid([this, retry] {
          DecideOnce(retry->request, std::move(retry->done), /*after_key_refresh=*/true);
        })) {
      return;
    }
    f.done = std::move(retry->done);
  }
  if (reason != Reason::kOk) {
    f.decision.token_id = ShortHash(token_text);
    return Deny(std::move(f), reason, std::move(detail));
  }
  OnTokenVerified(request, url, std::move(f), std::move(token));
}

void Authenticator::AwaitTokenSignature(const HttpRequestInfo& request, NormalizedUrl url,
                                        InFlight&& f,
                                        std::unique_ptr<TokenSignatureCheck> check) const {
  // The token missed the cache: its signature check is queued and the
  // decision goes on on a scheduler worker. The request is copied, since the
  // caller's is gone by then; misses are rare (a token is verified once and
  // then cached until its exp), so the copy costs little.
  struct TokenStage {
    HttpRequestInfo request;
    NormalizedUrl url;
    InFlight flight;
    std::unique_ptr<TokenSignatureCheck> check;
  };
  auto stage = std::make_shared<TokenStage>(
      TokenStage{request, std::move(url), std::move(f), std::move(check)});
  const SignatureCheck sig = stage->check->signature();
  scheduler_->Submit(verifier_.get(), sig, [this, stage](SignatureResult result) {
    std::shared_ptr<const VerifiedToken> token;
    std::string detail;
    InFlight& f = stage->flight;
    Reason reason = tokens_->Complete(*stage->check, result, f.now, &token, &detail);
    if (reason != Reason::kOk) {
      f.decision.token_id = ShortHashOfDigest(stage->check->token_hash);
      return Deny(std::move(f), reason, std::move(detail));
    }
    OnTokenVerified(stage->request, stage->url, std::move(f), std::move(token));
  });
}

Reason Authenticator::ProveMtls(const HttpRequestInfo& request, const VerifiedToken& token,
                                std::string* detail) const {
  std::string thumbprint;
  if (Reason reason = ClientThumbprint(request, config_.trusted_xfcc, xfcc_policy_,
                                       cert_thumbprints_.get(), &thumbprint, detail);
      reason != Reason::kOk) {
    return reason;
  }
  if (thumbprint.empty()) {
    *detail =
        "token is bound to a certificate (cnf.x5t#S256) but no client certificate was "
        "forwarded";
    return Reason::kMtlsCertMissing;
  }
  if (!ConstantTimeEquals(thumbprint, token.cnf_x5t)) {
    *detail = absl::StrCat("client certificate thumbprint ", thumbprint,
                           " differs from cnf.x5t#S256 ", token.cnf_x5t);
    return Reason::kMtlsThumbprintMismatch;
  }
  return Reason::kOk;
}

void Authenticator::OnTokenVerified(const HttpRequestInfo& request, const NormalizedUrl& url,
                                    InFlight&& f,
                                    std::shared_ptr<const VerifiedToken> token) const {
  // ShortHash(token), from the SHA-256 the validator already computed.
  f.decision.token_id = ShortHashOfDigest(token->token_hash);
  f.decision.issuer = token->issuer;
  f.decision.client_id = token->client_id;
  f.decision.principal = token->Principal();
  if (rollout_ != nullptr) f.token = token;
  std::string detail;
  // --- Revocation ---
  // Here, right after the token's signature (and exp) are verified: an
  // unverified token never reaches the list, so nobody can probe which jti,
  // subjects or keys are revoked with made-up tokens; and before the proof,
  // the mTLS binding and the replay window, so a revoked token costs no proof
  // signature and burns no jti. In-memory lookups, no I/O.
  Reason revoked = file_revocations_->Check(*token, f.now, &detail);
  if (revoked == Reason::kOk && live_revocations_ != nullptr) {
    revoked = live_revocations_->Check(*token, f.now, &detail);
  }
  if (revoked != Reason::kOk) return Deny(std::move(f), revoked, std::move(detail));
  // --- Scheme and binding rules ---
  if (Reason reason = CheckSchemeAndBinding(f.scheme, *f.route, *token, &detail);
      reason != Reason::kOk) {
    return Deny(std::move(f), reason, std::move(detail));
  }
  // --- mTLS binding: every binding a token carries must be proven ---
  if (token->IsMtlsBound()) {
    if (Reason reason = ProveMtls(request, *token, &detail); reason != Reason::kOk) {
      return Deny(std::move(f), reason, std::move(detail));
    }
    f.decision.binding = ProvenBinding::kMtls;
  }
  if (!token->IsDpopBound()) return OnProofVerified(std::move(f), *token, nullptr);
  VerifyProof(request, url, std::move(f), std::move(token));
}

void Authenticator::VerifyProof(const HttpRequestInfo& request, const NormalizedUrl& url,
                                InFlight&& f, std::shared_ptr<const VerifiedToken> token) const {
  auto proofs = request.HeaderValues("dpop");
  if (proofs.empty()) {
    return Deny(std::move(f), Reason::kDpopProofMissing, "DPoP scheme without a DPoP header");
  }
  // RFC 9449 4.3 (1): exactly one DPoP header. Envoy merges repeats with ",",
  // which never occurs inside a compact JWS.
  if (proofs.size() > 1 || proofs[0].find(',') != std::string_view::npos) {
    return Deny(std::move(f), Reason::kDpopProofMultiple, "more than one DPoP proof");
  }
  // The proof is checked in two halves around its signature (DpopValidator
  // Begin/Complete): Begin runs every cheaper check first, so only a proof
  // that passed them all costs a verification. The signature can then go to
  // the scheduler and be verified in a batch with other requests'
  // signatures; the decision goes on where it was verified. What the rest of
  // the decision reads is moved or copied into the stage.
  struct ProofStage {
    DpopProofCheck check;  // owns a copy of the proof
    InFlight flight;
    std::shared_ptr<const VerifiedToken> token;
  };
  auto stage = std::make_shared<ProofStage>();
  const std::string request_url = url.ToString();
  DpopRequest proof_request;
  proof_request.proof = StripWhitespace(proofs[0]);
  proof_request.method = request.method;
  proof_request.request_url = request_url;
  proof_request.access_token_sha256 = token->token_hash;  // SHA-256 of exactly the token
  proof_request.expected_jkt = token->cnf_jkt;
  proof_request.now = f.now;
  std::string detail;
  if (Reason reason = dpop_->Begin(proof_request, &stage->check, &detail); reason != Reason::kOk) {
    // For the log: the key the proof names, once Begin got that far (its
    // signature is unchecked, so it identifies the claimed key, nothing more).
    if (stage->check.key != nullptr) f.decision.jkt = stage->check.key->thumbprint();
    return Deny(std::move(f), reason, std::move(detail));
  }
  stage->flight = std::move(f);
  stage->token = std::move(token);
  auto complete = [this, stage](SignatureResult result) {
    DpopResult proof;
    std::string detail;
    InFlight& f = stage->flight;
    f.decision.jkt = stage->check.key->thumbprint();
    Reason reason = dpop_->Complete(stage->check, result, &proof, &detail);
    if (reason != Reason::kOk) return Deny(std::move(f), reason, std::move(detail));
    f.decision.binding = ProvenBinding::kDpop;
    OnProofVerified(std::move(f), *stage->token, &proof);
  };
  const SignatureCheck sig = stage->check.signature();
  if (scheduler_ != nullptr) {
    scheduler_->Submit(verifier_.get(), sig, std::move(complete));
  } else {
    complete(verifier_->Verify(sig.alg, *sig.key, sig.signing_input, sig.signature));
  }
}

void Authenticator::OnProofVerified(InFlight&& f, const VerifiedToken& token,
                                    const DpopResult* proof) const {
  // --- Scopes ---
  if (!ScopesSatisfied(f.route->scopes, token.scopes)) {
    return Deny(std::move(f), Reason::kInsufficientScope,
                absl::StrCat("route ", f.route->name, " requires scopes ",
                             absl::StrJoin(f.route->scopes, " ")));
  }
  // --- Allow (after the replay window, for DPoP) ---
  Decision& decision = f.decision;
  decision.allow = true;
  decision.reason = Reason::kOk;
  decision.http_status = 200;
  decision.upstream_headers =
      UpstreamHeadersFor(config_.upstream_headers, decision, f.route->name, token);
  if (nonces_ != nullptr && config_.dpop.nonce.required &&
      decision.binding == ProvenBinding::kDpop) {
    // Hand the client the current nonce with every success so it never has
    // to fail once when the step rolls over.
    decision.response_headers.emplace_back("dpop-nonce", nonces_->Current(f.now));
  }
  if (decision.binding != ProvenBinding::kDpop || proof == nullptr) return Finish(std::move(f));
  CheckReplay(std::move(f), *proof);
}

void Authenticator::AnswerProbe(const HttpRequestInfo& request, const NormalizedUrl& url,
                                InFlight&& f) const {
  ProbeArrival arrival{&request, url, f.route->name, "", Reason::kOk};
  std::string cert_detail;
  arrival.cert_reason =
      ClientThumbprint(request, config_.trusted_xfcc, xfcc_policy_, cert_thumbprints_.get(),
                       &arrival.cert_thumbprint, &cert_detail);
  Decision& d = f.decision;
  d.reason = diagnostics_->Answer(arrival, f.now, &d.diagnostics_report, &d.message);
  d.allow = false;
  d.http_status = HttpStatusFor(d.reason);
  if (!d.diagnostics_report.empty()) {
    d.response_headers.emplace_back(kProbeReportHeader, Base64UrlEncode(d.diagnostics_report));
  }
  if (d.reason == Reason::kDiagnosticsRateLimited) {
    d.response_headers.emplace_back("retry-after", "1");
  }
  Finish(std::move(f));
}

void Authenticator::CheckReplay(InFlight&& f, const DpopResult& proof) const {
  // RFC 9449 11.1: the jti is recorded only now, after every other check, so
  // an attacker without the key cannot burn a legitimate client's jti values.
  //
  // Security: `now` was read when the request arrived, but the decision may
  // have waited since (verify queue, key refresh) while Redis expires the
  // entries of earlier uses in real time. Freshness and the entry's lifetime
  // are therefore taken from one instant read here, when the store is asked:
  // a proof fresh at this instant has every earlier use of its jti still
  // recorded (their entries live until iat + max_age + clock_skew + 1 s). A
  // decision that waited longer than limits.max_queue_wait is refused as
  // overloaded (retryable) rather than decided late.
  const absl::Time check_now = clock_->Now();
  if (check_now - f.now > config_.limits.max_queue_wait) {
    return Deny(std::move(f), Reason::kOverloaded,
                absl::StrCat("decision waited ", absl::FormatDuration(check_now - f.now),
                             " before its replay check (limits.max_queue_wait ",
                             absl::FormatDuration(config_.limits.max_queue_wait), ")"));
  }
  if (proof.issued_at < check_now - config_.dpop.max_age) {
    return Deny(
        std::move(f), Reason::kDpopIatStale,
        absl::StrCat("proof iat ", absl::ToUnixSeconds(proof.issued_at), " is older than max_age ",
                     absl::FormatDuration(config_.dpop.max_age),
                     " at the replay check; popguard time ", absl::ToUnixSeconds(check_now)));
  }
  replay_->CheckAndInsert(
      proof.replay_key, check_now, proof.replay_until, proof.issued_at,
      [this, f = std::move(f)](ReplayResult result) mutable {
        switch (result) {
          case ReplayResult::kFresh:
            return Finish(std::move(f));
          case ReplayResult::kReplayed:
            return Deny(std::move(f), Reason::kDpopReplayed,
                        "proof jti was already used with this key inside the replay window");
          case ReplayResult::kFull:
            return Deny(std::move(f), Reason::kReplayStoreFull,
                        "replay window is full; refusing rather than forgetting a jti");
          case ReplayResult::kUnavailable:
            return Deny(std::move(f), Reason::kReplayStoreUnavailable,
                        "replay store unavailable (fail_closed)");
          case ReplayResult::kWindowReset:
            return Deny(std::move(f), Reason::kDpopReplayWindowReset,
                        "the replay window lost its entries after this proof was issued; send a "
                        "new proof");
        }
      });
}

}  // namespace popguard
