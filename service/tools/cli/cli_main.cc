// popguard-cli: keys, tokens and DPoP proofs for people and tests, and a
// client for a running popguard (Verify or Envoy ext_authz Check).
//
// Every subcommand declares its flags once, in a table (kCommands below) that
// both the parser and the --help text read. `popguard-cli --help` lists the
// subcommands, `popguard-cli SUBCOMMAND --help` its flags. Mistakes are errors
// (one line on stderr naming the flag, exit 2): unknown flags, values that do
// not parse, a single-valued flag given twice, a missing required flag.
//
// The keys it writes are for demos and tests; production signing keys belong
// in the authorization server's key store.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/authn/client_cert.h"
#include "service/common/command_line.h"
#include "service/common/crypto_util.h"
#include "service/common/file.h"
#include "service/common/json.h"
#include "service/common/strings.h"
#include "service/common/url.h"
#include "service/common/version.h"
#include "service/config/config.h"
#include "service/jose/base64url.h"
#include "service/tools/cli/probe.h"
#include "service/tools/cli/revoke.h"
#include "service/tools/cli/rollout.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"

namespace popguard {
namespace {

// Every subcommand's flags are parsed by service/common/command_line.h.
using Args = FlagValues;
using RunFn = int (*)(const Args&);

struct CommandSpec {
  absl::string_view name;
  absl::string_view summary;  // one line, for the overview
  absl::string_view detail;   // printed under the usage line of the command's help
  std::vector<FlagSpec> flags;
  RunFn run;
};

int Fail(absl::string_view msg) {
  std::cerr << "popguard-cli: " << msg << "\n";
  return 2;
}

// Certificates, keys and JWKS files: well under this.
constexpr size_t kMaxPemFileBytes = 1 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  return ReadFileToString(path, kMaxPemFileBytes);
}

absl::StatusOr<JsonValue> ReadJsonFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseJson(*text);
}

// WriteNewFile writes `data` to `path` with exactly `mode` (fchmod after
// creating, so the umask cannot widen or narrow it). Without `force` an
// existing path is refused (O_EXCL also refuses a symlink planted there).
// With `force` the data goes to a fresh temporary file in the same directory
// that is then renamed over `path`, so an existing file's wider mode or a
// symlink at `path` never receives a private key.
absl::Status WriteNewFile(const std::string& path, const std::string& data, mode_t mode,
                          bool force) {
  std::string target = path;
  int fd;
  if (force) {
    target = path + ".tmpXXXXXX";
    fd = mkstemp(target.data());
  } else {
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists (use --force to replace it)"));
    }
  }
  if (fd < 0)
    return absl::InternalError(absl::StrCat("cannot create ", path, ": ", strerror(errno)));
  bool ok = fchmod(fd, mode) == 0;
  for (size_t off = 0; ok && off < data.size();) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) off += static_cast<size_t>(n);
  }
  ok = close(fd) == 0 && ok;
  if (ok && force) ok = rename(target.c_str(), path.c_str()) == 0;
  if (!ok) {
    std::string err = strerror(errno);
    if (force) unlink(target.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", err));
  }
  return absl::OkStatus();
}

absl::StatusOr<PrivateKey> LoadPrivateKey(const std::string& path) {
  auto json = ReadJsonFile(path);
  if (!json.ok()) return json.status();
  return PrivateKey::FromJwk(*json);
}

// Picks the signing algorithm: --alg, else the key's DefaultAlg().
absl::StatusOr<JwsAlg> AlgFor(const Args& args, const PrivateKey& key) {
  if (args.Has("alg")) {
    auto alg = ParseJwsAlg(args.Get("alg"));
    if (!alg)
      return absl::InvalidArgumentError(absl::StrCat("--alg: unknown algorithm ", args.Get("alg")));
    return *alg;
  }
  return key.DefaultAlg();
}

