// The config parser: one function per section of the YAML file
// (docs/config.md), over the field readers of fields.h and the value checks of
// validate.h.
#include "service/config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/common/ip_cidr.h"
#include "service/common/status_macros.h"
#include "service/common/strings.h"
#include "service/config/fields.h"
#include "service/config/resource_metadata.h"
#include "service/config/validate.h"

namespace popguard {
namespace {

// A config file is a few kilobytes; the bound only stops a wrong path (a log,
// a device) from being read whole.
constexpr std::uintmax_t kMaxConfigFileBytes = 4 << 20;
// Nonce secrets are HMAC keys: shorter than 32 bytes is below the strength of
// the SHA-256 the nonces are made with.
constexpr std::uintmax_t kMinNonceSecretBytes = 32;

}  // namespace

namespace config_internal {
namespace {

// --- Sections ------------------------------------------------------------

// ParseTls reads a TLS section at `path` ("tls", "forward_auth.tls").
absl::Status ParseTls(const YAML::Node& node, const std::string& path, const std::string& base_dir,
                      TlsConfig* tls) {
  absl::StatusOr<Fields> f = Fields::Of(node, path, {"cert_file", "key_file", "client_ca_file"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "cert_file", base_dir, 1, &tls->cert_file));
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "key_file", base_dir, 1, &tls->key_file));
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "client_ca_file", base_dir, 1, &tls->client_ca_file));
  const std::string cert = path + ".cert_file";
  const std::string key = path + ".key_file";
  if (tls->cert_file.empty() != tls->key_file.empty()) {
    return Invalid(tls->cert_file.empty() ? cert : key,
                   absl::StrCat(cert, " and ", key, " must be given together"));
  }
  if (!tls->client_ca_file.empty() && tls->cert_file.empty()) {
    return Invalid(
        path + ".client_ca_file",
        absl::StrCat("needs ", cert, " and ", key, " (client certificates need a TLS listener)"));
  }
  return absl::OkStatus();
}

// ParseRemoteKeys reads the keys that tune fetched keys (jwks_uri or
// discovery: true); with static keys they are errors, as they would do nothing.
absl::Status ParseRemoteKeys(const Fields& f, const std::string& base_dir, IssuerConfig* ic) {
  static constexpr std::string_view kRemoteOnly[] = {
      "ca_file",     "allow_http", "fetch_timeout",        "min_refresh",
      "max_refresh", "max_stale",  "kid_refetch_interval", "required"};
  if (!f.Has("jwks_uri") && !ic->discovery) {
    for (std::string_view key : kRemoteOnly) {
      if (f.Has(key)) return Invalid(f.Path(key), "only applies with jwks_uri or discovery: true");
    }
    return absl::OkStatus();
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(f, "allow_http", &ic->allow_http));
  if (ic->discovery) {
    // The discovery documents live under the issuer URL itself.
    POPGUARD_RETURN_IF_ERROR(CheckFetchUrl(ic->issuer, ic->allow_http, f.Path("issuer")));
    if (ic->issuer.find('?') != std::string::npos) {
      return Invalid(f.Path("issuer"), "must not have a query when discovery is true");
    }
  } else {
    POPGUARD_RETURN_IF_ERROR(ReadStringField(f, "jwks_uri", &ic->jwks_uri));
    POPGUARD_RETURN_IF_ERROR(CheckFetchUrl(ic->jwks_uri, ic->allow_http, f.Path("jwks_uri")));
  }
  POPGUARD_RETURN_IF_ERROR(ReadFileField(f, "ca_file", base_dir, 1, &ic->ca_file));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(f, "fetch_timeout", absl::Milliseconds(100), &ic->fetch_timeout));
  if (ic->fetch_timeout > absl::Minutes(1)) {
    return Invalid(f.Path("fetch_timeout"), "must be at most 1m");
  }
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(f, "min_refresh", absl::Seconds(1), &ic->min_refresh));
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(f, "max_refresh", absl::Seconds(1), &ic->max_refresh));
  if (ic->max_refresh < ic->min_refresh) {
    return Invalid(f.Path("max_refresh"), absl::StrCat("must be at least min_refresh (",
                                                       absl::FormatDuration(ic->min_refresh), ")"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(f, "max_stale", absl::Seconds(1), &ic->max_stale));
  // Keys would otherwise expire between two regular refreshes.
  if (ic->max_stale < ic->min_refresh) {
    return Invalid(f.Path("max_stale"), absl::StrCat("must be at least min_refresh (",
                                                     absl::FormatDuration(ic->min_refresh), ")"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(f, "kid_refetch_interval", absl::Milliseconds(100),
                                             &ic->kid_refetch_interval));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(f, "required", &ic->required));
  return absl::OkStatus();
}

absl::Status ParseIssuer(const YAML::Node& node, const std::string& path,
                         const std::string& base_dir, IssuerConfig* ic) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, path,
                 {"issuer", "jwks_file", "jwks", "jwks_uri", "discovery", "audiences", "algorithms",
                  "require_typ", "max_lifetime", "ca_file", "allow_http", "fetch_timeout",
                  "min_refresh", "max_refresh", "max_stale", "kid_refetch_interval", "required"});
  if (!f.ok()) return f.status();
  if (!f->Has("issuer")) return InvalidAt(node, f->Path("issuer"), "is required");
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "issuer", &ic->issuer));
  POPGUARD_RETURN_IF_ERROR(CheckIssuer(ic->issuer, f->Path("issuer")));

  const YAML::Node* jwks = f->Get("jwks");
  const bool has_file = f->Has("jwks_file");
  const bool has_uri = f->Has("jwks_uri");
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "discovery", &ic->discovery));
  std::vector<std::string> sources;
  if (has_file) sources.push_back("jwks_file");
  if (jwks != nullptr) sources.push_back("jwks");
  if (has_uri) sources.push_back("jwks_uri");
  if (ic->discovery) sources.push_back("discovery: true");
  if (sources.empty()) {
    return InvalidAt(node, path,
                     "one of jwks_file or jwks is required (static keys), or jwks_uri or "
                     "discovery: true (fetched keys)");
  }
  if (sources.size() > 1) {
    std::string given = sources[0];
    for (size_t i = 1; i < sources.size(); ++i) absl::StrAppend(&given, " and ", sources[i]);
    return InvalidAt(node, path, absl::StrCat("give only one of ", given));
  }
  if (has_file) {
    POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "jwks_file", base_dir, 0, &ic->jwks_file));
    if (ic->jwks_file.empty()) return Invalid(f->Path("jwks_file"), "must not be empty");
  } else if (jwks != nullptr) {
    POPGUARD_RETURN_IF_ERROR(ReadInlineJwks(*jwks, f->Path("jwks"), &ic->jwks_inline));
  }
  POPGUARD_RETURN_IF_ERROR(ParseRemoteKeys(*f, base_dir, ic));

  const YAML::Node* aud = f->Get("audiences");
  if (aud == nullptr) return InvalidAt(node, f->Path("audiences"), "is required");
  POPGUARD_RETURN_IF_ERROR(ReadStringList(*aud, f->Path("audiences"), &ic->audiences));
  // Without an audience check, a token minted for any other API of the same
  // issuer would be accepted here.
  if (ic->audiences.empty()) return InvalidAt(*aud, f->Path("audiences"), "must not be empty");
  for (size_t i = 0; i < ic->audiences.size(); ++i) {
    if (ic->audiences[i].empty()) {
      return Invalid(Index(f->Path("audiences"), i), "must not be empty");
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadAlgorithms(*f, &ic->algorithms));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "require_typ", &ic->require_typ));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "max_lifetime", absl::ZeroDuration(), &ic->max_lifetime));
  return absl::OkStatus();
}

