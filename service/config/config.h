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
#include "service/common/url.h"

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
  std::string issuer;       // exact iss value
  std::string jwks_file;    // path to a JWKS file, or
  std::string jwks_inline;  // the JWKS itself (YAML `jwks:`, JSON text or mapping), or
  std::string jwks_uri;     // an https URL to fetch the JWKS from, or
  bool discovery = false;   // find jwks_uri in the issuer's discovery document
  // Remote keys (jwks_uri or discovery) only; see remote_key_source.h.
  std::string ca_file;      // PEM CA bundle for the fetches; empty: system CAs
  bool allow_http = false;  // allow plain http:// (local testing only)
  absl::Duration fetch_timeout = absl::Seconds(5);
  absl::Duration min_refresh = absl::Minutes(5);  // bounds for Cache-Control max-age
  absl::Duration max_refresh = absl::Hours(24);
  absl::Duration max_stale = absl::Hours(24);  // keys untrusted this long after the last success
  absl::Duration kid_refetch_interval = absl::Seconds(30);  // unknown-kid fetches, per issuer
  bool required = true;                                     // readiness needs this issuer's keys
  std::vector<std::string> audiences;                       // at least one
  std::vector<std::string> algorithms = {"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256",
                                         "RS384", "RS512", "PS256", "PS384", "PS512"};
  bool require_typ = false;  // typ must be at+jwt / application/at+jwt
  absl::Duration max_lifetime =
      absl::ZeroDuration();  // 0: no limit; else exp-iat bound (iat required)
};

struct NonceConfig {
  bool required = false;
  std::string secret_file;  // shared secret (>= 32 bytes) so every replica accepts every nonce
  absl::Duration step = absl::Seconds(30);
};

struct DpopConfig {
  // Ed25519 (RFC 9864) next to EdDSA: panva's dpop, among others, signs
  // Ed25519 proofs under the fully-specified name.
  std::vector<std::string> algorithms = {"ES256",   "ES384", "ES512", "EdDSA",
                                         "Ed25519", "RS256", "PS256"};
  absl::Duration max_age = absl::Seconds(60);    // how old a proof's iat may be
  absl::Duration clock_skew = absl::Seconds(5);  // how far in the future iat may be
  size_t max_jti_bytes = 256;
  NonceConfig nonce;
};

struct RouteMatch {
  std::string host;         // exact (case-insensitive) or "*.suffix"; empty: any
  std::string path_prefix;  // segment-aware prefix of every reading of the path; empty: any
  std::string route_key;  // Verify route_key or Envoy context extension popguard_route; empty: any
  bool case_insensitive = false;  // path_prefix compared ignoring ASCII case (host always is)
};