int Keygen(const Args& args) {
  auto alg = ParseJwsAlg(args.Get("alg", "ES256"));
  if (!alg) return Fail("--alg must be ES256, ES384, ES512, EdDSA, Ed25519, RS256.. or PS256..");
  std::string out = args.Get("out"), pub_out = args.Get("public-out");
  if (!out.empty() && out == pub_out) return Fail("--out and --public-out name the same file");
  bool force = args.Has("force");
  // Check both targets before writing either, so a refusal leaves nothing half done.
  for (const std::string& path : {out, pub_out}) {
    struct stat st;
    if (!path.empty() && !force && lstat(path.c_str(), &st) == 0) {
      return Fail(absl::StrCat(path, " exists (use --force to replace it)"));
    }
  }
  auto key = PrivateKey::Generate(*alg);
  if (!key.ok()) return Fail(key.status().message());
  key->set_alg(*alg);
  std::string kid = args.Get("kid");
  if (kid.empty()) kid = key->Thumbprint().substr(0, 16);
  key->set_kid(kid);
  std::string priv = SerializeJson(key->PrivateJwk()) + "\n";
  if (out.empty()) {
    std::cout << priv;
  } else if (absl::Status s = WriteNewFile(out, priv, 0600, force); !s.ok()) {
    return Fail(absl::StrCat("--out: ", s.message()));
  }
  if (!pub_out.empty()) {
    std::string pub = SerializeJson(key->PublicJwk()) + "\n";
    if (absl::Status s = WriteNewFile(pub_out, pub, 0644, force); !s.ok()) {
      return Fail(absl::StrCat("--public-out: ", s.message()));
    }
  }
  return 0;
}

int Jwks(const Args& args) {
  std::vector<JsonValue> keys;
  for (const std::string& path : args.GetAll("key")) {
    auto json = ReadJsonFile(path);
    if (!json.ok()) return Fail(absl::StrCat("--key ", path, ": ", json.status().message()));
    // Accept a private JWK too, but only ever publish its public half.
    auto priv = PrivateKey::FromJwk(*json);
    keys.push_back(priv.ok() ? priv->PublicJwk() : *json);
  }
  std::cout << SerializeJson(JsonValue::Object({{"keys", JsonValue::Array(std::move(keys))}}))
            << "\n";
  return 0;
}

int Token(const Args& args) {
  auto key = LoadPrivateKey(args.Get("key"));
  if (!key.ok()) return Fail(absl::StrCat("--key: ", key.status().message()));
  auto alg = AlgFor(args, *key);
  if (!alg.ok()) return Fail(alg.status().message());
  if (args.Has("dpop-key") && args.Has("jkt"))
    return Fail("--dpop-key and --jkt exclude each other");
  if (args.Has("exp") && args.Has("ttl")) return Fail("--exp and --ttl exclude each other");
  int64_t iat = args.GetInt("iat", absl::ToUnixSeconds(absl::Now()));
  int64_t exp;
  if (__builtin_add_overflow(iat, args.GetInt("ttl", 300), &exp)) return Fail("--ttl: too large");
  if (args.Has("exp")) exp = args.GetInt("exp", 0);
  // Each claim with the flag that set it, so a colliding --claim can name it.
  std::vector<JsonValue::Member> claims;
  std::map<std::string, std::string> set_by;
  auto set = [&](std::string name, JsonValue value, std::string flag) {
    set_by[name] = std::move(flag);
    claims.push_back({std::move(name), std::move(value)});
  };
  set("iss", JsonValue::String(args.Get("iss")), "--iss");
  set("aud", JsonValue::String(args.Get("aud")), "--aud");
  set("iat", JsonValue::Number(static_cast<double>(iat)), "the CLI (--iat)");
  set("exp", JsonValue::Number(static_cast<double>(exp)), "the CLI (--exp, --ttl)");
  set("jti", JsonValue::String(Base64UrlEncode(RandomBytes(12))), "the CLI (a random jti)");
  if (args.Has("sub")) set("sub", JsonValue::String(args.Get("sub")), "--sub");
  if (args.Has("client-id"))
    set("client_id", JsonValue::String(args.Get("client-id")), "--client-id");
  if (args.Has("scope")) set("scope", JsonValue::String(args.Get("scope")), "--scope");
  std::vector<JsonValue::Member> cnf;
  std::string jkt = args.Get("jkt");
  if (args.Has("dpop-key")) {
    auto json = ReadJsonFile(args.Get("dpop-key"));
    if (!json.ok()) return Fail(absl::StrCat("--dpop-key: ", json.status().message()));
    auto t = JwkThumbprint(*json);
    if (!t.ok()) return Fail(absl::StrCat("--dpop-key: ", t.status().message()));
    jkt = *t;
  }
  if (!jkt.empty()) cnf.push_back({"jkt", JsonValue::String(jkt)});
  if (args.Has("cert")) {
    auto pem = ReadFile(args.Get("cert"));
    if (!pem.ok()) return Fail(absl::StrCat("--cert: ", pem.status().message()));
    auto der = CertificateDer(*pem);
    if (!der.ok()) return Fail(absl::StrCat("--cert: ", der.status().message()));
    cnf.push_back({"x5t#S256", JsonValue::String(CertificateThumbprint(*der))});
  }
  if (!cnf.empty()) set("cnf", JsonValue::Object(std::move(cnf)), "--dpop-key/--jkt/--cert");
  // --claim NAME=JSON: the value is JSON (a string needs its quotes), parsed
  // strictly; a claim that already exists is an error, so the token never
  // holds a duplicate member (verifiers must reject those, RFC 7515 5.2).
  for (const std::string& kv : args.GetAll("claim")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return Fail("--claim: expected NAME=JSON");
    std::string name = kv.substr(0, eq);
    if (auto it = set_by.find(name); it != set_by.end()) {
      return Fail(absl::StrCat("--claim ", name, ": claim already set by ", it->second));
    }
    auto value = ParseJson(std::string_view(kv).substr(eq + 1));
    if (!value.ok()) {
      return Fail(absl::StrCat("--claim ", name, ": value is not JSON (", value.status().message(),
                               "); a string needs quotes: --claim '", name, "=\"text\"'"));
    }
    set(name, *std::move(value), "an earlier --claim");
  }
  std::vector<JsonValue::Member> header = {
      {"alg", JsonValue::String(std::string(JwsAlgName(*alg)))},
      {"typ", JsonValue::String(args.Get("typ", "at+jwt"))}};
  if (!key->kid().empty()) header.push_back({"kid", JsonValue::String(key->kid())});
  auto jws = SignCompactJws(*key, *alg, JsonValue::Object(std::move(header)),
                            JsonValue::Object(std::move(claims)));
  if (!jws.ok()) return Fail(jws.status().message());
  std::cout << *jws << "\n";
  return 0;
}

