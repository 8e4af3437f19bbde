// Attacks and malformed input against the real popguard binary, through both
// wire APIs.
//
// One server, one table. Each row builds an HTTP request as a gateway would
// describe it and names the reason code and HTTP status popguard must answer
// with. Every row runs through popguard.v1.Verifier/Verify and through Envoy's
// Authorization/Check, with a freshly built request each time (fresh proof
// jti values), and both must give the same code. Positive twins (requests that
// differ from an attack only in a harmless way) expect "ok".
//
// The expected codes follow the order of checks in service/authn/authenticator.cc,
// service/authn/access_token.cc, service/jose/jws.cc and service/authn/dpop.cc: e.g. header
// members are checked before the signature (jku is token_embedded_key even
// though the signature is fine), and the proof's key, its binding to cnf.jkt
// and its claims before its signature (cheapest checks first).
#include <openssl/bio.h>
#include <openssl/pem.h>

#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "service/common/crypto_util.h"
#include "service/common/json.h"
#include "service/common/openssl_util.h"
#include "service/jose/base64url.h"
#include "service/jose/jwk.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/server_test.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::envoy::service::auth::v3::CheckResponse;
using ::popguard::v1::VerifyResponse;

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

TestEnv& Env() { return TestEnv::Get(); }
const PrivateKey& ClientKey() { return Env().client_key(JwsAlg::kES256); }
const PrivateKey& IssuerKey() { return Env().issuer().KeyFor(JwsAlg::kES256); }

// --- Building blocks ---

// A token bound to the client's ES256 key.
std::string BoundToken(TokenOptions o = {}) {
  o.jkt = ClientKey().Thumbprint();
  return Env().issuer().MintToken(o);
}

HttpSpec Bearer(const std::string& path, const std::string& token) {
  return {.url = TestEnv::Url(path), .headers = {H("Authorization", "Bearer " + token)}};
}

HttpSpec Dpop(const std::string& path, const std::string& token, const std::string& proof) {
  return {.url = TestEnv::Url(path),
          .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}};
}

// A valid DPoP request for /dpop/x, with the proof options adjusted by `edit`.
HttpSpec DpopWith(std::function<void(ProofOptions&)> edit) {
  std::string token = BoundToken();
  ProofOptions o = {.url = TestEnv::Url("/dpop/x"), .token = token};
  edit(o);
  return Dpop("/dpop/x", token, MintProof(ClientKey(), o));
}

// A valid DPoP request for /dpop/x whose proof text is replaced by `edit(proof)`.
HttpSpec DpopProofText(std::function<std::string(const std::string&)> edit) {
  std::string token = BoundToken();
  std::string proof = MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x"), .token = token});
  return Dpop("/dpop/x", token, edit(proof));
}

// A bearer request on /public carrying a token minted with `o`.
HttpSpec BearerWith(TokenOptions o) { return Bearer("/public/x", Env().issuer().MintToken(o)); }

// The text of a valid token's header and payload (issuer key es256-1).
std::string HeaderJson(const std::string& extra = "", const std::string& alg = "ES256",
                       const std::string& kid = "es256-1") {
  return absl::StrCat("{\"alg\":\"", alg, "\",\"typ\":\"at+jwt\",\"kid\":\"", kid, "\"", extra,
                      "}");
}
std::string PayloadJson(const std::string& extra = "") {
  const int64_t now = absl::ToUnixSeconds(absl::Now());
  return absl::StrCat("{\"iss\":\"https://issuer.test\",\"aud\":\"https://api.test\",\"iat\":", now,
                      ",\"exp\":", now + 300, ",\"sub\":\"alice\",\"scope\":\"read\"", extra, "}");
}

// A bearer request on /public with a token signed over exactly these texts.
HttpSpec RawBearer(const std::string& header_json, const std::string& payload_json) {
  return Bearer("/public/x", SignRaw(IssuerKey(), JwsAlg::kES256, header_json, payload_json));
}

// Replaces the signature segment of `jws` with the bytes `signature`.
std::string WithSignature(const std::string& jws, std::string_view signature) {
  return absl::StrCat(jws.substr(0, jws.rfind('.') + 1), B64(signature));
}

std::string SignatureSegment(const std::string& jws) { return jws.substr(jws.rfind('.') + 1); }

// The big-endian group order n of P-256.
std::string P256Order() {
  static constexpr unsigned char kN[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
                                         0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                         0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
                                         0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
  return std::string(reinterpret_cast<const char*>(kN), sizeof(kN));
}

// The SubjectPublicKeyInfo PEM of `key`: what an attacker would feed HMAC.
std::string PublicKeyPem(const PrivateKey& key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key.pkey());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

// Sets the unused low bits of the last character of `segment` (whose length
// is 2 or 3 mod 4): the same bytes, but a non-canonical encoding.
std::string NonCanonical(std::string segment) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t v = std::string_view(kAlphabet).find(segment.back());
  segment.back() = kAlphabet[v | 1];
  return segment;
}

std::string MtlsToken(const TestCert& cert) {
  return Env().issuer().MintToken({.x5t = cert.thumbprint()});
}

HttpSpec WithCert(HttpSpec spec, std::string cert) {
  spec.cert_form = HttpSpec::CertForm::kPem;
  spec.cert = std::move(cert);
  return spec;
}

// Routes beside TestEnv's standard ones (public: bearer; admin: bound, scope
// admin): a case-insensitive one, and one that accepts only issuer.test.
constexpr char kExtraRoutes[] =
    "  - {name: secure, match: {path_prefix: /secure, case_insensitive: true}, binding: mtls}\n"
    "  - {name: payments, match: {path_prefix: /payments}, binding: bearer,\n"
    "     issuers: ['https://issuer.test']}\n";

// A bearer request on /public whose token carries `cnf` as given.
HttpSpec BearerWithCnf(JsonValue cnf) { return BearerWith({.claims = {{"cnf", std::move(cnf)}}}); }

// The claims of a valid proof for GET /dpop/x with `token`, as JSON text.
std::string ProofClaimsJson(const std::string& token) {
  return absl::StrCat(R"({"jti":")", B64(RandomBytes(12)), R"(","htm":"GET","htu":")",
                      TestEnv::Url("/dpop/x"), R"(","iat":)", absl::ToUnixSeconds(absl::Now()),
                      R"(,"ath":")", Ath(token), R"("})");
}