struct RouteConfig {
  std::string name;  // for logs and metrics; defaults to "route-<index>"
  RouteMatch match;
  BindingRequirement binding = BindingRequirement::kBound;
  std::vector<std::string> scopes;  // all required
  // iss values (each a configured issuers[].issuer) whose tokens this route
  // accepts; empty: every configured issuer.
  std::vector<std::string> issuers;
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

// The shared Redis replay window (replay.backend: redis); see docs/config.md.
struct RedisReplayConfig {
  std::vector<std::string> addresses;  // host:port: one server, or any cluster nodes (seeds)
  std::string username;                // Redis 6 ACL user; empty: AUTH with the password only
  std::string password_file;           // resolved path; empty: no AUTH
  int database = 0;                    // single server only
  std::string key_prefix = "popguard:dpop:";
  absl::Duration connect_timeout = absl::Milliseconds(50);
  absl::Duration command_timeout = absl::Milliseconds(50);
  int pool_size = 2;                           // connections per Redis node
  std::string failure_policy = "fail_closed";  // or "local_fallback"
  int breaker_failures = 5;                    // consecutive failures that open the breaker
  absl::Duration breaker_open = absl::Seconds(1);
  bool required_for_readiness = true;  // gRPC health NOT_SERVING while Redis is down
};

struct ReplayConfig {
  std::string backend = "memory";  // "memory" (per process) or "redis" (shared)
  size_t max_entries = 1000000;    // memory window; with redis, the local_fallback window
  RedisReplayConfig redis;
};

struct LimitsConfig {
  size_t max_token_bytes = 8192;
  size_t max_proof_bytes = 4096;
  int max_json_depth = 16;
  // Requests (and stream messages) decided at once; more are refused at once
  // with RESOURCE_EXHAUSTED instead of queueing. Needs a restart to change.
  size_t max_inflight = 4096;
  // Largest gRPC request message accepted. Needs a restart to change.
  size_t max_grpc_message_bytes = 1 << 20;
  // The longest a DPoP decision may take from arrival to its replay check;
  // a later one is denied `overloaded` (503) instead of being decided late.
  // Shorter than dpop.max_age.
  absl::Duration max_queue_wait = absl::Seconds(1);
};

// YAML crypto: which code verifies signatures, and on which threads.
struct CryptoConfig {
  // Verify every algorithm with OpenSSL, not with popguard's own ES256 and
  // Ed25519 cores (for operators who require a validated library).
  bool force_openssl = false;
  // Signature checks go to a pool of worker threads that verify whatever is
  // queued as one batch (service/jose/verify_scheduler.h); false: each request's
  // signatures are verified inline on the gRPC thread. Needs a restart.
  bool batch_verification = true;
  // Worker threads of that pool; 0: one per core. Needs a restart.
  size_t verify_threads = 0;
  // The most signatures one worker verifies as one batch. Needs a restart.
  size_t max_batch = 64;
  // While fewer checks are in progress than there are workers and none is
  // queued, verify on the gRPC thread itself (no hand-off). Needs a restart.
  bool inline_when_idle = true;
  // ES256 client keys remembered with their precomputed tables (~52 KiB
  // each once a key is seen twice); 0: client keys are never hot.
  size_t key_table_cache_entries = 512;
};

// Operability (docs/config.md): metrics/health HTTP port, log sampling, drain.
struct MetricsConfig {
  std::string listen;  // host:port serving /metrics, /healthz, /readyz; empty: off
};

// Encoding of the client certificate header a forward-auth gateway sends
// (forward_auth.client_cert_format), parsed at load so requests compare an enum.
enum class ClientCertFormat {
  kNone,        // no client_cert_header: no certificate is read
  kEscapedPem,  // "escaped_pem": URL-encoded PEM (nginx $ssl_client_escaped_cert)
  kDerBase64,   // "der_base64": base64 DER (Caddy certificate_der_base64)
  kRfc9440,     // "rfc9440": RFC 9440 Client-Cert, ":base64-DER:"
};

// ClientCertFormatName is the config spelling ("" for kNone);
// ParseClientCertFormat its inverse (nullopt for an unknown or empty name).
std::string_view ClientCertFormatName(ClientCertFormat format);
std::optional<ClientCertFormat> ParseClientCertFormat(std::string_view name);

// Which x-forwarded-client-cert element carries the client certificate
// (xfcc.element; service/authn/client_cert.h XfccPolicy).
enum class XfccElement {
  kOnly,               // "only": the header holds exactly one element
  kBeforeTrustedPeer,  // "before_trusted_peer": the one before a trusted hop's
};

// YAML forward_auth: the HTTP forward-auth listener for nginx auth_request,
// Caddy forward_auth, Traefik forwardAuth and Envoy's HTTP ext_authz
// (service/server/forward_auth.h, docs/config.md). Needs a restart to change.
struct ForwardAuthConfig {
  std::string listen;  // host:port; empty: no forward-auth listener
  // Peer addresses (CIDRs or single addresses) of the gateways; a request
  // from any other peer is refused before any header is read.
  std::vector<std::string> trusted_sources;
  // Envoy HTTP ext_authz path_prefix (e.g. "/envoy"): a request under it is
  // the original request with its path appended; empty: not accepted.
  std::string envoy_path_prefix;
  // Header (lower-case) that carries the client certificate the gateway
  // verified, and its encoding: "escaped_pem" (nginx $ssl_client_escaped_cert),
  // "der_base64" (Caddy {http.request.tls.client.certificate_der_base64}) or
  // "rfc9440" (Client-Cert, ":base64-DER:"). Empty: no certificate is read.
  std::string client_cert_header;
  ClientCertFormat client_cert_format = ClientCertFormat::kNone;
  // TLS on the listener, keys as the top-level tls (the gateway connects with
  // https; with client_ca_file it must present a certificate from that CA).
  // Empty cert_file: plaintext.
  TlsConfig tls;
  int threads = 8;          // requests decided at once on this listener
  size_t max_queued = 256;  // connections waiting for a thread; more are shed (503)
  absl::Duration io_timeout = absl::Seconds(2);        // each read or write
  absl::Duration request_deadline = absl::Seconds(5);  // a whole request
};

// YAML resource_metadata: RFC 9728 OAuth 2.0 protected-resource metadata
// (service/config/resource_metadata.h, docs/config.md).
// One protected resource of resource_metadata.resources.
struct ProtectedResourceConfig {
  std::string resource;  // https URL, no query or fragment
  // Names of the routes ("default" for requests no route matches) whose
  // challenges name this resource's metadata URL; empty: every route that no
  // other resource lists (at most one resource may leave it empty).
  std::vector<std::string> routes;
  // Override what the document lists; empty: derived from the config (the
  // issuers its routes accept, the scopes its routes require).
  std::vector<std::string> authorization_servers;
  std::vector<std::string> scopes_supported;
};

struct ResourceMetadataConfig {
  // The protected resource's identifier, an https URL (e.g.
  // "https://api.example" or "https://api.example/v1"); empty: off.
  // The one-resource form; several resources go in `resources` instead.
  std::string resource;
  // Several resources per popguard (RFC 9728 section 3.1: each has its own
  // well-known path); exclusive with `resource`.
  std::vector<ProtectedResourceConfig> resources;
  // Add resource_metadata="<metadata URL>" to WWW-Authenticate challenges.
  bool challenge = true;
  // Answer a Check for GET/HEAD of the metadata URL's path with the document
  // (Envoy then returns it to the client itself).
  bool answer_checks = false;
};

// YAML revocation: the denylist of tokens, subjects, clients and keys
// (service/authn/revocation.h, docs/config.md "revocation").
struct RevocationConfig {
  // JSON-lines file of entries (resolved path), read at start and on every
  // config reload; empty: none.
  std::string file;
  // Also keep the entries in the replay window's Redis (replay.backend: redis)
  // and learn new ones through its pub/sub channel.
  bool redis = false;
  std::string redis_key = "{popguard-revocation}:entries";  // sorted set, score = until
  std::string redis_channel = "popguard:revocation";
  // Every replica re-reads the whole set this often, besides on every (re)connect.
  absl::Duration resync_interval = absl::Seconds(60);
  // Not ready (gRPC health, /readyz) once the Redis list has not been current
  // for this long; zero: stay ready on the last list.
  absl::Duration max_staleness = absl::ZeroDuration();
};

// YAML rollout: rollout readiness (GET /rollout, popguard-cli rollout,
// service/authn/rollout_stats.h, docs/config.md "rollout").
struct RolloutConfig {
  size_t top_clients = 10;     // clients per route in GET /rollout (restart to change)
  size_t metric_clients = 10;  // client labels per route on /metrics (restart to change)
  // A report-only route is "ready" to enforce when it saw at least
  // ready_min_requests requests and enforcing would deny at most
  // ready_max_deny_ratio of them.
  uint64_t ready_min_requests = 1000;
  double ready_max_deny_ratio = 0.001;
};

// Path diagnostics (service/authn/diagnostics.h, docs/diagnostics.md): off
// unless enabled; a probe is answered only on the listed routes or at `path`.
struct DiagnosticsConfig {
  bool enabled = false;
  std::string path;                 // dedicated probe path as popguard sees it; "" for none
  std::vector<std::string> routes;  // route names whose requests may be probes
  uint64_t rate_per_minute = 60;    // the global token bucket's refill
  uint64_t burst = 10;              // and its size
};

struct LogConfig {
  double allow_sample_rate = 0.0;  // fraction of ALLOW decisions logged at info (0 to 1)
};

struct ShutdownConfig {
  // After SIGTERM: report not ready for drain_delay (load balancers notice),
  // then stop accepting and let in-flight calls finish for up to grace.
  absl::Duration drain_delay = absl::ZeroDuration();
  absl::Duration grace = absl::Seconds(10);
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
  // Which x-forwarded-client-cert element carries the client certificate
  // (service/authn/client_cert.h XfccPolicy); only with trusted_xfcc.
  struct Xfcc {
    XfccElement element = XfccElement::kOnly;
    std::vector<std::string> trusted_peers;  // before_trusted_peer: the gateways' URI SANs
  } xfcc;
  // When a proxy in front rewrites scheme/host, the origin clients address,
  // e.g. "https://api.example", normalised at load (url.h; its path is "/");
  // DPoP htu is checked against its scheme, host and port.
  std::optional<NormalizedUrl> external_origin;
  // When true, X-Forwarded-Proto / X-Forwarded-Host give the origin the
  // client addressed (and the host routes match). Only for gateways that set
  // them themselves; a repeated header or a list value is refused.
  bool trusted_forwarded_headers = false;
  // Browser clients (SPAs): responses to the client that carry
  // WWW-Authenticate or DPoP-Nonce also carry Access-Control-Expose-Headers
  // naming both, so that script can read them across origins.
  bool cors_expose_headers = false;
  std::vector<UpstreamHeader> upstream_headers = {
      {"x-popguard-sub", "sub"},
      {"x-popguard-client-id", "client_id"},
      {"x-popguard-scope", "scope"},
      {"x-popguard-binding", "@binding"},
      // The issuer beside the subject: with several issuers, sub alone does not say who
      // the caller is (a partner issuer can mint any sub), so the upstream gets both.
      {"x-popguard-issuer", "@issuer"},
  };
  size_t access_token_cache_entries = 100000;  // 0 disables the cache
  // Parsed DPoP proof keys by jwk (proof_key_cache.h); 0 disables the cache.
  // 4,096 kept after measuring 32,768 with 20,000 returning clients (bench/README.md,
  // issue 15, session 6): ~0.8 KiB per entry, and a hit saves one ES256 FromJwk (~1 us),
  // below the run-to-run noise end to end.
  size_t proof_key_cache_entries = 4096;
  // mTLS client certificate thumbprints by forwarded certificate
  // (cert_thumbprint_cache.h); 0 disables the cache.
  size_t cert_thumbprint_cache_entries = 4096;
  LimitsConfig limits;
  MetricsConfig metrics;
  ForwardAuthConfig forward_auth;
  ResourceMetadataConfig resource_metadata;
  DiagnosticsConfig diagnostics;
  LogConfig log;
  ShutdownConfig shutdown;
  CryptoConfig crypto;
  RevocationConfig revocation;
  RolloutConfig rollout;