int Proof(const Args& args) {
  auto key = LoadPrivateKey(args.Get("key"));
  if (!key.ok()) return Fail(absl::StrCat("--key: ", key.status().message()));
  auto alg = AlgFor(args, *key);
  if (!alg.ok()) return Fail(alg.status().message());
  ProofSpec spec{.method = args.Get("method", "GET"),
                 .url = args.Get("url"),
                 .iat = absl::FromUnixSeconds(args.GetInt("iat", absl::ToUnixSeconds(absl::Now()))),
                 .jti = args.Get("jti")};  // "": a random one
  if (args.Has("token")) spec.access_token = args.Get("token");
  if (args.Has("nonce")) spec.nonce = args.Get("nonce");
  auto jws = MintProof(*key, *alg, spec);
  if (!jws.ok()) return Fail(jws.status().message());
  std::cout << *jws << "\n";
  return 0;
}

// The request `check` sends, before it is shaped for one API.
struct CheckInput {
  std::string id, method, url, route_key, cert_pem;
  std::vector<std::pair<std::string, std::string>> headers;
};

// What `check` prints, from either API.
struct CheckOutput {
  bool allow = false;
  std::string reason_code;
  int http_status = 0;
  bool report_only = false;
  std::string message, route, principal;
  std::vector<std::pair<std::string, std::string>> response_headers, upstream_headers;
  std::vector<std::string> upstream_headers_to_remove;
};

absl::StatusOr<CheckOutput> CallVerify(const std::shared_ptr<grpc::Channel>& channel,
                                       const CheckInput& in) {
  popguard::v1::VerifyRequest req;
  req.set_correlation_id(in.id);
  req.set_method(in.method);
  req.set_url(in.url);
  req.set_route_key(in.route_key);
  for (const auto& [name, value] : in.headers) {
    auto* h = req.add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  if (!in.cert_pem.empty()) req.set_certificate(in.cert_pem);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  popguard::v1::VerifyResponse resp;
  grpc::Status status = popguard::v1::Verifier::NewStub(channel)->Verify(&ctx, req, &resp);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("Verify failed: ", status.error_message()));
  }
  CheckOutput out;
  out.allow = resp.decision() == popguard::v1::ALLOW;
  out.reason_code = resp.reason_code();
  out.http_status = resp.http_status();
  out.report_only = resp.report_only();
  out.message = resp.message();
  out.route = resp.route();
  out.principal = resp.principal();
  for (const auto& h : resp.response_headers())
    out.response_headers.emplace_back(h.name(), h.value());
  for (const auto& h : resp.upstream_headers())
    out.upstream_headers.emplace_back(h.name(), h.value());
  for (const auto& h : resp.upstream_headers_to_remove())
    out.upstream_headers_to_remove.push_back(h);
  return out;
}