// A DPoP request for /dpop/x (token bound to the client's ES256 key) whose
// proof carries an RSA jwk with a random odd `modulus_bytes`-byte modulus and
// the base64url exponent `e`, and random signature bytes: a key nobody holds,
// which the sender picks to make the signature check as costly as it can.
HttpSpec ForeignRsaProof(size_t modulus_bytes, const std::string& e) {
  std::string n = RandomBytes(modulus_bytes);
  n.front() = static_cast<char>(n.front() | 0x80);
  n.back() = static_cast<char>(n.back() | 0x01);
  const std::string header =
      absl::StrCat(R"({"typ":"dpop+jwt","alg":"RS256","jwk":{"kty":"RSA","e":")", e, R"(","n":")",
                   B64(n), R"("}})");
  std::string token = BoundToken();
  return Dpop("/dpop/x", token,
              AssembleJws(header, ProofClaimsJson(token), RandomBytes(modulus_bytes)));
}

// --- The table ---

struct AttackCase {
  std::string name;
  std::function<HttpSpec()> build;
  std::string code;  // expected reason code; "ok" for positive twins
  int http_status;
  // The request is sent twice: the first must be allowed, the second gives `code`.
  bool send_twice = false;
};

// The table is laid out by hand: one case per add(), name first.
// clang-format off
std::vector<AttackCase> Cases() {
  std::vector<AttackCase> c;
  auto add = [&](std::string name, std::function<HttpSpec()> build, std::string code, int status) {
    c.push_back({std::move(name), std::move(build), std::move(code), status});
  };

  // Baselines.
  add("valid bearer token on bearer route", [] { return BearerWith({}); }, "ok", 200);
  add("valid DPoP request", [] { return DpopWith([](ProofOptions&) {}); }, "ok", 200);
  add("valid mTLS-bound token",
      [] { return WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), Env().cert().pem()); },
      "ok", 200);

  // --- The request itself ---
  add("empty method", [] {
    HttpSpec s = BearerWith({});
    s.method = "";
    return s;
  }, "request_invalid", 400);
  add("method with a space", [] {
    HttpSpec s = BearerWith({});
    s.method = "GE T";
    return s;
  }, "request_invalid", 400);
  add("URL that is not absolute", [] {
    HttpSpec s = BearerWith({});
    s.url = "/public/x";
    return s;
  }, "request_invalid", 400);
  add("URL with ftp scheme", [] {
    HttpSpec s = BearerWith({});
    s.url = "ftp://api.test/public/x";
    return s;
  }, "request_invalid", 400);

  // --- Route confusion (issue 10 item 1) ---
  // An unbound bearer token was allowed as route "public" on these paths,
  // which Envoy's prefix routing and most upstreams send to /admin (or the
  // other way round): readings of the path that select different routes are
  // refused, whatever each route would have said.
  for (const char* path :
       {"/admin/..%2Fpublic/x", "/admin/%2e%2e%2Fpublic/x", "/admin/..;/public/x",
        "/admin/..%5Cpublic/x", "/admin;/../public/x", "/admin/x/..%2F..%2Fpublic",
        "/admin/..%2fpublic/x", "/public/../admin/x", "//admin/x", "/%61dmin/x",
        "/admin%2F..%2Fpublic/x"}) {
    add(absl::StrCat("route confusion ", path),
        [path] { return Bearer(path, Env().issuer().MintToken({})); }, "path_ambiguous", 400);
  }
  add("route confusion through a literal backslash", [] {
    return Bearer("/admin/..\\public/x", Env().issuer().MintToken({}));
  }, "request_invalid", 400);
  add("readings that agree on the route (positive twin)", [] {
    return Bearer("/public/a%2Fb/../c;v=1", Env().issuer().MintToken({}));
  }, "ok", 200);
  // Without case_insensitive a route protects the exact case only; with it,
  // any case of the prefix selects the route.
  add("upper-case path of a case-sensitive route falls to the default route", [] {
    return Bearer("/ADMIN/x", Env().issuer().MintToken({}));
  }, "binding_required", 401);
  add("upper-case path of a case_insensitive route", [] {
    return Bearer("/SECURE/x", Env().issuer().MintToken({}));
  }, "binding_required", 401);
  add("mixed-case path of a case_insensitive route (positive twin)", [] {
    return WithCert(Bearer("/SeCuRe/x", MtlsToken(Env().cert())), Env().cert().pem());
  }, "ok", 200);

  // --- Multi-issuer confusion (issue 10 item 13) ---
  add("partner issuer on a route that names its issuers", [] {
    return Bearer("/payments/x", Env().issuer2().MintToken({}));
  }, "token_issuer_not_allowed", 401);
  add("partner issuer on a route without a list (positive twin)", [] {
    return Bearer("/public/x", Env().issuer2().MintToken({}));
  }, "ok", 200);
  add("named issuer on a route that names its issuers (positive twin)", [] {
    return Bearer("/payments/x", Env().issuer().MintToken({}));
  }, "ok", 200);

  // --- Authorization header ---
  add("missing Authorization", [] { return HttpSpec{.url = TestEnv::Url("/public/x")}; },
      "token_missing", 401);
  add("unknown scheme Basic", [] {
    return HttpSpec{.url = TestEnv::Url("/public/x"),
                    .headers = {H("Authorization", "Basic YWxpY2U6c2VjcmV0")}};
  }, "token_missing", 401);
  add("DPoP scheme without credential", [] {
    return HttpSpec{.url = TestEnv::Url("/public/x"), .headers = {H("Authorization", "DPoP")}};
  }, "authorization_malformed", 400);
  add("whitespace inside the token", [] {
    std::string t = Env().issuer().MintToken({});
    t.insert(t.size() / 2, " ");
    return Bearer("/public/x", t);
  }, "authorization_malformed", 400);
  add("Bearer and DPoP authorization headers", [] {
    std::string t = BoundToken();
    HttpSpec s = Dpop("/dpop/x", t, MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x"), .token = t}));
    s.headers.insert(s.headers.begin(), H("Authorization", "Bearer " + t));
    return s;
  }, "authorization_multiple", 400);

  // --- Token: structure and encoding ---
  add("token with 2 segments", [] {
    std::string t = Env().issuer().MintToken({});
    return Bearer("/public/x", t.substr(0, t.rfind('.')));
  }, "token_malformed", 401);
  add("token with 4 segments", [] {
    return Bearer("/public/x", Env().issuer().MintToken({}) + ".AAAA");
  }, "token_malformed", 401);
  add("token with an empty payload segment", [] {
    std::string t = Env().issuer().MintToken({});
    return Bearer("/public/x", absl::StrCat(t.substr(0, t.find('.')), "..", SignatureSegment(t)));
  }, "token_malformed", 401);
  add("garbage base64 in token", [] { return Bearer("/public/x", "!!!.###.$$$"); },
      "token_bad_base64", 401);
  add("padding '=' in a token segment", [] {
    return Bearer("/public/x", Env().issuer().MintToken({}) + "==");
  }, "token_bad_base64", 401);
  add("non-canonical trailing bits in the signature", [] {
    std::string t = Env().issuer().MintToken({});  // ES256: 86 characters, 4 unused bits
    return Bearer("/public/x", t.substr(0, t.rfind('.') + 1) + NonCanonical(SignatureSegment(t)));
  }, "token_bad_base64", 401);
  add("standard base64 character '+' in a segment", [] {
    std::string t = Env().issuer().MintToken({});
    size_t a = t.find('.');
    t[a + 1] = '+';
    return Bearer("/public/x", t);
  }, "token_bad_base64", 401);
  add("garbage JSON in token header", [] {
    return Bearer("/public/x", AssembleJws("not json", PayloadJson(), "sig"));
  }, "token_bad_json", 401);
  add("duplicate member in token header", [] {
    return RawBearer(HeaderJson(",\"kid\":\"es256-1\""), PayloadJson());
  }, "token_bad_json", 401);
  add("duplicate member in token payload", [] {
    return RawBearer(HeaderJson(), PayloadJson(",\"sub\":\"mallory\""));
  }, "token_bad_json", 401);
  add("invalid UTF-8 in token payload", [] {
    return RawBearer(HeaderJson(), PayloadJson(",\"name\":\"\xC3\x28\""));
  }, "token_bad_json", 401);
  add("too-deep nesting in token payload", [] {
    return RawBearer(HeaderJson(),
                     PayloadJson(absl::StrCat(",\"x\":", std::string(20, '['), std::string(20, ']'))));
  }, "token_bad_json", 401);
  add("trailing garbage after token payload JSON", [] {
    return RawBearer(HeaderJson(), PayloadJson() + "x");
  }, "token_bad_json", 401);
  add("token payload is a JSON array", [] { return RawBearer(HeaderJson(), "[1,2]"); },
      "token_bad_json", 401);
  add("token too large", [] {
    return BearerWith({.claims = {{"pad", JsonValue::String(std::string(9000, 'a'))}}});
  }, "token_too_large", 401);

  // --- Token: header rules (before any key or signature) ---
  add("token header without alg", [] {
    return RawBearer("{\"typ\":\"at+jwt\",\"kid\":\"es256-1\"}", PayloadJson());
  }, "token_header_invalid", 401);
  add("token kid is a number", [] {
    return RawBearer("{\"alg\":\"ES256\",\"typ\":\"at+jwt\",\"kid\":7}", PayloadJson());
  }, "token_header_invalid", 401);
  add("crit header", [] { return RawBearer(HeaderJson(",\"crit\":[\"exp\"]"), PayloadJson()); },
      "token_crit_unsupported", 401);
  add("b64:false header (with crit)", [] {
    return RawBearer(HeaderJson(",\"b64\":false,\"crit\":[\"b64\"]"), PayloadJson());
  }, "token_unencoded_payload", 401);
  add("zip header", [] { return RawBearer(HeaderJson(",\"zip\":\"DEF\""), PayloadJson()); },
      "token_zip_unsupported", 401);
  add("jku header", [] {
    return RawBearer(HeaderJson(",\"jku\":\"https://evil.test/jwks.json\""), PayloadJson());
  }, "token_embedded_key", 401);
  add("x5u header", [] {
    return RawBearer(HeaderJson(",\"x5u\":\"https://evil.test/cert.pem\""), PayloadJson());
  }, "token_embedded_key", 401);
  add("x5c header", [] {
    std::string der_b64 = Base64UrlEncode(Env().cert().der());
    return RawBearer(HeaderJson(absl::StrCat(",\"x5c\":[\"", der_b64, "\"]")), PayloadJson());
  }, "token_embedded_key", 401);
  add("jwk in an access token header", [] {
    return BearerWith({.header = {{"jwk", IssuerKey().RequiredPublicJwk()}}});
  }, "token_embedded_key", 401);
  add("alg none with empty signature", [] {
    return Bearer("/public/x", absl::StrCat(B64("{\"alg\":\"none\",\"typ\":\"at+jwt\"}"), ".",
                                            B64(PayloadJson()), "."));
  }, "token_malformed", 401);
  add("alg none with a signature", [] {
    return Bearer("/public/x",
                  AssembleJws("{\"alg\":\"none\",\"typ\":\"at+jwt\"}", PayloadJson(), "x"));
  }, "token_alg_none", 401);
  add("alg NONE in upper case", [] {
    return Bearer("/public/x",
                  AssembleJws("{\"alg\":\"NONE\",\"typ\":\"at+jwt\"}", PayloadJson(), "x"));
  }, "token_alg_none", 401);
  add("HS256 signed with the issuer's public key as HMAC secret", [] {
    const PrivateKey& rsa = Env().issuer().KeyFor(JwsAlg::kRS256);
    std::string header = HeaderJson("", "HS256", "rs256-1");
    std::string input = absl::StrCat(B64(header), ".", B64(PayloadJson()));
    return Bearer("/public/x", absl::StrCat(input, ".", B64(HmacSha256(PublicKeyPem(rsa), input))));
  }, "token_alg_not_allowed", 401);
  add("RS512 not in the issuer allowlist", [] {
    return BearerWith({.alg = JwsAlg::kRS512, .key = &Env().issuer().KeyFor(JwsAlg::kRS256)});
  }, "token_alg_not_allowed", 401);
  add("ES384 not in the second issuer's allowlist", [] {
    PrivateKey p384 = MakeKey(JwsAlg::kES384);
    return Bearer("/public/x", SignRaw(p384, JwsAlg::kES384,
                                       "{\"alg\":\"ES384\",\"kid\":\"i2-es256\"}",
                                       absl::StrReplaceAll(PayloadJson(), {{"issuer.test", "issuer2.test"}})));
  }, "token_alg_not_allowed", 401);
  add("typ missing when require_typ", [] { return BearerWith({.typ = ""}); },
      "token_typ_invalid", 401);
  add("typ JWT when require_typ", [] { return BearerWith({.typ = "JWT"}); }, "token_typ_invalid",
      401);
  add("typ application/at+jwt (positive twin)", [] {
    return BearerWith({.typ = "application/at+jwt"});
  }, "ok", 200);
  add("typ dpop+jwt as access token (issuer without require_typ)", [] {
    return Bearer("/public/x", Env().issuer2().MintToken({.typ = "dpop+jwt"}));
  }, "token_typ_invalid", 401);
  add("second issuer token without typ (positive twin)", [] {
    return Bearer("/public/x", Env().issuer2().MintToken({.typ = ""}));
  }, "ok", 200);
  add("wrong iss", [] {
    return BearerWith({.claims = {{"iss", JsonValue::String("https://evil.test")}}});
  }, "token_issuer_unknown", 401);
  add("iss with a trailing slash", [] {
    return BearerWith({.claims = {{"iss", JsonValue::String("https://issuer.test/")}}});
  }, "token_issuer_unknown", 401);

  // --- Token: key selection and signature ---
  add("unknown kid", [] { return BearerWith({.kid = "nope"}); }, "token_key_not_found", 401);
  add("no kid, one EC P-256 key fits (positive twin)", [] {
    return BearerWith({.header = {{"kid", std::nullopt}}});
  }, "ok", 200);
  add("no kid, two RSA keys fit RS256", [] {
    return BearerWith({.alg = JwsAlg::kRS256, .header = {{"kid", std::nullopt}}});
  }, "token_key_not_found", 401);
  add("alg/kty mismatch: ES256 header, RSA kid", [] {
    return BearerWith({.alg = JwsAlg::kES256, .kid = "rs256-1"});
  }, "token_key_alg_mismatch", 401);
  add("alg/curve mismatch: ES256 header, P-384 kid", [] {
    return BearerWith({.alg = JwsAlg::kES256, .kid = "es384-1"});
  }, "token_key_alg_mismatch", 401);
  add("EdDSA alg with EC kid", [] {
    return BearerWith({.alg = JwsAlg::kEdDSA, .kid = "es256-1"});
  }, "token_key_alg_mismatch", 401);
  add("Ed25519 alg with RSA kid", [] {
    return BearerWith({.alg = JwsAlg::kEd25519, .kid = "rs256-1"});
  }, "token_key_alg_mismatch", 401);
  add("psychic ECDSA r=s=0 on token", [] {
    return Bearer("/public/x", WithSignature(Env().issuer().MintToken({}), std::string(64, '\0')));
  }, "token_signature_malformed", 401);
  add("ECDSA r = n on token", [] {
    std::string s(32, '\0');
    s.back() = 1;
    return Bearer("/public/x", WithSignature(Env().issuer().MintToken({}), P256Order() + s));
  }, "token_signature_malformed", 401);
  add("ECDSA signature of wrong length", [] {
    std::string t = Env().issuer().MintToken({});
    std::string sig = *Base64UrlDecode(SignatureSegment(t));
    return Bearer("/public/x", WithSignature(t, sig.substr(0, 63)));
  }, "token_signature_malformed", 401);
  add("EdDSA signature of wrong length", [] {
    std::string t = Env().issuer().MintToken({.alg = JwsAlg::kEdDSA});
    std::string sig = *Base64UrlDecode(SignatureSegment(t));
    return Bearer("/public/x", WithSignature(t, sig + "x"));
  }, "token_signature_malformed", 401);
  add("RSA signature one byte short", [] {
    std::string t = Env().issuer().MintToken({.alg = JwsAlg::kRS256});
    std::string sig = *Base64UrlDecode(SignatureSegment(t));
    return Bearer("/public/x", WithSignature(t, sig.substr(1)));
  }, "token_signature_malformed", 401);
  add("token signature bit flipped", [] {
    std::string t = Env().issuer().MintToken({});
    std::string sig = *Base64UrlDecode(SignatureSegment(t));
    sig[10] ^= 0x01;
    return Bearer("/public/x", WithSignature(t, sig));
  }, "token_signature_invalid", 401);
  add("token signed by another P-256 key with the issuer's kid", [] {
    PrivateKey other = MakeKey(JwsAlg::kES256);
    return BearerWith({.kid = "es256-1", .key = &other});
  }, "token_signature_invalid", 401);
  add("PS256 signature under an RS256 header", [] {
    return Bearer("/public/x", SignRaw(Env().issuer().KeyFor(JwsAlg::kPS256), JwsAlg::kPS256,
                                       HeaderJson("", "RS256", "ps256-1"), PayloadJson()));
  }, "token_signature_invalid", 401);

  // --- Token: claims (trusted only after the signature) ---
  add("expired", [] {
    return BearerWith({.iat = absl::Now() - absl::Hours(2), .ttl = absl::Hours(1)});
  }, "token_expired", 401);
  add("nbf in the future", [] {
    return BearerWith({.claims = {{"nbf", JsonValue::Number(static_cast<double>(
                                              absl::ToUnixSeconds(absl::Now()) + 3600))}}});
  }, "token_not_yet_valid", 401);
  add("iat in the future", [] {
    return BearerWith({.iat = absl::Now() + absl::Hours(1)});
  }, "token_iat_in_future", 401);
  add("iat within clock skew (positive twin)", [] {
    return BearerWith({.iat = absl::Now() + absl::Seconds(30)});
  }, "ok", 200);
  add("missing exp", [] { return BearerWith({.claims = {{"exp", std::nullopt}}}); },
      "token_exp_missing", 401);
  add("exp as string", [] {
    return BearerWith({.claims = {{"exp", JsonValue::String("9999999999")}}});
  }, "token_claims_invalid", 401);
  add("wrong aud", [] { return BearerWith({.aud = "https://other.test"}); },
      "token_audience_mismatch", 401);
  add("aud array without a match", [] {
    return BearerWith({.claims = {{"aud", JsonValue::Array({JsonValue::String("https://a.test"),
                                                            JsonValue::String("https://b.test")})}}});
  }, "token_audience_mismatch", 401);
  add("aud array with a match (positive twin)", [] {
    return BearerWith({.claims = {{"aud", JsonValue::Array({JsonValue::String("https://a.test"),
                                                            JsonValue::String(TestEnv::kAudience)})}}});
  }, "ok", 200);
  add("missing aud", [] { return BearerWith({.claims = {{"aud", std::nullopt}}}); },
      "token_audience_mismatch", 401);
  add("cnf.jkt of the wrong length", [] {
    return BearerWith({.claims = {{"cnf", JsonValue::Object({{"jkt", JsonValue::String("abc")}})}}});
  }, "token_claims_invalid", 401);
  // cnf methods popguard cannot prove must not pass as bearer (issue 10 item 5).
  add("cnf.jwk (a binding popguard cannot prove)", [] {
    return BearerWithCnf(JsonValue::Object({{"jwk", ClientKey().RequiredPublicJwk()}}));
  }, "token_binding_unsupported", 401);
  add("cnf.kid", [] {
    return BearerWithCnf(JsonValue::Object({{"kid", JsonValue::String("client-key-1")}}));
  }, "token_binding_unsupported", 401);
  add("cnf.jku", [] {
    return BearerWithCnf(
        JsonValue::Object({{"jku", JsonValue::String("https://client.test/jwks.json")}}));
  }, "token_binding_unsupported", 401);
  add("cnf.x5t (SHA-1 certificate thumbprint)", [] {
    return BearerWithCnf(JsonValue::Object({{"x5t", JsonValue::String(B64(std::string(20, 'c')))}}));
  }, "token_binding_unsupported", 401);
  add("cnf.JKT (unknown member)", [] {
    return BearerWithCnf(JsonValue::Object({{"JKT", JsonValue::String(ClientKey().Thumbprint())}}));
  }, "token_binding_unsupported", 401);
  add("empty cnf", [] { return BearerWithCnf(JsonValue::Object({})); },
      "token_binding_unsupported", 401);
  add("cnf is a string", [] { return BearerWithCnf(JsonValue::String("bound")); },
      "token_binding_unsupported", 401);
  add("scope is a number", [] {
    return BearerWith({.claims = {{"scope", JsonValue::Number(7)}}});
  }, "token_claims_invalid", 401);

  // --- Scheme and binding ---
  add("Bearer downgrade of a DPoP-bound token", [] { return Bearer("/public/x", BoundToken()); },
      "bearer_downgrade", 401);
  add("DPoP scheme with an unbound token", [] {
    std::string t = Env().issuer().MintToken({});
    return Dpop("/dpop/x", t, MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x"), .token = t}));
  }, "dpop_token_unbound", 401);
  add("binding_required: unbound bearer token on the default bound route", [] {
    return Bearer("/orders", Env().issuer().MintToken({}));
  }, "binding_required", 401);
  add("binding_required: unbound bearer token on the mtls route", [] {
    return Bearer("/mtls/x", Env().issuer().MintToken({}));
  }, "binding_required", 401);
  // Route smuggling: the readings of these paths select different routes.
  add("route smuggling with dot segments (/public/../dpop)", [] {
    return Bearer("/public/../dpop/x", Env().issuer().MintToken({}));
  }, "path_ambiguous", 400);
  add("route smuggling with a double slash (//dpop)", [] {
    return Bearer("//dpop/x", Env().issuer().MintToken({}));
  }, "path_ambiguous", 400);
  add("route smuggling with %2F (/public%2F..%2Fdpop)", [] {
    return Bearer("/public%2F..%2Fdpop/x", Env().issuer().MintToken({}));
  }, "path_ambiguous", 400);
  add("insufficient scope on /admin", [] {
    std::string t = BoundToken();
    return Dpop("/admin/x", t, MintProof(ClientKey(), {.url = TestEnv::Url("/admin/x"), .token = t}));
  }, "insufficient_scope", 403);

  // --- DPoP header ---
  add("missing DPoP header", [] { return HttpSpec{.url = TestEnv::Url("/dpop/x"),
                                                  .headers = {H("Authorization", "DPoP " + BoundToken())}}; },
      "dpop_proof_missing", 401);
  add("two DPoP headers", [] {
    HttpSpec s = DpopWith([](ProofOptions&) {});
    s.headers.push_back(s.headers[1]);
    return s;
  }, "dpop_proof_multiple", 401);
  add("proof too large", [] {
    return DpopWith([](ProofOptions& o) {
      o.claims = {{"pad", JsonValue::String(std::string(5000, 'p'))}};
    });
  }, "dpop_proof_too_large", 401);
  add("proof with 2 segments", [] {
    return DpopProofText([](const std::string& p) { return p.substr(0, p.rfind('.')); });
  }, "dpop_proof_malformed", 401);
  add("garbage base64 in proof", [] {
    return DpopProofText([](const std::string&) { return std::string("***.***.***"); });
  }, "dpop_proof_bad_base64", 401);
  add("whitespace inside the proof", [] {
    return DpopProofText([](const std::string& p) {
      std::string q = p;
      q.insert(q.find('.') + 5, " ");
      return q;
    });
  }, "dpop_proof_bad_base64", 401);
  add("garbage JSON in proof", [] {
    return DpopProofText([](const std::string&) { return AssembleJws("nope", "{}", "sig"); });
  }, "dpop_proof_bad_json", 401);
  add("crit in proof header", [] {
    return DpopWith([](ProofOptions& o) {
      o.header = {{"crit", JsonValue::Array({JsonValue::String("htu")})}};
    });
  }, "dpop_header_invalid", 401);
  add("proof typ jwt", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"typ", JsonValue::String("jwt")}}; });
  }, "dpop_typ_invalid", 401);
  add("proof typ missing", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"typ", std::nullopt}}; });
  }, "dpop_typ_invalid", 401);
  add("access token presented as proof", [] {
    return DpopProofText([](const std::string&) { return BoundToken(); });
  }, "dpop_typ_invalid", 401);
  add("alg none in proof", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"alg", JsonValue::String("none")}}; });
  }, "dpop_alg_not_allowed", 401);
  add("proof alg HS256", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"alg", JsonValue::String("HS256")}}; });
  }, "dpop_alg_not_allowed", 401);
  add("proof alg ES512 not in dpop.algorithms", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"alg", JsonValue::String("ES512")}}; });
  }, "dpop_alg_not_allowed", 401);
  add("proof jwk missing", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"jwk", std::nullopt}}; });
  }, "dpop_jwk_invalid", 401);
  add("proof jwk is a string", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"jwk", JsonValue::String("key")}}; });
  }, "dpop_jwk_invalid", 401);
  add("proof with private key (d) in jwk", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"jwk", ClientKey().PrivateJwk()}}; });
  }, "dpop_jwk_private", 401);
  add("proof EdDSA alg with EC jwk", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"alg", JsonValue::String("EdDSA")}}; });
  }, "dpop_jwk_invalid", 401);
  add("proof Ed25519 alg with EC jwk", [] {
    return DpopWith([](ProofOptions& o) { o.header = {{"alg", JsonValue::String("Ed25519")}}; });
  }, "dpop_jwk_invalid", 401);
  add("proof jwk with a 1024-bit RSA modulus", [] {
    std::string n(128, '\xC3');
    n.back() = '\x01';
    JsonValue jwk = JsonValue::Object({{"kty", JsonValue::String("RSA")},
                                       {"e", JsonValue::String("AQAB")},
                                       {"n", JsonValue::String(B64(n))}});
    return DpopWith([jwk](ProofOptions& o) {
      o.header = {{"alg", JsonValue::String("RS256")}, {"jwk", jwk}};
    });
  }, "dpop_jwk_invalid", 401);
  add("proof jwk point not on the curve (invalid-curve attack)", [] {
    JsonValue jwk = JsonValue::Object({{"kty", JsonValue::String("EC")},
                                       {"crv", JsonValue::String("P-256")},
                                       {"x", JsonValue::String(B64(std::string(32, '\x01')))},
                                       {"y", JsonValue::String(B64(std::string(32, '\x02')))}});
    return DpopWith([jwk](ProofOptions& o) { o.header = {{"jwk", jwk}}; });
  }, "dpop_jwk_invalid", 401);
  add("proof jwk is a symmetric oct key", [] {
    JsonValue jwk = JsonValue::Object({{"kty", JsonValue::String("oct")},
                                       {"k", JsonValue::String(B64(std::string(32, 'k')))}});
    return DpopWith([jwk](ProofOptions& o) { o.header = {{"jwk", jwk}}; });
  }, "dpop_jwk_private", 401);
  add("proof jwk with use enc", [] {
    JsonValue jwk = ApplyMembers(ClientKey().RequiredPublicJwk(), {{"use", JsonValue::String("enc")}});
    return DpopWith([jwk](ProofOptions& o) { o.header = {{"jwk", jwk}}; });
  }, "dpop_jwk_invalid", 401);
  add("psychic ECDSA r=s=0 on proof", [] {
    return DpopProofText([](const std::string& p) { return WithSignature(p, std::string(64, '\0')); });
  }, "dpop_signature_malformed", 401);
  add("proof signed by another key than its jwk", [] {
    static const PrivateKey* const other = new PrivateKey(MakeKey(JwsAlg::kES256));
    return DpopWith([](ProofOptions& o) { o.signer = other; });
  }, "dpop_signature_invalid", 401);
  // Cheapest checks first (issue 10 item 4): the proof key's size and its
  // binding are judged before its signature is verified.
  add("proof under an 8192-bit RSA key with e = 2^64 - 1", [] {
    return ForeignRsaProof(1024, B64(std::string(8, '\xff')));
  }, "dpop_jwk_size_unsupported", 401);
  add("proof under an RSA key with e = 3", [] { return ForeignRsaProof(256, "Aw"); },
      "dpop_jwk_size_unsupported", 401);
  add("proof under a 4096-bit RSA key the token is not bound to, junk signature", [] {
    return ForeignRsaProof(512, "AQAB");
  }, "dpop_jkt_mismatch", 401);
  add("wrong jkt: proof key differs from cnf.jkt", [] {
    std::string t = BoundToken();
    const PrivateKey& ed = Env().client_key(JwsAlg::kEdDSA);
    return Dpop("/dpop/x", t, MintProof(ed, {.url = TestEnv::Url("/dpop/x"), .token = t}));
  }, "dpop_jkt_mismatch", 401);

  // --- DPoP claims ---
  add("missing jti", [] {
    return DpopWith([](ProofOptions& o) { o.claims = {{"jti", std::nullopt}}; });
  }, "dpop_jti_invalid", 401);
  add("jti too long", [] { return DpopWith([](ProofOptions& o) { o.jti = std::string(300, 'j'); }); },
      "dpop_jti_invalid", 401);
  add("missing htu", [] {
    return DpopWith([](ProofOptions& o) { o.claims = {{"htu", std::nullopt}}; });
  }, "dpop_claims_invalid", 401);
  add("iat as string", [] {
    return DpopWith([](ProofOptions& o) { o.claims = {{"iat", JsonValue::String("now")}}; });
  }, "dpop_claims_invalid", 401);
  add("htm mismatch", [] { return DpopWith([](ProofOptions& o) { o.method = "POST"; }); },
      "dpop_htm_mismatch", 401);
  add("htm in lower case", [] { return DpopWith([](ProofOptions& o) { o.method = "get"; }); },
      "dpop_htm_mismatch", 401);
  add("htu scheme mismatch (http vs https)", [] {
    return DpopWith([](ProofOptions& o) { o.url = "http://api.test/dpop/x"; });
  }, "dpop_htu_mismatch", 401);
  add("htu host mismatch", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://evil.test/dpop/x"; });
  }, "dpop_htu_mismatch", 401);
  add("htu path mismatch", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test/dpop/y"; });
  }, "dpop_htu_mismatch", 401);
  add("htu trailing slash", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test/dpop/x/"; });
  }, "dpop_htu_mismatch", 401);
  add("htu port mismatch", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test:8443/dpop/x"; });
  }, "dpop_htu_mismatch", 401);
  add("htu not absolute", [] { return DpopWith([](ProofOptions& o) { o.url = "/dpop/x"; }); },
      "dpop_htu_invalid", 401);
  add("htu with userinfo", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://user@api.test/dpop/x"; });
  }, "dpop_htu_invalid", 401);
  add("htu query differs (positive twin)", [] {
    std::string t = BoundToken();
    HttpSpec s = Dpop("/dpop/x?page=2", t,
                      MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x?page=1"), .token = t}));
    return s;
  }, "ok", 200);
  add("fragment in htu (positive twin)", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test/dpop/x#section"; });
  }, "ok", 200);
  add("upper-case scheme and host in htu (positive twin)", [] {
    return DpopWith([](ProofOptions& o) { o.url = "HTTPS://API.TEST/dpop/x"; });
  }, "ok", 200);
  add("explicit :443 in htu (positive twin)", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test:443/dpop/x"; });
  }, "ok", 200);
  add("dot segment and %78 in htu (positive twin)", [] {
    return DpopWith([](ProofOptions& o) { o.url = "https://api.test/dpop/./%78"; });
  }, "ok", 200);
  add("stale iat", [] {
    return DpopWith([](ProofOptions& o) { o.iat = absl::Now() - absl::Seconds(120); });
  }, "dpop_iat_stale", 401);
  add("future iat beyond skew", [] {
    return DpopWith([](ProofOptions& o) { o.iat = absl::Now() + absl::Seconds(60); });
  }, "dpop_iat_future", 401);
  add("iat slightly in the future, within skew (positive twin)", [] {
    return DpopWith([](ProofOptions& o) { o.iat = absl::Now() + absl::Seconds(2); });
  }, "ok", 200);
  add("missing ath", [] { return DpopWith([](ProofOptions& o) { o.token = ""; }); },
      "dpop_ath_missing", 401);
  add("wrong ath (hash of another token)", [] {
    return DpopWith([](ProofOptions& o) { o.token = BoundToken(); });
  }, "dpop_ath_mismatch", 401);
  c.push_back({"replayed jti (same proof twice)", [] { return DpopWith([](ProofOptions&) {}); },
               "dpop_replayed", 401, /*send_twice=*/true});

  add("lower-case dpop scheme (positive twin)", [] {
    HttpSpec s = DpopWith([](ProofOptions&) {});
    s.headers[0].second.replace(0, 4, "dpop");
    return s;
  }, "ok", 200);
  add("upper-case BEARER scheme (positive twin)", [] {
    return HttpSpec{.url = TestEnv::Url("/public/x"),
                    .headers = {H("authorization", "BEARER " + Env().issuer().MintToken({}))}};
  }, "ok", 200);

  // --- mTLS ---
  add("wrong x5t#S256 certificate", [] {
    return WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), Env().other_cert().pem());
  }, "mtls_thumbprint_mismatch", 401);
  add("missing client certificate", [] { return Bearer("/mtls/x", MtlsToken(Env().cert())); },
      "mtls_cert_missing", 401);
  add("unparseable client certificate", [] {
    return WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), "not a certificate");
  }, "mtls_cert_invalid", 401);
  add("PEM block that is not a certificate", [] {
    return WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())),
                    "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
  }, "mtls_cert_invalid", 401);
  add("token bound to a DPoP key and a certificate: proof without certificate", [] {
    std::string t = Env().issuer().MintToken(
        {.jkt = ClientKey().Thumbprint(), .x5t = Env().cert().thumbprint()});
    return Dpop("/dpop/x", t, MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x"), .token = t}));
  }, "mtls_cert_missing", 401);
  add("token bound to a DPoP key and a certificate: both proven (positive twin)", [] {
    std::string t = Env().issuer().MintToken(
        {.jkt = ClientKey().Thumbprint(), .x5t = Env().cert().thumbprint()});
    return WithCert(
        Dpop("/dpop/x", t, MintProof(ClientKey(), {.url = TestEnv::Url("/dpop/x"), .token = t})),
        Env().cert().pem());
  }, "ok", 200);
  add("mTLS-bound token on a bearer route still needs the certificate", [] {
    return Bearer("/public/x", MtlsToken(Env().cert()));
  }, "mtls_cert_missing", 401);
  return c;
}
// clang-format on