absl::Status ParseIssuers(const YAML::Node& node, const std::string& base_dir,
                          std::vector<IssuerConfig>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "issuers", absl::StrCat("must be a list, got ", TypeName(node)));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    IssuerConfig ic;
    const std::string path = Index("issuers", i);
    POPGUARD_RETURN_IF_ERROR(ParseIssuer(node[i], path, base_dir, &ic));
    // Two entries for one iss would make key selection ambiguous.
    if (!seen.insert(ic.issuer).second) {
      return Invalid(Child(path, "issuer"), absl::StrCat("duplicate issuer \"", ic.issuer, "\""));
    }
    out->push_back(std::move(ic));
  }
  return absl::OkStatus();
}

absl::Status ParseDpop(const YAML::Node& node, const std::string& base_dir, DpopConfig* dpop) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "dpop", {"algorithms", "max_age", "clock_skew", "max_jti_bytes", "nonce"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadAlgorithms(*f, &dpop->algorithms));
  // A proof must have a positive lifetime or none would ever be accepted.
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(*f, "max_age", absl::Seconds(1), &dpop->max_age));
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "clock_skew", absl::ZeroDuration(), &dpop->clock_skew));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_jti_bytes", 1, 4096, &dpop->max_jti_bytes));

  absl::StatusOr<Fields> nf = Fields::Of(f->Get("nonce") ? *f->Get("nonce") : YAML::Node(),
                                         "dpop.nonce", {"required", "secret_file", "step"});
  if (!nf.ok()) return nf.status();
  NonceConfig& nonce = dpop->nonce;
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*nf, "required", &nonce.required));
  POPGUARD_RETURN_IF_ERROR(
      ReadFileField(*nf, "secret_file", base_dir, kMinNonceSecretBytes, &nonce.secret_file));
  POPGUARD_RETURN_IF_ERROR(ReadDurationField(*nf, "step", absl::Seconds(1), &nonce.step));
  // Every replica must derive the same nonces, so the secret is shared and
  // configured; a per-process random secret would break multi-replica setups.
  if (nonce.required && nonce.secret_file.empty()) {
    return Invalid("dpop.nonce.secret_file", "is required when dpop.nonce.required is true");
  }
  return absl::OkStatus();
}

absl::Status ParseBindingField(const Fields& f, std::string_view key, BindingRequirement* out) {
  const YAML::Node* n = f.Get(key);
  if (n == nullptr) return absl::OkStatus();
  std::string s;
  POPGUARD_RETURN_IF_ERROR(ReadString(*n, f.Path(key), &s));
  const std::optional<BindingRequirement> b = ParseBindingRequirement(s);
  if (!b.has_value()) {
    return InvalidAt(*n, f.Path(key),
                     absl::StrCat("\"", s, "\" is not one of bearer, dpop, mtls, bound"));
  }
  *out = *b;
  return absl::OkStatus();
}

absl::Status ParseRoute(const YAML::Node& node, const std::string& path, size_t index,
                        const std::vector<IssuerConfig>& issuers, RouteConfig* route) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, path, {"name", "match", "binding", "scopes", "issuers", "report_only"});
  if (!f.ok()) return f.status();
  route->name = absl::StrCat("route-", index);
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "name", &route->name));
  if (!IsValidRouteName(route->name)) {
    return Invalid(f->Path("name"), "must be non-empty letters, digits, '-', '_' or '.'");
  }
  if (route->name == "default") {
    return Invalid(f->Path("name"), "\"default\" is reserved for requests no route matches");
  }

  absl::StatusOr<Fields> mf =
      Fields::Of(f->Get("match") ? *f->Get("match") : YAML::Node(), f->Path("match"),
                 {"host", "path_prefix", "route_key", "case_insensitive"});
  if (!mf.ok()) return mf.status();
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "host", &route->match.host));
  route->match.host = absl::AsciiStrToLower(route->match.host);
  if (!route->match.host.empty() && !IsValidRouteHost(route->match.host)) {
    return Invalid(mf->Path("host"), absl::StrCat("\"", route->match.host,
                                                  "\" is not a host name or *.suffix (no port)"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "path_prefix", &route->match.path_prefix));
  POPGUARD_RETURN_IF_ERROR(
      CheckPathPrefix(route->match.path_prefix, mf->Path("path_prefix"), route->name));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "route_key", &route->match.route_key));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*mf, "case_insensitive", &route->match.case_insensitive));

  POPGUARD_RETURN_IF_ERROR(ParseBindingField(*f, "binding", &route->binding));
  if (const YAML::Node* scopes = f->Get("scopes")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*scopes, f->Path("scopes"), &route->scopes));
    for (size_t i = 0; i < route->scopes.size(); ++i) {
      const std::string& s = route->scopes[i];
      if (!IsValidScopeToken(s)) {
        return Invalid(Index(f->Path("scopes"), i),
                       "must be a non-empty scope token (no spaces, quotes or backslashes)");
      }
    }
  }
  if (const YAML::Node* list = f->Get("issuers")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*list, f->Path("issuers"), &route->issuers));
    if (route->issuers.empty()) {
      // An empty list would read as "every issuer": say so by leaving it out.
      return Invalid(f->Path("issuers"), "must not be empty (leave it out to accept every issuer)");
    }
    for (size_t i = 0; i < route->issuers.size(); ++i) {
      const std::string& iss = route->issuers[i];
      // Issuers are named by their exact iss value, as in issuers[].issuer.
      const bool known = std::any_of(issuers.begin(), issuers.end(),
                                     [&](const IssuerConfig& ic) { return ic.issuer == iss; });
      if (!known) {
        return Invalid(Index(f->Path("issuers"), i),
                       absl::StrCat("\"", iss, "\" is not the issuer of any issuers[] entry"));
      }
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "report_only", &route->report_only));
  return absl::OkStatus();
}

absl::Status ParseRoutes(const YAML::Node& node, const std::vector<IssuerConfig>& issuers,
                         std::vector<RouteConfig>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "routes", absl::StrCat("must be a list, got ", TypeName(node)));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    RouteConfig route;
    const std::string path = Index("routes", i);
    POPGUARD_RETURN_IF_ERROR(ParseRoute(node[i], path, i, issuers, &route));
    // Names label logs and metrics; two routes with one name are indistinguishable.
    if (!names.insert(route.name).second) {
      return Invalid(Child(path, "name"),
                     absl::StrCat("duplicate route name \"", route.name, "\""));
    }
    out->push_back(std::move(route));
  }
  return absl::OkStatus();
}

