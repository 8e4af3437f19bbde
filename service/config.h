// Config: everything popguard's behaviour depends on, loaded from YAML.
// docs/config.md documents every key; LoadConfig rejects unknown keys and
// invalid values with an error naming the key (e.g. "issuers[0].audiences").
#ifndef POPGUARD_SERVICE_CONFIG_H_
#define POPGUARD_SERVICE_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popguard {

// The binding a route requires of the token.
enum class BindingRequirement {
  kBearer,  // any valid token; a bound token must still prove its binding
  kDpop,    // a token bound with cnf.jkt and a valid DPoP proof
  kMtls,    // a token bound with cnf.x5t#S256 and the matching client certificate
  kBound,   // either dpop or mtls
};

// BindingRequirementName returns "bearer", "dpop", "mtls" or "bound".
std::string_view BindingRequirementName(BindingRequirement b);

// ParseBindingRequirement is the inverse of BindingRequirementName (exact,
// lower-case); nullopt for any other text.
std::optional<BindingRequirement> ParseBindingRequirement(std::string_view name);

struct IssuerConfig {
  std::string issuer;                  // exact iss value
  std::string jwks_file;               // path to a JWKS file, or
  std::string jwks_inline;             // the JWKS document itself (YAML `jwks:` as JSON text or mapping)
  std::vector<std::string> audiences;  // at least one
  std::vector<std::string> algorithms = {"ES256", "ES384", "ES512", "EdDSA", "RS256",
                                         "RS384", "RS512", "PS256", "PS384", "PS512"};
  bool require_typ = false;            // typ must be at+jwt / application/at+jwt
  absl::Duration max_lifetime = absl::ZeroDuration();  // 0: no limit; else exp-iat bound (iat required)
};

struct NonceConfig {
  bool required = false;
  std::string secret_file;  // shared secret (>= 32 bytes) so every replica accepts every nonce
  absl::Duration step = absl::Seconds(30);
};

struct DpopConfig {
  std::vector<std::string> algorithms = {"ES256", "ES384", "ES512", "EdDSA",
                                         "RS256", "PS256"};
  absl::Duration max_age = absl::Seconds(60);    // how old a proof's iat may be
  absl::Duration clock_skew = absl::Seconds(5);  // how far in the future iat may be
  size_t max_jti_bytes = 256;
  NonceConfig nonce;
};

struct RouteMatch {
  std::string host;         // exact (case-insensitive) or "*.suffix"; empty: any
  std::string path_prefix;  // segment-aware prefix of the normalised path; empty: any
  std::string route_key;    // Verify route_key or Envoy context extension popguard_route; empty: any
};

struct RouteConfig {
  std::string name;  // for logs and metrics; defaults to "route-<index>"
  RouteMatch match;
  BindingRequirement binding = BindingRequirement::kBound;
  std::vector<std::string> scopes;  // all required
  bool report_only = false;
};

// One upstream header set from the verified token on ALLOW.
struct UpstreamHeader {
  std::string header;  // lower-case header name
  // A claim name (top-level string, number or string array joined by spaces),
  // or one of: @binding, @issuer, @principal, @route, @jkt.
  std::string value;
};

struct TlsConfig {
  std::string cert_file;       // server certificate chain (PEM)
  std::string key_file;        // server private key (PEM)
  std::string client_ca_file;  // when set, clients must present a certificate from this CA
};

struct ReplayConfig {
  std::string backend = "memory";  // only "memory" until the Redis store lands
  size_t max_entries = 1000000;
};

struct LimitsConfig {
  size_t max_token_bytes = 8192;
  size_t max_proof_bytes = 4096;
  int max_json_depth = 16;
};

struct Config {
  std::string listen = "127.0.0.1:9001";
  std::string log_level = "info";  // debug, info, warn, error
  TlsConfig tls;
  std::vector<IssuerConfig> issuers;
  absl::Duration clock_skew = absl::Seconds(60);  // for access token time claims
  DpopConfig dpop;
  std::vector<RouteConfig> routes;  // first match wins
  BindingRequirement default_binding = BindingRequirement::kBound;
  bool default_report_only = false;
  ReplayConfig replay;
  bool trusted_xfcc = false;  // trust x-forwarded-client-cert from the gateway
  // When a proxy in front rewrites scheme/host, the origin clients address,
  // e.g. "https://api.example"; DPoP htu is checked against it.
  std::string external_origin;
  // When true, X-Forwarded-Proto / X-Forwarded-Host (first value) give the
  // origin the client addressed. Only for gateways that set them themselves.
  bool trusted_forwarded_headers = false;
  std::vector<UpstreamHeader> upstream_headers = {
      {"x-popguard-sub", "sub"},
      {"x-popguard-client-id", "client_id"},
      {"x-popguard-scope", "scope"},
      {"x-popguard-binding", "@binding"},
  };
  size_t access_token_cache_entries = 100000;  // 0 disables the cache
  LimitsConfig limits;

  // Directory relative paths in the file are resolved against (set by LoadConfigFile).
  std::string base_dir;
};

// LoadConfigFile reads and validates a YAML config file. Relative paths inside
// it (jwks_file, secret_file, tls files) resolve against the file's directory.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// LoadConfigYaml parses and validates YAML text; `base_dir` resolves relative paths.
absl::StatusOr<Config> LoadConfigYaml(std::string_view yaml, const std::string& base_dir);

// ParseDuration parses "250ms", "60s", "5m", "24h" (a bare integer is seconds).
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// ResolvePath returns `path` if absolute, else base_dir/path.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CONFIG_H_