// --- Running a case through both APIs ---

struct Outcome {
  std::string code;
  int http_status = 0;
};

Outcome ViaVerify(RunningServer& server, const HttpSpec& spec) {
  VerifyResponse r = server.Verify(spec, "attack");
  EXPECT_EQ(r.correlation_id(), "attack");
  if (r.reason_code() == "ok") {
    EXPECT_EQ(r.decision(), popguard::v1::ALLOW);
  } else {
    EXPECT_EQ(r.decision(), popguard::v1::DENY) << r.reason_code();
    EXPECT_THAT(r.upstream_headers(), ::testing::IsEmpty());
  }
  return {r.reason_code(), r.http_status()};
}

Outcome ViaCheck(RunningServer& server, const HttpSpec& spec) {
  CheckResponse r = server.Check(spec);
  if (r.status().code() == 0) {
    EXPECT_TRUE(r.has_ok_response()) << r.DebugString();
    return {"ok", 200};
  }
  EXPECT_TRUE(r.has_denied_response()) << r.DebugString();
  const int http = static_cast<int>(r.denied_response().status().code());
  // google.rpc codes: 7 PERMISSION_DENIED for 403, 16 UNAUTHENTICATED for 400/401.
  EXPECT_EQ(r.status().code(), http == 403 ? 7 : 16);
  bool reason_header = false;
  for (const auto& h : r.denied_response().headers()) {
    if (h.header().key() == "x-popguard-reason") {
      reason_header = true;
      EXPECT_EQ(h.header().value(), r.status().message());
    }
  }
  EXPECT_TRUE(reason_header);
  return {r.status().message(), http};
}