absl::Status ParseUpstreamHeaders(const YAML::Node& node, std::vector<UpstreamHeader>* out) {
  if (!node.IsSequence()) {
    return InvalidAt(node, "upstream_headers",
                     absl::StrCat("must be a list, got ", TypeName(node)));
  }
  static constexpr std::string_view kSpecial[] = {"@binding", "@issuer", "@principal", "@route",
                                                  "@jkt"};
  std::vector<UpstreamHeader> headers;
  std::set<std::string> seen;
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string path = Index("upstream_headers", i);
    absl::StatusOr<Fields> f = Fields::Of(node[i], path, {"header", "value"});
    if (!f.ok()) return f.status();
    if (!f->Has("header")) return InvalidAt(node[i], f->Path("header"), "is required");
    if (!f->Has("value")) return InvalidAt(node[i], f->Path("value"), "is required");
    UpstreamHeader h;
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "header", &h.header));
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "value", &h.value));
    h.header = absl::AsciiStrToLower(h.header);
    if (!IsValidHeaderName(h.header)) {
      return Invalid(f->Path("header"),
                     absl::StrCat("\"", h.header, "\" is not a valid header name"));
    }
    if (IsForbiddenUpstreamHeader(h.header)) {
      return Invalid(f->Path("header"),
                     absl::StrCat("\"", h.header,
                                  "\" may not be set: it carries request framing, routing or "
                                  "credentials"));
    }
    if (!seen.insert(h.header).second) {
      return Invalid(f->Path("header"), absl::StrCat("duplicate header \"", h.header, "\""));
    }
    if (h.value.empty()) return Invalid(f->Path("value"), "must not be empty");
    if (h.value.front() == '@') {
      bool known = false;
      for (std::string_view s : kSpecial) known = known || h.value == s;
      if (!known) {
        return Invalid(
            f->Path("value"),
            absl::StrCat("\"", h.value,
                         "\" is not one of @binding, @issuer, @principal, @route, @jkt"));
      }
    } else if (std::any_of(h.value.begin(), h.value.end(), absl::ascii_isspace)) {
      return Invalid(f->Path("value"), "a claim name must not contain whitespace");
    }
    headers.push_back(std::move(h));
  }
  *out = std::move(headers);
  return absl::OkStatus();
}

// ParseRedisReplay reads replay.redis (docs/config.md).
absl::Status ParseRedisReplay(const YAML::Node& node, const std::string& base_dir,
                              RedisReplayConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "replay.redis",
                 {"addresses", "username", "password_file", "database", "key_prefix",
                  "connect_timeout", "command_timeout", "pool_size", "failure_policy",
                  "breaker_failures", "breaker_open", "required_for_readiness"});
  if (!f.ok()) return f.status();
  RedisReplayConfig r;
  if (const YAML::Node* n = f->Get("addresses")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("addresses"), &r.addresses));
  }
  if (r.addresses.empty()) {
    return Invalid(f->Path("addresses"), "list at least one Redis host:port");
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < r.addresses.size(); ++i) {
    const std::string path = Index(f->Path("addresses"), i);
    if (!IsHostAndPort(r.addresses[i], /*allow_zero_port=*/false)) {
      return Invalid(path, absl::StrCat("\"", r.addresses[i],
                                        "\" is not host:port (e.g. 10.0.0.5:6379, redis:6379)"));
    }
    if (!seen.insert(r.addresses[i]).second) return Invalid(path, "duplicate address");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "username", &r.username));
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "password_file", base_dir, 1, &r.password_file));
  if (!r.username.empty() && r.password_file.empty()) {
    return Invalid(f->Path("username"), "needs password_file (Redis ACL users log in with both)");
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "database", 0, 65535, &r.database));
  if (r.database != 0 && r.addresses.size() > 1) {
    // Several addresses mean a cluster, and a cluster has only database 0.
    return Invalid(f->Path("database"), "must be 0 with several addresses (Redis Cluster)");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "key_prefix", &r.key_prefix));
  if (r.key_prefix.empty() || r.key_prefix.size() > 128) {
    return Invalid(f->Path("key_prefix"), "must be 1 to 128 bytes");
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "connect_timeout", absl::Milliseconds(1),
                                               absl::Seconds(10), &r.connect_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "command_timeout", absl::Milliseconds(1),
                                               absl::Seconds(10), &r.command_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "pool_size", 1, 64, &r.pool_size));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "failure_policy", &r.failure_policy));
  if (r.failure_policy != "fail_closed" && r.failure_policy != "local_fallback") {
    return Invalid(
        f->Path("failure_policy"),
        absl::StrCat("\"", r.failure_policy, "\" is not one of fail_closed, local_fallback"));
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "breaker_failures", 1, 1000, &r.breaker_failures));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "breaker_open", absl::Milliseconds(10),
                                               absl::Minutes(10), &r.breaker_open));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "required_for_readiness", &r.required_for_readiness));
  *out = std::move(r);
  return absl::OkStatus();
}

absl::Status ParseForwardAuth(const YAML::Node& node, const std::string& base_dir,
                              ForwardAuthConfig* out) {
  absl::StatusOr<Fields> f = Fields::Of(
      node, "forward_auth",
      {"listen", "trusted_sources", "envoy_path_prefix", "client_cert_header", "client_cert_format",
       "tls", "threads", "max_queued", "io_timeout", "request_deadline"});
  if (!f.ok()) return f.status();
  ForwardAuthConfig fa;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "listen", &fa.listen));
  if (fa.listen.empty()) return Invalid("forward_auth.listen", "required in forward_auth");
  POPGUARD_RETURN_IF_ERROR(CheckListen(fa.listen, "forward_auth.listen"));
  // Security: the forward-auth protocols describe the original request in
  // headers (X-Original-URI, X-Forwarded-*), and a client that could reach
  // this port itself would describe any request it likes. Only listed peers
  // are believed, and the list is required rather than defaulting to "any".
  if (const YAML::Node* n = f->Get("trusted_sources")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("trusted_sources"), &fa.trusted_sources));
  }
  if (fa.trusted_sources.empty()) {
    return Invalid("forward_auth.trusted_sources",
                   "list the gateways' addresses (CIDRs); at least one is required");
  }
  for (size_t i = 0; i < fa.trusted_sources.size(); ++i) {
    absl::StatusOr<IpCidr> c = IpCidr::Parse(fa.trusted_sources[i]);
    if (!c.ok()) {
      return Invalid(Index("forward_auth.trusted_sources", i), std::string(c.status().message()));
    }
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "envoy_path_prefix", &fa.envoy_path_prefix));
  if (!fa.envoy_path_prefix.empty() &&
      (fa.envoy_path_prefix.front() != '/' || fa.envoy_path_prefix.back() == '/' ||
       fa.envoy_path_prefix.find_first_of("?#%") != std::string::npos)) {
    return Invalid("forward_auth.envoy_path_prefix",
                   "must start with / and not end with /, without ?, # or %");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "client_cert_header", &fa.client_cert_header));
  fa.client_cert_header = absl::AsciiStrToLower(fa.client_cert_header);
  std::string format;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "client_cert_format", &format));
  if (fa.client_cert_header.empty() != format.empty()) {
    return Invalid("forward_auth.client_cert_format",
                   "client_cert_header and client_cert_format must be given together");
  }
  if (!format.empty()) {
    const std::optional<ClientCertFormat> parsed = ParseClientCertFormat(format);
    if (!parsed.has_value()) {
      return Invalid(
          "forward_auth.client_cert_format",
          absl::StrCat("\"", format, "\" is not one of escaped_pem, der_base64, rfc9440"));
    }
    fa.client_cert_format = *parsed;
  }
  if (const YAML::Node* n = f->Get("tls")) {
    POPGUARD_RETURN_IF_ERROR(ParseTls(*n, "forward_auth.tls", base_dir, &fa.tls));
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "threads", 1, 1024, &fa.threads));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_queued", 0, 1 << 20, &fa.max_queued));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "io_timeout", absl::Milliseconds(10),
                                               absl::Minutes(1), &fa.io_timeout));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "request_deadline", absl::Milliseconds(10),
                                               absl::Minutes(1), &fa.request_deadline));
  *out = std::move(fa);
  return absl::OkStatus();
}

