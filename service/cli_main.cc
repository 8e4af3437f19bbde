// popguard-cli: keys, tokens and DPoP proofs for people and tests, and a
// Verify client for a running popguard.
//
//   popguard-cli keygen --alg ES256 [--kid K] [--out key.jwk] [--public-out pub.jwk]
//   popguard-cli jwks --key pub1.jwk [--key pub2.jwk ...]
//   popguard-cli token --key issuer.jwk --iss ISS --aud AUD [--sub S] [--client-id C]
//       [--scope "a b"] [--ttl 300] [--dpop-key client.jwk | --jkt JKT] [--cert cert.pem]
//       [--typ at+jwt] [--alg ALG] [--claim name=value ...] [--iat UNIX] [--exp UNIX]
//   popguard-cli proof --key client.jwk --method GET --url URL [--token TOKEN]
//       [--nonce N] [--jti J] [--iat UNIX] [--alg ALG]
//   popguard-cli check --addr 127.0.0.1:9001 --method GET --url URL
//       [--token T [--proof P]] [--header "Name: value" ...] [--cert cert.pem] [--route R]
//   popguard-cli thumbprint (--jwk key.jwk | --cert cert.pem)
//
// The keys it writes are for demos and tests; production signing keys belong
// in the authorization server's key store.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/base64url.h"
#include "service/client_cert.h"
#include "service/crypto_util.h"
#include "service/json.h"
#include "service/signer.h"