class AttacksE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = RunningServer::Start("attacks.yaml", {.extra_routes_yaml = kExtraRoutes}).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(server_->ok()) << server_->error();
  }
  static RunningServer* server_;
};

RunningServer* AttacksE2eTest::server_ = nullptr;

// RunCases runs every case through Verify and Check on `server` and returns
// the number of requests made.
int RunCases(RunningServer& server, const std::vector<AttackCase>& cases) {
  int runs = 0;
  for (const AttackCase& tc : cases) {
    SCOPED_TRACE(tc.name);
    for (bool check : {false, true}) {
      SCOPED_TRACE(check ? "via Check" : "via Verify");
      auto run = [&](const HttpSpec& spec) {
        return check ? ViaCheck(server, spec) : ViaVerify(server, spec);
      };
      const HttpSpec spec = tc.build();
      if (tc.send_twice) {
        Outcome first = run(spec);
        EXPECT_EQ(first.code, "ok");
      }
      Outcome got = run(spec);
      EXPECT_EQ(got.code, tc.code);
      EXPECT_EQ(got.http_status, tc.http_status);
      ++runs;
    }
    EXPECT_TRUE(server.process().Alive()) << "popguard died on: " << tc.name << "\n"
                                          << server.process().LogText();
    if (!server.process().Alive()) break;
  }
  return runs;
}