// ParseProtectedResource reads resources[i] of resource_metadata; `names`
// are the route names ("default" included) its routes must be among.
absl::Status ParseProtectedResource(const YAML::Node& node, const std::string& path,
                                    const std::set<std::string>& names,
                                    ProtectedResourceConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, path, {"resource", "routes", "authorization_servers", "scopes_supported"});
  if (!f.ok()) return f.status();
  ProtectedResourceConfig r;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "resource", &r.resource));
  if (r.resource.empty()) return Invalid(f->Path("resource"), "required");
  POPGUARD_RETURN_IF_ERROR(CheckResourceUrl(r.resource, f->Path("resource")));
  POPGUARD_RETURN_IF_ERROR(ReadStringListField(*f, "routes", &r.routes));
  POPGUARD_RETURN_IF_ERROR(
      ReadStringListField(*f, "authorization_servers", &r.authorization_servers));
  POPGUARD_RETURN_IF_ERROR(ReadStringListField(*f, "scopes_supported", &r.scopes_supported));
  for (size_t i = 0; i < r.routes.size(); ++i) {
    if (names.count(r.routes[i]) == 0) {
      return Invalid(Index(f->Path("routes"), i), "names no route (nor \"default\")");
    }
  }
  for (size_t i = 0; i < r.authorization_servers.size(); ++i) {
    POPGUARD_RETURN_IF_ERROR(
        CheckResourceUrl(r.authorization_servers[i], Index(f->Path("authorization_servers"), i)));
  }
  for (size_t i = 0; i < r.scopes_supported.size(); ++i) {
    if (!IsValidScopeToken(r.scopes_supported[i])) {
      return Invalid(Index(f->Path("scopes_supported"), i), "is not a scope token (RFC 6749 3.3)");
    }
  }
  *out = std::move(r);
  return absl::OkStatus();
}

absl::Status ParseResourceMetadata(const YAML::Node& node, const std::vector<RouteConfig>& routes,
                                   ResourceMetadataConfig* out) {
  absl::StatusOr<Fields> f = Fields::Of(node, "resource_metadata",
                                        {"resource", "resources", "challenge", "answer_checks"});
  if (!f.ok()) return f.status();
  ResourceMetadataConfig rm;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "resource", &rm.resource));
  if (!rm.resource.empty()) {
    POPGUARD_RETURN_IF_ERROR(CheckResourceUrl(rm.resource, "resource_metadata.resource"));
  }
  if (const YAML::Node* list = f->Get("resources")) {
    if (!rm.resource.empty()) {
      return Invalid("resource_metadata.resources",
                     "give either resource (one resource) or resources (several), not both");
    }
    if (!list->IsSequence() || list->size() == 0) {
      return InvalidAt(*list, "resource_metadata.resources",
                       "must be a non-empty list of mappings");
    }
    std::set<std::string> names = {"default"};
    for (const RouteConfig& r : routes) names.insert(r.name);
    std::set<std::string> claimed, keys;
    bool catch_all = false;
    for (size_t i = 0; i < list->size(); ++i) {
      const std::string path = Index("resource_metadata.resources", i);
      ProtectedResourceConfig r;
      POPGUARD_RETURN_IF_ERROR(ParseProtectedResource((*list)[i], path, names, &r));
      // Security: the document is chosen by host and path; two resources
      // there would serve one of them in the other's place.
      if (!keys.insert(ResourceMetadataKey(r.resource)).second) {
        return Invalid(Child(path, "resource"),
                       "another resource has the same host and metadata path");
      }
      // Each route's challenges name one metadata URL: a route listed twice
      // (or a second resource for "every other route") would be a guess.
      for (const std::string& name : r.routes) {
        if (!claimed.insert(name).second) {
          return Invalid(Child(path, "routes"),
                         absl::StrCat("route \"", name, "\" is listed by another resource"));
        }
      }
      if (r.routes.empty()) {
        if (catch_all) {
          return Invalid(Child(path, "routes"),
                         "only one resource may leave routes empty (every other route)");
        }
        catch_all = true;
      }
      rm.resources.push_back(std::move(r));
    }
  }
  if (rm.resource.empty() && rm.resources.empty()) {
    return Invalid("resource_metadata.resource", "required in resource_metadata");
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "challenge", &rm.challenge));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "answer_checks", &rm.answer_checks));
  *out = std::move(rm);
  return absl::OkStatus();
}

// ParseDiagnostics reads the path diagnostics section (docs/config.md,
// diagnostics); `routes` are the parsed routes its route names must exist in.
absl::Status ParseDiagnostics(const YAML::Node& node, const std::vector<RouteConfig>& routes,
                              DiagnosticsConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "diagnostics", {"enabled", "path", "routes", "rate_per_minute", "burst"});
  if (!f.ok()) return f.status();
  DiagnosticsConfig d;
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "enabled", &d.enabled));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "path", &d.path));
  if (!d.path.empty() &&
      (d.path.front() != '/' || d.path.find_first_of("?#") != std::string::npos)) {
    return Invalid("diagnostics.path", "must start with / and have no ? or #");
  }
  if (const YAML::Node* n = f->Get("routes")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("routes"), &d.routes));
  }
  for (size_t i = 0; i < d.routes.size(); ++i) {
    const bool known = std::any_of(routes.begin(), routes.end(),
                                   [&](const RouteConfig& r) { return r.name == d.routes[i]; });
    if (!known) return Invalid(Index("diagnostics.routes", i), "names no route");
  }
  if (d.enabled && d.path.empty() && d.routes.empty()) {
    return Invalid("diagnostics", "enabled needs a path or routes to answer probes on");
  }
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "rate_per_minute", 1, 6000, &d.rate_per_minute));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "burst", 1, 1000, &d.burst));
  *out = std::move(d);
  return absl::OkStatus();
}

