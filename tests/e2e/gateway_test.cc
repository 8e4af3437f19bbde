// End-to-end tests of the HTTP forward-auth listener behind the REAL
// gateways from Debian 12: nginx (auth_request) and Caddy 2.6 (forward_auth),
// each running the config in examples/ (addresses replaced), in front of a
// small upstream that records the headers it receives, with the real popguard
// binary deciding. Every port is a free loopback port; every process is
// stopped on teardown (and dies with the test process).
//
// popguard runs TestEnv's standard routes (/public bearer, /dpop dpop,
// /admin bound + scope admin) with DPoP nonces required, so a DPoP request
// goes through the nonce round trip: 401 use_dpop_nonce with DPoP-Nonce, then
// the same request with a proof carrying that nonce.
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include <yaml-cpp/yaml.h>

#include "service/authn/client_cert.h"
#include "service/common/json.h"
#include "service/config/config.h"
#include "tests/testing/https_test_server.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/test_env.h"
#include "tests/testing/test_vectors.h"

namespace popguard::e2e {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

enum class Gateway { kNginx, kCaddy };

using ::popguard::testdata::ReadFileOrEmpty;

std::string GatewayName(Gateway g) { return g == Gateway::kNginx ? "nginx" : "caddy"; }

std::string ReadSource(const std::string& relpath) {
  return ReadFileOrEmpty(std::string(POPGUARD_SOURCE_DIR) + "/" + relpath);
}

// Replace replaces `from` in `text` with `to`, failing the test when the
// example no longer holds `from` (the substitution would silently not apply).
std::string Replace(const std::string& text, const std::string& from, const std::string& to) {
  EXPECT_THAT(text, HasSubstr(from)) << "the example changed; update the test's substitutions";
  return absl::StrReplaceAll(text, {{from, to}});
}

// WaitForPort waits until 127.0.0.1:port accepts a connection.
bool WaitForPort(int port, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    const int fd = ConnectLoopback(port, absl::Seconds(1));
    if (fd >= 0) {
      close(fd);
      return true;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

// Pki is a test CA, nginx's server certificate and two client certificates
// signed by the CA, made with the openssl command line in a temp dir.
struct Pki {
  TempDir dir;
  std::string File(const std::string& name) const { return dir.path() + "/" + name; }

  // Make returns "" or what went wrong.
  std::string Make() {
    const std::string d = dir.path();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    std::vector<std::string> commands = {
        absl::StrCat("openssl req -x509 ", ec, " -keyout ", d, "/ca.key -out ", d,
                     "/ca.crt -subj /CN=popguard-test-ca -days 2"),
        // The SAN lets popguard-cli (libcurl) verify 127.0.0.1 with --cacert server.crt.
        absl::StrCat("openssl req -x509 ", ec, " -keyout ", d, "/server.key -out ", d,
                     "/server.crt -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1",
                     " -days 2"),
    };
    for (const std::string name : {"client", "other"}) {
      commands.push_back(absl::StrCat("openssl req ", ec, " -keyout ", d, "/", name, ".key -out ",
                                      d, "/", name, ".csr -subj /CN=", name));
      commands.push_back(absl::StrCat("openssl x509 -req -in ", d, "/", name, ".csr -CA ", d,
                                      "/ca.crt -CAkey ", d, "/ca.key -CAcreateserial -out ", d,
                                      "/", name, ".crt -days 2"));
    }
    for (const std::string& c : commands) {
      if (std::system((c + " >>" + d + "/openssl.log 2>&1").c_str()) != 0) {
        return absl::StrCat("failed: ", c, "\n", ReadFileOrEmpty(d + "/openssl.log"));
      }
    }
    return "";
  }

  // Thumbprint is the x5t#S256 of certificate `name` ("client", "other").
  std::string Thumbprint(const std::string& name) const {
    auto der = CertificateDer(ReadFileOrEmpty(File(name + ".crt")));
    return der.ok() ? CertificateThumbprint(*der) : "";
  }
};

// NginxMainConf is nginx's main config around the site file `site_path`:
// no root, nothing outside `dir` (pid, logs and temp paths there).
std::string NginxMainConf(const std::string& dir, const std::string& site_path) {
  return absl::StrCat(
      "daemon off;\nmaster_process off;\nworker_processes 1;\npid ", dir, "/nginx.pid;\n",
      "error_log ", dir, "/error.log info;\n", "events { worker_connections 64; }\n",
      "http {\n  access_log off;\n", "  client_body_temp_path ", dir, "/body;\n",
      "  proxy_temp_path ", dir, "/proxy;\n", "  fastcgi_temp_path ", dir, "/fastcgi;\n",
      "  uwsgi_temp_path ", dir, "/uwsgi;\n", "  scgi_temp_path ", dir, "/scgi;\n",
      "  include ", site_path, ";\n}\n");
}

// GatewayProcess is nginx or Caddy, started from the example config.
class GatewayProcess {
 public:
  static std::unique_ptr<GatewayProcess> Start(Gateway g, int forward_auth_port,
                                               int upstream_port, const Pki& pki,
                                               std::string* error) {
    auto p = std::unique_ptr<GatewayProcess>(new GatewayProcess());
    p->port_ = redis_testing::FreeLoopbackPort();
    p->tls_port_ = redis_testing::FreeLoopbackPort();
    const std::string dir = p->dir_.path();
    const std::string popguard = absl::StrCat("127.0.0.1:", forward_auth_port);
    const std::string app = absl::StrCat("127.0.0.1:", upstream_port);
    std::vector<std::string> argv;
    if (g == Gateway::kNginx) {
      std::string site = ReadSource("examples/nginx/popguard.conf");
      site = Replace(site, "server 127.0.0.1:9002;", absl::StrCat("server ", popguard, ";"));
      site = Replace(site, "server 127.0.0.1:8081;", absl::StrCat("server ", app, ";"));
      site = Replace(site, "listen 8080;", absl::StrCat("listen 127.0.0.1:", p->port_, ";"));
      site = Replace(site, "listen 8443 ssl;",
                     absl::StrCat("listen 127.0.0.1:", p->tls_port_, " ssl;"));
      site = Replace(site, "/etc/nginx/tls/server.crt", pki.File("server.crt"));
      site = Replace(site, "/etc/nginx/tls/server.key", pki.File("server.key"));
      site = Replace(site, "/etc/nginx/tls/client-ca.crt", pki.File("ca.crt"));
      const std::string site_path = p->dir_.Write("popguard.conf", site);
      const std::string conf = NginxMainConf(dir, site_path);
      argv = {"nginx", "-p", dir, "-e", dir + "/error.log", "-c", p->dir_.Write("nginx.conf", conf)};
    } else {
      std::string site = ReadSource("examples/caddy/Caddyfile");
      site = Replace(site, "forward_auth 127.0.0.1:9002", "forward_auth " + popguard);
      site = Replace(site, "reverse_proxy 127.0.0.1:8081", "reverse_proxy " + app);
      site = Replace(site, "oauth-protected-resource* 127.0.0.1:9002",
                     "oauth-protected-resource* " + popguard);
      site = Replace(site, "\n:8080 {", absl::StrCat("\nhttp://127.0.0.1:", p->port_, " {"));
      // No admin endpoint, no certificates, state in the temp dir.
      const std::string conf = absl::StrCat("{\n\tadmin off\n\tauto_https off\n\tstorage file_system ",
                                            dir, "/data\n}\n", site);
      argv = {"env",
              "HOME=" + dir,
              "XDG_DATA_HOME=" + dir + "/data",
              "XDG_CONFIG_HOME=" + dir + "/config",
              "caddy",
              "run",
              "--config",
              p->dir_.Write("Caddyfile", conf),
              "--adapter",
              "caddyfile"};
    }
    p->log_ = dir + "/gateway.log";
    p->pid_ = redis_testing::SpawnChild(argv, p->log_);
    if (p->pid_ <= 0 || !WaitForPort(p->port_, absl::Seconds(15))) {
      *error = absl::StrCat(GatewayName(g), " did not start: ", p->Log());
      return nullptr;
    }
    return p;
  }

  ~GatewayProcess() { redis_testing::StopChild(pid_, absl::Seconds(5)); }

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  std::string Log() const {
    return ReadFileOrEmpty(log_) +
           ReadFileOrEmpty(dir_.path() + "/error.log");
  }

 private:
  GatewayProcess() = default;
  TempDir dir_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int tls_port_ = 0;  // nginx only
};

// Reply is an HTTP answer the client got.
struct Reply {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::vector<std::string> Values(const std::string& name) const {
    std::vector<std::string> out;
    auto [b, e] = headers.equal_range(name);
    for (auto it = b; it != e; ++it) out.push_back(it->second);
    return out;
  }
  std::string Value(const std::string& name) const {
    auto v = Values(name);
    return v.empty() ? "" : v[0];
  }
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class GatewayE2eTest : public ::testing::TestWithParam<Gateway> {
 protected:
  static void SetUpTestSuite() {
    TestEnv& env = TestEnv::Get();
    const std::string config = env.WriteConfig(
        "gateway", {.nonce_required = true,
                    .extra_yaml = "forward_auth:\n"
                                  "  listen: 127.0.0.1:0\n"
                                  "  trusted_sources: [127.0.0.1/32]\n"
                                  "  client_cert_header: x-client-cert\n"
                                  "  client_cert_format: escaped_pem\n"
                                  "resource_metadata:\n"
                                  "  resource: https://api.test\n"
                                  "metrics:\n"
                                  "  listen: 127.0.0.1:0\n"
                                  "diagnostics:\n"
                                  "  enabled: true\n"
                                  "  routes: [public, mtls]\n"
                                  "  burst: 100\n"});
    auto popguard = PopguardProcess::Start(config);
    if (!popguard.ok()) {
      Error() = std::string(popguard.status().message());
      return;
    }
    Popguard() = *std::move(popguard);
    const int fa_port = LoggedPort("forward_auth_listening");
    MetricsPort() = LoggedPort("metrics_listening");
    if (fa_port == 0 || MetricsPort() == 0) {
      Error() = "no forward_auth_listening or metrics_listening line: " + Popguard()->LogText();
      return;
    }
    auto upstream = testserver::HttpsTestServer::Start({.tls = false});
    if (!upstream.ok()) {
      Error() = std::string(upstream.status().message());
      return;
    }
    Upstream() = *std::move(upstream);
    if (std::string e = GetPki().Make(); !e.empty()) {
      Error() = e;
      return;
    }
    for (const char* path : {"/public", "/dpop", "/admin", "/mtls"}) {
      Upstream()->SetRoute(path, testserver::HttpResponse::Reply(200, "upstream\n"));
    }
    for (Gateway g : {Gateway::kNginx, Gateway::kCaddy}) {
      std::string error;
      Gateways()[g] = GatewayProcess::Start(g, fa_port, Upstream()->port(), GetPki(), &error);
      if (Gateways()[g] == nullptr) {
        Error() = error;
        return;
      }
    }
  }
  static void TearDownTestSuite() {
    Gateways().clear();
    Upstream().reset();
    Popguard().reset();
  }
  static std::string& Error() {
    static std::string e;
    return e;
  }
  // LoggedPort returns the "port" of popguard's first log line with `event`.
  static int LoggedPort(const std::string& event) {
    return popguard::e2e::LoggedPort(*Popguard(), event);
  }
  static int& MetricsPort() {
    static int port = 0;
    return port;
  }
  static Pki& GetPki() {
    static Pki* pki = new Pki();  // its temp dir outlives every gateway
    return *pki;
  }
  static std::unique_ptr<PopguardProcess>& Popguard() {
    static std::unique_ptr<PopguardProcess> p;
    return p;
  }
  static std::unique_ptr<testserver::HttpsTestServer>& Upstream() {
    static std::unique_ptr<testserver::HttpsTestServer> u;
    return u;
  }
  static std::map<Gateway, std::unique_ptr<GatewayProcess>>& Gateways() {
    static std::map<Gateway, std::unique_ptr<GatewayProcess>> g;
    return g;
  }

  void SetUp() override { ASSERT_THAT(Error(), IsEmpty()); }

  TestEnv& env() { return TestEnv::Get(); }
  // gateway is the gateway under test: the parameter, or fixed in a subclass.
  virtual Gateway gateway() { return GetParam(); }
  int port() { return Gateways()[gateway()]->port(); }
  // Url is the URL the client addresses (the DPoP proof's htu).
  std::string Url(const std::string& path) {
    return absl::StrCat("http://127.0.0.1:", port(), path);
  }

  // Send makes one request through the gateway.
  Reply Send(const std::string& method, const std::string& path, const HeaderList& headers) {
    std::string request = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: 127.0.0.1:", port(),
                                       "\r\nConnection: close\r\n");
    for (const auto& [k, v] : headers) absl::StrAppend(&request, k, ": ", v, "\r\n");
    absl::StrAppend(&request, "\r\n");
    HttpReply raw = HttpExchange(port(), request, absl::Seconds(10));
    Reply r;
    r.body = raw.body;
    r = ParseHead(raw.head, std::move(r));
    r.status = raw.status;
    return r;
  }

  // SendTls makes one request to nginx's TLS port with curl, presenting
  // client certificate `cert` ("" for none).
  Reply SendTls(const std::string& path, const HeaderList& headers, const std::string& cert) {
    const Pki& pki = GetPki();
    TempDir out;
    std::string cmd = "curl -sk --max-time 10 -o " + out.path() + "/body -D " + out.path() + "/head";
    if (!cert.empty()) {
      absl::StrAppend(&cmd, " --cert ", pki.File(cert + ".crt"), " --key ", pki.File(cert + ".key"));
    }
    for (const auto& [k, v] : headers) absl::StrAppend(&cmd, " -H '", k, ": ", v, "'");
    absl::StrAppend(&cmd, " https://127.0.0.1:", Gateways()[Gateway::kNginx]->tls_port(), path);
    Reply r;
    if (std::system(cmd.c_str()) != 0) return r;
    r.body = ReadFileOrEmpty(out.path() + "/body");
    return ParseHead(ReadFileOrEmpty(out.path() + "/head"), std::move(r));
  }

  static Reply ParseHead(const std::string& head, Reply r) {
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    if (!lines.empty() && lines[0].size() >= 12) (void)absl::SimpleAtoi(lines[0].substr(9, 3), &r.status);
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      r.headers.emplace(absl::AsciiStrToLower(lines[i].substr(0, colon)),
                        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    return r;
  }

  // DpopHeaders is a DPoP-bound token (scope `scope`) and its proof for
  // `path`, with `nonce` ("" for none).
  HeaderList DpopHeaders(const std::string& method, const std::string& path,
                         const std::string& nonce, const std::string& scope = "read") {
    const PrivateKey& key = env().client_key(JwsAlg::kES256);
    const std::string token = env().issuer().MintToken({.scope = scope, .jkt = key.Thumbprint()});
    const std::string proof =
        MintProof(key, {.method = method, .url = Url(path), .token = token, .nonce = nonce});
    return {{"Authorization", "DPoP " + token}, {"DPoP", proof}};
  }

  // Nonce gets a current DPoP nonce the way a client does: a DPoP request
  // without one is answered 401 use_dpop_nonce with DPoP-Nonce.
  std::string Nonce() {
    Reply r = Send("GET", "/dpop", DpopHeaders("GET", "/dpop", ""));
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(r.Value("x-popguard-reason"), "dpop_nonce_missing");
    EXPECT_THAT(r.Value("www-authenticate"), HasSubstr("error=\"use_dpop_nonce\""));
    EXPECT_THAT(r.Value("dpop-nonce"), Not(IsEmpty()));
    return r.Value("dpop-nonce");
  }

  std::string Diagnostics() {
    return absl::StrCat("\n--- popguard ---\n", Popguard()->LogText(), "\n--- ",
                        GatewayName(gateway()), " ---\n", Gateways()[gateway()]->Log());
  }
};

using ::testing::Not;

TEST_P(GatewayE2eTest, BearerAllowedIdentityReachesUpstreamAndForgedOnesAreStripped) {
  const int before = Upstream()->RequestCount("/public");
  Reply r = Send("GET", "/public",
                 {{"Authorization", "Bearer " + env().issuer().MintToken({})},
                  {"X-Popguard-Sub", "mallory"},
                  {"X-Popguard-Binding", "mtls"}});
  ASSERT_EQ(r.status, 200) << r.body << Diagnostics();
  ASSERT_EQ(Upstream()->RequestCount("/public"), before + 1);
  const testserver::HttpRequest got = Upstream()->LastRequest("/public");
  std::vector<std::string> sub, binding, scope, client;
  for (const auto& [k, v] : got.headers) {
    if (k == "x-popguard-sub") sub.push_back(v);
    if (k == "x-popguard-binding") binding.push_back(v);
    if (k == "x-popguard-scope") scope.push_back(v);
    if (k == "x-popguard-client-id") client.push_back(v);
  }
  EXPECT_THAT(sub, ElementsAre("alice"));
  EXPECT_THAT(binding, ElementsAre("none"));
  EXPECT_THAT(scope, ElementsAre("read"));
  EXPECT_THAT(client, ElementsAre("client-1"));
}

TEST_P(GatewayE2eTest, DenialsReachTheClientWithStatusAndChallenge) {
  struct Case {
    std::string name;
    std::string path;
    HeaderList headers;
    int status;
    std::string reason;
    std::string challenge;  // a substring of WWW-Authenticate ("" for none expected)
  };
  const std::string token = env().issuer().MintToken({});
  const std::vector<Case> cases = {
      {"no credential", "/public", {{"X-Popguard-Sub", "mallory"}}, 401, "token_missing",
       "Bearer"},
      {"bearer on a DPoP route", "/dpop", {{"Authorization", "Bearer " + token}}, 401,
       "binding_required", "DPoP"},
      {"expired token", "/public",
       {{"Authorization",
         "Bearer " + env().issuer().MintToken({.iat = absl::Now() - absl::Hours(2)})}},
       401, "token_expired", "error=\"invalid_token\""},
      // 400 (nginx's auth_request would make it 500; the example puts it back).
      {"non-ASCII byte in a header popguard reads", "/public",
       {{"Authorization", "Bearer " + token}, {"DPoP", "caf\xc3\xa9"}}, 400,
       "request_header_invalid", "error=\"invalid_request\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const int before = Upstream()->RequestCount(c.path);
    Reply r = Send("GET", c.path, c.headers);
    EXPECT_EQ(r.status, c.status) << r.body << Diagnostics();
    EXPECT_EQ(r.Value("x-popguard-reason"), c.reason);
    EXPECT_THAT(r.Value("www-authenticate"), HasSubstr(c.challenge));
    EXPECT_EQ(Upstream()->RequestCount(c.path), before) << "a denied request reached upstream";
  }
}

TEST_P(GatewayE2eTest, DpopNonceRoundTripThenAllowed) {
  const std::string nonce = Nonce();
  ASSERT_FALSE(nonce.empty()) << Diagnostics();
  const int before = Upstream()->RequestCount("/dpop");
  Reply r = Send("GET", "/dpop", DpopHeaders("GET", "/dpop", nonce));
  ASSERT_EQ(r.status, 200) << r.body << Diagnostics();
  ASSERT_EQ(Upstream()->RequestCount("/dpop"), before + 1);
  EXPECT_EQ(Upstream()->LastRequest("/dpop").Header("x-popguard-binding"), "dpop");
  EXPECT_EQ(Upstream()->LastRequest("/dpop").Header("x-popguard-sub"), "alice");

  // The proof is bound to method and URL: one made for another path is refused.
  Reply wrong = Send("GET", "/dpop", DpopHeaders("GET", "/dpop/other", nonce));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.Value("x-popguard-reason"), "dpop_htu_mismatch");
}

TEST_P(GatewayE2eTest, InsufficientScopeIsForbidden) {
  const std::string nonce = Nonce();
  Reply r = Send("GET", "/admin", DpopHeaders("GET", "/admin", nonce, "read"));
  EXPECT_EQ(r.status, 403) << r.body << Diagnostics();
  EXPECT_EQ(r.Value("x-popguard-reason"), "insufficient_scope");
  EXPECT_THAT(r.Value("www-authenticate"), HasSubstr("error=\"insufficient_scope\""));
}

// Same logs and metrics as the gRPC APIs: the decision is logged with its
// reason and counted under api="forward_auth".
TEST_P(GatewayE2eTest, DecisionsAreLoggedAndCounted) {
  Reply r = Send("GET", "/public", {{"Authorization", "Bearer not-a-jwt"}});
  ASSERT_EQ(r.status, 401);
  EXPECT_EQ(r.Value("x-popguard-reason"), "token_malformed");
  EXPECT_TRUE(Popguard()->WaitForLogLine("\"reason\":\"token_malformed\"", absl::Seconds(5)));
  HttpReply metrics = HttpExchange(
      MetricsPort(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      absl::Seconds(5));
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("popguard_request_duration_seconds_count{api=\"forward_auth\"}"));
  EXPECT_THAT(metrics.body, Not(HasSubstr("popguard_request_duration_seconds_count{api=\"forward_auth\"} 0\n")));
  EXPECT_THAT(metrics.body, HasSubstr("reason=\"token_malformed\""));
}

// RFC 9728: the metadata document through the gateway, and its URL in the
// challenges that reach the client.
TEST_P(GatewayE2eTest, ProtectedResourceMetadata) {
  Reply doc = Send("GET", "/.well-known/oauth-protected-resource", {});
  ASSERT_EQ(doc.status, 200) << doc.body << Diagnostics();
  EXPECT_THAT(doc.Value("content-type"), HasSubstr("application/json"));
  EXPECT_THAT(doc.body, HasSubstr("\"resource\":\"https://api.test\""));
  EXPECT_THAT(doc.body, HasSubstr("\"dpop_signing_alg_values_supported\":["));
  Reply denied = Send("GET", "/public", {});
  EXPECT_EQ(denied.status, 401);
  EXPECT_THAT(denied.Value("www-authenticate"),
              HasSubstr("resource_metadata=\"https://api.test/.well-known/oauth-protected-resource\""));
}

// mTLS-bound tokens behind nginx with TLS client authentication on
// loopback: nginx verifies the client certificate and passes it in
// X-Client-Cert ($ssl_client_escaped_cert, client_cert_format escaped_pem).
// (The Caddy example is plaintext; its mTLS setup is documented only.)
class NginxMtlsE2eTest : public GatewayE2eTest {
 protected:
  Gateway gateway() override { return Gateway::kNginx; }
};

TEST_F(NginxMtlsE2eTest, MtlsBoundTokenWithTheCertificateHeader) {
  const std::string token = env().issuer().MintToken({.x5t = GetPki().Thumbprint("client")});
  const HeaderList auth = {{"Authorization", "Bearer " + token}};
  struct Case {
    std::string name;
    bool tls;
    std::string cert;
    HeaderList extra;
    int status;
    std::string reason;  // "" for an allow
  };
  const std::vector<Case> cases = {
      {"the bound certificate", true, "client", {}, 200, ""},
      {"another certificate of the same CA", true, "other", {}, 401, "mtls_thumbprint_mismatch"},
      {"no certificate", true, "", {}, 401, "mtls_cert_missing"},
      // The client's own X-Client-Cert never reaches popguard: nginx sets it.
      {"forged header on the plain port", false, "",
       {{"X-Client-Cert", EnvoyUrlEncode(ReadFileOrEmpty(GetPki().File("client.crt")))}}, 401,
       "mtls_cert_missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HeaderList headers = auth;
    headers.insert(headers.end(), c.extra.begin(), c.extra.end());
    const int before = Upstream()->RequestCount("/mtls");
    Reply r = c.tls ? SendTls("/mtls", headers, c.cert) : Send("GET", "/mtls", headers);
    EXPECT_EQ(r.status, c.status) << r.body << Diagnostics();
    EXPECT_EQ(r.Value("x-popguard-reason"), c.reason);
    if (c.reason.empty()) {
      ASSERT_EQ(Upstream()->RequestCount("/mtls"), before + 1);
      EXPECT_EQ(Upstream()->LastRequest("/mtls").Header("x-popguard-binding"), "mtls");
    } else {
      EXPECT_EQ(Upstream()->RequestCount("/mtls"), before);
    }
  }
}

// Traefik cannot run here: its example is checked against what the tested
// gateways do, so the three cannot drift apart (endpoint, identity headers
// copied = popguard's default upstream_headers, forwarded headers not taken
// from the client).
TEST(TraefikExampleTest, MatchesPopguardsForwardAuthContract) {
  const YAML::Node root = YAML::LoadFile(std::string(POPGUARD_SOURCE_DIR) +
                                         "/examples/traefik/dynamic.yaml");
  const YAML::Node fa = root["http"]["middlewares"]["popguard"]["forwardAuth"];
  ASSERT_TRUE(fa.IsMap());
  EXPECT_TRUE(absl::EndsWith(fa["address"].as<std::string>(), "/auth"));
  EXPECT_FALSE(fa["trustForwardHeader"].as<bool>());
  std::vector<std::string> copied;
  for (const auto& h : fa["authResponseHeaders"]) {
    copied.push_back(absl::AsciiStrToLower(h.as<std::string>()));
  }
  std::vector<std::string> defaults;
  for (const UpstreamHeader& h : Config().upstream_headers) defaults.push_back(h.header);
  EXPECT_EQ(copied, defaults);
  // The router uses the middleware.
  EXPECT_EQ(root["http"]["routers"]["api"]["middlewares"][0].as<std::string>(), "popguard");
}

// FrontProxy is an nginx in front of the gateways, deliberately
// misconfigured the ways real chains are: one port strips a path prefix, one
// rewrites Host, one terminates TLS (with client certificates) and passes
// plain HTTP on.
class FrontProxy {
 public:
  static std::unique_ptr<FrontProxy> Start(int caddy_port, int nginx_port, const Pki& pki,
                                           std::string* error) {
    auto p = std::unique_ptr<FrontProxy>(new FrontProxy());
    p->strip_port_ = redis_testing::FreeLoopbackPort();
    p->host_port_ = redis_testing::FreeLoopbackPort();
    p->tls_port_ = redis_testing::FreeLoopbackPort();
    const std::string dir = p->dir_.path();
    const std::string site = absl::StrCat(
        // /api/... becomes /... on the way to Caddy.
        "server {\n  listen 127.0.0.1:", p->strip_port_, ";\n  location /api/ {\n",
        "    proxy_pass http://127.0.0.1:", caddy_port, "/;\n",
        "    proxy_set_header Host $http_host;\n  }\n}\n",
        // The Host the client used is replaced on the way to nginx.
        "server {\n  listen 127.0.0.1:", p->host_port_, ";\n  location / {\n",
        "    proxy_pass http://127.0.0.1:", nginx_port, ";\n",
        "    proxy_set_header Host backend.internal;\n  }\n}\n",
        // TLS (and the client certificate) end here; Caddy gets plain HTTP.
        "server {\n  listen 127.0.0.1:", p->tls_port_, " ssl;\n",
        "  ssl_certificate ", pki.File("server.crt"), ";\n",
        "  ssl_certificate_key ", pki.File("server.key"), ";\n",
        "  ssl_client_certificate ", pki.File("ca.crt"), ";\n",
        "  ssl_verify_client optional;\n  location / {\n",
        "    proxy_pass http://127.0.0.1:", caddy_port, ";\n",
        "    proxy_set_header Host $http_host;\n  }\n}\n");
    const std::string conf = NginxMainConf(dir, p->dir_.Write("front.conf", site));
    p->log_ = dir + "/front.log";
    p->pid_ = redis_testing::SpawnChild(
        {"nginx", "-p", dir, "-e", dir + "/error.log", "-c", p->dir_.Write("nginx.conf", conf)},
        p->log_);
    for (int port : {p->strip_port_, p->host_port_, p->tls_port_}) {
      if (p->pid_ <= 0 || !WaitForPort(port, absl::Seconds(15))) {
        *error = absl::StrCat("front nginx did not start: ", ReadFileOrEmpty(p->log_),
                              ReadFileOrEmpty(dir + "/error.log"));
        return nullptr;
      }
    }
    return p;
  }
  ~FrontProxy() { redis_testing::StopChild(pid_, absl::Seconds(5)); }

  int strip_port() const { return strip_port_; }
  int host_port() const { return host_port_; }
  int tls_port() const { return tls_port_; }

 private:
  FrontProxy() = default;
  TempDir dir_;
  std::string log_;
  pid_t pid_ = -1;
  int strip_port_ = 0, host_port_ = 0, tls_port_ = 0;
};

// CliRun is what popguard-cli printed and its exit code.
struct CliRun {
  int exit_code = -1;
  std::string output;
};

// Path diagnostics through the real chains: popguard-cli probe (libcurl)
// sends the probe; each deliberate misconfiguration must be named in the
// report, and the correct chains must report no difference.
class DiagnosticsE2eTest : public GatewayE2eTest {
 protected:
  Gateway gateway() override { return Gateway::kCaddy; }

  static CliRun Probe(const std::string& url, const std::string& cert, bool json = true) {
    const Pki& pki = GetPki();
    std::string cmd = absl::StrCat(POPGUARD_BINARY_DIR, "/popguard-cli probe --url ", url,
                                   " --cacert ", pki.File("server.crt"));
    if (!cert.empty()) {
      absl::StrAppend(&cmd, " --cert ", pki.File(cert + ".crt"), " --key ",
                      pki.File(cert + ".key"));
    }
    if (json) absl::StrAppend(&cmd, " --json");
    CliRun run;
    FILE* f = popen((cmd + " 2>&1").c_str(), "r");
    if (f == nullptr) return run;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof(buf), f)) > 0;) run.output.append(buf, n);
    const int status = pclose(f);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
  }
};

TEST_F(DiagnosticsE2eTest, EachMisconfiguredHopIsNamed) {
  std::string error;
  auto front = FrontProxy::Start(Gateways()[Gateway::kCaddy]->port(),
                                 Gateways()[Gateway::kNginx]->port(), GetPki(), &error);
  ASSERT_NE(front, nullptr) << error;
  const int caddy = Gateways()[Gateway::kCaddy]->port();
  const int nginx = Gateways()[Gateway::kNginx]->port();
  const int nginx_tls = Gateways()[Gateway::kNginx]->tls_port();
  struct Case {
    std::string name;
    std::string url;
    std::string cert;
    std::vector<std::string> whats;  // the differences, in report order
    std::string finding;             // a substring of the first difference's finding
    std::string fix;                 // a substring of its fix
  };
  const std::vector<Case> cases = {
      {"correct chain: Caddy", absl::StrCat("http://127.0.0.1:", caddy, "/public/probe"), "", {},
       "", ""},
      {"correct chain: nginx (report in a header)",
       absl::StrCat("http://127.0.0.1:", nginx, "/public/probe?page=2"), "", {}, "", ""},
      {"correct chain: nginx with TLS and the client certificate",
       absl::StrCat("https://127.0.0.1:", nginx_tls, "/mtls/probe"), "client", {}, "", ""},
      {"TLS terminated before Caddy",
       absl::StrCat("https://127.0.0.1:", front->tls_port(), "/public/probe"), "", {"scheme"},
       "scheme https became http: TLS was terminated before popguard",
       absl::StrCat("set external_origin: https://127.0.0.1:", front->tls_port())},
      {"client certificate not forwarded (TLS ends before Caddy)",
       absl::StrCat("https://127.0.0.1:", front->tls_port(), "/public/probe"), "client",
       {"scheme", "client_certificate"}, "scheme https became http", "external_origin"},
      {"path prefix stripped",
       absl::StrCat("http://127.0.0.1:", front->strip_port(), "/api/public/probe"), "", {"path"},
       "path prefix /api was stripped before popguard", "$request_uri"},
      {"Host rewritten",
       absl::StrCat("http://127.0.0.1:", front->host_port(), "/public/probe"), "", {"host"},
       absl::StrCat("host 127.0.0.1:", front->host_port(),
                    " became backend.internal: a proxy rewrote the Host header"),
       "proxy_set_header Host $http_host"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const CliRun run = Probe(c.url, c.cert);
    ASSERT_EQ(run.exit_code, c.whats.empty() ? 0 : 1) << run.output << Diagnostics();
    auto report = ParseJson(run.output);
    ASSERT_TRUE(report.ok()) << run.output;
    std::vector<std::string> whats;
    for (const JsonValue& d : report->Find("differences")->array_items()) {
      whats.push_back(*d.FindString("what"));
    }
    EXPECT_EQ(whats, c.whats) << run.output;
    EXPECT_EQ(*report->FindString("api"), "forward_auth");
    if (c.whats.empty()) continue;
    const JsonValue& first = report->Find("differences")->array_items()[0];
    EXPECT_THAT(*first.FindString("finding"), HasSubstr(c.finding));
    EXPECT_THAT(*first.FindString("fix"), HasSubstr(c.fix));
    if (c.whats.size() > 1) {
      const JsonValue& second = report->Find("differences")->array_items()[1];
      EXPECT_EQ(*second.FindString("finding"), "client certificate not forwarded");
      EXPECT_THAT(*second.FindString("hop"), HasSubstr("between the client and the gateway"));
      EXPECT_THAT(*second.FindString("fix"), HasSubstr("the client's TLS ends before the gateway"));
    }
  }
  // A route without diagnostics: the probe is an ordinary (denied) request.
  const CliRun off = Probe(absl::StrCat("http://127.0.0.1:", caddy, "/dpop/probe"), "");
  EXPECT_EQ(off.exit_code, 2) << off.output;
  EXPECT_THAT(off.output, HasSubstr("no report; the answer was HTTP 401 reason token_missing"));
}

INSTANTIATE_TEST_SUITE_P(Gateways, GatewayE2eTest,
                         ::testing::Values(Gateway::kNginx, Gateway::kCaddy),
                         [](const auto& info) { return GatewayName(info.param); });

}  // namespace
}  // namespace popguard::e2e
