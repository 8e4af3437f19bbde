#include "service/authn/authenticator.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "service/authn/client_cert.h"
#include "service/common/crypto_util.h"
#include "service/common/log.h"
#include "service/common/log_sampling.h"
#include "service/jose/native_verifier.h"
#include "service/authn/route_path.h"
#include "service/authn/url.h"
#include "service/common/strings.h"
#include "service/config/resource_metadata.h"

namespace popguard {
namespace {

constexpr int kSchemeBearer = 1;
constexpr int kSchemeDpop = 2;

// SingleForwardedValue reads a trusted forwarded header into *value (left
// alone when the header is absent). Security: a proxy that appends to
// X-Forwarded-* (the usual default) puts the client's own value first and its
// own last, and Envoy ext_authz joins repeated headers with ","; which element
// the trusted proxy added cannot be told from here. So a repeated header or a
// list value is refused rather than guessed: operators with a proxy chain
// make the trusted proxy overwrite the header (docs/config.md).
bool SingleForwardedValue(const HttpRequestInfo& req, std::string_view name, std::string* value,
                          std::string* detail) {
  auto values = req.HeaderValues(name);
  if (values.empty()) return true;
  if (values.size() > 1 || values[0].find(',') != std::string_view::npos) {
    *detail = absl::StrCat(AV(name), " holds more than one value (repeated or a list)");
    return false;
  }
  *value = std::string(StripWhitespace(values[0]));
  return true;
}

// RequestUrl reconstructs the URL the client addressed, for the DPoP htu
// check: the gateway's view, optionally corrected by trusted forwarding
// headers or the configured external origin (when a proxy in front
// terminates TLS or rewrites the host, the URL popguard sees is not the one
// the client signed in its DPoP proof). *route_host is the host routes match:
// the request's own host, or the trusted forwarded host, but never
// external_origin, which is one fixed origin for every request and would make
// routes with match.host select nothing (a request to admin.example falling
// to the default route).
Reason RequestUrl(const HttpRequestInfo& req, const Config& config,
                  const NormalizedUrl* external_origin, NormalizedUrl* url,
                  std::string* route_host, std::string* detail) {
  absl::StatusOr<NormalizedUrl> parsed =
      !req.url.empty() ? NormalizeAbsoluteUrl(req.url)
                       : NormalizeRequestTarget(req.scheme, req.authority, req.path);
  if (!parsed.ok()) {
    *detail = absl::StrCat("request URL: ", parsed.status().message());
    return Reason::kRequestInvalid;
  }
  *url = *std::move(parsed);
  *route_host = url->host;
  if (external_origin != nullptr) {
    url->scheme = external_origin->scheme;
    url->host = external_origin->host;
    url->port = external_origin->port;
    return Reason::kOk;
  }
  if (!config.trusted_forwarded_headers) return Reason::kOk;
  std::string scheme = url->scheme;
  std::string host = url->Origin().substr(url->scheme.size() + 3);
  if (!SingleForwardedValue(req, "x-forwarded-proto", &scheme, detail) ||
      !SingleForwardedValue(req, "x-forwarded-host", &host, detail)) {
    return Reason::kForwardedHeaderInvalid;
  }
  parsed = NormalizeRequestTarget(scheme, host, url->path);
  if (!parsed.ok()) {
    *detail = absl::StrCat("request URL: ", parsed.status().message());
    return Reason::kRequestInvalid;
  }
  *url = *std::move(parsed);
  *route_host = url->host;
  return Reason::kOk;
}

// The thumbprint of the certificate the gateway passed itself (VerifyRequest
// certificate or certificate_thumbprint, ext_authz source.certificate), or
// nullopt when it passed none. Certificates are parsed once per distinct
// value (cert_thumbprint_cache.h).
absl::StatusOr<std::optional<std::string>> GatewayThumbprint(const HttpRequestInfo& req,
                                                             CertThumbprintCache* cache) {
  switch (req.cert_kind) {
    case HttpRequestInfo::CertKind::kNone:
      return std::optional<std::string>();
    case HttpRequestInfo::CertKind::kPemOrDer: {
      auto t = cache->GetOrCompute('p', req.cert, [&]() -> absl::StatusOr<std::string> {
        auto der = CertificateDer(req.cert);
        if (!der.ok()) return der.status();
        return CertificateThumbprint(*der);
      });
      if (!t.ok()) return t.status();
      return std::optional<std::string>(*t);
    }
    case HttpRequestInfo::CertKind::kEnvoyUrlEncodedPem: {
      auto t = cache->GetOrCompute('e', req.cert,
                                   [&] { return ThumbprintFromEnvoyCertificate(req.cert); });
      if (!t.ok()) return t.status();
      return std::optional<std::string>(*t);
    }
    case HttpRequestInfo::CertKind::kThumbprint:
      if (!IsValidThumbprint(req.cert)) {
        return absl::InvalidArgumentError("certificate_thumbprint is not a base64url SHA-256");
      }
      return std::optional<std::string>(req.cert);
  }
  return std::optional<std::string>();
}

// ClientThumbprint sets *thumbprint to the client certificate's thumbprint
// (empty when no certificate reached popguard) and returns kOk, or returns
// the denial reason with *detail.
Reason ClientThumbprint(const HttpRequestInfo& req, const Config& config,
                        CertThumbprintCache* cache, std::string* thumbprint, std::string* detail) {
  auto gateway = GatewayThumbprint(req, cache);
  if (!gateway.ok()) {
    *detail = absl::StrCat("client certificate: ", gateway.status().message());
    return Reason::kMtlsCertInvalid;
  }
  // x-forwarded-client-cert is only meaningful when the operator says the
  // gateway sets it itself (and strips any client-sent copy): otherwise any
  // client could claim any certificate.
  absl::InlinedVector<std::string_view, 2> xfcc;
  if (config.trusted_xfcc) xfcc = req.HeaderValues("x-forwarded-client-cert");
  if (xfcc.empty()) {
    *thumbprint = gateway->value_or("");
    return Reason::kOk;
  }
  if (xfcc.size() > 1) {
    *detail = "client certificate: more than one x-forwarded-client-cert header";
    return Reason::kMtlsCertInvalid;
  }
  auto forwarded = cache->GetOrCompute('x', xfcc[0], [&] { return ThumbprintFromXfcc(xfcc[0]); });
  if (!forwarded.ok()) {
    *detail = absl::StrCat("client certificate: ", forwarded.status().message());
    return Reason::kMtlsCertInvalid;
  }
  // Two sources naming two different certificates: one of them is wrong (a
  // proxy in front rewrote XFCC, or the gateway passed another connection's
  // certificate), and popguard cannot tell which one the client holds the
  // key of. Neither is picked.
  if (gateway->has_value() && !ConstantTimeEquals(**gateway, *forwarded)) {
    *detail = absl::StrCat("x-forwarded-client-cert names certificate ", *forwarded,
                           " but the gateway passed certificate ", **gateway);
    return Reason::kMtlsCertConflict;
  }
  *thumbprint = *std::move(forwarded);
  return Reason::kOk;
}

std::string ReadFileOr(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(
    const Config& config, SignatureVerifierPtr verifier, const Clock* clock, ReplayStore* replay,
    std::vector<std::string>* warnings, BoundedCache<VerifiedToken>* token_cache,
    VerifyScheduler* scheduler) {
  if (verifier == nullptr) return absl::InvalidArgumentError("Authenticator::Create: no verifier");
  auto a = std::unique_ptr<Authenticator>(new Authenticator());
  a->scheduler_ = scheduler;
  a->config_ = config;
  a->clock_ = clock;
  a->replay_ = replay;
  auto issuers =
      IssuerRegistry::Create(config, warnings, RemoteKeyDeps{/*fetcher=*/nullptr, clock});
  if (!issuers.ok()) return issuers.status();
  a->issuers_ = *std::move(issuers);
  if (config.resource_metadata.challenge) a->resource_metadata_url_ = ResourceMetadataUrl(config);
  a->verifier_ = std::move(verifier);
  // Issuer keys known now get their ES256 verification tables at once; keys
  // fetched later (jwks_uri) become hot through the verifier's key cache.
  for (const auto& issuer : a->issuers_->issuers()) {
    if (std::shared_ptr<const KeySet> keys = issuer->keys->Current()) {
      PrepareVerifierKeys(*a->verifier_, keys->keys());
    }
  }
  if (!config.dpop.nonce.secret_file.empty()) {
    bool ok = false;
    std::string secret = ReadFileOr(ResolvePath(config.base_dir, config.dpop.nonce.secret_file), &ok);
    if (!ok || secret.size() < 32) {
      return absl::InvalidArgumentError(
          "dpop.nonce.secret_file must be readable and hold at least 32 bytes");
    }
    a->nonces_ = std::make_unique<DpopNonces>(std::move(secret), config.dpop.nonce.step);
  } else if (config.dpop.nonce.required) {
    return absl::InvalidArgumentError("dpop.nonce.required needs dpop.nonce.secret_file");
  }
  a->tokens_ = std::make_unique<AccessTokenValidator>(config, a->issuers_.get(),
                                                      a->verifier_.get(), token_cache);
  a->dpop_ = std::make_unique<DpopValidator>(config.dpop, config.limits, a->verifier_.get(),
                                             a->nonces_.get(), config.proof_key_cache_entries);
  a->policy_ = std::make_unique<Policy>(config);
  if (warnings != nullptr) AppendRouteWarnings(config, warnings);
  a->cert_thumbprints_ = std::make_unique<CertThumbprintCache>(config.cert_thumbprint_cache_entries);
  if (!config.external_origin.empty()) {
    // Normalised once here rather than on every request.
    auto o = NormalizeAbsoluteUrl(config.external_origin);
    if (o.ok()) a->external_origin_ = *o;
  }
  return a;
}

Decision Authenticator::DecideSync(const HttpRequestInfo& request) const {
  absl::Notification done;
  Decision result;
  Decide(request, [&](Decision d) {
    result = std::move(d);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

void Authenticator::Deny(Decision d, Reason reason, std::string detail, const RouteConfig& route,
                         int scheme_flags, Done done) const {
  d.allow = false;
  d.reason = reason;
  d.message = std::move(detail);
  d.http_status = HttpStatusFor(reason);
  std::string_view error = OAuthErrorFor(reason);
  bool server_error = d.http_status >= 500;
  if (!server_error) {
    // Which challenges to send (RFC 9449 7.1, RFC 6750 3): the scheme the
    // client used; with no usable credential, every scheme the route accepts.
    bool dpop = (scheme_flags & kSchemeDpop) != 0;
    bool bearer = (scheme_flags & kSchemeBearer) != 0;
    if (!dpop && !bearer) {
      dpop = route.binding != BindingRequirement::kMtls;
      bearer = route.binding != BindingRequirement::kDpop;
    }
    // A token lacking the binding the route needs: challenge with the
    // schemes that route accepts, so the client learns to switch (RFC 9449 7.1).
    if (reason == Reason::kBindingRequired) {
      dpop = route.binding != BindingRequirement::kMtls;
      bearer = route.binding == BindingRequirement::kMtls ||
               route.binding == BindingRequirement::kBearer;
    }
    // A bound token presented as Bearer is told to use DPoP.
    if (reason == Reason::kBearerDowngrade) {
      dpop = true;
      bearer = false;
    }
    auto params = [&](std::string scheme, bool with_algs) {
      std::string c = std::move(scheme);
      std::vector<std::string> parts;
      if (!error.empty()) {
        parts.push_back(absl::StrCat("error=\"", AV(error), "\""));
        parts.push_back(absl::StrCat("error_description=\"", AV(ReasonCode(reason)), "\""));
      }
      if (reason == Reason::kInsufficientScope && !route.scopes.empty()) {
        parts.push_back(absl::StrCat("scope=\"", absl::StrJoin(route.scopes, " "), "\""));
      }
      if (with_algs) parts.push_back(absl::StrCat("algs=\"", dpop_->algs_param(), "\""));
      // RFC 9728 section 5.1: where the client finds this resource's metadata.
      if (!resource_metadata_url_.empty()) {
        parts.push_back(absl::StrCat("resource_metadata=\"", resource_metadata_url_, "\""));
      }
      if (!parts.empty()) absl::StrAppend(&c, " ", absl::StrJoin(parts, ", "));
      return c;
    };
    if (dpop) d.response_headers.emplace_back("www-authenticate", params("DPoP", true));
    if (bearer) d.response_headers.emplace_back("www-authenticate", params("Bearer", false));
  }
  if (nonces_ != nullptr &&
      (reason == Reason::kDpopNonceMissing || reason == Reason::kDpopNonceInvalid)) {
    d.response_headers.emplace_back("dpop-nonce", nonces_->Current(clock_->Now()));
  }
  Finish(std::move(d), route, std::move(done));
}

void Authenticator::Finish(Decision d, const RouteConfig& route, Done done) const {
  d.route = route.name;
  if (!d.allow && route.report_only) {
    // Report-only: the full decision was computed and is logged and returned,
    // but the gateway lets the request through. It carries no identity
    // anywhere (no principal, issuer, client id, proof key or binding, no
    // identity headers): the token may be valid yet not proven (a bearer
    // downgrade), and a gateway or upstream that reads an identity from an
    // ALLOW would trust what popguard refused. Client-sent copies of the
    // identity headers are still removed below. The log line keeps them for
    // the operator.
    LogLine(LogLevel::kWarn, "would_deny")
        .Add("reason", ReasonCode(d.reason))
        .Add("route", d.route)
        .Add("issuer", d.issuer)
        .Add("client_id", d.client_id)
        .Add("jkt", d.jkt)
        .Add("token_id", d.token_id)
        .Add("detail", d.message);
    d.allow = true;
    d.report_only = true;
    d.response_headers.clear();
    d.upstream_headers.clear();
    d.principal.clear();
    d.issuer.clear();
    d.client_id.clear();
    d.jkt.clear();
    d.binding = ProvenBinding::kNone;
  } else if (!d.allow) {
    LogLine(LogLevel::kInfo, "deny")
        .Add("reason", ReasonCode(d.reason))
        .Add("status", static_cast<int64_t>(d.http_status))
        .Add("route", d.route)
        .Add("issuer", d.issuer)
        .Add("client_id", d.client_id)
        .Add("jkt", d.jkt)
        .Add("token_id", d.token_id)
        .Add("detail", d.message);
  } else {
    LogLine(SampleAllow(config_.log.allow_sample_rate) ? LogLevel::kInfo : LogLevel::kDebug,
            "allow")
        .Add("route", d.route)
        .Add("issuer", d.issuer)
        .Add("client_id", d.client_id)
        .Add("binding", ProvenBindingName(d.binding))
        .Add("token_id", d.token_id);
  }
  if (d.allow) {
    // Every configured identity header that popguard does not set is removed,
    // so a client cannot smuggle its own x-popguard-sub to the upstream.
    for (const UpstreamHeader& h : config_.upstream_headers) {
      bool set = false;
      for (const auto& [name, value] : d.upstream_headers) set = set || name == h.header;
      if (!set) d.upstream_headers_to_remove.push_back(h.header);
    }
  }
  std::move(done)(std::move(d));
}

void Authenticator::Decide(const HttpRequestInfo& req, Done done) const {
  if (config_.noop) {
    // popguard-noop (benchmarks only, bench/popguard_noop_server.cc): the
    // wire path without validation.
    Decision d;
    d.allow = true;
    d.reason = Reason::kOk;
    d.http_status = 200;
    d.route = "noop";
    return std::move(done)(std::move(d));
  }
  DecideOnce(req, std::move(done), /*after_key_refresh=*/false);
}

void Authenticator::DecideOnce(const HttpRequestInfo& req, Done done,
                               bool after_key_refresh) const {
  const absl::Time now = clock_->Now();
  Decision d;
  static const RouteConfig kNoRoute = [] {
    RouteConfig r;
    r.name = "none";
    return r;
  }();

  // --- The request and its route ---
  if (req.rebuild_failure != Reason::kOk) {
    return Deny(std::move(d), req.rebuild_failure, req.rebuild_detail, kNoRoute, 0,
                std::move(done));
  }
  if (!IsHttpMethodToken(req.method)) {
    return Deny(std::move(d), Reason::kRequestInvalid, "request method is missing or invalid",
                kNoRoute, 0, std::move(done));
  }
  // Before anything parses a header: bytes no header popguard reads can hold.
  if (std::string_view bad = FirstUnacceptableHeader(req); !bad.empty()) {
    return Deny(std::move(d), Reason::kRequestHeaderInvalid,
                absl::StrCat("header ", AV(bad), " holds a control or non-ASCII byte"), kNoRoute, 0,
                std::move(done));
  }
  NormalizedUrl url;
  std::string route_host;
  std::string detail;
  if (Reason r = RequestUrl(req, config_, external_origin_ ? &*external_origin_ : nullptr, &url,
                            &route_host, &detail);
      r != Reason::kOk) {
    return Deny(std::move(d), r, std::move(detail), kNoRoute, 0, std::move(done));
  }
  const RouteConfig* matched = policy_->MatchAll(
      route_host, RoutePathReadings(!req.url.empty() ? PathAsSent(req.url) : req.path),
      req.route_key);
  if (matched == nullptr) {
    return Deny(std::move(d), Reason::kPathAmbiguous,
                "readings of the request path (as sent, normalised, %2F/%5C as separators, "
                "without ;params) select different routes",
                kNoRoute, 0, std::move(done));
  }
  const RouteConfig& route = *matched;

  // --- Authorization: exactly one credential, Bearer or DPoP ---
  auto auth = req.HeaderValues("authorization");
  if (auth.empty()) {
    return Deny(std::move(d), Reason::kTokenMissing, "no Authorization header", route, 0,
                std::move(done));
  }
  // Envoy merges repeated headers with ","; a credential never contains one.
  if (auth.size() > 1 || auth[0].find(',') != std::string_view::npos) {
    return Deny(std::move(d), Reason::kAuthorizationMultiple,
                "more than one Authorization credential", route, 0, std::move(done));
  }
  std::string_view value = StripWhitespace(auth[0]);
  size_t space = value.find(' ');
  std::string_view scheme = value.substr(0, space);
  std::string_view token =
      space == std::string_view::npos ? std::string_view() : StripWhitespace(value.substr(space));
  int scheme_flags;
  if (EqualsIgnoreCase(scheme, "DPoP")) {
    scheme_flags = kSchemeDpop;
  } else if (EqualsIgnoreCase(scheme, "Bearer")) {
    scheme_flags = kSchemeBearer;
  } else {
    return Deny(std::move(d), Reason::kTokenMissing,
                "Authorization scheme is neither Bearer nor DPoP", route, 0, std::move(done));
  }
  // Two memchr scans: string_view::find_first_of(" \t") calls memchr once per
  // token byte.
  if (token.empty() || token.find(' ') != std::string_view::npos ||
      token.find('\t') != std::string_view::npos) {
    return Deny(std::move(d), Reason::kAuthorizationMalformed,
                "Authorization credential is empty or contains whitespace", route, scheme_flags,
                std::move(done));
  }

  // --- The access token ---
  std::shared_ptr<const VerifiedToken> vt;
  KeyMiss miss;
  std::unique_ptr<TokenSignatureCheck> pending;
  // A route with an issuers list stops the validation before the signature
  // (as with a scheduler), so a token from another issuer costs no signature
  // check.
  Reason r = tokens_->Validate(token, now, &vt, &detail, &miss,
                               scheduler_ != nullptr || !route.issuers.empty() ? &pending : nullptr);
  if (r == Reason::kOk) {
    // Security: a sub is unique only within its issuer, so a partner issuer
    // could mint sub "alice" with any scope; routes that name their issuers
    // refuse every other one, checked as soon as iss is known.
    const std::string& iss = pending != nullptr ? pending->issuer->config.issuer : vt->issuer;
    if (!IssuerAllowed(route, iss)) {
      d.token_id = ShortHashOfDigest(pending != nullptr ? pending->token_hash : vt->token_hash);
      d.issuer = iss;
      return Deny(std::move(d), Reason::kTokenIssuerNotAllowed,
                  absl::StrCat("route ", route.name, " does not accept tokens of issuer ", iss),
                  route, scheme_flags, std::move(done));
    }
    if (pending != nullptr && scheduler_ == nullptr) {
      const SignatureCheck sig = pending->signature();
      r = tokens_->Complete(*pending, verifier_->Verify(sig.alg, *sig.key, sig.signing_input,
                                                        sig.signature),
                            now, &vt, &detail);
      pending.reset();
    }
  }
  if (r == Reason::kOk && pending != nullptr) {
    // The token missed the cache: its signature check is queued and the
    // decision goes on on a scheduler worker. The request is copied, since
    // the caller's is gone by then; misses are rare (a token is verified
    // once and then cached until its exp), so the copy costs little.
    struct TokenStage {
      HttpRequestInfo request;
      NormalizedUrl url;
      const RouteConfig* route;
      int scheme_flags;
      absl::Time now;
      std::unique_ptr<TokenSignatureCheck> check;
      Done done;
    };
    auto st = std::make_shared<TokenStage>(TokenStage{req, std::move(url), &route, scheme_flags,
                                                      now, std::move(pending), std::move(done)});
    scheduler_->Submit(verifier_.get(), st->check->signature(), [this, st](SignatureResult sig) {
      std::shared_ptr<const VerifiedToken> vt;
      std::string detail;
      Decision d;
      Reason r = tokens_->Complete(*st->check, sig, st->now, &vt, &detail);
      if (r != Reason::kOk) {
        d.token_id = ShortHashOfDigest(st->check->token_hash);
        return Deny(std::move(d), r, std::move(detail), *st->route, st->scheme_flags,
                    std::move(st->done));
      }
      AfterToken(st->request, st->url, *st->route, st->scheme_flags, std::move(d), std::move(vt),
                 st->now, std::move(st->done));
    });
    return;
  }
  if (r == Reason::kTokenKeyNotFound && !after_key_refresh && miss.issuer != nullptr) {
    // The issuer may have rotated keys since the last fetch: its key source
    // refreshes now and this request is decided once more when that is done.
    // Sources pace these refreshes per issuer whatever the kid, so made-up
    // kids cannot turn popguard into a JWKS flood; when the source declines,
    // the denial below stands.
    struct Retry {
      HttpRequestInfo request;  // a copy: the caller's request may be gone by then
      Done done;
    };
    auto retry = std::make_shared<Retry>(Retry{req, std::move(done)});
    if (miss.issuer->keys->RefreshForUnknownKid([this, retry] {
          DecideOnce(retry->request, std::move(retry->done), /*after_key_refresh=*/true);
        })) {
      return;
    }
    done = std::move(retry->done);
  }
  if (r != Reason::kOk) {
    d.token_id = ShortHash(token);
    return Deny(std::move(d), r, std::move(detail), route, scheme_flags, std::move(done));
  }
  AfterToken(req, url, route, scheme_flags, std::move(d), std::move(vt), now, std::move(done));
}

void Authenticator::AfterToken(const HttpRequestInfo& req, const NormalizedUrl& url,
                               const RouteConfig& route, int scheme_flags, Decision d,
                               std::shared_ptr<const VerifiedToken> vt, absl::Time now,
                               Done done) const {
  // ShortHash(token), from the SHA-256 the validator already computed.
  d.token_id = ShortHashOfDigest(vt->token_hash);
  d.issuer = vt->issuer;
  d.client_id = vt->client_id;
  d.principal = vt->Principal();

  // --- Scheme and binding rules ---
  // A DPoP-bound token sent as Bearer is exactly the stolen-token case DPoP
  // exists for: whoever sends it cannot prove the key, so it is refused even
  // on routes that accept bearer tokens (RFC 9449 7.1).
  if (scheme_flags == kSchemeBearer && vt->IsDpopBound()) {
    return Deny(std::move(d), Reason::kBearerDowngrade,
                "token is bound to a DPoP key (cnf.jkt) but was sent with the Bearer scheme", route,
                scheme_flags, std::move(done));
  }
  if (scheme_flags == kSchemeDpop && !vt->IsDpopBound()) {
    return Deny(std::move(d), Reason::kDpopTokenUnbound,
                "DPoP scheme used with a token that has no cnf.jkt", route, scheme_flags,
                std::move(done));
  }
  bool binding_ok = true;
  switch (route.binding) {
    case BindingRequirement::kBearer: break;
    case BindingRequirement::kDpop: binding_ok = vt->IsDpopBound(); break;
    case BindingRequirement::kMtls: binding_ok = vt->IsMtlsBound(); break;
    case BindingRequirement::kBound: binding_ok = vt->IsDpopBound() || vt->IsMtlsBound(); break;
  }
  if (!binding_ok) {
    return Deny(std::move(d), Reason::kBindingRequired,
                absl::StrCat("route ", route.name, " requires binding ",
                             AV(BindingRequirementName(route.binding)), "; the token carries ",
                             vt->IsDpopBound() ? "cnf.jkt" : (vt->IsMtlsBound() ? "cnf.x5t#S256" : "no cnf")),
                route, scheme_flags, std::move(done));
  }

  // --- mTLS binding: every binding a token carries must be proven ---
  if (vt->IsMtlsBound()) {
    std::string thumb;
    std::string detail;
    Reason r = ClientThumbprint(req, config_, cert_thumbprints_.get(), &thumb, &detail);
    if (r != Reason::kOk) {
      return Deny(std::move(d), r, std::move(detail), route, scheme_flags, std::move(done));
    }
    if (thumb.empty()) {
      return Deny(std::move(d), Reason::kMtlsCertMissing,
                  "token is bound to a certificate (cnf.x5t#S256) but no client certificate was "
                  "forwarded",
                  route, scheme_flags, std::move(done));
    }
    if (!ConstantTimeEquals(thumb, vt->cnf_x5t)) {
      return Deny(std::move(d), Reason::kMtlsThumbprintMismatch,
                  absl::StrCat("client certificate thumbprint ", thumb,
                               " differs from cnf.x5t#S256 ", vt->cnf_x5t),
                  route, scheme_flags, std::move(done));
    }
    d.binding = ProvenBinding::kMtls;
  }

  if (!vt->IsDpopBound()) {
    return AfterProof(std::move(d), route, scheme_flags, *vt, nullptr, now, std::move(done));
  }

  // --- DPoP proof ---
  auto proofs = req.HeaderValues("dpop");
  if (proofs.empty()) {
    return Deny(std::move(d), Reason::kDpopProofMissing, "DPoP scheme without a DPoP header",
                route, scheme_flags, std::move(done));
  }
  // RFC 9449 4.3 (1): exactly one DPoP header. Envoy merges repeats with ",",
  // which never occurs inside a compact JWS.
  if (proofs.size() > 1 || proofs[0].find(',') != std::string_view::npos) {
    return Deny(std::move(d), Reason::kDpopProofMultiple, "more than one DPoP proof", route,
                scheme_flags, std::move(done));
  }
  std::string_view proof_header = StripWhitespace(proofs[0]);

  // The proof is checked in two halves around its signature (DpopValidator
  // Begin/Complete): Begin runs every cheaper check first, so only a proof
  // that passed them all costs a verification. The signature can then go to
  // the scheduler and be verified in a batch with other requests'
  // signatures; the decision goes on where it was verified. What the rest of
  // the decision reads is moved or copied into the stage.
  struct ProofStage {
    DpopProofCheck check;  // owns a copy of the proof
    Decision decision;
    const RouteConfig* route = nullptr;
    int scheme_flags = 0;
    std::shared_ptr<const VerifiedToken> vt;
    absl::Time now;
    Done done;
  };
  auto st = std::make_shared<ProofStage>();
  const std::string request_url = url.ToString();
  DpopRequest dreq;
  dreq.proof = proof_header;
  dreq.method = req.method;
  dreq.request_url = request_url;
  dreq.access_token_sha256 = vt->token_hash;  // SHA-256 of exactly the token
  dreq.expected_jkt = vt->cnf_jkt;
  dreq.now = now;
  std::string detail;
  Reason r = dpop_->Begin(dreq, &st->check, &detail);
  if (r != Reason::kOk) {
    return Deny(std::move(d), r, std::move(detail), route, scheme_flags, std::move(done));
  }
  st->decision = std::move(d);
  st->route = &route;
  st->scheme_flags = scheme_flags;
  st->vt = std::move(vt);
  st->now = now;
  st->done = std::move(done);
  auto complete = [this, st](SignatureResult sig) {
    DpopResult proof;
    std::string detail;
    Reason r = dpop_->Complete(st->check, sig, &proof, &detail);
    if (r != Reason::kOk) {
      return Deny(std::move(st->decision), r, std::move(detail), *st->route, st->scheme_flags,
                  std::move(st->done));
    }
    st->decision.jkt = proof.jkt;
    st->decision.binding = ProvenBinding::kDpop;
    AfterProof(std::move(st->decision), *st->route, st->scheme_flags, *st->vt, &proof, st->now,
               std::move(st->done));
  };
  const SignatureCheck sig = st->check.signature();
  if (scheduler_ != nullptr) {
    scheduler_->Submit(verifier_.get(), sig, std::move(complete));
  } else {
    complete(verifier_->Verify(sig.alg, *sig.key, sig.signing_input, sig.signature));
  }
}

void Authenticator::AfterProof(Decision d, const RouteConfig& route, int scheme_flags,
                               const VerifiedToken& vt, const DpopResult* proof, absl::Time now,
                               Done done) const {
  // --- Scopes ---
  if (!ScopesSatisfied(route.scopes, vt.scopes)) {
    return Deny(std::move(d), Reason::kInsufficientScope,
                absl::StrCat("route ", route.name, " requires scopes ",
                             absl::StrJoin(route.scopes, " ")),
                route, scheme_flags, std::move(done));
  }

  // --- Allow (after the replay window, for DPoP) ---
  d.allow = true;
  d.reason = Reason::kOk;
  d.http_status = 200;
  for (const UpstreamHeader& h : config_.upstream_headers) {
    const std::string* claim = nullptr;
    std::string computed;
    if (h.value == "@binding") {
      computed = std::string(ProvenBindingName(d.binding));
    } else if (h.value == "@issuer") {
      computed = d.issuer;
    } else if (h.value == "@principal") {
      computed = d.principal;
    } else if (h.value == "@route") {
      computed = route.name;
    } else if (h.value == "@jkt") {
      computed = d.jkt;
    } else {
      claim = vt.ClaimValue(h.value);
      if (claim != nullptr) computed = *claim;
    }
    if (!computed.empty()) d.upstream_headers.emplace_back(h.header, std::move(computed));
  }
  if (nonces_ != nullptr && config_.dpop.nonce.required && d.binding == ProvenBinding::kDpop) {
    // Hand the client the current nonce with every success so it never has
    // to fail once when the step rolls over.
    d.response_headers.emplace_back("dpop-nonce", nonces_->Current(now));
  }
  if (d.binding != ProvenBinding::kDpop || proof == nullptr) {
    return Finish(std::move(d), route, std::move(done));
  }

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
  if (check_now - now > config_.limits.max_queue_wait) {
    d.upstream_headers.clear();
    d.response_headers.clear();
    return Deny(std::move(d), Reason::kOverloaded,
                absl::StrCat("decision waited ", absl::FormatDuration(check_now - now),
                             " before its replay check (limits.max_queue_wait ",
                             absl::FormatDuration(config_.limits.max_queue_wait), ")"),
                route, kSchemeDpop, std::move(done));
  }
  if (proof->issued_at < check_now - config_.dpop.max_age) {
    d.upstream_headers.clear();
    d.response_headers.clear();
    return Deny(std::move(d), Reason::kDpopIatStale,
                absl::StrCat("proof iat ", absl::ToUnixSeconds(proof->issued_at),
                             " is older than max_age ", absl::FormatDuration(config_.dpop.max_age),
                             " at the replay check; popguard time ",
                             absl::ToUnixSeconds(check_now)),
                route, kSchemeDpop, std::move(done));
  }
  const RouteConfig* route_ptr = &route;
  replay_->CheckAndInsert(
      proof->replay_key, check_now, proof->replay_until, proof->issued_at,
      [this, d = std::move(d), route_ptr, done = std::move(done)](ReplayResult result) mutable {
        switch (result) {
          case ReplayResult::kFresh:
            return Finish(std::move(d), *route_ptr, std::move(done));
          case ReplayResult::kReplayed:
            d.upstream_headers.clear();
            d.response_headers.clear();
            return Deny(std::move(d), Reason::kDpopReplayed,
                        "proof jti was already used with this key inside the replay window",
                        *route_ptr, kSchemeDpop, std::move(done));
          case ReplayResult::kFull:
            d.upstream_headers.clear();
            d.response_headers.clear();
            return Deny(std::move(d), Reason::kReplayStoreFull,
                        "replay window is full; refusing rather than forgetting a jti",
                        *route_ptr, kSchemeDpop, std::move(done));
          case ReplayResult::kUnavailable:
            d.upstream_headers.clear();
            d.response_headers.clear();
            return Deny(std::move(d), Reason::kReplayStoreUnavailable,
                        "replay store unavailable (fail_closed)", *route_ptr, kSchemeDpop,
                        std::move(done));
          case ReplayResult::kWindowReset:
            d.upstream_headers.clear();
            d.response_headers.clear();
            return Deny(std::move(d), Reason::kDpopReplayWindowReset,
                        "the replay window lost its entries after this proof was issued; send a "
                        "new proof",
                        *route_ptr, kSchemeDpop, std::move(done));
        }
      });
}

}  // namespace popguard