// ParseOperability reads metrics, log and shutdown (docs/config.md).
absl::Status ParseOperability(const Fields& root, Config* config) {
  if (const YAML::Node* n = root.Get("metrics")) {
    absl::StatusOr<Fields> mf = Fields::Of(*n, "metrics", {"listen"});
    if (!mf.ok()) return mf.status();
    POPGUARD_RETURN_IF_ERROR(ReadStringField(*mf, "listen", &config->metrics.listen));
    if (!config->metrics.listen.empty()) {
      POPGUARD_RETURN_IF_ERROR(CheckListen(config->metrics.listen, "metrics.listen"));
    }
  }
  if (const YAML::Node* n = root.Get("resource_metadata")) {
    POPGUARD_RETURN_IF_ERROR(ParseResourceMetadata(*n, config->routes, &config->resource_metadata));
  }
  if (const YAML::Node* n = root.Get("forward_auth")) {
    POPGUARD_RETURN_IF_ERROR(ParseForwardAuth(*n, config->base_dir, &config->forward_auth));
  }
  if (const YAML::Node* n = root.Get("log")) {
    absl::StatusOr<Fields> lf = Fields::Of(*n, "log", {"allow_sample_rate"});
    if (!lf.ok()) return lf.status();
    if (const YAML::Node* r = lf->Get("allow_sample_rate")) {
      double rate = -1;
      if (!r->IsScalar() || !IsPlain(*r) || !absl::SimpleAtod(r->Scalar(), &rate) ||
          !(rate >= 0 && rate <= 1)) {
        return InvalidAt(*r, lf->Path("allow_sample_rate"), "must be a number from 0 to 1");
      }
      config->log.allow_sample_rate = rate;
    }
  }
  if (const YAML::Node* n = root.Get("shutdown")) {
    absl::StatusOr<Fields> sf = Fields::Of(*n, "shutdown", {"drain_delay", "grace"});
    if (!sf.ok()) return sf.status();
    POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*sf, "drain_delay", absl::ZeroDuration(),
                                                 absl::Minutes(10), &config->shutdown.drain_delay));
    POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*sf, "grace", absl::ZeroDuration(),
                                                 absl::Minutes(10), &config->shutdown.grace));
  }
  return absl::OkStatus();
}

// ParseReplay reads replay (docs/config.md).
absl::Status ParseReplay(const YAML::Node& node, const std::string& base_dir,
                         ReplayConfig* replay) {
  absl::StatusOr<Fields> f = Fields::Of(node, "replay", {"backend", "max_entries", "redis"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "backend", &replay->backend));
  if (replay->backend != "memory" && replay->backend != "redis") {
    return Invalid("replay.backend",
                   absl::StrCat("\"", replay->backend, "\" is not a backend; use memory or redis"));
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "max_entries", 1, uint64_t{1} << 40, &replay->max_entries));
  const YAML::Node* redis = f->Get("redis");
  if (redis != nullptr && replay->backend != "redis") {
    // A redis section that is silently ignored would leave the operator
    // believing replicas share a window they do not.
    return Invalid("replay.redis", "is only used with replay.backend: redis");
  }
  if (replay->backend == "redis") {
    if (redis == nullptr) {
      return Invalid("replay.redis.addresses", "required when replay.backend is redis");
    }
    POPGUARD_RETURN_IF_ERROR(ParseRedisReplay(*redis, base_dir, &replay->redis));
  }
  return absl::OkStatus();
}

// ParseOrigin reads external_origin and trusted_forwarded_headers, the two
// ways to learn the origin clients addressed.
absl::Status ParseOrigin(const Fields& root, Config* config) {
  std::string origin;
  POPGUARD_RETURN_IF_ERROR(ReadStringField(root, "external_origin", &origin));
  config->external_origin.reset();
  if (!origin.empty()) {
    absl::StatusOr<NormalizedUrl> normalized = NormalizeOrigin(origin, "external_origin");
    if (!normalized.ok()) return normalized.status();
    config->external_origin = *std::move(normalized);
  }
  POPGUARD_RETURN_IF_ERROR(
      ReadBoolField(root, "trusted_forwarded_headers", &config->trusted_forwarded_headers));
  // Two sources for the origin clients addressed would make the DPoP htu
  // check depend on which one the code happens to prefer.
  if (config->external_origin.has_value() && config->trusted_forwarded_headers) {
    return Invalid("trusted_forwarded_headers",
                   "cannot be true when external_origin is set (the origin would come from two "
                   "places)");
  }
  return absl::OkStatus();
}

// ParseCaches reads the three *_cache_entries sizes.
absl::Status ParseCaches(const Fields& root, Config* config) {
  POPGUARD_RETURN_IF_ERROR(ReadUintField(root, "access_token_cache_entries", 0, uint64_t{1} << 32,
                                         &config->access_token_cache_entries));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(root, "proof_key_cache_entries", 0, uint64_t{1} << 24,
                                         &config->proof_key_cache_entries));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(root, "cert_thumbprint_cache_entries", 0,
                                         uint64_t{1} << 24,
                                         &config->cert_thumbprint_cache_entries));
  return absl::OkStatus();
}

// ParseLimits reads limits; `dpop_max_age` bounds max_queue_wait.
absl::Status ParseLimits(const YAML::Node& node, absl::Duration dpop_max_age,
                         LimitsConfig* limits) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "limits",
                 {"max_token_bytes", "max_proof_bytes", "max_json_depth", "max_inflight",
                  "max_grpc_message_bytes", "max_queue_wait"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "max_token_bytes", 64, 1 << 20, &limits->max_token_bytes));
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "max_proof_bytes", 64, 1 << 20, &limits->max_proof_bytes));
  // 2 is the least a DPoP proof header (an object holding the jwk object) needs.
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_json_depth", 2, 64, &limits->max_json_depth));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_inflight", 1, 1 << 20, &limits->max_inflight));
  // At least 4 KiB (a request with one token and one proof); at most 64 MiB.
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "max_grpc_message_bytes", 4096, 64 << 20, &limits->max_grpc_message_bytes));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "max_queue_wait", absl::Milliseconds(1),
                                               absl::Seconds(30), &limits->max_queue_wait));
  // A decision allowed to wait as long as a proof lives would let every
  // proof go stale in the queue; the bound must leave most of max_age.
  if (const YAML::Node* w = f->Get("max_queue_wait");
      w != nullptr && limits->max_queue_wait >= dpop_max_age) {
    return InvalidAt(*w, f->Path("max_queue_wait"),
                     absl::StrCat("must be shorter than dpop.max_age (",
                                  absl::FormatDuration(dpop_max_age), ")"));
  }
  return absl::OkStatus();
}

