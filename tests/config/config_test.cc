// Tests for service/config/config.h: every validation rule names the key it rejects,
// a complete config loads into exactly the values written, durations parse as
// documented, and relative paths resolve against the config file's directory.
#include "service/config/config.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace popguard {
namespace {

// OriginOf is the loaded external_origin as its origin string, "" when unset.
std::string OriginOf(const Config& config) {
  return config.external_origin.has_value() ? config.external_origin->Origin() : "";
}

using ::testing::HasSubstr;

// A JWKS with one Ed25519 public key (RFC 8037 appendix A.2).
constexpr char kJwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

void WriteFile(const std::filesystem::path& path, const std::string& content) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  ASSERT_TRUE(out.good()) << path;
}

// TempDir is a fresh directory removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "config_test.XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() / "jwks.json", kJwks);
    WriteFile(dir_.path() / "nonce.key", std::string(32, 'k'));
    WriteFile(dir_.path() / "short.key", std::string(16, 'k'));
    WriteFile(dir_.path() / "cert.pem", "cert");
    WriteFile(dir_.path() / "key.pem", "key");
    WriteFile(dir_.path() / "ca.pem", "ca");
    std::filesystem::create_directories(dir_.path() / "subdir");
  }

  absl::StatusOr<Config> Load(const std::string& yaml) {
    return LoadConfigYaml(yaml, dir_.path().string());
  }

  std::string Abs(const std::string& name) const { return (dir_.path() / name).string(); }

  TempDir dir_;
};

// The smallest valid config; error cases append to it or replace a line.
constexpr char kIssuer[] = R"(issuers:
  - issuer: https://issuer.example
    jwks_file: jwks.json
    audiences: [https://api.example]
)";

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string error;  // expected substring of the InvalidArgument message
};

std::string WithIssuer(const std::string& rest) { return absl::StrCat(kIssuer, rest); }

// One route, for the diagnostics section to name.
const std::string kOrdersRoute = "routes: [{name: orders, match: {path_prefix: /orders}}]\n";

// IssuerWith replaces the issuer's `audiences` line with `lines` (indented 4).
std::string IssuerWith(const std::string& lines) {
  return absl::StrReplaceAll(kIssuer, {{"    audiences: [https://api.example]\n", lines}});
}