TEST_F(AttacksE2eTest, EveryAttackGetsItsReasonThroughVerifyAndCheck) {
  const std::vector<AttackCase> cases = Cases();
  ASSERT_GE(cases.size(), 60u);
  const int runs = RunCases(*server_, cases);
  std::cout << "[ attacks  ] " << cases.size() << " cases, " << runs
            << " requests through Verify and Check\n";
  RecordProperty("attack_cases", static_cast<int>(cases.size()));

  // The server survived all of it and still works.
  EXPECT_TRUE(server_->process().Alive());
  absl::StatusOr<int> health = HealthCheck(server_->channel(), "");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, 1);  // SERVING
  Outcome after = ViaVerify(*server_, DpopWith([](ProofOptions&) {}));
  EXPECT_EQ(after.code, "ok");
  after = ViaCheck(*server_, DpopWith([](ProofOptions&) {}));
  EXPECT_EQ(after.code, "ok");
}

// A report-only would-deny is let through with no identity (issue 10 item
// 11): the /shadow route is report-only, and a DPoP-bound token replayed as
// Bearer there must not hand its principal or issuer to the gateway.
TEST_F(AttacksE2eTest, ReportOnlyWouldDenyCarriesNoIdentity) {
  const HttpSpec downgrade = Bearer("/shadow/x", BoundToken());
  VerifyResponse v = server_->Verify(downgrade, "shadow");
  EXPECT_EQ(v.decision(), popguard::v1::ALLOW);
  EXPECT_TRUE(v.report_only());
  EXPECT_EQ(v.reason_code(), "bearer_downgrade");
  EXPECT_EQ(v.principal(), "");
  EXPECT_EQ(v.issuer(), "");
  EXPECT_EQ(v.binding(), popguard::v1::BINDING_NONE);
  EXPECT_THAT(v.upstream_headers(), ::testing::IsEmpty());
  EXPECT_THAT(v.upstream_headers_to_remove(), ::testing::Not(::testing::IsEmpty()));
  CheckResponse c = server_->Check(downgrade);
  EXPECT_EQ(c.status().code(), 0);
  ASSERT_TRUE(c.has_ok_response()) << c.DebugString();
  EXPECT_THAT(c.ok_response().headers(), ::testing::IsEmpty()) << c.DebugString();
  EXPECT_THAT(c.ok_response().headers_to_remove(), ::testing::Not(::testing::IsEmpty()));

  // The same token proven with DPoP on the same route: a real allow, with
  // its identity.
  std::string token = BoundToken();
  v = server_->Verify(
      Dpop("/shadow/x", token,
           MintProof(ClientKey(), {.url = TestEnv::Url("/shadow/x"), .token = token})),
      "shadow-ok");
  EXPECT_EQ(v.reason_code(), "ok");
  EXPECT_FALSE(v.report_only());
  EXPECT_EQ(v.principal(), "alice");
  EXPECT_EQ(v.issuer(), Env().issuer().iss());
  token = BoundToken();
  c = server_->Check(
      Dpop("/shadow/x", token,
           MintProof(ClientKey(), {.url = TestEnv::Url("/shadow/x"), .token = token})));
  ASSERT_TRUE(c.has_ok_response()) << c.DebugString();
  EXPECT_THAT(c.ok_response().headers(), ::testing::Not(::testing::IsEmpty()));
}

