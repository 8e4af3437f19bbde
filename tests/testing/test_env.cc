#include "tests/testing/test_env.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/authn/client_cert.h"
#include "service/common/crypto_util.h"
#include "service/common/strings.h"
#include "service/jose/base64url.h"

namespace popguard::e2e {
namespace {

[[noreturn]] void Die(std::string_view what) {
  std::cerr << "test_env: " << what << "\n";
  std::abort();
}

bool SameFamily(JwsAlg a, JwsAlg b) {
  auto family = [](JwsAlg x) {
    switch (x) {
      case JwsAlg::kRS256:
      case JwsAlg::kRS384:
      case JwsAlg::kRS512:
      case JwsAlg::kPS256:
      case JwsAlg::kPS384:
      case JwsAlg::kPS512:
        return 0;
      case JwsAlg::kEdDSA:
      case JwsAlg::kEd25519:  // one Ed25519 key signs both
        return 1 + static_cast<int>(JwsAlg::kEdDSA);
      default:
        return 1 + static_cast<int>(x);
    }
  };
  return family(a) == family(b);
}

// YAML list of algorithm names, e.g. "[ES256, EdDSA]".
std::string YamlList(const std::vector<std::string>& items) {
  return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
}

}  // namespace

// --- TempDir ---

TempDir::TempDir() {
  char tmpl[] = "/tmp/popguard-e2e-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string TempDir::Write(const std::string& name, std::string_view contents) const {
  const std::string path = absl::StrCat(path_, "/", name);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  if (!out) Die(absl::StrCat("cannot write ", path));
  return path;
}

std::string QuickstartYaml(std::string_view extra) {
  return absl::StrCat("issuers:\n  - issuer: https://issuer.example\n    jwks_file: ",
                      POPGUARD_SOURCE_DIR, "/examples/quickstart/jwks.json\n",
                      "    audiences: [https://api.example]\n", std::string(extra));
}

// --- JSON and JWS helpers ---

JsonValue ApplyMembers(JsonValue object, const Members& overrides) {
  std::vector<JsonValue::Member> members = object.object_members();
  for (const auto& [name, value] : overrides) {
    auto it = std::find_if(members.begin(), members.end(),
                           [&, n = name](const JsonValue::Member& m) { return m.first == n; });
    if (!value.has_value()) {
      if (it != members.end()) members.erase(it);
    } else if (it != members.end()) {
      it->second = *value;
    } else {
      members.emplace_back(name, *value);
    }
  }
  return JsonValue::Object(std::move(members));
}

PrivateKey MakeKey(JwsAlg alg, std::string kid) {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(alg);
  if (!key.ok()) Die(absl::StrCat("key generation failed: ", key.status().message()));
  key->set_kid(std::move(kid));
  return *std::move(key);
}

std::string B64(std::string_view bytes) { return Base64UrlEncode(bytes); }

std::string AssembleJws(std::string_view header_json, std::string_view payload_json,
                        std::string_view signature) {
  return absl::StrCat(B64(header_json), ".", B64(payload_json), ".", B64(signature));
}

std::string SignRaw(const PrivateKey& key, JwsAlg alg, std::string_view header_json,
                    std::string_view payload_json) {
  absl::StatusOr<std::string> jws = SignCompactJwsRaw(key, alg, header_json, payload_json);
  if (!jws.ok()) Die(absl::StrCat("signing failed: ", jws.status().message()));
  return *std::move(jws);
}

std::string MintProof(const PrivateKey& key, const ProofOptions& o) {
  const JwsAlg alg = o.alg.value_or(key.DefaultAlg());
  ProofSpec spec{
      .method = o.method, .url = o.url, .iat = o.iat.value_or(absl::Now()), .jti = o.jti};
  if (!o.token.empty()) spec.access_token = o.token;
  if (!o.nonce.empty()) spec.nonce = o.nonce;
  JsonValue header = ApplyMembers(ProofHeader(key, alg), o.header);
  JsonValue payload = ApplyMembers(ProofClaims(spec), o.claims);
  return SignRaw(o.signer != nullptr ? *o.signer : key, alg, SerializeJson(header),
                 SerializeJson(payload));
}

// --- TestIssuer ---

TestIssuer::TestIssuer(std::string iss, const std::vector<std::pair<std::string, JwsAlg>>& keys)
    : iss_(std::move(iss)) {
  for (const auto& [kid, alg] : keys) {
    keys_.push_back(MakeKey(alg, kid));
    generated_for_.push_back(alg);
  }
}

const PrivateKey& TestIssuer::KeyFor(JwsAlg alg) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (generated_for_[i] == alg) return keys_[i];
  }
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (SameFamily(generated_for_[i], alg)) return keys_[i];
  }
  Die(absl::StrCat("issuer ", iss_, " has no key for ", AV(JwsAlgName(alg))));
}

