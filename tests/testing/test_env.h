// TestEnv: the world end-to-end tests run popguard in.
//
//   TestEnv& env = TestEnv::Get();              // keys, certs, JWKS files (once per binary)
//   std::string cfg = env.WriteConfig("a.yaml", {.trusted_xfcc = true});
//   std::string token = env.issuer().MintToken({.alg = JwsAlg::kPS256, .jkt = ...});
//   std::string proof = MintProof(env.client_key(JwsAlg::kES256), {.url = ..., .token = token});
//
// Everything is minted with the real clock (the server under test uses it) and
// with the same claims popguard-cli puts in tokens and proofs. Overrides
// (Members) replace, add (value) or remove (nullopt) single JSON members, and
// the Raw functions sign arbitrary text, so tests can build deliberately
// malformed tokens and proofs. Keys and certificates are test-only and live in
// a temporary directory removed when the binary exits.
#ifndef POPGUARD_TESTS_TESTING_TEST_ENV_H_
#define POPGUARD_TESTS_TESTING_TEST_ENV_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "envoy/service/auth/v3/external_auth.grpc.pb.h"
#include "popguard/v1/verifier.grpc.pb.h"
#include "service/common/json.h"
#include "service/jose/signature.h"
#include "service/tools/mint/mint.h"
#include "service/tools/mint/signer.h"
#include "tests/testing/popguard_process.h"

namespace popguard::e2e {

// TempDir is a directory made with mkdtemp under /tmp, removed with its
// contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Write creates (or replaces) `name` in the directory; returns its path.
  std::string Write(const std::string& name, std::string_view contents) const;

 private:
  std::string path_;
};

// QuickstartYaml returns a config with the quickstart issuer
// (https://issuer.example, examples/quickstart/jwks.json by absolute path,
// audience https://api.example) followed by `extra` (top-level keys).
std::string QuickstartYaml(std::string_view extra = "");

// Members are JSON member overrides: a value replaces the member in place (or
// is appended when absent); nullopt removes it.
using Members = std::vector<std::pair<std::string, std::optional<JsonValue>>>;

// ApplyMembers returns the object `object` with `overrides` applied.
JsonValue ApplyMembers(JsonValue object, const Members& overrides);

// MakeKey generates a key for `alg` with `kid` (aborts the test binary if
// OpenSSL fails: nothing can be tested without keys).
PrivateKey MakeKey(JwsAlg alg, std::string kid = "");

// B64 is base64url without padding.
std::string B64(std::string_view bytes);

// AssembleJws returns B64(header_json).B64(payload_json).B64(signature):
// any bytes, no signing (for alg none, HMAC and forged signatures).
std::string AssembleJws(std::string_view header_json, std::string_view payload_json,
                        std::string_view signature);

// SignRaw signs the exact header and payload text with `key` and `alg`.
std::string SignRaw(const PrivateKey& key, JwsAlg alg, std::string_view header_json,
                    std::string_view payload_json);

// TokenOptions is a popguard::TokenSpec (service/tools/mint/mint.h) with the
// e2e defaults, the signing key and header, and Members overrides.
struct TokenOptions {
  JwsAlg alg = JwsAlg::kES256;
  std::string kid{};                // default: the kid of the issuer key for alg
  const PrivateKey* key = nullptr;  // signing key; default: the issuer key for alg
  std::string typ = "at+jwt";       // "" leaves typ out
  std::string sub = "alice";        // "" leaves the claim out (same below)
  std::string client_id = "client-1";
  std::string scope = "read";
  std::string aud{};                // default: TestEnv::kAudience
  std::string jkt{};                // cnf.jkt
  std::string x5t{};                // cnf.x5t#S256
  std::optional<absl::Time> iat{};  // default: now
  absl::Duration ttl = absl::Minutes(5);
  Members claims{};  // applied after the above
  Members header{};
};