// CallCheck sends the request as Envoy's ext_authz filter does: URL split
// into scheme, host and path, headers lower-cased and not merged
// (header_map, as with encode_raw_headers), the route key as the
// popguard_route context extension.
absl::StatusOr<CheckOutput> CallCheck(const std::shared_ptr<grpc::Channel>& channel,
                                      const CheckInput& in) {
  namespace auth = envoy::service::auth::v3;
  const std::optional<HttpUrlParts> parts = ParseHttpUrl(in.url);
  if (!parts.has_value()) {
    return absl::InvalidArgumentError("--url: expected an absolute http(s) URL");
  }
  const std::string scheme(parts->scheme), host(parts->authority);
  // Sent as written after the authority (query and fragment included).
  std::string path = in.url.substr(parts->origin.size());
  if (path.empty() || path[0] != '/') path = "/" + path;
  auth::CheckRequest req;
  auto* attrs = req.mutable_attributes();
  auto* http = attrs->mutable_request()->mutable_http();
  http->set_id(in.id);
  http->set_method(in.method);
  http->set_scheme(scheme);
  http->set_host(host);
  http->set_path(path);
  http->set_protocol("HTTP/1.1");
  std::vector<std::pair<std::string, std::string>> lines = {
      {":authority", host}, {":method", in.method}, {":path", path}, {":scheme", scheme}};
  lines.insert(lines.end(), in.headers.begin(), in.headers.end());
  for (const auto& [name, value] : lines) {
    auto* h = http->mutable_header_map()->add_headers();
    h->set_key(absl::AsciiStrToLower(name));
    h->set_raw_value(value);
  }
  if (!in.cert_pem.empty()) attrs->mutable_source()->set_certificate(EnvoyUrlEncode(in.cert_pem));
  if (!in.route_key.empty())
    (*attrs->mutable_context_extensions())["popguard_route"] = in.route_key;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auth::CheckResponse resp;
  grpc::Status status = auth::Authorization::NewStub(channel)->Check(&ctx, req, &resp);
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("Check failed: ", status.error_message()));
  }
  CheckOutput out;
  out.allow = resp.status().code() == 0;
  if (out.allow) {
    out.reason_code = "ok";
    out.http_status = 200;
    for (const auto& h : resp.ok_response().headers()) {
      out.upstream_headers.emplace_back(h.header().key(), h.header().value());
    }
    for (const auto& k : resp.ok_response().headers_to_remove()) {
      out.upstream_headers_to_remove.push_back(k);
    }
    for (const auto& h : resp.ok_response().response_headers_to_add()) {
      out.response_headers.emplace_back(h.header().key(), h.header().value());
    }
  } else {
    out.reason_code = resp.status().message();
    out.http_status = static_cast<int>(resp.denied_response().status().code());
    for (const auto& h : resp.denied_response().headers()) {
      out.response_headers.emplace_back(h.header().key(), h.header().value());
    }
  }
  return out;
}

// CheckRouteKey loads the server's config (--config) and requires a route
// whose match.route_key is `key`: popguard falls back to the default route
// for a key no route has, so a typo would silently test the wrong policy.
absl::Status CheckRouteKey(const std::string& config_path, const std::string& key) {
  if (config_path.empty()) {
    return absl::InvalidArgumentError(
        "--route needs --config (the server's popguard.yaml) to check that the route exists");
  }
  auto config = LoadConfigFile(config_path);
  if (!config.ok())
    return absl::InvalidArgumentError(absl::StrCat("--config: ", config.status().message()));
  std::vector<std::string> keys;
  for (const RouteConfig& r : config->routes) {
    if (r.match.route_key == key) return absl::OkStatus();
    if (!r.match.route_key.empty()) keys.push_back(r.match.route_key);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--route ", key, ": no route in ", config_path, " has match.route_key ", key,
                   keys.empty() ? " (it has no route keys)"
                                : absl::StrCat(" (it has: ", absl::StrJoin(keys, ", "), ")")));
}