std::string TestIssuer::JwksJson() const {
  std::vector<const PrivateKey*> keys;
  for (const PrivateKey& k : keys_) keys.push_back(&k);
  return ::popguard::JwksJson(keys);
}

std::string TestIssuer::MintToken(const TokenOptions& o) const {
  const PrivateKey& key = o.key != nullptr ? *o.key : KeyFor(o.alg);
  const TokenSpec spec{.iss = iss_,
                       .aud = o.aud.empty() ? TestEnv::kAudience : o.aud,
                       .sub = o.sub,
                       .client_id = o.client_id,
                       .scope = o.scope,
                       .jkt = o.jkt,
                       .x5t = o.x5t,
                       .iat = o.iat.value_or(absl::Now()),
                       .ttl = o.ttl};
  JsonValue h =
      ApplyMembers(TokenHeader(o.alg, o.kid.empty() ? key.kid() : o.kid, o.typ), o.header);
  JsonValue p = ApplyMembers(TokenClaims(spec), o.claims);
  return SignRaw(key, o.alg, SerializeJson(h), SerializeJson(p));
}

// --- TestCert ---

TestCert TestCert::Create(const std::string& common_name) {
  absl::StatusOr<SelfSignedCert> made = MakeSelfSignedCert(common_name);
  if (!made.ok()) Die(absl::StrCat("certificate: ", made.status().message()));
  TestCert cert;
  cert.pem_ = std::move(made->pem);
  cert.der_ = std::move(made->der);
  cert.thumbprint_ = std::move(made->thumbprint);
  return cert;
}

std::string TestCert::EnvoyUrlEncodedPem() const { return EnvoyUrlEncode(pem_); }

// --- TestEnv ---

TestEnv& TestEnv::Get() {
  // Never destroyed before exit handlers: the temp directory is removed by
  // the destructor of a function-local static.
  static TestEnv env;
  return env;
}

TestEnv::TestEnv()
    : cert_(TestCert::Create("client.test")), other_cert_(TestCert::Create("other.test")) {
  issuer_ = std::make_unique<TestIssuer>(
      "https://issuer.test",
      std::vector<std::pair<std::string, JwsAlg>>{{"es256-1", JwsAlg::kES256},
                                                  {"es384-1", JwsAlg::kES384},
                                                  {"es512-1", JwsAlg::kES512},
                                                  {"eddsa-1", JwsAlg::kEdDSA},
                                                  {"rs256-1", JwsAlg::kRS256},
                                                  {"ps256-1", JwsAlg::kPS256}});
  issuer2_ = std::make_unique<TestIssuer>(
      "https://issuer2.test",
      std::vector<std::pair<std::string, JwsAlg>>{{"i2-es256", JwsAlg::kES256}});
  for (JwsAlg alg : {JwsAlg::kES256, JwsAlg::kES384, JwsAlg::kEdDSA, JwsAlg::kRS256}) {
    client_keys_.push_back(MakeKey(alg));
  }
  dir_.Write("issuer1.jwks.json", issuer_->JwksJson());
  dir_.Write("issuer2.jwks.json", issuer2_->JwksJson());
  dir_.Write("nonce.key", RandomBytes(32));
}

const PrivateKey& TestEnv::client_key(JwsAlg alg) const {
  switch (alg) {
    case JwsAlg::kES256:
      return client_keys_[0];
    case JwsAlg::kES384:
      return client_keys_[1];
    case JwsAlg::kEdDSA:
    case JwsAlg::kEd25519:
      return client_keys_[2];
    case JwsAlg::kRS256:
    case JwsAlg::kRS384:
    case JwsAlg::kRS512:
    case JwsAlg::kPS256:
    case JwsAlg::kPS384:
    case JwsAlg::kPS512:
      return client_keys_[3];
    default:
      Die(absl::StrCat("no client key for ", AV(JwsAlgName(alg))));
  }
}

