#include "service/authn/diagnostics.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/authn/client_cert.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/strings.h"
#include "service/jose/jwk.h"
#include "service/jose/jws.h"

namespace popguard {
namespace {

// The hops a difference is blamed on.
constexpr char kHopBeforeGateway[] =
    "a proxy or load balancer between the client and the gateway that asks popguard";
constexpr char kHopGateway[] = "the gateway's call to popguard";
constexpr char kHopPopguard[] = "popguard's config";

// The forwarded headers a report names. Values are shown only for the ones
// that describe the addressed URL; the others (addresses, certificates,
// the original URI) only by name.
struct ForwardedHeader {
  std::string_view name;
  bool show_value;
};
constexpr ForwardedHeader kForwardedHeaders[] = {
    {"x-forwarded-proto", true},  {"x-forwarded-host", true},   {"x-forwarded-port", true},
    {"x-forwarded-prefix", true}, {"forwarded", false},         {"x-forwarded-for", false},
    {"x-real-ip", false},         {"x-original-uri", false},    {"x-forwarded-uri", false},
    {"x-original-method", true},  {"x-forwarded-method", true}, {"x-forwarded-client-cert", false},
};

bool IsForwardAuth(const HttpRequestInfo& r) { return r.api == "forward_auth"; }

// HowRead says what popguard does with forwarded header `name` on this API.
std::string_view HowRead(std::string_view name, const HttpRequestInfo& r, const Config& config) {
  const bool fa = IsForwardAuth(r);
  if (name == "x-forwarded-proto" || name == "x-forwarded-host") {
    if (fa) return "read (from a forward_auth.trusted_sources peer)";
    if (config.external_origin.has_value()) return "ignored (external_origin is set)";
    return config.trusted_forwarded_headers ? "trusted" : "ignored (not trusted)";
  }
  if (fa && (name == "x-original-uri" || name == "x-forwarded-uri" || name == "x-original-method" ||
             name == "x-forwarded-method")) {
    return "read (from a forward_auth.trusted_sources peer)";
  }
  if (name == "x-forwarded-client-cert") {
    return config.trusted_xfcc ? "trusted" : "ignored (trusted_xfcc is false)";
  }
  if (fa && name == config.forward_auth.client_cert_header) {
    return "read (forward_auth.client_cert_header)";
  }
  return "not read";
}

std::string Authority(const NormalizedUrl& u) {
  return u.port.empty() ? u.host : absl::StrCat(u.host, ":", u.port);
}

// HeaderValue is the single value of `name`, or "" (absent or repeated).
std::string_view HeaderValue(const HttpRequestInfo& r, std::string_view name) {
  auto values = r.HeaderValues(name);
  return values.size() == 1 ? StripWhitespace(values[0]) : std::string_view();
}

// RequestTarget is the origin-form target that reached popguard (with its query).
std::string_view RequestTarget(const HttpRequestInfo& r) {
  if (r.url.empty()) return r.path;
  std::string_view u = r.url;
  const size_t scheme_end = u.find("://");
  const size_t path = scheme_end == std::string_view::npos ? 0 : u.find('/', scheme_end + 3);
  return path == std::string_view::npos ? std::string_view() : u.substr(path);
}

// CertificateHelp is the fix for a client certificate that did not reach popguard.
std::string CertificateHelp(const HttpRequestInfo& r, const Config& config) {
  if (IsForwardAuth(r)) {
    if (config.forward_auth.client_cert_header.empty()) {
      return "set forward_auth.client_cert_header and client_cert_format, and make the gateway "
             "send the certificate it verified (nginx: proxy_set_header X-Client-Cert "
             "$ssl_client_escaped_cert; with client_cert_format escaped_pem)";
    }
    return absl::StrCat(
        "the gateway sent no ", config.forward_auth.client_cert_header,
        ": make it set that header from the TLS connection (nginx: proxy_set_header ",
        config.forward_auth.client_cert_header,
        " $ssl_client_escaped_cert with ssl_verify_client on|optional); when the client's TLS "
        "ends at a proxy in front of the gateway, that proxy must verify and forward the "
        "certificate instead");
  }
  if (!r.HeaderValues("x-forwarded-client-cert").empty() && !config.trusted_xfcc) {
    return "x-forwarded-client-cert arrived but popguard does not trust it: set trusted_xfcc: "
           "true if (and only if) the gateway sanitises that header (Envoy "
           "forward_client_cert_details: SANITIZE_SET)";
  }
  if (r.api == "verify") {
    return "put the client certificate in VerifyRequest.certificate (or "
           "certificate_thumbprint)";
  }
  return "enable the peer certificate on ext_authz (Envoy include_peer_certificate: true) when "
         "the client's TLS ends at Envoy, or forward_client_cert_details: SANITIZE_SET with "
         "set_current_client_cert_details {cert: true} and popguard trusted_xfcc: true when it "
         "ends at a proxy in front";
}

void CompareScheme(const ProbeStatement& sent, const ProbeArrival& got, const Config& config,
                   std::vector<ProbeDifference>* out) {
  if (sent.url.scheme == got.rebuilt.scheme) return;
  ProbeDifference d{"scheme", sent.url.scheme, got.rebuilt.scheme, "", "", ""};
  const std::string origin = sent.url.Origin();
  const HttpRequestInfo& r = *got.request;
  if (config.external_origin.has_value()) {
    d.hop = kHopPopguard;
    d.finding = absl::StrCat("external_origin ", config.external_origin->Origin(),
                             " replaces the scheme the client used");
    d.fix = absl::StrCat("set external_origin: ", origin);
  } else if (HeaderValue(r, "x-forwarded-proto") == sent.url.scheme && !IsForwardAuth(r) &&
             !config.trusted_forwarded_headers) {
    d.hop = kHopPopguard;
    d.finding = absl::StrCat("X-Forwarded-Proto: ", sent.url.scheme,
                             " arrived, but popguard does not trust forwarded headers");
    d.fix = absl::StrCat(
        "set trusted_forwarded_headers: true if (and only if) the gateway overwrites "
        "X-Forwarded-Proto/-Host itself, or set external_origin: ",
        origin);
  } else {
    d.hop = kHopBeforeGateway;
    d.finding = absl::StrCat("scheme ", sent.url.scheme, " became ", got.rebuilt.scheme,
                             ": TLS was terminated before popguard and no hop passed the "
                             "original scheme on");
    d.fix = absl::StrCat(
        "set external_origin: ", origin,
        ", or make the TLS-terminating proxy set X-Forwarded-Proto and the gateway pass it on "
        "(Caddy: trusted_proxies; nginx: proxy_set_header X-Forwarded-Proto "
        "$http_x_forwarded_proto; Envoy/Verify: trusted_forwarded_headers: true)");
  }
  out->push_back(std::move(d));
}

void CompareHost(const ProbeStatement& sent, const ProbeArrival& got, const Config& config,
                 std::vector<ProbeDifference>* out) {
  const std::string want = Authority(sent.url);
  const std::string have = Authority(got.rebuilt);
  if (want == have) return;
  ProbeDifference d{"host", want, have, "", "", ""};
  const HttpRequestInfo& r = *got.request;
  if (config.external_origin.has_value()) {
    d.hop = kHopPopguard;
    d.finding = absl::StrCat("external_origin ", config.external_origin->Origin(),
                             " replaces the host the client addressed");
    d.fix = absl::StrCat("set external_origin: ", sent.url.Origin());
  } else if (HeaderValue(r, "x-forwarded-host") == want && !IsForwardAuth(r) &&
             !config.trusted_forwarded_headers) {
    d.hop = kHopPopguard;
    d.finding = absl::StrCat("X-Forwarded-Host: ", want,
                             " arrived, but popguard does not trust forwarded headers");
    d.fix =
        "set trusted_forwarded_headers: true if (and only if) the gateway overwrites "
        "X-Forwarded-Proto/-Host itself, or set external_origin";
  } else if (sent.url.host == got.rebuilt.host) {
    d.hop = kHopBeforeGateway;
    d.finding = absl::StrCat("port ", want, " became ", have,
                             ": a proxy passed the host without the port the client used");
    d.fix = absl::StrCat(
        "pass the Host header on as received (nginx: $http_host, not $host or "
        "$proxy_host), or set external_origin: ",
        sent.url.Origin());
  } else {
    d.hop = kHopBeforeGateway;
    d.finding = absl::StrCat("host ", want, " became ", have, ": a proxy rewrote the Host header");
    d.fix = absl::StrCat(
        "make that proxy pass the original Host (nginx: proxy_set_header Host $http_host; "
        "Caddy: no header_up Host) or set X-Forwarded-Host, or set external_origin: ",
        sent.url.Origin());
  }
  out->push_back(std::move(d));
}

void ComparePath(const ProbeStatement& sent, const ProbeArrival& got,
                 std::vector<ProbeDifference>* out) {
  const std::string& want = sent.url.path;
  const std::string& have = got.rebuilt.path;
  if (want == have) return;
  ProbeDifference d{"path", want, have, kHopBeforeGateway, "", ""};
  // A segment-aligned prefix removed (or added) by a proxy.
  auto prefix_of = [](const std::string& longer, const std::string& shorter) -> std::string {
    if (longer.size() <= shorter.size() || !longer.ends_with(shorter == "/" ? "" : shorter)) {
      return "";
    }
    std::string prefix = longer.substr(0, longer.size() - (shorter == "/" ? 0 : shorter.size()));
    if (prefix.size() > 1 && prefix.back() == '/') prefix.pop_back();
    return prefix.size() > 1 ? prefix : "";
  };
  if (std::string stripped = prefix_of(want, have); !stripped.empty()) {
    d.finding = absl::StrCat("path prefix ", stripped, " was stripped before popguard");
    d.fix = absl::StrCat(
        "ask popguard before the prefix is stripped, with the URI as the client sent it "
        "(nginx: X-Original-URI $request_uri in the location that still sees ",
        stripped,
        "; Caddy: forward_auth before handle_path / uri strip_prefix); DPoP clients sign "
        "the URL they address, so popguard must see it whole");
  } else if (std::string added = prefix_of(have, want); !added.empty()) {
    d.finding = absl::StrCat("path prefix ", added, " was added before popguard");
    d.fix =
        "ask popguard with the URI as the client sent it (nginx: $request_uri), before the "
        "proxy adds the prefix";
  } else {
    d.finding = "a proxy rewrote the path";
    d.fix =
        "ask popguard before the rewrite, with the URI as the client sent it (nginx: "
        "X-Original-URI $request_uri, not $uri)";
  }
  out->push_back(std::move(d));
}

void CompareCertificate(const ProbeStatement& sent, const ProbeArrival& got, const Config& config,
                        std::vector<ProbeDifference>* out) {
  const HttpRequestInfo& r = *got.request;
  const std::string want = sent.client_cert ? sent.cert_thumbprint : "none";
  if (got.cert_reason != Reason::kOk) {
    out->push_back({"client_certificate", want, std::string(ReasonCode(got.cert_reason)),
                    kHopGateway, "a certificate arrived but popguard cannot read it",
                    "see docs/troubleshooting.md for this reason code"});
    return;
  }
  const std::string have = got.cert_thumbprint.empty() ? "none" : got.cert_thumbprint;
  if (want == have) return;
  ProbeDifference d{"client_certificate", want, have, "", "", ""};
  if (have == "none" && sent.url.scheme == "https" && got.rebuilt.scheme == "http") {
    // The scheme says TLS ended before the gateway: so did the certificate.
    d.hop = kHopBeforeGateway;
    d.finding = "client certificate not forwarded";
    d.fix = absl::StrCat(
        "the client's TLS ends before the gateway: that proxy must verify the certificate and "
        "forward it (Envoy: forward_client_cert_details with trusted_xfcc), or let TLS pass "
        "through to the gateway; then: ",
        CertificateHelp(r, config));
  } else if (have == "none") {
    d.hop = IsForwardAuth(r) ? kHopGateway : "the gateway that terminates the client's TLS";
    d.finding = "client certificate not forwarded";
    d.fix = CertificateHelp(r, config);
  } else if (want == "none") {
    d.hop = kHopGateway;
    d.finding =
        "a certificate reached popguard although the client presented none: a hop's "
        "own certificate, or a client-set header passed on";
    d.fix =
        "make the gateway overwrite (or remove) the certificate header with the one it "
        "verified itself";
  } else {
    d.hop = kHopBeforeGateway;
    d.finding =
        "another certificate reached popguard: a proxy made its own TLS connection "
        "with its own client certificate";
    d.fix =
        "forward the client's certificate from the hop that terminates the client's TLS "
        "(XFCC with trusted_xfcc, or the gateway's certificate header)";
  }
  out->push_back(std::move(d));
}

// VerifiedJws is a compact JWS whose signature verified with its own jwk.
struct VerifiedJws {
  std::string text;
  Jws jws;
  std::shared_ptr<const PublicKey> key;
};

// VerifySelfSigned checks `text` as a JWS of type `typ`, signed with an
// accepted algorithm by the public key in its jwk header. Returns "" or what
// is wrong (never the input).
std::string VerifySelfSigned(const char* what, std::string_view text, const char* typ,
                             const std::vector<JwsAlg>& algorithms, size_t max_bytes,
                             const SignatureVerifier& verifier, VerifiedJws* out) {
  if (text.size() > max_bytes) return absl::StrCat(what, " is longer than ", max_bytes, " bytes");
  out->text.assign(text);
  std::string detail;
  if (ParseCompactJws(out->text, JsonLimits{}, &out->jws, &detail) != JwsError::kOk) {
    return absl::StrCat(what, ": ", detail);
  }
  const std::string* t = out->jws.header.FindString("typ");
  if (t == nullptr || !EqualsIgnoreCase(*t, typ)) return absl::StrCat(what, " typ must be ", typ);
  std::optional<JwsAlg> alg = ParseJwsAlg(out->jws.alg);
  if (!alg || std::find(algorithms.begin(), algorithms.end(), *alg) == algorithms.end()) {
    return absl::StrCat(what, " alg is not one of dpop.algorithms");
  }
  const JsonValue* jwk = out->jws.header.Find("jwk");
  if (jwk == nullptr || !jwk->is_object() || JwkHasPrivateMembers(*jwk)) {
    return absl::StrCat(what, " jwk is missing, not an object, or private");
  }
  auto key = PublicKey::FromJwk(*jwk);
  if (!key.ok() || !(*key)->FitsAlg(*alg)) return absl::StrCat(what, " jwk is unusable for alg");
  out->key = *std::move(key);
  if (verifier.Verify(*alg, *out->key, out->jws.signing_input, out->jws.signature) !=
      SignatureResult::kValid) {
    return absl::StrCat(what, " signature does not verify with its jwk");
  }
  return "";
}

// ReadStatement reads the statement's claims into *s, or returns what is wrong.
std::string ReadStatement(const JsonValue& claims, absl::Time now, const DpopConfig& dpop,
                          ProbeStatement* s) {
  const std::string* htm = claims.FindString("htm");
  const std::string* scheme = claims.FindString("scheme");
  const std::string* host = claims.FindString("host");
  const std::string* path = claims.FindString("path");
  const JsonValue* port = claims.Find("port");
  const JsonValue* query = claims.Find("query");
  const JsonValue* cert = claims.Find("cert");
  const JsonValue* iat = claims.Find("iat");
  const std::string* jti = claims.FindString("jti");
  if (htm == nullptr || scheme == nullptr || host == nullptr || path == nullptr ||
      port == nullptr || !port->AsInt64() || query == nullptr || !query->is_bool() ||
      cert == nullptr || !cert->is_bool() || iat == nullptr || !iat->AsInt64() || jti == nullptr ||
      jti->empty()) {
    return "statement must carry htm, scheme, host, path (strings), port (number), query and "
           "cert (booleans), iat (number) and jti";
  }
  const absl::Time issued = absl::FromUnixSeconds(*iat->AsInt64());
  if (issued < now - dpop.max_age || issued > now + dpop.clock_skew) {
    return "statement iat is outside dpop.max_age / dpop.clock_skew of popguard's time";
  }
  const int64_t p = *port->AsInt64();
  if (p < 1 || p > 65535) return "statement port is not 1..65535";
  auto url = NormalizeRequestTarget(*scheme, absl::StrCat(*host, ":", p), *path);
  if (!url.ok()) return absl::StrCat("statement URL: ", url.status().message());
  s->method = *htm;
  s->url = *std::move(url);
  s->query = query->bool_value();
  s->client_cert = cert->bool_value();
  if (const std::string* x5t = claims.FindString("x5t#S256")) s->cert_thumbprint = *x5t;
  if (s->client_cert && !IsValidThumbprint(s->cert_thumbprint)) {
    return "statement cert is true but x5t#S256 is not a SHA-256 thumbprint";
  }
  return "";
}

JsonValue Str(std::string_view s) { return JsonValue::String(std::string(s)); }

JsonValue UrlJson(const NormalizedUrl& u, std::string_view method, bool query,
                  std::string_view cert) {
  return JsonValue::Object({{"method", Str(method)},
                            {"url", Str(u.ToString())},
                            {"query", JsonValue::Bool(query)},
                            {"client_certificate", Str(cert)}});
}

}  // namespace

bool IsDiagnosticsReason(Reason reason) {
  return reason == Reason::kDiagnosticsProbe || reason == Reason::kDiagnosticsProbeInvalid ||
         reason == Reason::kDiagnosticsRateLimited;
}

std::vector<ProbeDifference> CompareProbe(const ProbeStatement& sent, const ProbeArrival& got,
                                          const Config& config, bool dpop_arrived) {
  std::vector<ProbeDifference> out;
  const HttpRequestInfo& r = *got.request;
  if (sent.method != r.method) {
    out.push_back({"method", sent.method, r.method, kHopGateway,
                   "the method popguard was told is not the client's",
                   IsForwardAuth(r) ? "send the original method (nginx: proxy_set_header "
                                      "X-Original-Method $request_method)"
                                    : "pass the request's own method to popguard"});
  }
  CompareScheme(sent, got, config, &out);
  CompareHost(sent, got, config, &out);
  ComparePath(sent, got, &out);
  const bool query = RequestTarget(r).find('?') != std::string_view::npos;
  if (sent.query != query) {
    out.push_back({"query", sent.query ? "present" : "absent", query ? "present" : "absent",
                   kHopGateway,
                   sent.query ? "the query string was dropped before popguard"
                              : "a query string was added before popguard",
                   "send the request target as the client sent it (nginx: X-Original-URI "
                   "$request_uri, not $uri)"});
  }
  CompareCertificate(sent, got, config, &out);
  if (!dpop_arrived) {
    out.push_back({"dpop_header", "present", "absent", kHopBeforeGateway,
                   "the DPoP header did not reach popguard",
                   "make every hop pass the DPoP header through unchanged (and, for "
                   "forward-auth, on to popguard)"});
  }
  return out;
}

ProbeRateLimiter::ProbeRateLimiter(uint64_t per_minute, uint64_t burst, const Clock* clock)
    : per_second_(static_cast<double>(per_minute) / 60.0),
      burst_(static_cast<double>(burst)),
      clock_(clock),
      tokens_(static_cast<double>(burst)),
      last_(clock->Now()) {}

bool ProbeRateLimiter::TryTake() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  if (now > last_) {
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * per_second_);
    last_ = now;
  }
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