int Check(const Args& args) {
  std::string api = args.Get("api", "verify");
  if (api != "verify" && api != "check") return Fail("--api must be verify or check");
  if (args.Has("proof") && !args.Has("token")) return Fail("--proof needs --token");
  if (args.Has("cert") != args.Has("key")) {
    return Fail(
        "--cert and --key go together (the TLS client certificate for the connection to "
        "popguard; the request's client certificate is --client-cert)");
  }
  CheckInput in;
  in.id = args.Get("id", "cli");
  in.method = args.Get("method", "GET");
  in.url = args.Get("url");
  in.route_key = args.Get("route");
  if (args.Has("route")) {
    if (absl::Status s = CheckRouteKey(args.Get("config"), in.route_key); !s.ok()) {
      return Fail(s.message());
    }
  }
  if (args.Has("token")) {
    std::string scheme = args.Has("proof") ? "DPoP " : "Bearer ";
    in.headers.emplace_back("Authorization", scheme + args.Get("token"));
  }
  if (args.Has("proof")) in.headers.emplace_back("DPoP", args.Get("proof"));
  for (const std::string& line : args.GetAll("header")) {
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return Fail("--header: expected \"Name: value\"");
    in.headers.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                            std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  if (args.Has("client-cert")) {
    auto pem = ReadFile(args.Get("client-cert"));
    if (!pem.ok()) return Fail(absl::StrCat("--client-cert: ", pem.status().message()));
    in.cert_pem = *pem;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments channel_args;
  if (args.Has("ca") || args.Has("cert") || args.Has("server-name")) {
    grpc::SslCredentialsOptions tls;  // empty roots: the system's CAs
    for (auto [flag, field] :
         {std::pair{"ca", &tls.pem_root_certs}, std::pair{"cert", &tls.pem_cert_chain},
          std::pair{"key", &tls.pem_private_key}}) {
      if (!args.Has(flag)) continue;
      auto pem = ReadFile(args.Get(flag));
      if (!pem.ok()) return Fail(absl::StrCat("--", flag, ": ", pem.status().message()));
      *field = *pem;
    }
    creds = grpc::SslCredentials(tls);
    if (args.Has("server-name")) {
      channel_args.SetSslTargetNameOverride(args.Get("server-name"));
    }
  }
  auto channel = grpc::CreateCustomChannel(args.Get("addr", "127.0.0.1:9001"), creds, channel_args);
  auto out = api == "check" ? CallCheck(channel, in) : CallVerify(channel, in);
  if (!out.ok()) return Fail(out.status().message());
  std::cout << (out->allow ? "ALLOW" : "DENY") << " " << out->reason_code << " (HTTP "
            << out->http_status << ")" << (out->report_only ? " [report-only]" : "") << "\n";
  if (!out->message.empty()) std::cout << "  message: " << out->message << "\n";
  if (!out->route.empty()) std::cout << "  route: " << out->route << "\n";
  if (!out->principal.empty()) std::cout << "  principal: " << out->principal << "\n";
  for (const auto& [name, value] : out->response_headers) {
    std::cout << "  response header: " << name << ": " << value << "\n";
  }
  for (const auto& [name, value] : out->upstream_headers) {
    std::cout << "  upstream header: " << name << ": " << value << "\n";
  }
  for (const auto& name : out->upstream_headers_to_remove) {
    std::cout << "  remove header: " << name << "\n";
  }
  return out->allow ? 0 : 1;
}

int Thumbprint(const Args& args) {
  if (args.Has("jwk") == args.Has("cert"))
    return Fail("thumbprint needs exactly one of --jwk, --cert");
  if (args.Has("jwk")) {
    auto json = ReadJsonFile(args.Get("jwk"));
    if (!json.ok()) return Fail(absl::StrCat("--jwk: ", json.status().message()));
    auto t = JwkThumbprint(*json);
    if (!t.ok()) return Fail(absl::StrCat("--jwk: ", t.status().message()));
    std::cout << *t << "\n";
    return 0;
  }
  auto pem = ReadFile(args.Get("cert"));
  if (!pem.ok()) return Fail(absl::StrCat("--cert: ", pem.status().message()));
  auto der = CertificateDer(*pem);
  if (!der.ok()) return Fail(absl::StrCat("--cert: ", der.status().message()));
  std::cout << CertificateThumbprint(*der) << "\n";
  return 0;
}

constexpr FlagKind kStr = FlagKind::kString;
constexpr FlagKind kInt = FlagKind::kInt;
constexpr FlagKind kSwitch = FlagKind::kSwitch;
constexpr bool kReq = true, kOpt = false, kMany = true, kOnce = false;

// Rollout: popguard-cli rollout with --admin (one replica's GET /rollout) or
// --metrics (the sum of several expositions), never both: they count
// different things (one replica since its start against whatever the sources
// hold), and a mix would be neither.
int Rollout(const Args& args) {
  const bool admin = args.Has("admin");
  const bool metrics = args.Has("metrics");
  if (admin && metrics) {
    return Fail(
        "rollout: --admin and --metrics exclude each other (one replica's report, or the "
        "sum of the expositions)");
  }
  if (!admin && !metrics) return Fail("rollout: needs --admin URL or --metrics URL (repeatable)");
  if (admin) {
    if (args.Has("ready-min-requests") || args.Has("ready-max-deny-ratio")) {
      return Fail(
          "rollout: --ready-min-requests and --ready-max-deny-ratio go with --metrics "
          "(--admin reports the replica's own rollout thresholds)");
    }
    return RunRollout(args.Get("admin"));
  }
  RolloutConfig readiness;  // the config's defaults
  if (args.Has("ready-min-requests")) {
    const int64_t n = args.GetInt("ready-min-requests", 0);
    if (n < 0) return Fail("rollout: --ready-min-requests must be 0 or more");
    readiness.ready_min_requests = static_cast<uint64_t>(n);
  }
  if (args.Has("ready-max-deny-ratio")) {
    double r = -1;
    if (!absl::SimpleAtod(args.Get("ready-max-deny-ratio"), &r) || !(r >= 0 && r <= 1)) {
      return Fail("rollout: --ready-max-deny-ratio must be a number from 0 to 1");
    }
    readiness.ready_max_deny_ratio = r;
  }
  return RunFleetRollout(args.GetAll("metrics"), readiness);
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"keygen",
       "make a private JWK (and its public half)",
       "Prints the private JWK, or writes it to --out with mode 0600. Existing files are\n"
       "refused unless --force.",
       {{"alg", kStr, kOpt, kOnce, "ALG",
         "ES256 (default), ES384, ES512, EdDSA, Ed25519, RS256.., PS256.."},
        {"kid", kStr, kOpt, kOnce, "KID",
         "key id (default: first 16 characters of the thumbprint)"},
        {"out", kStr, kOpt, kOnce, "FILE", "write the private JWK here (mode 0600)"},
        {"public-out", kStr, kOpt, kOnce, "FILE", "write the public JWK here (mode 0644)"},
        {"force", kSwitch, kOpt, kOnce, "", "replace existing --out / --public-out files"}},
       Keygen},
      {"jwks",
       "print a JWKS with the public halves of keys",
       "Prints {\"keys\":[...]} for a config's jwks_file; private JWKs are published public only.",
       {{"key", kStr, kReq, kMany, "FILE", "a JWK file (repeat for more keys)"}},
       Jwks},
      {"token",
       "mint a JWT access token (RFC 9068)",
       "Prints the token. --claim adds a claim whose value is JSON, so a string needs its\n"
       "quotes: --claim 'acr=\"gold\"' --claim 'n=3' --claim 'x={\"a\":1}'. A claim the CLI\n"
       "already sets (iss, aud, iat, exp, jti, and sub, client_id, scope, cnf when their\n"
       "flags are given) or an earlier --claim is an error.",
       {{"key", kStr, kReq, kOnce, "FILE", "issuer private JWK"},
        {"iss", kStr, kReq, kOnce, "ISS", "issuer"},
        {"aud", kStr, kReq, kOnce, "AUD", "audience"},
        {"sub", kStr, kOpt, kOnce, "SUB", "subject"},
        {"client-id", kStr, kOpt, kOnce, "ID", "client_id claim"},
        {"scope", kStr, kOpt, kOnce, "\"A B\"", "scope claim (space-separated)"},
        {"ttl", kInt, kOpt, kOnce, "SECONDS", "exp = iat + SECONDS (default 300)"},
        {"iat", kInt, kOpt, kOnce, "UNIX", "issued-at (default: now)"},
        {"exp", kInt, kOpt, kOnce, "UNIX", "expiry (instead of --ttl)"},
        {"dpop-key", kStr, kOpt, kOnce, "FILE", "bind to this DPoP key (cnf.jkt)"},
        {"jkt", kStr, kOpt, kOnce, "JKT", "bind to this key thumbprint (cnf.jkt)"},
        {"cert", kStr, kOpt, kOnce, "FILE", "bind to this client certificate (cnf.x5t#S256)"},
        {"typ", kStr, kOpt, kOnce, "TYP", "header typ (default at+jwt)"},
        {"alg", kStr, kOpt, kOnce, "ALG", "signing algorithm (default: the key's)"},
        {"claim", kStr, kOpt, kMany, "NAME=JSON", "an extra claim, value as JSON"}},
       Token},
      {"proof",
       "sign a DPoP proof (RFC 9449)",
       "Prints the proof JWT.",
       {{"key", kStr, kReq, kOnce, "FILE", "the client's private DPoP JWK"},
        {"url", kStr, kReq, kOnce, "URL", "htu: the request URL"},
        {"method", kStr, kOpt, kOnce, "METHOD", "htm (default GET)"},
        {"token", kStr, kOpt, kOnce, "TOKEN", "access token, for ath"},
        {"nonce", kStr, kOpt, kOnce, "NONCE", "server-provided DPoP-Nonce"},
        {"jti", kStr, kOpt, kOnce, "JTI", "proof id (default: random)"},
        {"iat", kInt, kOpt, kOnce, "UNIX", "issued-at (default: now)"},
        {"alg", kStr, kOpt, kOnce, "ALG", "signing algorithm (default: the key's)"}},
       Proof},
      {"check",
       "ask a running popguard about one request",
       "Prints the decision, reason code and HTTP status, then the response headers for the\n"
       "client, the upstream headers to set and the ones to remove. Exit 0 on ALLOW, 1 on\n"
       "DENY, 2 on errors.",
       {{"addr", kStr, kOpt, kOnce, "HOST:PORT",
         "popguard's gRPC address (default 127.0.0.1:9001)"},
        {"api", kStr, kOpt, kOnce, "verify|check",
         "popguard Verify (default) or Envoy ext_authz Check"},
        {"url", kStr, kReq, kOnce, "URL", "the absolute request URL"},
        {"method", kStr, kOpt, kOnce, "METHOD", "request method (default GET)"},
        {"token", kStr, kOpt, kOnce, "TOKEN", "access token (Bearer, or DPoP with --proof)"},
        {"proof", kStr, kOpt, kOnce, "PROOF", "DPoP proof"},
        {"header", kStr, kOpt, kMany, "\"NAME: VALUE\"", "another request header"},
        {"client-cert", kStr, kOpt, kOnce, "FILE", "the request's client certificate (PEM)"},
        {"route", kStr, kOpt, kOnce, "KEY", "route key (needs --config, which must have it)"},
        {"config", kStr, kOpt, kOnce, "FILE", "the server's popguard.yaml, to check --route"},
        {"id", kStr, kOpt, kOnce, "ID", "correlation / request id (default cli)"},
        {"ca", kStr, kOpt, kOnce, "FILE", "TLS: CA bundle for popguard's certificate"},
        {"cert", kStr, kOpt, kOnce, "FILE", "TLS: client certificate for the connection"},
        {"key", kStr, kOpt, kOnce, "FILE", "TLS: client private key for the connection"},
        {"server-name", kStr, kOpt, kOnce, "NAME",
         "TLS: name to verify in popguard's certificate"}},
       Check},
      {"thumbprint",
       "print a JWK or certificate thumbprint",
       "Prints the RFC 7638 JWK thumbprint or the RFC 8705 x5t#S256; give exactly one flag.",
       {{"jwk", kStr, kOpt, kOnce, "FILE", "a JWK"},
        {"cert", kStr, kOpt, kOnce, "FILE", "a PEM certificate"}},
       Thumbprint},
      {"revoke", kRevokeSummary, kRevokeDetail, RevokeFlags(), RunRevoke},
      {"rollout",
       "what requiring a binding would deny, per route",
       "Prints, per route, how requests arrived, what requiring dpop, mtls or any binding\n"
       "(bound) would deny now and from which clients, and which report-only routes are ready\n"
       "to enforce. Give exactly one source: --admin reads GET /rollout from one replica's\n"
       "admin port (metrics.listen; that replica since its start, its own readiness\n"
       "thresholds); --metrics reads Prometheus text (a replica's /metrics, or a Prometheus\n"
       "/federate URL), may be repeated, and sums the counters of all of them: the whole\n"
       "fleet, judged with --ready-min-requests and --ready-max-deny-ratio. Exit 0 when\n"
       "printed, 2 when a source cannot be read or is not popguard's.",
       {{"admin", kStr, kOpt, kOnce, "URL", "one replica's admin port, http://HOST:PORT"},
        {"metrics", kStr, kOpt, kMany, "URL",
         "Prometheus text to sum, e.g. http://HOST:9090/metrics"},
        {"ready-min-requests", kInt, kOpt, kOnce, "N",
         "with --metrics: requests needed to judge a route (default 1000)"},
        {"ready-max-deny-ratio", kStr, kOpt, kOnce, "R",
         "with --metrics: share enforcing may deny (default 0.001)"}},
       Rollout},
      {"probe",
       "diagnose the proxy chain in front of popguard",
       "Sends a path diagnostics probe to --url through the real gateways (a DPoP proof with a\n"
       "fresh key and a signed PopGuard-Probe statement of what was sent) and prints\n"
       "popguard's report: each difference, the hop that made it and the fix. Needs\n"
       "diagnostics on for the route (docs/diagnostics.md). Exit 0: no difference; 1:\n"
       "differences; 2: no report or an error.",
       {{"url", kStr, kReq, kOnce, "URL", "the URL a client addresses"},
        {"method", kStr, kOpt, kOnce, "METHOD", "request method (default GET)"},
        {"cert", kStr, kOpt, kOnce, "FILE", "TLS client certificate to present (PEM)"},
        {"key", kStr, kOpt, kOnce, "FILE", "its private key (PEM)"},
        {"cacert", kStr, kOpt, kOnce, "FILE", "CA bundle for the server's certificate"},
        {"header", kStr, kOpt, kMany, "\"NAME: VALUE\"", "another request header"},
        {"json", kSwitch, kOpt, kOnce, "", "print the report as JSON"}},
       RunProbe},
  };
  return *commands;
}