TEST_F(ConfigTest, RejectsInvalidConfigNamingTheKey) {
  const ErrorCase cases[] = {
      // Unknown keys, at every level.
      {"unknown top-level key", WithIssuer("foo: 1\n"), "foo: unknown key"},
      {"unknown issuer key", IssuerWith("    audiences: [a]\n    audience: [a]\n"),
       "issuers[0].audience: unknown key"},
      {"unknown tls key", WithIssuer("tls: {cert: x}\n"), "tls.cert: unknown key"},
      {"unknown dpop key", WithIssuer("dpop: {maxage: 5s}\n"), "dpop.maxage: unknown key"},
      {"unknown nonce key", WithIssuer("dpop: {nonce: {reqired: true}}\n"),
       "dpop.nonce.reqired: unknown key"},
      {"unknown route key", WithIssuer("routes: [{name: a, bindings: dpop}]\n"),
       "routes[0].bindings: unknown key"},
      {"unknown match key", WithIssuer("routes: [{match: {hostname: a.example}}]\n"),
       "routes[0].match.hostname: unknown key"},
      {"unknown replay key", WithIssuer("replay: {size: 5}\n"), "replay.size: unknown key"},
      {"unknown upstream header key", WithIssuer("upstream_headers: [{name: x-a, value: sub}]\n"),
       "upstream_headers[0].name: unknown key"},
      {"unknown limits key", WithIssuer("limits: {max_token: 5}\n"),
       "limits.max_token: unknown key"},
      {"unknown crypto key", WithIssuer("crypto: {threads: 2}\n"), "crypto.threads: unknown key"},
      {"verify_threads too many", WithIssuer("crypto: {verify_threads: 257}\n"),
       "crypto.verify_threads:"},
      {"max_batch zero", WithIssuer("crypto: {max_batch: 0}\n"), "crypto.max_batch:"},
      {"max_batch too large", WithIssuer("crypto: {max_batch: 1025}\n"), "crypto.max_batch:"},
      {"batch_verification not a bool", WithIssuer("crypto: {batch_verification: often}\n"),
       "crypto.batch_verification:"},
      {"key table cache too large", WithIssuer("crypto: {key_table_cache_entries: 65537}\n"),
       "crypto.key_table_cache_entries:"},
      {"proof key cache negative", WithIssuer("proof_key_cache_entries: -1\n"),
       "proof_key_cache_entries:"},
      {"cert cache too large", WithIssuer("cert_thumbprint_cache_entries: 16777217\n"),
       "cert_thumbprint_cache_entries:"},
      {"duplicate key", WithIssuer("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n"),
       "listen: duplicate key"},

      // Wrong types.
      {"root is a list", "- a\n", "config: must be a mapping, got a list"},
      {"issuers is a mapping", "issuers: {issuer: x}\n", "issuers: must be a list, got a mapping"},
      {"issuer entry is a scalar", "issuers: [x]\n", "issuers[0]: must be a mapping, got a scalar"},
      {"listen is a list", WithIssuer("listen: [a]\n"), "listen: must be a string, got a list"},
      {"audiences is a scalar", IssuerWith("    audiences: https://api.example\n"),
       "issuers[0].audiences: must be a list, got a scalar"},
      {"audience is a mapping", IssuerWith("    audiences: [{a: b}]\n"),
       "issuers[0].audiences[0]: must be a string, got a mapping"},
      {"bool written yes", IssuerWith("    audiences: [a]\n    require_typ: yes\n"),
       "issuers[0].require_typ: must be true or false"},
      {"bool quoted", WithIssuer("trusted_xfcc: \"true\"\n"),
       "trusted_xfcc: must be true or false"},
      {"bool as number", WithIssuer("default_report_only: 1\n"),
       "default_report_only: must be true or false"},
      {"integer negative", WithIssuer("dpop: {max_jti_bytes: -1}\n"),
       "dpop.max_jti_bytes: must be an integer from 1 to 4096"},
      {"integer hex", WithIssuer("dpop: {max_jti_bytes: 0x10}\n"),
       "dpop.max_jti_bytes: must be an integer from 1 to 4096"},
      {"integer quoted", WithIssuer("access_token_cache_entries: \"5\"\n"),
       "access_token_cache_entries: must be an integer"},
      {"dpop is a list", WithIssuer("dpop: [a]\n"), "dpop: must be a mapping, got a list"},
      {"string with control character", WithIssuer("external_origin: \"https://a\\u0007\"\n"),
       "external_origin: contains a control character"},
      {"duration is a list", WithIssuer("clock_skew: [1]\n"),
       "clock_skew: must be a duration, got a list"},

      // Issuers.
      {"no issuers key", "listen: 127.0.0.1:9001\n", "issuers: at least one issuer is required"},
      {"empty document", "", "issuers: at least one issuer is required"},
      {"empty issuer list", "issuers: []\n", "issuers: at least one issuer is required"},
      {"issuer missing", "issuers:\n  - jwks_file: jwks.json\n    audiences: [a]\n",
       "issuers[0].issuer: is required"},
      {"issuer empty", absl::StrReplaceAll(kIssuer, {{"https://issuer.example", "\"\""}}),
       "issuers[0].issuer: must not be empty"},
      {"issuer not a URL", absl::StrReplaceAll(kIssuer, {{"https://issuer.example", "issuer"}}),
       "issuers[0].issuer: \"issuer\" must be an https:// (or http://) URL"},
      {"issuer without host",
       absl::StrReplaceAll(kIssuer, {{"https://issuer.example", "https:///x"}}),
       "issuers[0].issuer: \"https:///x\" has no host"},
      {"issuer with space",
       absl::StrReplaceAll(kIssuer, {{"https://issuer.example", "\"https://a.example/ x\""}}),
       "issuers[0].issuer: must not contain whitespace"},
      {"duplicate issuer", absl::StrCat(kIssuer, std::string(kIssuer).substr(9)),
       "issuers[1].issuer: duplicate issuer \"https://issuer.example\""},
      {"jwks_file and jwks", IssuerWith("    audiences: [a]\n    jwks: {keys: []}\n"),
       "issuers[0]: give only one of jwks_file and jwks"},
      {"neither jwks_file nor jwks",
       "issuers:\n  - issuer: https://i.example\n    audiences: [a]\n",
       "issuers[0]: one of jwks_file or jwks is required"},
      {"jwks_file missing", absl::StrReplaceAll(kIssuer, {{"jwks.json", "missing.json"}}),
       absl::StrCat("issuers[0].jwks_file: file ", "@DIR@/missing.json does not exist")},
      {"jwks_file is a directory", absl::StrReplaceAll(kIssuer, {{"jwks.json", "subdir"}}),
       "issuers[0].jwks_file: @DIR@/subdir is not a regular file"},
      {"jwks_file empty", absl::StrReplaceAll(kIssuer, {{"jwks.json", "\"\""}}),
       "issuers[0].jwks_file: must not be empty"},
      {"inline jwks not JSON",
       absl::StrReplaceAll(kIssuer, {{"jwks_file: jwks.json", "jwks: '{\"keys\": ['"}}),
       "issuers[0].jwks: is not valid JSON"},
      {"inline jwks without keys",
       absl::StrReplaceAll(kIssuer, {{"jwks_file: jwks.json", "jwks: {kty: EC}"}}),
       "issuers[0].jwks: must be a JWKS: an object with a \"keys\" list"},
      {"inline jwks key not an object",
       absl::StrReplaceAll(kIssuer, {{"jwks_file: jwks.json", "jwks: {keys: [abc]}"}}),
       "issuers[0].jwks.keys[0]: must be a JWK object"},
      {"inline jwks alias bomb",  // 10^7 strings if the aliases were expanded whole
       absl::StrReplaceAll(kIssuer, {{"jwks_file: jwks.json",
                                      "jwks:\n"
                                      "      x0: &a [xxxxxxxxxxxxxxxx,x,x,x,x,x,x,x,x,x]\n"
                                      "      x1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                      "      x2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                                      "      x3: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                                      "      x4: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                                      "      x5: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                                      "      x6: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
                                      "      keys: []"}}),
       "issuers[0].jwks: is larger than 1048576 bytes as JSON (YAML aliases expanded)"},
      {"inline jwks is a list",
       absl::StrReplaceAll(kIssuer, {{"jwks_file: jwks.json", "jwks: [a]"}}),
       "issuers[0].jwks: must be a mapping or a JSON string, got a list"},
      {"audiences missing", IssuerWith(""), "issuers[0].audiences: is required"},
      {"audiences empty", IssuerWith("    audiences: []\n"),
       "issuers[0].audiences: must not be empty"},
      {"audience empty string", IssuerWith("    audiences: [a, \"\"]\n"),
       "issuers[0].audiences[1]: must not be empty"},
      {"algorithm none", IssuerWith("    audiences: [a]\n    algorithms: [none]\n"),
       "issuers[0].algorithms[0]: \"none\" is never allowed: an unsigned token proves nothing"},
      {"algorithm HS256", IssuerWith("    audiences: [a]\n    algorithms: [ES256, HS256]\n"),
       "issuers[0].algorithms[1]: \"HS256\" is not allowed: HMAC algorithms need a shared secret"},
      {"algorithm unknown", IssuerWith("    audiences: [a]\n    algorithms: [es256]\n"),
       "issuers[0].algorithms[0]: unknown algorithm \"es256\""},
      {"algorithm ed25519 (RFC 9864 spells it Ed25519)",
       IssuerWith("    audiences: [a]\n    algorithms: [ed25519]\n"),
       "issuers[0].algorithms[0]: unknown algorithm \"ed25519\""},
      {"algorithm Ed448 (not verified by popguard)",
       IssuerWith("    audiences: [a]\n    algorithms: [Ed25519, Ed448]\n"),
       "issuers[0].algorithms[1]: unknown algorithm \"Ed448\" (allowed: RS256, RS384, RS512, "
       "PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519)"},
      {"algorithms empty", IssuerWith("    audiences: [a]\n    algorithms: []\n"),
       "issuers[0].algorithms: must list at least one algorithm"},
      {"algorithm duplicate", IssuerWith("    audiences: [a]\n    algorithms: [ES256, ES256]\n"),
       "issuers[0].algorithms[1]: duplicate algorithm"},
      {"max_lifetime negative", IssuerWith("    audiences: [a]\n    max_lifetime: -1h\n"),
       "issuers[0].max_lifetime: \"-1h\" is not a duration"},

      // Durations and DPoP.
      {"clock_skew bad unit", WithIssuer("clock_skew: 10x\n"),
       "clock_skew: \"10x\" is not a duration"},
      {"dpop algorithm HS512", WithIssuer("dpop: {algorithms: [HS512]}\n"),
       "dpop.algorithms[0]: \"HS512\" is not allowed"},
      {"dpop max_age zero", WithIssuer("dpop: {max_age: 0s}\n"),
       "dpop.max_age: must be at least 1s"},
      {"nonce step zero", WithIssuer("dpop: {nonce: {step: 0}}\n"),
       "dpop.nonce.step: must be at least 1s"},
      {"nonce required without secret", WithIssuer("dpop: {nonce: {required: true}}\n"),
       "dpop.nonce.secret_file: is required when dpop.nonce.required is true"},
      {"nonce secret too short", WithIssuer("dpop: {nonce: {secret_file: short.key}}\n"),
       "dpop.nonce.secret_file: @DIR@/short.key must hold at least 32 bytes (it has 16)"},
      {"nonce secret missing",
       WithIssuer("dpop: {nonce: {required: true, secret_file: nope.key}}\n"),
       "dpop.nonce.secret_file: file @DIR@/nope.key does not exist"},

      // Origin and forwarding.
      {"xfcc without trusted_xfcc", WithIssuer("xfcc: {element: only}\n"),
       "xfcc: is only used with trusted_xfcc: true"},
      {"xfcc element unknown", WithIssuer("trusted_xfcc: true\nxfcc: {element: first}\n"),
       "xfcc.element: \"first\" is not one of only, before_trusted_peer"},
      {"xfcc before_trusted_peer without peers",
       WithIssuer("trusted_xfcc: true\nxfcc: {element: before_trusted_peer}\n"),
       "xfcc.trusted_peers: required when xfcc.element is before_trusted_peer"},
      {"xfcc trusted_peers empty",
       WithIssuer("trusted_xfcc: true\nxfcc: {element: before_trusted_peer, trusted_peers: []}\n"),
       "xfcc.trusted_peers: required when xfcc.element is before_trusted_peer"},
      {"xfcc trusted peer empty string",
       WithIssuer("trusted_xfcc: true\n"
                  "xfcc: {element: before_trusted_peer, trusted_peers: [spiffe://a, \"\"]}\n"),
       "xfcc.trusted_peers[1]: must not be empty"},
      {"xfcc trusted_peers with element only",
       WithIssuer("trusted_xfcc: true\nxfcc: {trusted_peers: [spiffe://a]}\n"),
       "xfcc.trusted_peers: is only used with xfcc.element: before_trusted_peer"},
      {"xfcc unknown key", WithIssuer("trusted_xfcc: true\nxfcc: {by: x}\n"), "xfcc.by:"},
      {"external_origin with path", WithIssuer("external_origin: https://api.example/v1\n"),
       "external_origin: \"https://api.example/v1\" must be http(s)://host[:port]"},
      {"external_origin with user", WithIssuer("external_origin: https://u@api.example\n"),
       "external_origin: \"https://u@api.example\" must be http(s)://host[:port]"},
      {"external_origin other scheme", WithIssuer("external_origin: ftp://api.example\n"),
       "external_origin: \"ftp://api.example\" must be http(s)://host[:port]"},
      {"external_origin bad port", WithIssuer("external_origin: https://api.example:0\n"),
       "external_origin: \"https://api.example:0\" must be http(s)://host[:port]"},
      {"external_origin with query", WithIssuer("external_origin: https://api.example?a\n"),
       "external_origin: \"https://api.example?a\" must be http(s)://host[:port]"},
      // Refused at load, not dropped later: an origin the URL normaliser cannot
      // read used to load and then be ignored, leaving htu compared against
      // the gateway's internal origin.
      {"external_origin invalid IPv6", WithIssuer("external_origin: \"https://[1:2]\"\n"),
       "external_origin: \"https://[1:2]\" must be http(s)://host[:port]"},
      {"external_origin and forwarded headers",
       WithIssuer("external_origin: https://api.example\ntrusted_forwarded_headers: true\n"),
       "trusted_forwarded_headers: cannot be true when external_origin is set"},

      // Upstream headers.
      {"header name invalid", WithIssuer("upstream_headers: [{header: \"X Bad\", value: sub}]\n"),
       "upstream_headers[0].header: \"x bad\" is not a valid header name"},
      {"header authorization",
       WithIssuer("upstream_headers: [{header: Authorization, value: sub}]\n"),
       "upstream_headers[0].header: \"authorization\" may not be set"},
      {"header host", WithIssuer("upstream_headers: [{header: host, value: sub}]\n"),
       "upstream_headers[0].header: \"host\" may not be set"},
      {"header duplicate",
       WithIssuer("upstream_headers: [{header: x-a, value: sub}, {header: X-A, value: iss}]\n"),
       "upstream_headers[1].header: duplicate header \"x-a\""},
      {"header value unknown special",
       WithIssuer("upstream_headers: [{header: x-a, value: '@foo'}]\n"),
       "upstream_headers[0].value: \"@foo\" is not one of @binding, @issuer, @principal, @route, "
       "@jkt"},
      {"header value missing", WithIssuer("upstream_headers: [{header: x-a}]\n"),
       "upstream_headers[0].value: is required"},
      {"header value with space", WithIssuer("upstream_headers: [{header: x-a, value: 'a b'}]\n"),
       "upstream_headers[0].value: a claim name must not contain whitespace"},

      // Replay, listen, log level, limits.
      {"replay redis without addresses", WithIssuer("replay: {backend: redis}\n"),
       "replay.redis.addresses: required when replay.backend is redis"},
      {"replay unknown backend", WithIssuer("replay: {backend: disk}\n"),
       "replay.backend: \"disk\" is not a backend"},
      {"replay max_entries zero", WithIssuer("replay: {max_entries: 0}\n"),
       "replay.max_entries: must be an integer from 1"},
      {"listen without port", WithIssuer("listen: localhost\n"),
       "listen: \"localhost\" is not host:port"},
      {"listen port too large", WithIssuer("listen: 127.0.0.1:65536\n"),
       "listen: \"127.0.0.1:65536\" is not host:port"},
      {"listen without host", WithIssuer("listen: \":9001\"\n"),
       "listen: \":9001\" is not host:port"},
      {"listen bare IPv6", WithIssuer("listen: \"::1:9001\"\n"),
       "listen: \"::1:9001\" is not host:port"},
      {"log_level unknown", WithIssuer("log_level: verbose\n"),
       "log_level: \"verbose\" is not one of debug, info, warn, error"},
      {"max_json_depth too small", WithIssuer("limits: {max_json_depth: 1}\n"),
       "limits.max_json_depth: must be an integer from 2 to 64"},
      {"max_queue_wait as long as max_age",
       WithIssuer("dpop: {max_age: 10s}\nlimits: {max_queue_wait: 10s}\n"),
       "limits.max_queue_wait: must be shorter than dpop.max_age (10s)"},
      {"max_queue_wait zero", WithIssuer("limits: {max_queue_wait: 0s}\n"),
       "limits.max_queue_wait: must be at least 1ms"},
      {"access_token_cache_entries negative", WithIssuer("access_token_cache_entries: -5\n"),
       "access_token_cache_entries: must be an integer from 0"},

      // Routes.
      {"route binding unknown", WithIssuer("routes: [{binding: strict}]\n"),
       "routes[0].binding: \"strict\" is not one of bearer, dpop, mtls, bound"},
      {"third route binding", WithIssuer("routes: [{name: a}, {name: b}, {binding: DPoP}]\n"),
       "routes[2].binding: \"DPoP\" is not one of bearer, dpop, mtls, bound"},
      {"default_binding unknown", WithIssuer("default_binding: none\n"),
       "default_binding: \"none\" is not one of bearer, dpop, mtls, bound"},
      {"route names duplicate", WithIssuer("routes: [{name: a}, {name: a}]\n"),
       "routes[1].name: duplicate route name \"a\""},
      {"route name clashes with default name", WithIssuer("routes: [{}, {name: route-0}]\n"),
       "routes[1].name: duplicate route name \"route-0\""},
      {"route named default", WithIssuer("routes: [{name: default}]\n"),
       "routes[0].name: \"default\" is reserved"},
      {"route name with space", WithIssuer("routes: [{name: 'a b'}]\n"),
       "routes[0].name: must be non-empty letters"},
      {"route host with port", WithIssuer("routes: [{match: {host: 'api.example:443'}}]\n"),
       "routes[0].match.host: \"api.example:443\" is not a host name or *.suffix (no port)"},
      {"route host bare wildcard", WithIssuer("routes: [{match: {host: '*'}}]\n"),
       "routes[0].match.host: \"*\" is not a host name"},
      {"route host inner wildcard", WithIssuer("routes: [{match: {host: 'a.*.example'}}]\n"),
       "routes[0].match.host: \"a.*.example\" is not a host name"},
      {"path_prefix relative", WithIssuer("routes: [{match: {path_prefix: public}}]\n"),
       "routes[0].match.path_prefix: must start with \"/\""},
      {"path_prefix dot segment", WithIssuer("routes: [{match: {path_prefix: /a/../b}}]\n"),
       "routes[0].match.path_prefix: must not contain . or .. segments"},
      {"path_prefix query", WithIssuer("routes: [{match: {path_prefix: '/a?b'}}]\n"),
       "routes[0].match.path_prefix: must be a path only"},
      {"path_prefix encoded unreserved", WithIssuer("routes: [{match: {path_prefix: /%7Euser}}]\n"),
       "routes[0].match.path_prefix: must not percent-encode letters"},
      {"path_prefix lower-case hex", WithIssuer("routes: [{match: {path_prefix: /a%3ab}}]\n"),
       "routes[0].match.path_prefix: percent-encoding must be %XX with upper-case hex digits"},
      // Prefixes no reading of a request path can hold (service/authn/route_path.h).
      {"path_prefix encoded slash", WithIssuer("routes: [{match: {path_prefix: /a%2Fb}}]\n"),
       "routes[0].match.path_prefix: must not contain %2F or %5C (decoded as separators by "
       "upstreams, so the prefix could never match) (route \"route-0\")"},
      {"path_prefix encoded slash lower",
       WithIssuer("routes: [{name: adm, match: {path_prefix: /a%2fb}}]\n"),
       "routes[0].match.path_prefix: must not contain %2F or %5C"},
      {"path_prefix encoded backslash", WithIssuer("routes: [{match: {path_prefix: /a%5cb}}]\n"),
       "routes[0].match.path_prefix: must not contain %2F or %5C"},
      {"path_prefix backslash", WithIssuer("routes: [{match: {path_prefix: '/a\\b'}}]\n"),
       "routes[0].match.path_prefix: must not contain '\\' or ';'"},
      {"path_prefix params", WithIssuer("routes: [{name: adm, match: {path_prefix: '/a;b'}}]\n"),
       "routes[0].match.path_prefix: must not contain '\\' or ';' (upstreams read them as a "
       "separator or parameters, so the prefix could never match) (route \"adm\")"},
      {"path_prefix double slash", WithIssuer("routes: [{match: {path_prefix: //admin}}]\n"),
       "routes[0].match.path_prefix: must not contain \"//\""},
      {"path_prefix dot segment names the route",
       WithIssuer("routes: [{name: adm, match: {path_prefix: /a/.}}]\n"),
       "routes[0].match.path_prefix: must not contain . or .. segments (route \"adm\")"},
      {"case_insensitive not a bool",
       WithIssuer("routes: [{match: {path_prefix: /a, case_insensitive: 2}}]\n"),
       "routes[0].match.case_insensitive: must be true or false"},
      {"route issuer unknown", WithIssuer("routes: [{issuers: ['https://other.example']}]\n"),
       "routes[0].issuers[0]: \"https://other.example\" is not the issuer of any issuers[] entry"},
      {"route issuers empty", WithIssuer("routes: [{issuers: []}]\n"),
       "routes[0].issuers: must not be empty (leave it out to accept every issuer)"},
      {"scope with space", WithIssuer("routes: [{scopes: ['a b']}]\n"),
       "routes[0].scopes[0]: must be a non-empty scope token"},
      {"scopes not a list", WithIssuer("routes: [{scopes: read}]\n"),
       "routes[0].scopes: must be a list, got a scalar"},

      // TLS.
      {"tls cert without key", WithIssuer("tls: {cert_file: cert.pem}\n"),
       "tls.key_file: tls.cert_file and tls.key_file must be given together"},
      {"tls key without cert", WithIssuer("tls: {key_file: key.pem}\n"),
       "tls.cert_file: tls.cert_file and tls.key_file must be given together"},
      {"tls client CA without server cert", WithIssuer("tls: {client_ca_file: ca.pem}\n"),
       "tls.client_ca_file: needs tls.cert_file and tls.key_file"},
      {"tls cert missing", WithIssuer("tls: {cert_file: no.pem, key_file: key.pem}\n"),
       "tls.cert_file: file @DIR@/no.pem does not exist"},

      // Forward-auth listener.
      {"forward_auth without listen", WithIssuer("forward_auth: {trusted_sources: [10.0.0.0/8]}\n"),
       "forward_auth.listen: required in forward_auth"},
      {"forward_auth without trusted sources", WithIssuer("forward_auth: {listen: 127.0.0.1:0}\n"),
       "forward_auth.trusted_sources: list the gateways' addresses"},
      {"forward_auth trusted source not a CIDR",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [gateway]}\n"),
       "forward_auth.trusted_sources[0]: \"gateway\" is not an IP address or CIDR"},
      {"forward_auth trusted source with host bits",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [10.0.0.1/8]}\n"),
       "forward_auth.trusted_sources[0]: \"10.0.0.1/8\" has host bits set"},
      {"forward_auth unknown key",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted: [10.0.0.0/8]}\n"),
       "forward_auth.trusted: unknown key"},
      {"forward_auth cert header without format",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "client_cert_header: x-client-cert}\n"),
       "forward_auth.client_cert_format: client_cert_header and client_cert_format"},
      {"forward_auth unknown cert format",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "client_cert_header: x-client-cert, client_cert_format: pem}\n"),
       "forward_auth.client_cert_format: \"pem\" is not one of escaped_pem, der_base64, rfc9440"},
      {"forward_auth envoy prefix ends with /",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "envoy_path_prefix: /envoy/}\n"),
       "forward_auth.envoy_path_prefix: must start with / and not end with /"},
      {"forward_auth tls key without cert",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "tls: {key_file: key.pem}}\n"),
       "forward_auth.tls.cert_file: forward_auth.tls.cert_file and forward_auth.tls.key_file "
       "must be given together"},
      {"forward_auth tls client CA without cert",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "tls: {client_ca_file: ca.pem}}\n"),
       "forward_auth.tls.client_ca_file: needs forward_auth.tls.cert_file"},
      {"forward_auth tls file missing",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "tls: {cert_file: no.pem, key_file: key.pem}}\n"),
       "forward_auth.tls.cert_file: file @DIR@/no.pem does not exist"},
      {"forward_auth tls unknown key",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], "
                  "tls: {cert: cert.pem}}\n"),
       "forward_auth.tls.cert: unknown key"},
      {"forward_auth threads zero",
       WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1], threads: 0}\n"),
       "forward_auth.threads:"},

      // diagnostics (DiagnosticsOffByDefaultLoads covers the valid forms).
      {"a diagnostics route that does not exist",
       WithIssuer(kOrdersRoute + "diagnostics: {routes: [order]}\n"),
       "diagnostics.routes[0]: names no route"},
      {"enabled with nothing to answer on", WithIssuer("diagnostics: {enabled: true}\n"),
       "diagnostics: enabled needs a path or routes"},
      {"a path with a query", WithIssuer("diagnostics: {path: \"/probe?x\"}\n"),
       "diagnostics.path:"},
      {"a relative path", WithIssuer("diagnostics: {path: probe}\n"), "diagnostics.path:"},
      {"rate zero", WithIssuer("diagnostics: {rate_per_minute: 0}\n"),
       "diagnostics.rate_per_minute:"},
      {"burst too large", WithIssuer("diagnostics: {burst: 1001}\n"), "diagnostics.burst:"},
      {"unknown key", WithIssuer("diagnostics: {rate: 1}\n"), "diagnostics.rate: unknown key"},

      // YAML itself.
      {"syntax error", WithIssuer("routes: [{name: a}\n"), "config: YAML syntax error at line"},
      {"two documents", WithIssuer("---\nlisten: 127.0.0.1:1\n"),
       "config: holds more than one YAML document"},
      // yaml-cpp 0.7 loops without end, allocating, on a ',' where a
      // document's root begins (config_fuzzer: ",s" took 2 GB); refused first.
      {"flow entry at the root", ",s", "config: YAML syntax error at line 1: a document cannot"},
      {"flow entry alone", ",", "config: YAML syntax error at line 1: a document cannot"},
      {"flow entry after a comment", "# c\n  ,s\n", "config: YAML syntax error at line 2:"},
      {"flow entry after ---", "--- ,", "config: YAML syntax error at line 1:"},
      {"flow entry after an anchor", "&a ,", "config: YAML syntax error at line 1:"},
      {"flow entry after a tag", "!t ,", "config: YAML syntax error at line 1:"},
      {"flow entry in a second document", WithIssuer("---\n,\n"),
       "config: YAML syntax error at line"},
      {"flow entry after ...", "a: 1\n...\n,", "config: YAML syntax error at line 3:"},
      // The same loop after any complete root node (config_fuzzer's third
      // finding began with a tag glued to a scalar, "!~~:\"EC\",c"): the
      // documents are counted first and the second one is refused.
      {"flow entry after a quoted root", "\"x\",s",
       "config: holds more than one YAML document (the second begins at line 1, column 4"},
      {"flow entry after a single-quoted root", "'x',s", "config: holds more than one YAML"},
      {"flow entry after a flow sequence", "[a],s", "config: holds more than one YAML"},
      {"flow entry after a flow map", "{a: 1},s", "config: holds more than one YAML"},
      {"flow entry after a glued tag", "!a,s", "config: holds more than one YAML"},
      {"flow entry after a glued anchor", "&a,s", "config: holds more than one YAML"},
      {"flow entry on a later line", WithIssuer("\"x\"\n,\n"), "config: YAML syntax error"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(),
                HasSubstr(absl::StrReplaceAll(c.error, {{"@DIR@", dir_.path().string()}})));
  }
}