std::string TestEnv::WriteConfig(const std::string& name, const ConfigOptions& o) const {
  std::string yaml = absl::StrCat(
      "# Written by tests/testing/test_env.cc\n", "log_level: ", o.log_level, "\n", "issuers:\n",
      "  - issuer: ", issuer_->iss(), "\n", "    jwks_file: issuer1.jwks.json\n",
      "    audiences: [", kAudience, "]\n", "    algorithms: ",
      YamlList({"ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "RS384", "PS256"}), "\n",
      "    require_typ: true\n", "  - issuer: ", issuer2_->iss(), "\n",
      "    jwks_file: issuer2.jwks.json\n", "    audiences: [", kAudience, "]\n",
      "    algorithms: [ES256]\n", "clock_skew: 60s\n", "dpop:\n",
      "  algorithms: ", YamlList({"ES256", "ES384", "EdDSA", "Ed25519", "RS256", "PS256"}), "\n",
      "  max_age: 60s\n", "  clock_skew: 5s\n");
  if (o.nonce_required) {
    absl::StrAppend(&yaml, "  nonce: {required: true, secret_file: nonce.key, step: 30s}\n");
  }
  absl::StrAppend(
      &yaml, "routes:\n", "  - {name: public, match: {path_prefix: /public}, binding: bearer}\n",
      "  - {name: mtls, match: {path_prefix: /mtls}, binding: mtls}\n",
      "  - {name: dpop, match: {path_prefix: /dpop}, binding: dpop}\n",
      "  - {name: admin, match: {path_prefix: /admin}, binding: bound, scopes: [admin]}\n",
      "  - {name: shadow, match: {path_prefix: /shadow}, binding: dpop, report_only: true}\n",
      o.extra_routes_yaml, "default_binding: bound\n",
      "trusted_xfcc: ", o.trusted_xfcc ? "true" : "false", "\n");
  if (!o.external_origin.empty())
    absl::StrAppend(&yaml, "external_origin: ", o.external_origin, "\n");
  absl::StrAppend(&yaml, o.extra_yaml);
  return dir_.Write(name, yaml);
}

std::vector<std::string> TestEnv::PrivateKeyDs() const {
  std::vector<std::string> out;
  auto add = [&](const PrivateKey& k) {
    JsonValue jwk = k.PrivateJwk();
    if (const std::string* d = jwk.FindString("d")) out.push_back(*d);
  };
  for (const PrivateKey& k : issuer_->keys()) add(k);
  for (const PrivateKey& k : issuer2_->keys()) add(k);
  for (const PrivateKey& k : client_keys_) add(k);
  return out;
}

std::string TestEnv::Url(std::string_view path) { return absl::StrCat(kOrigin, AV(path)); }

// --- Wire requests ---

popguard::v1::VerifyRequest ToVerifyRequest(const HttpSpec& spec, const std::string& id) {
  popguard::v1::VerifyRequest req;
  req.set_correlation_id(id);
  req.set_method(spec.method);
  req.set_url(spec.url);
  req.set_route_key(spec.route_key);
  for (const auto& [name, value] : spec.headers) {
    popguard::v1::Header* h = req.add_headers();
    h->set_name(name);
    h->set_value(value);
  }
  switch (spec.cert_form) {
    case HttpSpec::CertForm::kNone:
      break;
    case HttpSpec::CertForm::kPem:
      req.set_certificate(spec.cert);
      break;
    case HttpSpec::CertForm::kDer: {
      absl::StatusOr<std::string> der = CertificateDer(spec.cert);
      req.set_certificate(der.ok() ? *der : spec.cert);
      break;
    }
    case HttpSpec::CertForm::kThumbprint:
      req.set_certificate_thumbprint(spec.cert);
      break;
  }
  return req;
}

void SetCheckHeader(envoy::service::auth::v3::AttributeContext::HttpRequest* http,
                    const std::string& name, const std::string& value, bool merge) {
  for (auto& h : *http->mutable_headers()) {
    if (h.key() != name) continue;
    h.set_value(merge ? absl::StrCat(h.value(), ",", value) : value);
    return;
  }
  auto* h = http->add_headers();
  h->set_key(name);
  h->set_value(value);
}

envoy::service::auth::v3::CheckRequest ToCheckRequest(const HttpSpec& spec, bool raw_header_map) {
  // scheme://authority/path?query, split the way Envoy reports a request.
  std::string scheme, host, path = spec.url;
  if (size_t sep = spec.url.find("://"); sep != std::string::npos) {
    scheme = spec.url.substr(0, sep);
    std::string rest = spec.url.substr(sep + 3);
    size_t slash = rest.find_first_of("/?#");
    host = rest.substr(0, slash);
    path = slash == std::string::npos ? "/" : rest.substr(slash);
    if (!path.empty() && path[0] != '/') path = "/" + path;
  }
  envoy::service::auth::v3::CheckRequest req;
  auto* attrs = req.mutable_attributes();
  auto* http = attrs->mutable_request()->mutable_http();
  const std::string request_id = B64(RandomBytes(9));
  http->set_id(request_id);
  http->set_method(spec.method);
  http->set_scheme(scheme);
  http->set_host(host);
  http->set_path(path);
  http->set_protocol("HTTP/1.1");

  std::vector<std::pair<std::string, std::string>> lines = {
      {":authority", host}, {":method", spec.method}, {":path", path}, {":scheme", scheme}};
  for (const auto& [name, value] : spec.headers) {
    lines.emplace_back(absl::AsciiStrToLower(name), value);
  }
  lines.emplace_back("x-request-id", request_id);
  if (raw_header_map) {
    auto* map = http->mutable_header_map();
    for (const auto& [name, value] : lines) {
      auto* h = map->add_headers();
      h->set_key(name);
      h->set_raw_value(value);
    }
  } else {
    for (const auto& [name, value] : lines) {
      // Envoy merges repeated headers into one value joined by ",".
      SetCheckHeader(http, name, value, /*merge=*/true);
    }
  }
  if (spec.cert_form != HttpSpec::CertForm::kNone &&
      spec.cert_form != HttpSpec::CertForm::kThumbprint) {
    attrs->mutable_source()->set_certificate(EnvoyUrlEncode(spec.cert));
  }
  if (!spec.route_key.empty()) {
    (*attrs->mutable_context_extensions())["popguard_route"] = spec.route_key;
  }
  return req;
}

std::vector<std::pair<std::string, std::string>> HeaderPairs(
    const google::protobuf::RepeatedPtrField<popguard::v1::Header>& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : headers) out.emplace_back(h.name(), h.value());
  return out;
}

// --- RunningServer ---

std::unique_ptr<RunningServer> RunningServer::Start(const std::string& name,
                                                    const ConfigOptions& options) {
  auto server = std::unique_ptr<RunningServer>(new RunningServer());
  const std::string config = TestEnv::Get().WriteConfig(name, options);
  absl::StatusOr<std::unique_ptr<PopguardProcess>> process = PopguardProcess::Start(config);
  if (!process.ok()) {
    server->error_ = std::string(process.status().message());
    return server;
  }
  server->process_ = *std::move(process);
  server->channel_ = server->process_->NewChannel();
  if (!server->channel_->WaitForConnected(std::chrono::system_clock::now() +
                                          std::chrono::seconds(10))) {
    server->error_ = absl::StrCat("cannot connect to ", server->process_->address(), "; logs:\n",
                                  server->process_->LogText());
    server->process_.reset();
    return server;
  }
  server->verifier_ = popguard::v1::Verifier::NewStub(server->channel_);
  server->authz_ = envoy::service::auth::v3::Authorization::NewStub(server->channel_);
  return server;
}

std::string RunningServer::DescribeProcess() {
  // A failed RPC often means the server crashed; give the kernel a moment to
  // deliver the child's exit before reporting.
  bool alive = process_->Alive();
  for (int i = 0; alive && i < 50; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
    alive = process_->Alive();
  }
  return absl::StrCat("\npopguard is ",
                      alive ? std::string("alive")
                            : absl::StrCat("DEAD (exit code ", process_->exit_code(),
                                           ", 128 + signal when killed by one)"),
                      "; its output:\n", process_->LogText());
}

popguard::v1::VerifyResponse RunningServer::Verify(const HttpSpec& spec, const std::string& id) {
  return Verify(ToVerifyRequest(spec, id));
}

popguard::v1::VerifyResponse RunningServer::Verify(const popguard::v1::VerifyRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  popguard::v1::VerifyResponse response;
  grpc::Status status = verifier_->Verify(&ctx, request, &response);
  if (!status.ok()) {
    ADD_FAILURE() << "Verify RPC failed: " << status.error_code() << " " << status.error_message()
                  << DescribeProcess();
    return popguard::v1::VerifyResponse();
  }
  return response;
}

envoy::service::auth::v3::CheckResponse RunningServer::Check(
    const envoy::service::auth::v3::CheckRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  envoy::service::auth::v3::CheckResponse response;
  grpc::Status status = authz_->Check(&ctx, request, &response);
  if (!status.ok()) {
    ADD_FAILURE() << "Check RPC failed: " << status.error_code() << " " << status.error_message()
                  << DescribeProcess();
    return envoy::service::auth::v3::CheckResponse();
  }
  return response;
}

}  // namespace popguard::e2e