// ProofOptions is a popguard::ProofSpec with the real clock's defaults, the
// algorithm, Members overrides and a separate signer.
struct ProofOptions {
  std::optional<JwsAlg> alg{};  // default: key.DefaultAlg()
  std::string method = "GET";
  std::string url{};
  std::string token{};                 // sets ath when non-empty
  std::optional<absl::Time> iat{};     // default: now
  std::string jti{};                   // default: 16 random bytes, base64url
  std::string nonce{};                 // "" leaves nonce out
  Members claims{};                    // applied after the above
  Members header{};                    // applied to {typ, alg, jwk}
  const PrivateKey* signer = nullptr;  // sign with another key than the jwk's
};

// MintProof returns a DPoP proof whose jwk is `key`'s public key.
std::string MintProof(const PrivateKey& key, const ProofOptions& options);

// TestIssuer is an issuer with its private keys (each with a kid).
class TestIssuer {
 public:
  // `keys` are (kid, algorithm to generate a key for) pairs.
  TestIssuer(std::string iss, const std::vector<std::pair<std::string, JwsAlg>>& keys);

  const std::string& iss() const { return iss_; }
  // KeyFor returns the key generated for `alg`, else one of the same family
  // (any RSA key for RS*/PS*). Aborts when there is none.
  const PrivateKey& KeyFor(JwsAlg alg) const;
  const std::vector<PrivateKey>& keys() const { return keys_; }
  // JwksJson returns {"keys":[public JWKs]}.
  std::string JwksJson() const;
  std::string MintToken(const TokenOptions& options) const;

 private:
  std::string iss_;
  std::vector<PrivateKey> keys_;
  std::vector<JwsAlg> generated_for_;
};

// TestCert is a self-signed P-256 client certificate.
class TestCert {
 public:
  static TestCert Create(const std::string& common_name);

  const std::string& pem() const { return pem_; }
  const std::string& der() const { return der_; }
  // thumbprint returns the RFC 8705 x5t#S256, computed from its definition.
  const std::string& thumbprint() const { return thumbprint_; }
  // EnvoyUrlEncodedPem returns the PEM as Envoy forwards it.
  std::string EnvoyUrlEncodedPem() const;

 private:
  std::string pem_, der_, thumbprint_;
};

struct ConfigOptions {
  bool trusted_xfcc = false;
  std::string external_origin{};  // "" leaves it out
  bool nonce_required = false;    // writes a 32-byte secret file next to the config
  std::string log_level = "debug";
  std::string extra_yaml{};         // appended verbatim (top-level keys)
  std::string extra_routes_yaml{};  // "  - {...}\n" lines appended to the standard routes
};

// TestEnv is created once per test binary (TestEnv::Get) and owns the temp
// directory, two issuers with JWKS files, client keys and certificates.
class TestEnv {
 public:
  static constexpr char kAudience[] = "https://api.test";
  static constexpr char kOrigin[] = "https://api.test";
  // The DPoP algorithms configured by WriteConfig (WWW-Authenticate algs).
  static constexpr char kDpopAlgs[] = "ES256 ES384 EdDSA Ed25519 RS256 PS256";

  static TestEnv& Get();

  const TempDir& dir() const { return dir_; }
  // issuer: https://issuer.test, require_typ, keys es256-1, es384-1, es512-1,
  // eddsa-1, rs256-1 (RSA), ps256-1 (RSA); algorithms ES256 ES384 ES512 EdDSA
  // RS256 RS384 PS256.
  const TestIssuer& issuer() const { return *issuer_; }
  // issuer2: https://issuer2.test, no require_typ, one key i2-es256, ES256 only.
  const TestIssuer& issuer2() const { return *issuer2_; }
  // client_key returns the client's DPoP key for ES256, ES384, EdDSA, or the
  // RSA key for RS*/PS*.
  const PrivateKey& client_key(JwsAlg alg) const;
  const TestCert& cert() const { return cert_; }
  const TestCert& other_cert() const { return other_cert_; }

  // WriteConfig writes a config with both issuers and the standard routes
  //   public (/public, bearer), mtls (/mtls, mtls), dpop (/dpop, dpop),
  //   admin (/admin, bound, scopes [admin]), shadow (/shadow, dpop, report_only)
  // (then options.extra_routes_yaml) and default_binding bound; returns its path.
  std::string WriteConfig(const std::string& name, const ConfigOptions& options) const;