std::unique_ptr<ProbeDiagnostics> ProbeDiagnostics::Create(const Config& config, const Clock* clock,
                                                           const SignatureVerifier* verifier) {
  if (!config.diagnostics.enabled) return nullptr;
  return std::unique_ptr<ProbeDiagnostics>(new ProbeDiagnostics(config, clock, verifier));
}

ProbeDiagnostics::ProbeDiagnostics(const Config& config, const Clock* clock,
                                   const SignatureVerifier* verifier)
    : config_(config),
      verifier_(verifier),
      limiter_(config.diagnostics.rate_per_minute, config.diagnostics.burst, clock) {
  for (const std::string& name : config.dpop.algorithms) {
    if (std::optional<JwsAlg> alg = ParseJwsAlg(name)) algorithms_.push_back(*alg);
  }
}

bool ProbeDiagnostics::IsProbe(const HttpRequestInfo& request, const NormalizedUrl& url,
                               const RouteConfig& route) const {
  if (request.HeaderValues(kProbeHeader).empty()) return false;
  const DiagnosticsConfig& d = config_.diagnostics;
  if (!d.path.empty() && url.path == d.path) return true;
  return std::find(d.routes.begin(), d.routes.end(), route.name) != d.routes.end();
}

Reason ProbeDiagnostics::Answer(const ProbeArrival& arrival, absl::Time now, std::string* report,
                                std::string* detail) const {
  // Cheapest first: the bucket before any parsing or signature.
  if (!limiter_.TryTake()) {
    *detail = "diagnostics probe refused: diagnostics.rate_per_minute / burst exhausted";
    return Reason::kDiagnosticsRateLimited;
  }
  const HttpRequestInfo& r = *arrival.request;
  auto statements = r.HeaderValues(kProbeHeader);
  if (statements.size() != 1) {
    *detail = "exactly one PopGuard-Probe header is required";
    return Reason::kDiagnosticsProbeInvalid;
  }
  const size_t max_bytes = 2 * config_.limits.max_proof_bytes;
  VerifiedJws statement;
  *detail = VerifySelfSigned("statement", StripWhitespace(statements[0]), kProbeTyp, algorithms_,
                             max_bytes, *verifier_, &statement);
  if (!detail->empty()) return Reason::kDiagnosticsProbeInvalid;
  ProbeStatement sent;
  *detail = ReadStatement(statement.jws.payload, now, config_.dpop, &sent);
  if (!detail->empty()) return Reason::kDiagnosticsProbeInvalid;

  // The proof: the same key, over the URL of the statement; its htu is
  // then checked exactly as for a real request.
  auto proofs = r.HeaderValues("dpop");
  std::string htu_check = "not checked (no DPoP header)";
  if (!proofs.empty()) {
    VerifiedJws proof;
    if (proofs.size() > 1 || proofs[0].find(',') != std::string_view::npos) {
      *detail = "more than one DPoP proof";
      return Reason::kDiagnosticsProbeInvalid;
    }
    *detail = VerifySelfSigned("proof", StripWhitespace(proofs[0]), "dpop+jwt", algorithms_,
                               max_bytes, *verifier_, &proof);
    if (!detail->empty()) return Reason::kDiagnosticsProbeInvalid;
    // Security: the statement and the proof must come from one key, so the
    // report compares the URL this client signed, not a pair put together
    // from two requests.
    if (proof.key->thumbprint() != statement.key->thumbprint()) {
      *detail = "the statement and the DPoP proof are signed by different keys";
      return Reason::kDiagnosticsProbeInvalid;
    }
    const std::string* htu = proof.jws.payload.FindString("htu");
    const std::string* htm = proof.jws.payload.FindString("htm");
    auto proof_url = htu != nullptr ? NormalizeAbsoluteUrl(*htu)
                                    : absl::StatusOr<NormalizedUrl>(absl::InvalidArgumentError(""));
    if (htm == nullptr || *htm != sent.method || !proof_url.ok() || !(*proof_url == sent.url)) {
      *detail = "the DPoP proof's htm/htu are not the statement's method and URL";
      return Reason::kDiagnosticsProbeInvalid;
    }
    htu_check =
        *proof_url == arrival.rebuilt && *htm == r.method
            ? "ok"
            : std::string(ReasonCode(*proof_url == arrival.rebuilt ? Reason::kDpopHtmMismatch
                                                                   : Reason::kDpopHtuMismatch));
  }

  const std::vector<ProbeDifference> differences =
      CompareProbe(sent, arrival, config_, !proofs.empty());
  std::vector<JsonValue> diffs;
  for (const ProbeDifference& d : differences) {
    diffs.push_back(JsonValue::Object({{"what", Str(d.what)},
                                       {"sent", Str(d.sent)},
                                       {"received", Str(d.received)},
                                       {"hop", Str(d.hop)},
                                       {"finding", Str(d.finding)},
                                       {"fix", Str(d.fix)}}));
  }
  std::vector<JsonValue> headers;
  for (const ForwardedHeader& h : kForwardedHeaders) {
    auto values = r.HeaderValues(h.name);
    if (values.empty()) continue;
    std::vector<JsonValue::Member> m = {{"name", Str(h.name)},
                                        {"use", Str(HowRead(h.name, r, config_))}};
    if (h.show_value && values.size() == 1) {
      m.emplace_back("value", Str(StripWhitespace(values[0])));
    }
    if (values.size() > 1) m.emplace_back("repeated", JsonValue::Bool(true));
    headers.push_back(JsonValue::Object(std::move(m)));
  }
  const std::string& cert_header = config_.forward_auth.client_cert_header;
  if (IsForwardAuth(r) && !cert_header.empty() && !r.HeaderValues(cert_header).empty()) {
    headers.push_back(JsonValue::Object(
        {{"name", Str(cert_header)}, {"use", Str(HowRead(cert_header, r, config_))}}));
  }
  std::string received_cert = arrival.cert_thumbprint.empty() ? "none" : arrival.cert_thumbprint;
  if (arrival.cert_reason != Reason::kOk) received_cert = ReasonCode(arrival.cert_reason);
  const JsonValue doc = JsonValue::Object({
      {"probe", Str(differences.empty() ? "no_difference" : "differences")},
      {"api", Str(r.api)},
      {"route", Str(arrival.route)},
      {"sent", UrlJson(sent.url, sent.method, sent.query,
                       sent.client_cert ? sent.cert_thumbprint : "none")},
      {"received", UrlJson(arrival.rebuilt, r.method,
                           RequestTarget(r).find('?') != std::string_view::npos, received_cert)},
      {"forwarded_headers", JsonValue::Array(std::move(headers))},
      {"dpop_htu_check", Str(htu_check)},
      {"differences", JsonValue::Array(std::move(diffs))},
  });
  *report = SerializeJson(doc);
  std::vector<std::string> whats;
  for (const ProbeDifference& d : differences) whats.push_back(d.what);
  *detail = differences.empty()
                ? "diagnostics probe: no difference"
                : absl::StrCat("diagnostics probe: differences in ", absl::StrJoin(whats, ", "));
  return Reason::kDiagnosticsProbe;
}

}  // namespace popguard