void PrintOverview(std::ostream& os) {
  os << "usage: popguard-cli COMMAND [--flag value ...]\n\ncommands:\n";
  for (const CommandSpec& c : Commands()) {
    os << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << "\n";
  }
  os << "\n`popguard-cli COMMAND --help` lists a command's flags.\n"
        "`popguard-cli --version` prints the version.\n";
}

void PrintHelp(const CommandSpec& c) {
  std::cout << "usage: popguard-cli " << c.name;
  for (const FlagSpec& f : c.flags) {
    if (f.required) std::cout << " --" << f.name << " " << f.value_name;
  }
  std::cout << " [flags]\n\n" << c.summary << ".\n" << c.detail << "\n\nflags:\n";
  PrintFlagHelp(std::cout, c.flags);
  PrintHelpLine(std::cout, "--help, -h", "this help");
}

// Parse reads argv[2..] against `c.flags`. Returns the exit code to stop
// with, or nullopt when `args` is ready.
std::optional<int> Parse(const CommandSpec& c, int argc, char** argv, Args* args) {
  const std::span<char* const> rest(argv + 2, argv + argc);
  if (AsksFor(rest, "help", {"-h"})) {
    PrintHelp(c);
    return 0;
  }
  absl::Status parsed =
      ParseFlags(c.flags, rest, absl::StrCat("popguard-cli ", c.name, " --help"), args);
  if (!parsed.ok()) return Fail(absl::StrCat(c.name, ": ", parsed.message()));
  return std::nullopt;
}

}  // namespace
}  // namespace popguard

int main(int argc, char** argv) {
  if (argc < 2) {
    popguard::PrintOverview(std::cerr);
    return 2;
  }
  absl::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    popguard::PrintOverview(std::cout);
    return 0;
  }
  if (cmd == "--version") {
    std::cout << popguard::VersionLine("popguard-cli") << "\n";
    return 0;
  }
  for (const popguard::CommandSpec& c : popguard::Commands()) {
    if (c.name != cmd) continue;
    popguard::Args args;
    if (auto code = popguard::Parse(c, argc, argv, &args)) return *code;
    return c.run(args);
  }
  return popguard::Fail(absl::StrCat("unknown command ", cmd, " (see popguard-cli --help)"));
}