  // PrivateKeyDs returns the "d" member of every private key in the env.
  std::vector<std::string> PrivateKeyDs() const;

  // Url returns kOrigin + path.
  static std::string Url(std::string_view path);

 private:
  TestEnv();

  TempDir dir_;
  std::unique_ptr<TestIssuer> issuer_;
  std::unique_ptr<TestIssuer> issuer2_;
  std::vector<PrivateKey> client_keys_;  // ES256, ES384, EdDSA, RSA
  TestCert cert_;
  TestCert other_cert_;
};

// --- The request as a gateway describes it, for both wire APIs ---

struct HttpSpec {
  std::string method = "GET";
  std::string url{};  // absolute, or anything for malformed cases
  // Header lines in order, names as a client wrote them (any case).
  std::vector<std::pair<std::string, std::string>> headers{};
  enum class CertForm { kNone, kPem, kDer, kThumbprint };
  CertForm cert_form = CertForm::kNone;
  // kPem/kDer: PEM text (or junk bytes, passed as they are); kThumbprint: x5t#S256.
  std::string cert{};
  std::string route_key{};
};

// ToVerifyRequest maps `spec` to popguard.v1.VerifyRequest (kDer converts a
// PEM to DER; junk is passed through).
popguard::v1::VerifyRequest ToVerifyRequest(const HttpSpec& spec, const std::string& id);

// SetCheckHeader sets header `name` in a CheckRequest's merged `headers`
// (one entry per name, as in Envoy's map): a new entry, or, when the name is
// there already, its value replaced or (merge) joined after a ",".
void SetCheckHeader(envoy::service::auth::v3::AttributeContext::HttpRequest* http,
                    const std::string& name, const std::string& value, bool merge = false);

// ToCheckRequest maps `spec` to the CheckRequest Envoy sends: method, scheme,
// host and path-with-query split from the URL; lower-cased header names (and
// the pseudo-headers) in `headers`, repeated ones joined with "," — or, with
// `raw_header_map`, one header_map entry per line with raw_value; the
// certificate URL-encoded in attributes.source.certificate; route_key as
// context extension popguard_route.
envoy::service::auth::v3::CheckRequest ToCheckRequest(const HttpSpec& spec,
                                                      bool raw_header_map = false);

// HeaderPairs flattens repeated popguard.v1.Header into (name, value) pairs.
std::vector<std::pair<std::string, std::string>> HeaderPairs(
    const google::protobuf::RepeatedPtrField<popguard::v1::Header>& headers);

// RunningServer is one popguard child with stubs for both APIs. Test suites
// hold one in a static and start it in SetUpTestSuite.
class RunningServer {
 public:
  // Start writes the config `name` with `options` and starts the server. It
  // never fails the test itself: check ok() / error() in SetUp.
  static std::unique_ptr<RunningServer> Start(const std::string& name,
                                              const ConfigOptions& options);

  bool ok() const { return process_ != nullptr; }
  const std::string& error() const { return error_; }
  PopguardProcess& process() { return *process_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  popguard::v1::Verifier::Stub& verifier() { return *verifier_; }

  // Verify / Check make one RPC (5 s deadline); an RPC failure is a test
  // failure and returns an empty response.
  popguard::v1::VerifyResponse Verify(const HttpSpec& spec, const std::string& id = "req-1");
  popguard::v1::VerifyResponse Verify(const popguard::v1::VerifyRequest& request);
  envoy::service::auth::v3::CheckResponse Check(
      const envoy::service::auth::v3::CheckRequest& request);
  envoy::service::auth::v3::CheckResponse Check(const HttpSpec& spec) {
    return Check(ToCheckRequest(spec));
  }

 private:
  RunningServer() = default;
  // DescribeProcess says whether the child still runs, with its output.
  std::string DescribeProcess();

  std::unique_ptr<PopguardProcess> process_;
  std::string error_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<popguard::v1::Verifier::Stub> verifier_;
  std::unique_ptr<envoy::service::auth::v3::Authorization::Stub> authz_;
};

}  // namespace popguard::e2e

#endif  // POPGUARD_TESTS_TESTING_TEST_ENV_H_