// ParseCrypto reads crypto (docs/config.md).
absl::Status ParseCrypto(const YAML::Node& node, CryptoConfig* crypto) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "crypto",
                 {"force_openssl", "batch_verification", "verify_threads", "max_batch",
                  "inline_when_idle", "key_table_cache_entries"});
  if (!f.ok()) return f.status();
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "force_openssl", &crypto->force_openssl));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "batch_verification", &crypto->batch_verification));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "verify_threads", 0, 256, &crypto->verify_threads));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "max_batch", 1, 1024, &crypto->max_batch));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "inline_when_idle", &crypto->inline_when_idle));
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "key_table_cache_entries", 0, 65536, &crypto->key_table_cache_entries));
  return absl::OkStatus();
}

// ParseRollout reads the rollout section (docs/config.md "rollout").
absl::Status ParseRollout(const YAML::Node& node, RolloutConfig* out) {
  absl::StatusOr<Fields> f =
      Fields::Of(node, "rollout",
                 {"top_clients", "metric_clients", "ready_min_requests", "ready_max_deny_ratio"});
  if (!f.ok()) return f.status();
  // Both tables are per route; their size bounds the memory and the label
  // set whatever the clients do, so they are bounded here too.
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "top_clients", 1, 1000, &out->top_clients));
  POPGUARD_RETURN_IF_ERROR(ReadUintField(*f, "metric_clients", 0, 1000, &out->metric_clients));
  POPGUARD_RETURN_IF_ERROR(
      ReadUintField(*f, "ready_min_requests", 0, uint64_t{1} << 53, &out->ready_min_requests));
  if (const YAML::Node* r = f->Get("ready_max_deny_ratio")) {
    double ratio = -1;
    if (!r->IsScalar() || !IsPlain(*r) || !absl::SimpleAtod(r->Scalar(), &ratio) ||
        !(ratio >= 0 && ratio <= 1)) {
      return InvalidAt(*r, f->Path("ready_max_deny_ratio"), "must be a number from 0 to 1");
    }
    out->ready_max_deny_ratio = ratio;
  }
  return absl::OkStatus();
}

absl::Status ParseXfcc(const YAML::Node& node, bool trusted_xfcc, Config::Xfcc* out) {
  absl::StatusOr<Fields> f = Fields::Of(node, "xfcc", {"element", "trusted_peers"});
  if (!f.ok()) return f.status();
  // A section that is silently ignored would leave the operator believing
  // certificates are read from the header when they are not.
  if (!trusted_xfcc) return Invalid("xfcc", "is only used with trusted_xfcc: true");
  std::string element = "only";
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "element", &element));
  if (element == "only") {
    out->element = XfccElement::kOnly;
  } else if (element == "before_trusted_peer") {
    out->element = XfccElement::kBeforeTrustedPeer;
  } else {
    return Invalid("xfcc.element",
                   absl::StrCat("\"", element, "\" is not one of only, before_trusted_peer"));
  }
  if (const YAML::Node* n = f->Get("trusted_peers")) {
    POPGUARD_RETURN_IF_ERROR(ReadStringList(*n, f->Path("trusted_peers"), &out->trusted_peers));
    for (size_t i = 0; i < out->trusted_peers.size(); ++i) {
      if (out->trusted_peers[i].empty()) {
        return InvalidAt((*n)[i], Index(f->Path("trusted_peers"), i), "must not be empty");
      }
    }
  }
  // Without a trusted hop every element would be refused; with element
  // only, peers would be ignored. Both are configuration mistakes.
  if (out->element == XfccElement::kBeforeTrustedPeer && out->trusted_peers.empty()) {
    return Invalid("xfcc.trusted_peers", "required when xfcc.element is before_trusted_peer");
  }
  if (out->element == XfccElement::kOnly && !out->trusted_peers.empty()) {
    return Invalid("xfcc.trusted_peers", "is only used with xfcc.element: before_trusted_peer");
  }
  return absl::OkStatus();
}

// ParseRevocation reads the revocation section (docs/config.md "revocation").
absl::Status ParseRevocation(const YAML::Node& node, const Config& config, RevocationConfig* out) {
  absl::StatusOr<Fields> f = Fields::Of(
      node, "revocation",
      {"file", "redis", "redis_key", "redis_channel", "resync_interval", "max_staleness"});
  if (!f.ok()) return f.status();
  RevocationConfig r;
  POPGUARD_RETURN_IF_ERROR(ReadFileField(*f, "file", config.base_dir, 0, &r.file));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "redis", &r.redis));
  // The list uses the replay window's Redis (addresses, ACL user, TLS-free
  // loopback or network): one Redis to secure and to watch, not two.
  if (r.redis && config.replay.backend != "redis") {
    return Invalid(f->Path("redis"), "needs replay.backend: redis (the list uses its Redis)");
  }
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "redis_key", &r.redis_key));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "redis_channel", &r.redis_channel));
  if (r.redis_key.empty() || r.redis_key.size() > 128) {
    return Invalid(f->Path("redis_key"), "must be 1 to 128 bytes");
  }
  if (r.redis_channel.empty() || r.redis_channel.size() > 128) {
    return Invalid(f->Path("redis_channel"), "must be 1 to 128 bytes");
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "resync_interval", absl::Seconds(1),
                                               absl::Hours(24), &r.resync_interval));
  POPGUARD_RETURN_IF_ERROR(ReadBoundedDuration(*f, "max_staleness", absl::ZeroDuration(),
                                               absl::Hours(24), &r.max_staleness));
  if (!r.redis && (f->Get("max_staleness") != nullptr || f->Get("resync_interval") != nullptr)) {
    return Invalid(f->Path("redis"), "max_staleness and resync_interval need redis: true");
  }
  *out = std::move(r);
  return absl::OkStatus();
}