// The OKP jwk of the Ed25519 identity point (y = 1, x = 0): a key of small
// order nobody holds a secret for.
JsonValue IdentityEd25519Jwk() {
  std::string identity(32, '\0');
  identity[0] = 1;
  return JsonValue::Object({{"kty", JsonValue::String("OKP")},
                            {"crv", JsonValue::String("Ed25519")},
                            {"x", JsonValue::String(B64(identity))}});
}

// The attacks that need another server configuration: OpenSSL for every
// signature (crypto.force_openssl), and x-forwarded-client-cert trusted.
// The table is laid out by hand: one case per add(), name first.
// clang-format off
std::vector<AttackCase> OpenSslXfccCases() {
  std::vector<AttackCase> c;
  auto add = [&](std::string name, std::function<HttpSpec()> build, std::string code, int status) {
    c.push_back({std::move(name), std::move(build), std::move(code), status});
  };
  add("valid DPoP request (positive twin)", [] { return DpopWith([](ProofOptions&) {}); }, "ok",
      200);
  // Issue 10 item 8: a token bound to the identity point and a proof with
  // R = identity, S = 0 verify under OpenSSL's cofactorless equation for any
  // message. The key is refused when the proof's jwk is loaded.
  add("Ed25519 proof key of small order, R = identity, S = 0", [] {
    const JsonValue jwk = IdentityEd25519Jwk();
    std::string token = Env().issuer().MintToken({.jkt = JwkThumbprint(jwk).value()});
    std::string identity(32, '\0');
    identity[0] = 1;
    const std::string header = absl::StrCat(R"({"typ":"dpop+jwt","alg":"EdDSA","jwk":)",
                                            SerializeJson(jwk), "}");
    return Dpop("/dpop/x", token,
                AssembleJws(header, ProofClaimsJson(token), identity + std::string(32, '\0')));
  }, "dpop_jwk_invalid", 401);
  // Issue 10 item 12: XFCC and the gateway's own certificate must agree.
  const auto xfcc_for = [](const TestCert& cert) {
    return "Hash=" + HexEncode(Sha256(cert.der()));
  };
  add("XFCC and the gateway's certificate name the same certificate (positive twin)",
      [xfcc_for] {
        HttpSpec s = WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), Env().cert().pem());
        s.headers.push_back(H("x-forwarded-client-cert", xfcc_for(Env().cert())));
        return s;
      },
      "ok", 200);
  add("XFCC names the token's certificate, the gateway passed another", [xfcc_for] {
    HttpSpec s = WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), Env().other_cert().pem());
    s.headers.push_back(H("x-forwarded-client-cert", xfcc_for(Env().cert())));
    return s;
  }, "mtls_cert_conflict", 401);
  add("the gateway passed the token's certificate, XFCC names another", [xfcc_for] {
    HttpSpec s = WithCert(Bearer("/mtls/x", MtlsToken(Env().cert())), Env().cert().pem());
    s.headers.push_back(H("x-forwarded-client-cert", xfcc_for(Env().other_cert())));
    return s;
  }, "mtls_cert_conflict", 401);
  add("XFCC alone (positive twin)", [xfcc_for] {
    HttpSpec s = Bearer("/mtls/x", MtlsToken(Env().cert()));
    s.headers.push_back(H("x-forwarded-client-cert", xfcc_for(Env().cert())));
    return s;
  }, "ok", 200);
  return c;
}
// clang-format on

class OpenSslXfccAttacksE2eTest : public ServerTestBase<OpenSslXfccAttacksE2eTest> {
 public:
  static constexpr char kConfigName[] = "attacks-openssl-xfcc.yaml";
  static ConfigOptions Options() {
    return {.trusted_xfcc = true, .extra_yaml = "crypto: {force_openssl: true}\n"};
  }
};

TEST_F(OpenSslXfccAttacksE2eTest, EveryAttackGetsItsReasonThroughVerifyAndCheck) {
  RunCases(*server(), OpenSslXfccCases());
  EXPECT_TRUE(server()->process().Alive());
}

}  // namespace
}  // namespace popguard::e2e