  // Directory relative paths in the file are resolved against (set by LoadConfigFile).
  std::string base_dir;

  // Set only by the benchmark-only executable popguard-noop
  // (bench/popguard_noop_server.cc), never from a config file and never by
  // the popguard server: every request is answered ALLOW without any
  // validation, so benchmarks can measure the gRPC ceiling.
  bool noop = false;
};

// ConfigOverrides: command-line values that replace keys of the config file
// (popguard --listen, --log_level); empty: the file's value stays.
struct ConfigOverrides {
  std::string listen;
  std::string log_level;
};

// ApplyOverrides checks each non-empty override exactly as the key it replaces
// is checked in the file, then sets it. Errors name the flag ("--listen: ...").
absl::Status ApplyOverrides(const ConfigOverrides& overrides, Config* config);

// LoadConfigFile reads and validates a YAML config file. Relative paths inside
// it (jwks_file, secret_file, tls files) resolve against the file's directory.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// LoadConfigYaml parses and validates YAML text; `base_dir` resolves relative paths.
absl::StatusOr<Config> LoadConfigYaml(std::string_view yaml, const std::string& base_dir);

// ParseDuration parses "250ms", "60s", "5m", "24h" (a bare integer is seconds).
absl::StatusOr<absl::Duration> ParseDuration(std::string_view text);

// ResolvePath returns `path` if absolute, else base_dir/path.
std::string ResolvePath(const std::string& base_dir, const std::string& path);

// ReadNonceSecret reads dpop.nonce.secret_file (resolved against base_dir):
// "" when no file is configured, InvalidArgument when the file cannot be
// read or holds fewer than 32 bytes, or when dpop.nonce.required has no file.
// Read when an Authenticator is built (start-up and every reload), so a
// rotated secret file takes effect on reload.
absl::StatusOr<std::string> ReadNonceSecret(const Config& config);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CONFIG_H_