namespace popguard {
namespace {

using Args = std::multimap<std::string, std::string>;

int Usage() {
  std::cerr << "usage: popguard-cli keygen|jwks|token|proof|check|thumbprint [--flag value ...]\n"
               "see the header of service/cli_main.cc or README.md for the flags\n";
  return 2;
}

int Fail(absl::string_view msg) {
  std::cerr << "popguard-cli: " << msg << "\n";
  return 2;
}

std::string Get(const Args& args, const std::string& name, std::string def = "") {
  auto it = args.find(name);
  return it == args.end() ? def : it->second;
}

std::vector<std::string> GetAll(const Args& args, const std::string& name) {
  std::vector<std::string> out;
  auto [b, e] = args.equal_range(name);
  for (auto it = b; it != e; ++it) out.push_back(it->second);
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

absl::StatusOr<PrivateKey> LoadPrivateKey(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto json = ParseJson(*text);
  if (!json.ok()) return json.status();
  return PrivateKey::FromJwk(*json);
}

// Picks the signing algorithm: --alg, else the key's alg, else by key type.
absl::StatusOr<JwsAlg> AlgFor(const Args& args, const PrivateKey& key) {
  std::string name = Get(args, "alg");
  if (!name.empty()) {
    auto alg = ParseJwsAlg(name);
    if (!alg) return absl::InvalidArgumentError(absl::StrCat("unknown --alg ", name));
    return *alg;
  }
  if (key.alg()) return *key.alg();
  switch (key.kty()) {
    case KeyType::kOkp: return JwsAlg::kEdDSA;
    case KeyType::kRsa: return JwsAlg::kRS256;
    case KeyType::kEc:
      if (key.crv() == "P-384") return JwsAlg::kES384;
      if (key.crv() == "P-521") return JwsAlg::kES512;
      return JwsAlg::kES256;
  }
  return JwsAlg::kES256;
}

int64_t GetInt(const Args& args, const std::string& name, int64_t def) {
  int64_t v = def;
  std::string s = Get(args, name);
  if (!s.empty() && !absl::SimpleAtoi(s, &v)) v = def;
  return v;
}

int Keygen(const Args& args) {
  auto alg = ParseJwsAlg(Get(args, "alg", "ES256"));
  if (!alg) return Fail("--alg must be ES256, ES384, ES512, EdDSA, RS256.. or PS256..");
  auto key = PrivateKey::Generate(*alg);
  if (!key.ok()) return Fail(key.status().message());
  key->set_alg(*alg);
  std::string kid = Get(args, "kid");
  if (kid.empty()) kid = key->Thumbprint().substr(0, 16);
  key->set_kid(kid);
  std::string priv = SerializeJson(key->PrivateJwk()) + "\n";
  std::string pub = SerializeJson(key->PublicJwk()) + "\n";
  std::string out = Get(args, "out");
  if (out.empty()) {
    std::cout << priv;
  } else if (!WriteFile(out, priv)) {
    return Fail("cannot write --out");
  }
  std::string pub_out = Get(args, "public-out");
  if (!pub_out.empty() && !WriteFile(pub_out, pub)) return Fail("cannot write --public-out");
  return 0;
}

int Jwks(const Args& args) {
  std::vector<JsonValue> keys;
  for (const std::string& path : GetAll(args, "key")) {
    auto text = ReadFile(path);
    if (!text.ok()) return Fail(text.status().message());
    auto json = ParseJson(*text);
    if (!json.ok()) return Fail(json.status().message());
    // Accept a private JWK too, but only ever publish its public half.
    auto priv = PrivateKey::FromJwk(*json);
    if (priv.ok()) {
      keys.push_back(priv->PublicJwk());
    } else {
      keys.push_back(*json);
    }
  }
  std::cout << SerializeJson(JsonValue::Object({{"keys", JsonValue::Array(std::move(keys))}}))
            << "\n";
  return 0;
}

int Token(const Args& args) {
  auto key = LoadPrivateKey(Get(args, "key"));
  if (!key.ok()) return Fail(absl::StrCat("--key: ", key.status().message()));
  auto alg = AlgFor(args, *key);
  if (!alg.ok()) return Fail(alg.status().message());
  std::string iss = Get(args, "iss"), aud = Get(args, "aud");
  if (iss.empty() || aud.empty()) return Fail("--iss and --aud are required");
  int64_t now = absl::ToUnixSeconds(absl::Now());
  int64_t iat = GetInt(args, "iat", now);
  int64_t exp = GetInt(args, "exp", iat + GetInt(args, "ttl", 300));
  std::vector<JsonValue::Member> claims = {
      {"iss", JsonValue::String(iss)},
      {"aud", JsonValue::String(aud)},
      {"iat", JsonValue::Number(static_cast<double>(iat))},
      {"exp", JsonValue::Number(static_cast<double>(exp))},
      {"jti", JsonValue::String(Base64UrlEncode(RandomBytes(12)))},
  };
  if (auto s = Get(args, "sub"); !s.empty()) claims.push_back({"sub", JsonValue::String(s)});
  if (auto s = Get(args, "client-id"); !s.empty()) {
    claims.push_back({"client_id", JsonValue::String(s)});
  }
  if (auto s = Get(args, "scope"); !s.empty()) claims.push_back({"scope", JsonValue::String(s)});
  std::vector<JsonValue::Member> cnf;
  std::string jkt = Get(args, "jkt");
  if (auto path = Get(args, "dpop-key"); !path.empty()) {
    auto text = ReadFile(path);
    if (!text.ok()) return Fail(text.status().message());
    auto json = ParseJson(*text);
    if (!json.ok()) return Fail(json.status().message());
    auto t = JwkThumbprint(*json);
    if (!t.ok()) return Fail(t.status().message());
    jkt = *t;
  }
  if (!jkt.empty()) cnf.push_back({"jkt", JsonValue::String(jkt)});
  if (auto path = Get(args, "cert"); !path.empty()) {
    auto pem = ReadFile(path);
    if (!pem.ok()) return Fail(pem.status().message());
    auto der = CertificateDer(*pem);
    if (!der.ok()) return Fail(der.status().message());
    cnf.push_back({"x5t#S256", JsonValue::String(CertificateThumbprint(*der))});
  }
  if (!cnf.empty()) claims.push_back({"cnf", JsonValue::Object(std::move(cnf))});
  for (const std::string& kv : GetAll(args, "claim")) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    claims.push_back({p.first, JsonValue::String(p.second)});
  }
  std::vector<JsonValue::Member> header = {{"alg", JsonValue::String(std::string(JwsAlgName(*alg)))},
                                           {"typ", JsonValue::String(Get(args, "typ", "at+jwt"))}};
  if (!key->kid().empty()) header.push_back({"kid", JsonValue::String(key->kid())});
  auto jws = SignCompactJws(*key, *alg, JsonValue::Object(std::move(header)),
                            JsonValue::Object(std::move(claims)));
  if (!jws.ok()) return Fail(jws.status().message());
  std::cout << *jws << "\n";
  return 0;
}

int Proof(const Args& args) {
  auto key = LoadPrivateKey(Get(args, "key"));
  if (!key.ok()) return Fail(absl::StrCat("--key: ", key.status().message()));
  auto alg = AlgFor(args, *key);
  if (!alg.ok()) return Fail(alg.status().message());
  std::string method = Get(args, "method", "GET"), url = Get(args, "url");
  if (url.empty()) return Fail("--url is required");
  std::string jti = Get(args, "jti");
  if (jti.empty()) jti = Base64UrlEncode(RandomBytes(16));
  std::vector<JsonValue::Member> claims = {
      {"jti", JsonValue::String(jti)},
      {"htm", JsonValue::String(method)},
      {"htu", JsonValue::String(url)},
      {"iat", JsonValue::Number(static_cast<double>(
                  GetInt(args, "iat", absl::ToUnixSeconds(absl::Now()))))},
  };
  if (auto token = Get(args, "token"); !token.empty()) {
    claims.push_back({"ath", JsonValue::String(Base64UrlEncode(Sha256(token)))});
  }
  if (auto nonce = Get(args, "nonce"); !nonce.empty()) {
    claims.push_back({"nonce", JsonValue::String(nonce)});
  }
  JsonValue header = JsonValue::Object({{"typ", JsonValue::String("dpop+jwt")},
                                        {"alg", JsonValue::String(std::string(JwsAlgName(*alg)))},
                                        {"jwk", key->RequiredPublicJwk()}});
  auto jws = SignCompactJws(*key, *alg, header, JsonValue::Object(std::move(claims)));
  if (!jws.ok()) return Fail(jws.status().message());
  std::cout << *jws << "\n";
  return 0;
}

int Check(const Args& args) {
  std::string addr = Get(args, "addr", "127.0.0.1:9001");
  popguard::v1::VerifyRequest req;
  req.set_correlation_id(Get(args, "id", "cli"));
  req.set_method(Get(args, "method", "GET"));
  req.set_url(Get(args, "url"));
  req.set_route_key(Get(args, "route"));
  std::string token = Get(args, "token"), proof = Get(args, "proof");
  if (!token.empty()) {
    auto* h = req.add_headers();
    h->set_name("Authorization");
    h->set_value(absl::StrCat(proof.empty() ? "Bearer " : "DPoP ", token));
  }
  if (!proof.empty()) {
    auto* h = req.add_headers();
    h->set_name("DPoP");
    h->set_value(proof);
  }
  for (const std::string& line : GetAll(args, "header")) {
    std::pair<std::string, std::string> p = absl::StrSplit(line, absl::MaxSplits(':', 1));
    auto* h = req.add_headers();
    h->set_name(std::string(absl::StripAsciiWhitespace(p.first)));
    h->set_value(std::string(absl::StripAsciiWhitespace(p.second)));
  }
  if (auto path = Get(args, "cert"); !path.empty()) {
    auto pem = ReadFile(path);
    if (!pem.ok()) return Fail(pem.status().message());
    req.set_certificate(*pem);
  }
  auto channel = grpc::CreateChannel(addr, grpc::InsecureChannelCredentials());
  auto stub = popguard::v1::Verifier::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  popguard::v1::VerifyResponse resp;
  grpc::Status status = stub->Verify(&ctx, req, &resp);
  if (!status.ok()) return Fail(absl::StrCat("Verify failed: ", status.error_message()));
  std::cout << (resp.decision() == popguard::v1::ALLOW ? "ALLOW" : "DENY") << " "
            << resp.reason_code() << " (HTTP " << resp.http_status() << ")"
            << (resp.report_only() ? " [report-only]" : "") << "\n";
  if (!resp.message().empty()) std::cout << "  message: " << resp.message() << "\n";
  if (!resp.route().empty()) std::cout << "  route: " << resp.route() << "\n";
  if (!resp.principal().empty()) std::cout << "  principal: " << resp.principal() << "\n";
  for (const auto& h : resp.response_headers()) {
    std::cout << "  response header: " << h.name() << ": " << h.value() << "\n";
  }
  for (const auto& h : resp.upstream_headers()) {
    std::cout << "  upstream header: " << h.name() << ": " << h.value() << "\n";
  }
  return resp.decision() == popguard::v1::ALLOW ? 0 : 1;
}

int Thumbprint(const Args& args) {
  if (auto path = Get(args, "jwk"); !path.empty()) {
    auto text = ReadFile(path);
    if (!text.ok()) return Fail(text.status().message());
    auto json = ParseJson(*text);
    if (!json.ok()) return Fail(json.status().message());
    auto t = JwkThumbprint(*json);
    if (!t.ok()) return Fail(t.status().message());
    std::cout << *t << "\n";
    return 0;
  }
  if (auto path = Get(args, "cert"); !path.empty()) {
    auto pem = ReadFile(path);
    if (!pem.ok()) return Fail(pem.status().message());
    auto der = CertificateDer(*pem);
    if (!der.ok()) return Fail(der.status().message());
    std::cout << CertificateThumbprint(*der) << "\n";
    return 0;
  }
  return Fail("thumbprint needs --jwk or --cert");
}

}  // namespace
}  // namespace popguard

int main(int argc, char** argv) {
  if (argc < 2) return popguard::Usage();
  std::string cmd = argv[1];
  popguard::Args args;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) return popguard::Fail(absl::StrCat("unexpected argument ", a));
    a = a.substr(2);
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      args.emplace(a.substr(0, eq), a.substr(eq + 1));
    } else if (i + 1 < argc) {
      args.emplace(a, argv[++i]);
    } else {
      return popguard::Fail(absl::StrCat("--", a, " needs a value"));
    }
  }
  if (cmd == "keygen") return popguard::Keygen(args);
  if (cmd == "jwks") return popguard::Jwks(args);
  if (cmd == "token") return popguard::Token(args);
  if (cmd == "proof") return popguard::Proof(args);
  if (cmd == "check") return popguard::Check(args);
  if (cmd == "thumbprint") return popguard::Thumbprint(args);
  return popguard::Usage();
}
