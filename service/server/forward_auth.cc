#include "service/server/forward_auth.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/log.h"
#include "service/common/strings.h"
#include "service/jose/base64url.h"

namespace popguard {
namespace {

// Caddy's placeholder for the verified client certificate as base64 DER
// (client_cert_format der_base64), as Caddy 2.6 sends it unreplaced.
constexpr std::string_view kCaddyCertPlaceholder =
    "{http.request.tls.client.certificate_der_base64}";

// The header form's endpoints: /auth (nginx, Caddy, Traefik examples) and
// oauth2-proxy's /oauth2/auth, so gateways configured for it need no change.
bool IsHeaderFormPath(std::string_view path) { return path == "/auth" || path == "/oauth2/auth"; }

void Fail(HttpRequestInfo* info, Reason reason, std::string detail) {
  if (info->rebuild_failure != Reason::kOk) return;  // the first failure is reported
  info->rebuild_failure = reason;
  info->rebuild_detail = std::move(detail);
}

// OneValue reads the one value the headers `names` (alternative spellings of
// the same field, e.g. X-Original-URI and X-Forwarded-Uri) carry together.
// Security: like SingleForwardedValue in the Authenticator, a value that
// arrives twice is refused rather than one of them picked, since a gateway
// that appends would put the client's own copy first; with `no_list` a value
// holding a comma (an appended list) is refused as well. A missing value is
// refused too: the original request cannot be rebuilt without it.
bool OneValue(const HttpRequestInfo& req, std::initializer_list<std::string_view> names,
              bool no_list, std::string* out, HttpRequestInfo* fail) {
  int found = 0;
  for (std::string_view name : names) {
    for (std::string_view v : req.HeaderValues(name)) {
      ++found;
      *out = std::string(StripWhitespace(v));
    }
  }
  std::string what;
  for (std::string_view name : names) absl::StrAppend(&what, what.empty() ? "" : " or ", AV(name));
  if (found == 0 || out->empty()) {
    Fail(fail, Reason::kForwardedHeaderInvalid, absl::StrCat(what, " is required"));
    return false;
  }
  if (found > 1 || (no_list && out->find(',') != std::string::npos)) {
    Fail(fail, Reason::kForwardedHeaderInvalid,
         absl::StrCat(what, " holds more than one value (repeated or a list)"));
    return false;
  }
  return true;
}

// MetadataResponse serves an RFC 9728 document (resource_metadata) on GET
// and HEAD of its path (exactly, in every reading of the path), to anyone: it
// is public by design. Which resource: by path, and by the Host header when
// several resources share a path.
bool MetadataResponse(const Authenticator& auth, const HttpRequestView& request,
                      HttpResponse* out) {
  if (request.method != "GET" && request.method != "HEAD") return false;
  std::string_view host;
  for (const auto& [k, v] : request.headers) {
    if (k == "host") host = v;
  }
  const ResourceMetadataDoc* doc = auth.FindResourceMetadata(host, request.target);
  if (doc == nullptr) return false;
  out->status = 200;
  out->content_type = "application/json";
  out->body = doc->document;
  out->headers.emplace_back("cache-control", "max-age=3600");
  return true;
}

}  // namespace

absl::StatusOr<ForwardAuthAdapter> ForwardAuthAdapter::Create(const ForwardAuthConfig& config) {
  ForwardAuthAdapter a;
  a.config_ = config;
  for (const auto& source : config.trusted_sources) {
    absl::StatusOr<IpCidr> c = IpCidr::Parse(source);
    if (!c.ok()) return c.status();
    a.trusted_.push_back(*c);
  }
  return a;
}

bool ForwardAuthAdapter::Trusted(const std::string& ip) const {
  for (const IpCidr& c : trusted_) {
    if (c.Contains(ip)) return true;
  }
  return false;
}

std::optional<HttpRequestInfo> ForwardAuthAdapter::FromRequest(
    const HttpRequestView& request) const {
  const std::string_view target = request.target;
  const std::string_view path = target.substr(0, target.find('?'));
  const std::string& prefix = config_.envoy_path_prefix;
  const bool envoy_form = !prefix.empty() && path.starts_with(prefix) &&
                          (path.size() == prefix.size() || path[prefix.size()] == '/');
  if (!envoy_form && !IsHeaderFormPath(path)) return std::nullopt;

  HttpRequestInfo info;
  info.api = "forward_auth";
  // Security: the original request is described by headers anyone can send;
  // only the gateways' own addresses are believed (the peer address comes
  // from the socket, not from a header). A request from elsewhere is denied
  // before any of its headers is read.
  if (!Trusted(request.remote_ip)) {
    info.method = "GET";
    Fail(&info, Reason::kForwardedHeaderInvalid,
         absl::StrCat("peer ", request.remote_ip, " is not in forward_auth.trusted_sources"));
    return info;
  }
  info.headers = request.headers;
  if (envoy_form) {
    // Envoy's http_service: the original method, path_prefix + the original
    // path (with its query), the original Host; the scheme only as
    // X-Forwarded-Proto, which Envoy sets itself.
    info.method = request.method;
    info.path = std::string(target.substr(prefix.size()));
    if (info.path.empty() || info.path.front() != '/') info.path.insert(0, "/");
    OneValue(info, {"host"}, /*no_list=*/true, &info.authority, &info);
    OneValue(info, {"x-forwarded-proto"}, /*no_list=*/true, &info.scheme, &info);
  } else {
    // Header form: nginx auth_request (whose subrequest is always a GET)
    // and the others send the original method and target in headers.
    OneValue(info, {"x-original-method", "x-forwarded-method"}, /*no_list=*/true, &info.method,
             &info);
    OneValue(info, {"x-original-uri", "x-forwarded-uri"}, /*no_list=*/false, &info.path, &info);
    OneValue(info, {"x-forwarded-proto"}, /*no_list=*/true, &info.scheme, &info);
    OneValue(info, {"x-forwarded-host"}, /*no_list=*/true, &info.authority, &info);
  }
  if (info.rebuild_failure != Reason::kOk) {
    if (info.method.empty()) info.method = "GET";
    return info;
  }

  // The client certificate the gateway verified, from the configured header
  // only (a gateway must set it itself, overwriting any the client sent; see
  // docs/config.md). An empty value means the client sent none.
  if (!config_.client_cert_header.empty()) {
    std::vector<std::string_view> values;
    for (std::string_view v : info.HeaderValues(config_.client_cert_header)) {
      v = StripWhitespace(v);
      // Caddy 2.6 replaces its placeholder with nothing only when it knows
      // it: without a client certificate the header carries the placeholder
      // itself. That exact text means "no certificate" (the gateway sets the
      // header, so it cannot stand for any certificate).
      if (v.empty() || v == kCaddyCertPlaceholder) continue;
      values.push_back(v);
    }
    if (values.size() > 1) {
      Fail(&info, Reason::kMtlsCertInvalid,
           absl::StrCat(config_.client_cert_header, " holds more than one certificate"));
    } else if (values.size() == 1) {
      std::string_view v = values[0];
      if (config_.client_cert_format == ClientCertFormat::kEscapedPem) {
        info.cert_kind = HttpRequestInfo::CertKind::kEnvoyUrlEncodedPem;  // same encoding
        info.cert = std::string(v);
      } else {
        // der_base64, or RFC 9440's sf-binary ":base64:".
        const bool rfc9440 = config_.client_cert_format == ClientCertFormat::kRfc9440;
        std::optional<std::string> der;
        if (!rfc9440 || (v.size() >= 2 && v.front() == ':' && v.back() == ':')) {
          der = Base64DecodeLenient(rfc9440 ? v.substr(1, v.size() - 2) : v);
        }
        if (!der.has_value() || der->empty()) {
          Fail(&info, Reason::kMtlsCertInvalid,
               absl::StrCat(config_.client_cert_header, " is not ",
                            rfc9440 ? "an RFC 9440 :base64 DER: value" : "base64 DER"));
        } else {
          info.cert_kind = HttpRequestInfo::CertKind::kPemOrDer;
          info.cert = *std::move(der);
        }
      }
    }
  }
  return info;
}

HttpResponse ToForwardAuthResponse(const Decision& d) {
  HttpResponse r;
  // Security: a denial is never a 2xx here, since the gateways forward the
  // request on any 2xx (the metadata answer, status 200, is never asked for
  // on this listener: HttpRequestInfo::metadata_answer).
  r.status = d.allow ? 200 : std::max(d.http_status, 400);
  if (d.allow) {
    r.headers = d.upstream_headers;
  } else {
    r.body = absl::StrCat(AV(ReasonCode(d.reason)), "\n");
    // A diagnostics probe's report (Caddy and Traefik pass a denial's body to
    // the client; nginx auth_request passes only headers: popguard-probe-report).
    if (!d.diagnostics_report.empty()) {
      r.body = d.diagnostics_report;
      r.content_type = "application/json";
    }
    r.headers.emplace_back("x-popguard-reason", std::string(ReasonCode(d.reason)));
  }
  // Several challenges go in one WWW-Authenticate, comma-separated (RFC 9110
  // section 11.6.1 allows both forms): nginx's $upstream_http_www_authenticate
  // and Traefik's copy carry only one header line.
  std::string challenges;
  for (const auto& [k, v] : d.response_headers) {
    if (EqualsIgnoreCase(k, "www-authenticate")) {
      absl::StrAppend(&challenges, challenges.empty() ? "" : ", ", v);
    } else {
      r.headers.emplace_back(k, v);
    }
  }
  if (!challenges.empty()) r.headers.emplace_back("www-authenticate", std::move(challenges));
  return r;
}

absl::StatusOr<std::unique_ptr<ForwardAuthServer>> ForwardAuthServer::Start(
    const Config& config, AuthenticatorHolder* holder) {
  absl::StatusOr<ForwardAuthAdapter> adapter = ForwardAuthAdapter::Create(config.forward_auth);
  if (!adapter.ok()) return adapter.status();
  auto server = std::unique_ptr<ForwardAuthServer>(
      new ForwardAuthServer(*std::move(adapter), holder, config.limits.max_inflight));
  const ForwardAuthConfig& fa = config.forward_auth;
  HttpEndpoint::Options options;
  options.threads = fa.threads;
  options.io_timeout = fa.io_timeout;
  options.request_deadline = fa.request_deadline;
  options.max_queued = fa.max_queued;
  options.shed_response = ToForwardAuthResponse(UnavailableDecision());
  // Forward-auth requests carry no body that matters (nginx and Caddy send
  // none); a large one is refused (413) rather than read.
  options.max_body_bytes = 64 << 10;
  options.what = "forward_auth.listen";
  // Same files as the gRPC listener's tls (read at start; restart to change,
  // as for the gRPC listener).
  options.tls = {.cert_file = ResolvePath(config.base_dir, fa.tls.cert_file),
                 .key_file = ResolvePath(config.base_dir, fa.tls.key_file),
                 .client_ca_file = ResolvePath(config.base_dir, fa.tls.client_ca_file)};
  auto endpoint = HttpEndpoint::StartForRequests(
      fa.listen, [s = server.get()](const HttpRequestView& r) { return s->Handle(r); }, options);
  if (!endpoint.ok()) return endpoint.status();
  server->endpoint_ = *std::move(endpoint);
  return server;
}

ForwardAuthServer::~ForwardAuthServer() { endpoint_.reset(); }

HttpResponse ForwardAuthServer::Handle(const HttpRequestView& request) {
  if (closing_.load(std::memory_order_relaxed)) return ToForwardAuthResponse(UnavailableDecision());
  std::shared_ptr<const Authenticator> auth = holder_->Get();
  if (HttpResponse doc; MetadataResponse(*auth, request, &doc)) return doc;
  std::optional<HttpRequestInfo> info = adapter_.FromRequest(request);
  if (!info.has_value()) {
    HttpResponse r;
    r.status = 404;
    r.body = "not a forward-auth endpoint (see docs/config.md, forward_auth)\n";
    return r;
  }
  if (!gate_.TryEnter(Api::kForwardAuth)) return ToForwardAuthResponse(UnavailableDecision());
  const absl::Time start = absl::Now();
  // This pool thread waits for the decision (forward_auth.threads bound how
  // many wait at once); the decision itself is bounded by the replay store's
  // timeouts and limits.max_queue_wait like on the gRPC side.
  Decision d = auth->DecideSync(*info);
  gate_.Record(Api::kForwardAuth, d, start);
  gate_.Leave();
  return ToForwardAuthResponse(d);
}

}  // namespace popguard