TEST_F(ConfigTest, ForwardAuthLoadsEveryValueAndDefaults) {
  absl::StatusOr<Config> config =
      Load(WithIssuer("forward_auth:\n"
                      "  listen: 127.0.0.1:9002\n"
                      "  trusted_sources: [10.0.0.0/8, \"::1\"]\n"
                      "  envoy_path_prefix: /envoy\n"
                      "  client_cert_header: X-Client-Cert\n"
                      "  client_cert_format: escaped_pem\n"
                      "  threads: 3\n"
                      "  max_queued: 7\n"
                      "  io_timeout: 250ms\n"
                      "  request_deadline: 2s\n"
                      "  tls: {cert_file: cert.pem, key_file: key.pem, client_ca_file: ca.pem}\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  const ForwardAuthConfig& fa = config->forward_auth;
  EXPECT_EQ(fa.listen, "127.0.0.1:9002");
  EXPECT_THAT(fa.trusted_sources, ::testing::ElementsAre("10.0.0.0/8", "::1"));
  EXPECT_EQ(fa.envoy_path_prefix, "/envoy");
  EXPECT_EQ(fa.client_cert_header, "x-client-cert");  // lower-cased
  EXPECT_EQ(fa.client_cert_format, ClientCertFormat::kEscapedPem);
  EXPECT_EQ(fa.threads, 3);
  EXPECT_EQ(fa.max_queued, 7u);
  EXPECT_EQ(fa.io_timeout, absl::Milliseconds(250));
  EXPECT_EQ(fa.request_deadline, absl::Seconds(2));
  // Resolved against the config's directory, like the gRPC listener's files.
  EXPECT_EQ(fa.tls.cert_file, (dir_.path() / "cert.pem").string());
  EXPECT_EQ(fa.tls.key_file, (dir_.path() / "key.pem").string());
  EXPECT_EQ(fa.tls.client_ca_file, (dir_.path() / "ca.pem").string());

  config = Load(WithIssuer("forward_auth: {listen: 127.0.0.1:0, trusted_sources: [::1]}\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->forward_auth.envoy_path_prefix, "");
  EXPECT_EQ(config->forward_auth.client_cert_header, "");
  EXPECT_EQ(config->forward_auth.threads, 8);
  EXPECT_EQ(config->forward_auth.max_queued, 256u);
  EXPECT_EQ(config->forward_auth.io_timeout, absl::Seconds(2));
  EXPECT_EQ(config->forward_auth.request_deadline, absl::Seconds(5));
  EXPECT_EQ(config->forward_auth.tls.cert_file, "");                // plain HTTP by default
  EXPECT_EQ(Load(WithIssuer("")).value().forward_auth.listen, "");  // off by default
}

TEST_F(ConfigTest, DiagnosticsOffByDefaultLoads) {
  const DiagnosticsConfig off = Load(WithIssuer("")).value().diagnostics;
  EXPECT_FALSE(off.enabled);
  EXPECT_EQ(off.rate_per_minute, 60u);
  EXPECT_EQ(off.burst, 10u);
  absl::StatusOr<Config> config = Load(
      WithIssuer(kOrdersRoute +
                 "diagnostics: {enabled: true, routes: [orders], path: /.well-known/popguard-probe,"
                 " rate_per_minute: 6, burst: 2}\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->diagnostics.enabled);
  EXPECT_THAT(config->diagnostics.routes, ::testing::ElementsAre("orders"));
  EXPECT_EQ(config->diagnostics.path, "/.well-known/popguard-probe");
  EXPECT_EQ(config->diagnostics.rate_per_minute, 6u);
  EXPECT_EQ(config->diagnostics.burst, 2u);
}

TEST_F(ConfigTest, ErrorsCarryTheLine) {
  absl::StatusOr<Config> config = Load(IssuerWith("    audiences: []\n"));
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(), "issuers[0].audiences: must not be empty (line 4)");

  config = Load("issuers:\n  - issuer: [\n");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("YAML syntax error at line 3"));
}

TEST_F(ConfigTest, MinimalConfigHasTheDocumentedDefaults) {
  absl::StatusOr<Config> config = Load(kIssuer);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:9001");
  EXPECT_EQ(config->log_level, "info");
  EXPECT_EQ(config->base_dir, dir_.path().string());
  ASSERT_EQ(config->issuers.size(), 1u);
  const IssuerConfig& ic = config->issuers[0];
  EXPECT_EQ(ic.issuer, "https://issuer.example");
  EXPECT_EQ(ic.jwks_file, Abs("jwks.json"));
  EXPECT_EQ(ic.jwks_inline, "");
  EXPECT_EQ(ic.audiences, std::vector<std::string>{"https://api.example"});
  EXPECT_EQ(ic.algorithms, IssuerConfig().algorithms);
  // RFC 9864's Ed25519 is allowed by default next to EdDSA (panva dpop sends it).
  EXPECT_THAT(ic.algorithms, ::testing::Contains("Ed25519"));
  EXPECT_FALSE(ic.require_typ);
  EXPECT_EQ(ic.max_lifetime, absl::ZeroDuration());
  EXPECT_EQ(config->clock_skew, absl::Seconds(60));
  EXPECT_EQ(config->dpop.algorithms, DpopConfig().algorithms);
  EXPECT_EQ(config->dpop.algorithms, (std::vector<std::string>{"ES256", "ES384", "ES512", "EdDSA",
                                                               "Ed25519", "RS256", "PS256"}));
  EXPECT_EQ(config->dpop.max_age, absl::Seconds(60));
  EXPECT_EQ(config->dpop.clock_skew, absl::Seconds(5));
  EXPECT_EQ(config->dpop.max_jti_bytes, 256u);
  EXPECT_FALSE(config->dpop.nonce.required);
  EXPECT_EQ(config->dpop.nonce.secret_file, "");
  EXPECT_EQ(config->dpop.nonce.step, absl::Seconds(30));
  EXPECT_TRUE(config->routes.empty());
  EXPECT_EQ(config->default_binding, BindingRequirement::kBound);
  EXPECT_FALSE(config->default_report_only);
  EXPECT_EQ(config->replay.backend, "memory");
  EXPECT_EQ(config->replay.max_entries, 1000000u);
  EXPECT_FALSE(config->trusted_xfcc);
  EXPECT_EQ(config->xfcc.element, XfccElement::kOnly);
  EXPECT_TRUE(config->xfcc.trusted_peers.empty());
  EXPECT_EQ(OriginOf(*config), "");
  EXPECT_FALSE(config->trusted_forwarded_headers);
  ASSERT_EQ(config->upstream_headers.size(), 5u);
  EXPECT_EQ(config->upstream_headers[3].header, "x-popguard-binding");
  EXPECT_EQ(config->upstream_headers[3].value, "@binding");
  // Issue 10 item 13: the upstream learns the issuer by default, not only sub.
  EXPECT_EQ(config->upstream_headers[4].header, "x-popguard-issuer");
  EXPECT_EQ(config->upstream_headers[4].value, "@issuer");
  EXPECT_EQ(config->access_token_cache_entries, 100000u);
  EXPECT_EQ(config->proof_key_cache_entries, 4096u);
  EXPECT_EQ(config->cert_thumbprint_cache_entries, 4096u);
  EXPECT_FALSE(config->crypto.force_openssl);
  EXPECT_TRUE(config->crypto.batch_verification);
  EXPECT_EQ(config->crypto.verify_threads, 0u);  // one per core
  EXPECT_EQ(config->crypto.max_batch, 64u);
  EXPECT_TRUE(config->crypto.inline_when_idle);
  EXPECT_EQ(config->crypto.key_table_cache_entries, 512u);
  EXPECT_EQ(config->limits.max_token_bytes, 8192u);
  EXPECT_EQ(config->limits.max_proof_bytes, 4096u);
  EXPECT_EQ(config->limits.max_json_depth, 16);
  EXPECT_EQ(config->limits.max_queue_wait, absl::Seconds(1));
  EXPECT_TRUE(config->tls.cert_file.empty());
}

TEST_F(ConfigTest, FullConfigLoadsEveryValue) {
  constexpr char kFull[] = R"(# every key, none at its default
listen: "[::]:8443"
log_level: debug
tls: {cert_file: cert.pem, key_file: key.pem, client_ca_file: ca.pem}
issuers:
  - issuer: https://issuer.example/
    jwks_file: jwks.json
    audiences: [https://api.example, urn:api]
    algorithms: [ES256, EdDSA, Ed25519]
    require_typ: true
    max_lifetime: 1h
  - issuer: http://other.example
    jwks:
      keys:
        - {kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo, kid: "2024", n: 5, ok: true, z: ~}
    audiences: [b]
  - issuer: https://third.example
    jwks: '{"keys": []}'
    audiences: [c]
clock_skew: 30s
dpop:
  algorithms: [PS256, Ed25519]
  max_age: 2m
  clock_skew: 250ms
  max_jti_bytes: 64
  nonce: {required: true, secret_file: nonce.key, step: 45s}
routes:
  - name: public
    match: {host: API.Example, path_prefix: /public, route_key: "", case_insensitive: true}
    binding: bearer
    scopes: [read]
    issuers: [http://other.example, https://third.example]
    report_only: true
  - match: {host: "*.tenants.example", route_key: payments}
    binding: mtls
    scopes: [pay, "write:all"]
  - name: v1
    match: {path_prefix: /v1/}
    binding: dpop
default_binding: dpop
default_report_only: true
replay: {backend: memory, max_entries: 5000}
trusted_xfcc: true
xfcc:
  element: before_trusted_peer
  trusted_peers: [spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account]
external_origin: HTTPS://API.Example:443/
trusted_forwarded_headers: false
upstream_headers:
  - {header: X-User, value: sub}
  - {header: x-popguard-jkt, value: "@jkt"}
access_token_cache_entries: 0
proof_key_cache_entries: 10
cert_thumbprint_cache_entries: 0
limits: {max_token_bytes: 16384, max_proof_bytes: 2048, max_json_depth: 8, max_queue_wait: 250ms}
crypto: {force_openssl: true, batch_verification: false, verify_threads: 3, max_batch: 8,
         inline_when_idle: false, key_table_cache_entries: 0}
)";
  absl::StatusOr<Config> config = Load(kFull);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "[::]:8443");
  EXPECT_EQ(config->log_level, "debug");
  EXPECT_EQ(config->tls.cert_file, Abs("cert.pem"));
  EXPECT_EQ(config->tls.key_file, Abs("key.pem"));
  EXPECT_EQ(config->tls.client_ca_file, Abs("ca.pem"));

  ASSERT_EQ(config->issuers.size(), 3u);
  const IssuerConfig& a = config->issuers[0];
  EXPECT_EQ(a.issuer, "https://issuer.example/");
  EXPECT_EQ(a.jwks_file, Abs("jwks.json"));
  EXPECT_EQ(a.audiences, (std::vector<std::string>{"https://api.example", "urn:api"}));
  EXPECT_EQ(a.algorithms, (std::vector<std::string>{"ES256", "EdDSA", "Ed25519"}));
  EXPECT_TRUE(a.require_typ);
  EXPECT_EQ(a.max_lifetime, absl::Hours(1));
  const IssuerConfig& b = config->issuers[1];
  EXPECT_EQ(b.issuer, "http://other.example");
  EXPECT_EQ(b.jwks_file, "");
  // The YAML mapping becomes JSON: quoted "2024" stays a string, plain
  // scalars resolve as YAML's core schema says.
  EXPECT_EQ(
      b.jwks_inline,
      R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",)"
      R"("kid":"2024","n":5,"ok":true,"z":null}]})");
  EXPECT_EQ(b.algorithms, IssuerConfig().algorithms);
  EXPECT_EQ(config->issuers[2].jwks_inline, R"({"keys": []})");  // JSON text kept verbatim

  EXPECT_EQ(config->clock_skew, absl::Seconds(30));
  EXPECT_EQ(config->dpop.algorithms, (std::vector<std::string>{"PS256", "Ed25519"}));
  EXPECT_EQ(config->dpop.max_age, absl::Minutes(2));
  EXPECT_EQ(config->dpop.clock_skew, absl::Milliseconds(250));
  EXPECT_EQ(config->dpop.max_jti_bytes, 64u);
  EXPECT_TRUE(config->dpop.nonce.required);
  EXPECT_EQ(config->dpop.nonce.secret_file, Abs("nonce.key"));
  EXPECT_EQ(config->dpop.nonce.step, absl::Seconds(45));

  ASSERT_EQ(config->routes.size(), 3u);
  const RouteConfig& r0 = config->routes[0];
  EXPECT_EQ(r0.name, "public");
  EXPECT_EQ(r0.match.host, "api.example");
  EXPECT_EQ(r0.match.path_prefix, "/public");
  EXPECT_EQ(r0.match.route_key, "");
  EXPECT_EQ(r0.binding, BindingRequirement::kBearer);
  EXPECT_EQ(r0.scopes, std::vector<std::string>{"read"});
  EXPECT_TRUE(r0.match.case_insensitive);
  EXPECT_EQ(r0.issuers,
            (std::vector<std::string>{"http://other.example", "https://third.example"}));
  EXPECT_TRUE(r0.report_only);
  const RouteConfig& r1 = config->routes[1];
  EXPECT_EQ(r1.name, "route-1");
  EXPECT_EQ(r1.match.host, "*.tenants.example");
  EXPECT_EQ(r1.match.route_key, "payments");
  EXPECT_EQ(r1.binding, BindingRequirement::kMtls);
  EXPECT_EQ(r1.scopes, (std::vector<std::string>{"pay", "write:all"}));
  EXPECT_FALSE(r1.match.case_insensitive);
  EXPECT_TRUE(r1.issuers.empty());
  EXPECT_FALSE(r1.report_only);
  EXPECT_EQ(config->routes[2].name, "v1");
  EXPECT_EQ(config->routes[2].match.path_prefix, "/v1/");
  EXPECT_EQ(config->routes[2].binding, BindingRequirement::kDpop);

  EXPECT_EQ(config->default_binding, BindingRequirement::kDpop);
  EXPECT_TRUE(config->default_report_only);
  EXPECT_EQ(config->replay.max_entries, 5000u);
  EXPECT_TRUE(config->trusted_xfcc);
  EXPECT_EQ(config->xfcc.element, XfccElement::kBeforeTrustedPeer);
  EXPECT_EQ(config->xfcc.trusted_peers,
            std::vector<std::string>{
                "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"});
  EXPECT_EQ(OriginOf(*config), "https://api.example");  // normalised
  EXPECT_FALSE(config->trusted_forwarded_headers);
  ASSERT_EQ(config->upstream_headers.size(), 2u);
  EXPECT_EQ(config->upstream_headers[0].header, "x-user");
  EXPECT_EQ(config->upstream_headers[0].value, "sub");
  EXPECT_EQ(config->upstream_headers[1].header, "x-popguard-jkt");
  EXPECT_EQ(config->upstream_headers[1].value, "@jkt");
  EXPECT_EQ(config->access_token_cache_entries, 0u);
  EXPECT_EQ(config->proof_key_cache_entries, 10u);
  EXPECT_EQ(config->cert_thumbprint_cache_entries, 0u);
  EXPECT_EQ(config->limits.max_token_bytes, 16384u);
  EXPECT_EQ(config->limits.max_proof_bytes, 2048u);
  EXPECT_EQ(config->limits.max_json_depth, 8);
  EXPECT_EQ(config->limits.max_queue_wait, absl::Milliseconds(250));
  EXPECT_TRUE(config->crypto.force_openssl);
  EXPECT_FALSE(config->crypto.batch_verification);
  EXPECT_EQ(config->crypto.verify_threads, 3u);
  EXPECT_EQ(config->crypto.max_batch, 8u);
  EXPECT_FALSE(config->crypto.inline_when_idle);
  EXPECT_EQ(config->crypto.key_table_cache_entries, 0u);
}

TEST_F(ConfigTest, NullValuesAndEmptyListsMeanWhatTheySay) {
  // `key:` (null) keeps the default; an explicit empty upstream_headers list
  // replaces the defaults with nothing.
  absl::StatusOr<Config> config =
      Load(WithIssuer("external_origin:\nclock_skew: ~\ndpop:\nupstream_headers: []\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(OriginOf(*config), "");
  EXPECT_EQ(config->clock_skew, absl::Seconds(60));
  EXPECT_EQ(config->dpop.max_age, absl::Seconds(60));
  EXPECT_TRUE(config->upstream_headers.empty());
}

TEST_F(ConfigTest, ExternalOriginIsNormalised) {
  const struct {
    std::string in;
    std::string out;
  } cases[] = {
      {"https://api.example", "https://api.example"},
      {"https://API.example/", "https://api.example"},
      {"https://api.example:443", "https://api.example"},
      {"https://api.example:8443", "https://api.example:8443"},
      {"http://api.example:80", "http://api.example"},
      {"http://api.example:443", "http://api.example:443"},
      {"https://[::1]:9443", "https://[::1]:9443"},
      {"https://10.0.0.1", "https://10.0.0.1"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    absl::StatusOr<Config> config =
        Load(WithIssuer(absl::StrCat("external_origin: \"", c.in, "\"\n")));
    ASSERT_TRUE(config.ok()) << config.status();
    EXPECT_EQ(OriginOf(*config), c.out);
  }
}

TEST(ParseDurationTest, AcceptsDocumentedForms) {
  const struct {
    std::string in;
    absl::Duration out;
  } cases[] = {
      {"250ms", absl::Milliseconds(250)},
      {"60s", absl::Seconds(60)},
      {"5m", absl::Minutes(5)},
      {"24h", absl::Hours(24)},
      {"90", absl::Seconds(90)},
      {"0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"1h30m", absl::Minutes(90)},
      {"1m500ms", absl::Milliseconds(60500)},
      {"999999999999s", absl::Seconds(999999999999)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in);
    absl::StatusOr<absl::Duration> d = ParseDuration(c.in);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, c.out);
  }
}

TEST(ParseDurationTest, RejectsEverythingElse) {
  for (const std::string in :
       {"", "s", "ms", "-5s", "+5s", "5 s", " 5s", "5s ", "1.5s", "5d", "5S", "5us", "1h30", "h1",
        "1e3s", "9999999999999s", "9999999999999", "0x10"}) {
    SCOPED_TRACE(in);
    absl::StatusOr<absl::Duration> d = ParseDuration(in);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(d.status().message(), HasSubstr("is not a duration"));
  }
}

TEST(ResolvePathTest, Table) {
  const struct {
    std::string base, path, out;
  } cases[] = {
      {"/etc/popguard", "jwks.json", "/etc/popguard/jwks.json"},
      {"/etc/popguard/", "keys/jwks.json", "/etc/popguard/keys/jwks.json"},
      {"/etc/popguard", "../secrets/nonce.key", "/etc/secrets/nonce.key"},
      {"/etc/popguard", "/abs/jwks.json", "/abs/jwks.json"},
      {"", "jwks.json", "jwks.json"},
      {"/etc/popguard", "", ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.base + " + " + c.path);
    EXPECT_EQ(ResolvePath(c.base, c.path), c.out);
  }
}

TEST_F(ConfigTest, LoadConfigFileResolvesAgainstTheFilesDirectory) {
  const std::filesystem::path conf = dir_.path() / "conf";
  WriteFile(conf / "keys" / "jwks.json", kJwks);
  WriteFile(conf / "popguard.yaml", absl::StrCat(R"(issuers:
  - issuer: https://a.example
    jwks_file: keys/jwks.json
    audiences: [a]
  - issuer: https://b.example
    jwks_file: )",
                                                 Abs("jwks.json"), R"(
    audiences: [b]
dpop:
  nonce: {secret_file: ../nonce.key}
)"));
  absl::StatusOr<Config> config = LoadConfigFile((conf / "popguard.yaml").string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->base_dir, conf.string());
  EXPECT_EQ(config->issuers[0].jwks_file, (conf / "keys" / "jwks.json").string());
  EXPECT_EQ(config->issuers[1].jwks_file, Abs("jwks.json"));
  EXPECT_EQ(config->dpop.nonce.secret_file, Abs("nonce.key"));
  // Stored paths are absolute, so resolving them again changes nothing.
  EXPECT_EQ(ResolvePath(config->base_dir, config->issuers[0].jwks_file),
            config->issuers[0].jwks_file);
}

TEST_F(ConfigTest, RelativeBaseDirIsMadeAbsolute) {
  const std::filesystem::path saved = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  absl::StatusOr<Config> config =
      LoadConfigYaml(absl::StrReplaceAll(kIssuer, {{"jwks.json", "../jwks.json"}}), "subdir");
  std::filesystem::current_path(saved);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->base_dir, Abs("subdir"));
  EXPECT_EQ(config->issuers[0].jwks_file, Abs("jwks.json"));
}

TEST_F(ConfigTest, LoadConfigFileErrorsNameTheFile) {
  const std::string missing = Abs("nope.yaml");
  absl::StatusOr<Config> config = LoadConfigFile(missing);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(), absl::StrCat("config file ", missing, " does not exist"));

  const std::string bad = Abs("bad.yaml");
  WriteFile(bad, WithIssuer("log_level: loud\n"));
  config = LoadConfigFile(bad);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message(),
            absl::StrCat(bad, ": log_level: \"loud\" is not one of debug, info, warn, error"));
}

TEST(BindingRequirementTest, NamesRoundTrip) {
  const struct {
    BindingRequirement b;
    std::string name;
  } cases[] = {
      {BindingRequirement::kBearer, "bearer"},
      {BindingRequirement::kDpop, "dpop"},
      {BindingRequirement::kMtls, "mtls"},
      {BindingRequirement::kBound, "bound"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(BindingRequirementName(c.b), c.name);
    EXPECT_EQ(ParseBindingRequirement(c.name), c.b);
  }
  EXPECT_EQ(ParseBindingRequirement("Bearer"), std::nullopt);
  EXPECT_EQ(ParseBindingRequirement(""), std::nullopt);
}

}  // namespace
}  // namespace popguard