absl::Status ParseRoot(const YAML::Node& root, Config* config) {
  absl::StatusOr<Fields> f = Fields::Of(root, "",
                                        {"listen",
                                         "log_level",
                                         "tls",
                                         "issuers",
                                         "clock_skew",
                                         "dpop",
                                         "routes",
                                         "default_binding",
                                         "default_report_only",
                                         "replay",
                                         "trusted_xfcc",
                                         "xfcc",
                                         "external_origin",
                                         "trusted_forwarded_headers",
                                         "cors_expose_headers",
                                         "upstream_headers",
                                         "access_token_cache_entries",
                                         "proof_key_cache_entries",
                                         "cert_thumbprint_cache_entries",
                                         "limits",
                                         "crypto",
                                         "metrics",
                                         "forward_auth",
                                         "resource_metadata",
                                         "log",
                                         "shutdown",
                                         "revocation",
                                         "rollout",
                                         "diagnostics"});
  if (!f.ok()) return f.status();
  const std::string& base_dir = config->base_dir;

  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "listen", &config->listen));
  POPGUARD_RETURN_IF_ERROR(CheckListen(config->listen, "listen"));
  POPGUARD_RETURN_IF_ERROR(ReadStringField(*f, "log_level", &config->log_level));
  POPGUARD_RETURN_IF_ERROR(CheckLogLevel(config->log_level, "log_level"));
  if (const YAML::Node* n = f->Get("tls")) {
    POPGUARD_RETURN_IF_ERROR(ParseTls(*n, "tls", base_dir, &config->tls));
  }
  if (const YAML::Node* n = f->Get("issuers")) {
    POPGUARD_RETURN_IF_ERROR(ParseIssuers(*n, base_dir, &config->issuers));
  }
  if (config->issuers.empty()) return Invalid("issuers", "at least one issuer is required");
  POPGUARD_RETURN_IF_ERROR(
      ReadDurationField(*f, "clock_skew", absl::ZeroDuration(), &config->clock_skew));
  if (const YAML::Node* n = f->Get("dpop")) {
    POPGUARD_RETURN_IF_ERROR(ParseDpop(*n, base_dir, &config->dpop));
  }
  if (const YAML::Node* n = f->Get("routes")) {
    POPGUARD_RETURN_IF_ERROR(ParseRoutes(*n, config->issuers, &config->routes));
  }
  POPGUARD_RETURN_IF_ERROR(ParseBindingField(*f, "default_binding", &config->default_binding));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "default_report_only", &config->default_report_only));
  if (const YAML::Node* n = f->Get("replay")) {
    POPGUARD_RETURN_IF_ERROR(ParseReplay(*n, base_dir, &config->replay));
  }
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "trusted_xfcc", &config->trusted_xfcc));
  if (const YAML::Node* n = f->Get("xfcc")) {
    POPGUARD_RETURN_IF_ERROR(ParseXfcc(*n, config->trusted_xfcc, &config->xfcc));
  }
  POPGUARD_RETURN_IF_ERROR(ParseOrigin(*f, config));
  POPGUARD_RETURN_IF_ERROR(ReadBoolField(*f, "cors_expose_headers", &config->cors_expose_headers));
  if (const YAML::Node* n = f->Get("upstream_headers")) {
    POPGUARD_RETURN_IF_ERROR(ParseUpstreamHeaders(*n, &config->upstream_headers));
  }
  POPGUARD_RETURN_IF_ERROR(ParseCaches(*f, config));
  // The default wait bound leaves at least half of a very short max_age.
  config->limits.max_queue_wait = std::min(config->limits.max_queue_wait, config->dpop.max_age / 2);
  if (const YAML::Node* n = f->Get("limits")) {
    POPGUARD_RETURN_IF_ERROR(ParseLimits(*n, config->dpop.max_age, &config->limits));
  }
  if (const YAML::Node* n = f->Get("crypto")) {
    POPGUARD_RETURN_IF_ERROR(ParseCrypto(*n, &config->crypto));
  }
  POPGUARD_RETURN_IF_ERROR(ParseOperability(*f, config));
  if (const YAML::Node* n = f->Get("revocation")) {
    POPGUARD_RETURN_IF_ERROR(ParseRevocation(*n, *config, &config->revocation));
  }
  if (const YAML::Node* n = f->Get("rollout")) {
    POPGUARD_RETURN_IF_ERROR(ParseRollout(*n, &config->rollout));
  }
  if (const YAML::Node* n = f->Get("diagnostics")) {
    POPGUARD_RETURN_IF_ERROR(ParseDiagnostics(*n, config->routes, &config->diagnostics));
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace config_internal

std::string_view BindingRequirementName(BindingRequirement b) {
  switch (b) {
    case BindingRequirement::kBearer:
      return "bearer";
    case BindingRequirement::kDpop:
      return "dpop";
    case BindingRequirement::kMtls:
      return "mtls";
    case BindingRequirement::kBound:
      return "bound";
  }
  return "unknown";
}

std::string_view ClientCertFormatName(ClientCertFormat format) {
  switch (format) {
    case ClientCertFormat::kNone:
      return "";
    case ClientCertFormat::kEscapedPem:
      return "escaped_pem";
    case ClientCertFormat::kDerBase64:
      return "der_base64";
    case ClientCertFormat::kRfc9440:
      return "rfc9440";
  }
  return "";
}

std::optional<ClientCertFormat> ParseClientCertFormat(std::string_view name) {
  for (ClientCertFormat f :
       {ClientCertFormat::kEscapedPem, ClientCertFormat::kDerBase64, ClientCertFormat::kRfc9440}) {
    if (name == ClientCertFormatName(f)) return f;
  }
  return std::nullopt;
}

std::optional<BindingRequirement> ParseBindingRequirement(std::string_view name) {
  for (BindingRequirement b : {BindingRequirement::kBearer, BindingRequirement::kDpop,
                               BindingRequirement::kMtls, BindingRequirement::kBound}) {
    if (name == BindingRequirementName(b)) return b;
  }
  return std::nullopt;
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", AV(text),
        "\" is not a duration (e.g. 250ms, 60s, 5m, 1h30m; a bare number is seconds)"));
  };
  if (text.empty()) return invalid();
  if (std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
    int64_t secs = 0;
    if (text.size() > 12 || !absl::SimpleAtoi(AV(text), &secs)) return invalid();
    return absl::Seconds(secs);
  }
  // One or more <digits><unit> parts, e.g. "1h30m". Each number is bounded so
  // the sum cannot overflow.
  absl::Duration total = absl::ZeroDuration();
  size_t i = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    while (i < text.size() && absl::ascii_isdigit(text[i])) ++i;
    const std::string_view num = text.substr(num_start, i - num_start);
    const size_t unit_start = i;
    while (i < text.size() && absl::ascii_isalpha(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t n = 0;
    if (num.empty() || num.size() > 12 || !absl::SimpleAtoi(AV(num), &n)) return invalid();
    if (unit == "ms") {
      total += absl::Milliseconds(n);
    } else if (unit == "s") {
      total += absl::Seconds(n);
    } else if (unit == "m") {
      total += absl::Minutes(n);
    } else if (unit == "h") {
      total += absl::Hours(n);
    } else {
      return invalid();
    }
  }
  return total;
}

std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  if (path.empty() || base_dir.empty()) return path;
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

absl::StatusOr<std::string> ReadNonceSecret(const Config& config) {
  const NonceConfig& nonce = config.dpop.nonce;
  if (nonce.secret_file.empty()) {
    if (nonce.required) {
      return absl::InvalidArgumentError("dpop.nonce.required needs dpop.nonce.secret_file");
    }
    return std::string();
  }
  const absl::Status unusable = absl::InvalidArgumentError(
      "dpop.nonce.secret_file must be readable and hold at least 32 bytes");
  std::ifstream in(ResolvePath(config.base_dir, nonce.secret_file), std::ios::binary);
  if (!in) return unusable;
  std::stringstream secret;
  secret << in.rdbuf();
  if (secret.str().size() < kMinNonceSecretBytes) return unusable;
  return secret.str();
}

namespace {

// FlowEntryAtDocumentRoot returns the 1-based line of a ',' that stands where
// a YAML document's root node would begin (after comments, directives,
// `---`/`...` markers, an anchor or a tag), or 0 when there is none.
//
// Why: yaml-cpp 0.7 (Debian 12) never returns on such a document: it loops,
// allocating, until the process runs out of memory (config_fuzzer: the two
// bytes ",s" took 2 GB; `popguard --check_config` died of std::bad_alloc).
// A config reload of a bad ConfigMap must be refused, never stall or kill a
// replica, so the shape is refused before yaml-cpp sees it. A ',' at the root
// is never valid YAML, so nothing valid is refused. The scan is linear and
// conservative: a `---` or `...` at column 0 starts a new root, as it does in
// YAML even inside a block scalar.
int FlowEntryAtDocumentRoot(std::string_view yaml) {
  int line = 1;
  bool at_root = true;  // the current document's root has not begun yet
  bool line_start = true;
  size_t i = 0;
  auto marker_at = [&](size_t k) {
    if (yaml.compare(k, 3, "---") != 0 && yaml.compare(k, 3, "...") != 0) return false;
    return k + 3 == yaml.size() || yaml[k + 3] == ' ' || yaml[k + 3] == '\t' ||
           yaml[k + 3] == '\n' || yaml[k + 3] == '\r';
  };
  auto skip_to_line_end = [&] {
    while (i < yaml.size() && yaml[i] != '\n') ++i;
  };
  while (i < yaml.size()) {
    const char c = yaml[i];
    if (c == '\n') {
      ++line;
      ++i;
      line_start = true;
      continue;
    }
    if (line_start && marker_at(i)) {
      at_root = true;
      i += 3;
      line_start = false;
      continue;
    }
    const bool was_line_start = line_start;
    line_start = false;
    if (!at_root) {
      skip_to_line_end();
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
    } else if (c == '#' || (c == '%' && was_line_start)) {
      skip_to_line_end();
    } else if (c == '&' || c == '!') {  // an anchor or a tag on the root node
      while (i < yaml.size() && yaml[i] != ' ' && yaml[i] != '\t' && yaml[i] != '\n') ++i;
    } else if (c == ',') {
      return line;
    } else {
      at_root = false;
      skip_to_line_end();
    }
  }
  return 0;
}

// DocumentCounter is a yaml-cpp event handler that only counts documents.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) second_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  int documents() const { return documents_; }
  const YAML::Mark& second() const { return second_; }

 private:
  int documents_ = 0;
  YAML::Mark second_;
};

// SecondDocument returns the position where a second YAML document begins,
// or nullopt when the input holds at most one. It parses with events only
// and stops at the second document.
//
// Why: a config is one document, and yaml-cpp 0.7 (Debian 12) turns a ','
// after a complete root node ("x",s  [a],s  {a: 1},s  !t,s  &a,s ...) into
// an endless series of empty documents: YAML::LoadAll allocates until the
// process runs out of memory (config_fuzzer, twice). Counting documents one
// at a time bounds every such shape, whatever precedes the ',', instead of
// recognising each; FlowEntryAtDocumentRoot below only keeps the clearer
// message for the commonest one.
std::optional<YAML::Mark> SecondDocument(std::string_view yaml) {
  std::istringstream in{std::string(yaml)};
  YAML::Parser parser(in);
  DocumentCounter counter;
  while (counter.documents() < 2 && parser.HandleNextDocument(counter)) {
  }
  if (counter.documents() < 2) return std::nullopt;
  return counter.second();
}

}  // namespace

absl::StatusOr<Config> LoadConfigYaml(std::string_view yaml, const std::string& base_dir) {
  if (const int line = FlowEntryAtDocumentRoot(yaml); line > 0) {
    return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error at line ", line,
                                                   ": a document cannot begin with ','"));
  }
  try {
    if (const std::optional<YAML::Mark> second = SecondDocument(yaml)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: holds more than one YAML document (the second begins at line ", second->line + 1,
          ", column ", second->column + 1, "; a ',' outside [] or {} ends the first)"));
    }
  } catch (const YAML::Exception&) {
    // A syntax error: reported with its position by the full parse below.
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& e) {
    if (e.mark.line >= 0) {
      return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error at line ",
                                                     e.mark.line + 1, ", column ",
                                                     e.mark.column + 1, ": ", e.msg));
    }
    return absl::InvalidArgumentError(absl::StrCat("config: YAML syntax error: ", e.msg));
  }
  if (docs.size() > 1) {
    return absl::InvalidArgumentError("config: holds more than one YAML document");
  }
  Config config;
  // Paths are stored absolute, so ResolvePath(config.base_dir, p) is a no-op
  // for them and the result does not depend on the working directory later.
  std::error_code ec;
  const std::filesystem::path base = base_dir.empty() ? std::filesystem::current_path(ec)
                                                      : std::filesystem::absolute(base_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: cannot resolve base directory \"", base_dir, "\": ", ec.message()));
  }
  config.base_dir = base.lexically_normal().string();
  try {
    absl::Status status =
        config_internal::ParseRoot(docs.empty() ? YAML::Node() : docs[0], &config);
    if (!status.ok()) return status;
  } catch (const YAML::Exception& e) {
    // The parser above checks node types before reading them; this only
    // catches what yaml-cpp reports that we did not anticipate.
    return absl::InvalidArgumentError(absl::StrCat("config: ", e.what()));
  }
  return config;
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path abs = std::filesystem::absolute(path, ec);
  // Each way a path can fail to be a config file gets its own message: a
  // directory (a ConfigMap's mount point given instead of the file in it) is
  // not "missing".
  const std::filesystem::file_status st = std::filesystem::status(abs, ec);
  if (std::filesystem::is_directory(st)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config path ", path, " is a directory, not a file (name the YAML file in it)"));
  }
  if (!std::filesystem::exists(st)) {
    return absl::InvalidArgumentError(absl::StrCat("config file ", path, " does not exist"));
  }
  if (!std::filesystem::is_regular_file(st)) {
    return absl::InvalidArgumentError(absl::StrCat("config path ", path, " is not a regular file"));
  }
  const std::uintmax_t size = std::filesystem::file_size(abs, ec);
  if (ec || size > kMaxConfigFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " is larger than ", kMaxConfigFileBytes, " bytes"));
  }
  std::ifstream in(abs, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("cannot read config file ", path));
  absl::StatusOr<Config> config = LoadConfigYaml(text.str(), abs.parent_path().string());
  if (!config.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", config.status().message()));
  }
  return config;
}

absl::Status ApplyOverrides(const ConfigOverrides& overrides, Config* config) {
  if (!overrides.listen.empty()) {
    POPGUARD_RETURN_IF_ERROR(config_internal::CheckListen(overrides.listen, "--listen"));
    config->listen = overrides.listen;
  }
  if (!overrides.log_level.empty()) {
    POPGUARD_RETURN_IF_ERROR(config_internal::CheckLogLevel(overrides.log_level, "--log_level"));
    config->log_level = overrides.log_level;
  }
  return absl::OkStatus();
}

}  // namespace popguard
