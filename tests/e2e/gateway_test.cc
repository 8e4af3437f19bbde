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

#include <yaml-cpp/yaml.h>
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

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

// Pki is a test CA; a server certificate it signed (CN and SAN localhost, SAN
// 127.0.0.1) for nginx, Caddy and popguard's forward-auth TLS; client
// certificates it signed ("client", "other", and "gateway" for a gateway
// talking to popguard); and a second, unrelated CA ("rogue-ca") with its own
// "rogue" certificate. Made with the openssl command line in a temp dir.
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
        absl::StrCat("openssl req -x509 ", ec, " -keyout ", d, "/rogue-ca.key -out ", d,
                     "/rogue-ca.crt -subj /CN=popguard-test-rogue-ca -days 2"),
    };
    // {name, CA, extra request options}
    const std::vector<std::vector<std::string>> leaves = {
        {"server", "ca", "-addext subjectAltName=DNS:localhost,IP:127.0.0.1"},
        {"client", "ca", ""},
        {"other", "ca", ""},
        {"gateway", "ca", ""},
        {"rogue", "rogue-ca", ""},
    };
    for (const auto& leaf : leaves) {
      const std::string& name = leaf[0];
      commands.push_back(
          absl::StrCat("openssl req ", ec, " -keyout ", d, "/", name, ".key -out ", d, "/", name,
                       ".csr -subj /CN=", name == "server" ? "localhost" : name, " ", leaf[2]));
      commands.push_back(absl::StrCat("openssl x509 -req -in ", d, "/", name, ".csr -CA ", d, "/",
                                      leaf[1], ".crt -CAkey ", d, "/", leaf[1],
                                      ".key -CAcreateserial -copy_extensions copy -out ", d, "/",
                                      name, ".crt -days 2"));
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
  return absl::StrCat("daemon off;\nmaster_process off;\nworker_processes 1;\npid ", dir,
                      "/nginx.pid;\n", "error_log ", dir, "/error.log info;\n",
                      "events { worker_connections 64; }\n", "http {\n  access_log off;\n",
                      "  client_body_temp_path ", dir, "/body;\n", "  proxy_temp_path ", dir,
                      "/proxy;\n", "  fastcgi_temp_path ", dir, "/fastcgi;\n", "  uwsgi_temp_path ",
                      dir, "/uwsgi;\n", "  scgi_temp_path ", dir, "/scgi;\n", "  include ",
                      site_path, ";\n}\n");
}

// GatewayProcess is nginx or Caddy, started from the example config.
class GatewayProcess {
 public:
  static std::unique_ptr<GatewayProcess> Start(Gateway g, int forward_auth_port, int upstream_port,
                                               const Pki& pki, std::string* error) {
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
      argv = {
          "nginx", "-p", dir, "-e", dir + "/error.log", "-c", p->dir_.Write("nginx.conf", conf)};
    } else {
      std::string site = ReadSource("examples/caddy/Caddyfile");
      site = Replace(site, "forward_auth 127.0.0.1:9002", "forward_auth " + popguard);
      site = Replace(site, "reverse_proxy 127.0.0.1:8081", "reverse_proxy " + app);
      site = Replace(site, "oauth-protected-resource* 127.0.0.1:9002",
                     "oauth-protected-resource* " + popguard);
      site = Replace(site, "\n:8080 {", absl::StrCat("\nhttp://127.0.0.1:", p->port_, " {"));
      argv = p->CaddyArgv(site);
    }
    const int port = p->port_;
    return Spawn(std::move(p), argv, port, GatewayName(g), error);
  }

  // StartCaddyMtls runs examples/caddy/Caddyfile.mtls: a TLS site on
  // tls_port() asking popguard's forward-auth listener over TLS at
  // `forward_auth_port`, with the certificates of `pki`.
  static std::unique_ptr<GatewayProcess> StartCaddyMtls(int forward_auth_port, int upstream_port,
                                                        const Pki& pki, std::string* error) {
    auto p = std::unique_ptr<GatewayProcess>(new GatewayProcess());
    p->tls_port_ = redis_testing::FreeLoopbackPort();
    std::string site = ReadSource("examples/caddy/Caddyfile.mtls");
    site = Replace(site, "https://localhost:8443 {",
                   absl::StrCat("https://localhost:", p->tls_port_, " {"));
    site = Replace(site, "https://127.0.0.1:9443",
                   absl::StrCat("https://127.0.0.1:", forward_auth_port));
    site = Replace(site, "reverse_proxy 127.0.0.1:8081",
                   absl::StrCat("reverse_proxy 127.0.0.1:", upstream_port));
    for (const auto& [from, to] :
         std::vector<std::pair<std::string, std::string>>{{"server.crt", "server.crt"},
                                                          {"server.key", "server.key"},
                                                          {"client-ca.crt", "ca.crt"},
                                                          {"popguard-ca.crt", "ca.crt"},
                                                          {"gateway.crt", "gateway.crt"},
                                                          {"gateway.key", "gateway.key"}}) {
      site = Replace(site, "/etc/caddy/tls/" + from, pki.File(to));
    }
    const std::vector<std::string> argv = p->CaddyArgv(site);
    const int port = p->tls_port_;
    return Spawn(std::move(p), argv, port, "caddy (mTLS)", error);
  }

  ~GatewayProcess() { redis_testing::StopChild(pid_, absl::Seconds(5)); }

  int port() const { return port_; }
  int tls_port() const { return tls_port_; }
  std::string Log() const {
    return ReadFileOrEmpty(log_) + ReadFileOrEmpty(dir_.path() + "/error.log");
  }

 private:
  GatewayProcess() = default;

  // CaddyArgv writes `site` under a global block (no admin endpoint, no
  // automatic certificates, state in the temp dir) and returns the command.
  std::vector<std::string> CaddyArgv(const std::string& site) {
    const std::string dir = dir_.path();
    const std::string conf = absl::StrCat(
        "{\n\tadmin off\n\tauto_https off\n\tstorage file_system ", dir, "/data\n}\n", site);
    return {"env",
            "HOME=" + dir,
            "XDG_DATA_HOME=" + dir + "/data",
            "XDG_CONFIG_HOME=" + dir + "/config",
            "caddy",
            "run",
            "--config",
            dir_.Write("Caddyfile", conf),
            "--adapter",
            "caddyfile"};
  }

  // Spawn starts `argv` and waits until `port` accepts connections.
  static std::unique_ptr<GatewayProcess> Spawn(std::unique_ptr<GatewayProcess> p,
                                               const std::vector<std::string>& argv, int port,
                                               const std::string& name, std::string* error) {
    p->log_ = p->dir_.path() + "/gateway.log";
    p->pid_ = redis_testing::SpawnChild(argv, p->log_);
    if (p->pid_ <= 0 || !WaitForPort(port, absl::Seconds(15))) {
      *error = absl::StrCat(name, " did not start: ", p->Log());
      return nullptr;
    }
    return p;
  }

  TempDir dir_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int tls_port_ = 0;  // nginx, and Caddy's mTLS site
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

Reply ParseHead(const std::string& head, Reply r) {
  std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
  if (!lines.empty() && lines[0].size() >= 12)
    (void)absl::SimpleAtoi(lines[0].substr(9, 3), &r.status);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    r.headers.emplace(absl::AsciiStrToLower(lines[i].substr(0, colon)),
                      std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
  }
  return r;
}

struct CurlOptions {
  std::string cert;  // client certificate of the Pki ("client", "rogue"); "": none
  std::string ca;    // the Pki's CA file that must have signed the server's ("ca.crt"); "": -k
  std::string scheme = "https";
};

// Curl makes one request with curl to scheme://localhost:port/path (resolved
// to 127.0.0.1). Reply::status is 0 when no HTTP answer came (a refused
// handshake, a certificate curl does not trust).
Reply Curl(const Pki& pki, int port, const std::string& path, const HeaderList& headers,
           const CurlOptions& o) {
  TempDir out;
  std::string cmd = absl::StrCat("curl -s --http1.1 --max-time 10 --resolve localhost:", port,
                                 ":127.0.0.1 -o ", out.path(), "/body -D ", out.path(), "/head");
  absl::StrAppend(&cmd, o.ca.empty() ? " -k" : " --cacert " + pki.File(o.ca));
  if (!o.cert.empty()) {
    absl::StrAppend(&cmd, " --cert ", pki.File(o.cert + ".crt"), " --key ",
                    pki.File(o.cert + ".key"));
  }
  for (const auto& [k, v] : headers) absl::StrAppend(&cmd, " -H '", k, ": ", v, "'");
  absl::StrAppend(&cmd, " ", o.scheme, "://localhost:", port, path);
  Reply r;
  if (std::system(cmd.c_str()) != 0) return r;
  r.body = ReadFileOrEmpty(out.path() + "/body");
  return ParseHead(ReadFileOrEmpty(out.path() + "/head"), std::move(r));
}

// StartPopguardAndUpstream starts popguard with `config` (which has a
// forward_auth listener; its port goes to *fa_port) and a plaintext upstream
// answering 200 on `routes`. Returns "" or what went wrong.
std::string StartPopguardAndUpstream(const std::string& config,
                                     std::initializer_list<const char*> routes,
                                     std::unique_ptr<PopguardProcess>* popguard,
                                     std::unique_ptr<testserver::HttpsTestServer>* upstream,
                                     int* fa_port) {
  auto started = PopguardProcess::Start(config);
  if (!started.ok()) return std::string(started.status().message());
  *popguard = *std::move(started);
  *fa_port = LoggedPort(**popguard, "forward_auth_listening");
  if (*fa_port == 0) return "no forward_auth_listening line: " + (*popguard)->LogText();
  auto server = testserver::HttpsTestServer::Start({.tls = false});
  if (!server.ok()) return std::string(server.status().message());
  *upstream = *std::move(server);
  for (const char* path : routes) {
    (*upstream)->SetRoute(path, testserver::HttpResponse::Reply(200, "upstream\n"));
  }
  return "";
}

// SuiteProcesses is one test suite's shared state, kept in statics from
// SetUpTestSuite to TearDownTestSuite: the first error, the Pki (its temp
// dir outlives every gateway), popguard and the upstream. `Tag` tells the
// suites apart.
template <typename Tag>
struct SuiteProcesses {
  static std::string& Error() {
    static std::string e;
    return e;
  }
  static Pki& GetPki() {
    static Pki* pki = new Pki();
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
};

class GatewayE2eTest : public ::testing::TestWithParam<Gateway>,
                       public SuiteProcesses<struct GatewaySuite> {
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
                                  "  answer_checks: true\n"
                                  "  resources:\n"
                                  "    - {resource: https://api.test/admin, routes: [admin]}\n"
                                  "    - {resource: https://api.test}\n"
                                  "metrics:\n"
                                  "  listen: 127.0.0.1:0\n"
                                  "diagnostics:\n"
                                  "  enabled: true\n"
                                  "  routes: [public, mtls]\n"
                                  "  burst: 100\n"});
    int fa_port = 0;
    Error() = StartPopguardAndUpstream(config, {"/public", "/dpop", "/admin", "/mtls"}, &Popguard(),
                                       &Upstream(), &fa_port);
    if (!Error().empty()) return;
    MetricsPort() = LoggedPort("metrics_listening");
    if (MetricsPort() == 0) {
      Error() = "no metrics_listening line: " + Popguard()->LogText();
      return;
    }
    if (std::string e = GetPki().Make(); !e.empty()) {
      Error() = e;
      return;
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
  // LoggedPort returns the "port" of popguard's first log line with `event`.
  static int LoggedPort(const std::string& event) {
    return popguard::e2e::LoggedPort(*Popguard(), event);
  }
  static int& MetricsPort() {
    static int port = 0;
    return port;
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
    return Curl(GetPki(), Gateways()[Gateway::kNginx]->tls_port(), path, headers, {.cert = cert});
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
                  {"X-Popguard-Binding", "mtls"},
                  {"X-Popguard-Issuer", "https://partner.example"}});
  ASSERT_EQ(r.status, 200) << r.body << Diagnostics();
  ASSERT_EQ(Upstream()->RequestCount("/public"), before + 1);
  const testserver::HttpRequest got = Upstream()->LastRequest("/public");
  std::vector<std::string> sub, binding, scope, client, issuer;
  for (const auto& [k, v] : got.headers) {
    if (k == "x-popguard-issuer") issuer.push_back(v);
    if (k == "x-popguard-sub") sub.push_back(v);
    if (k == "x-popguard-binding") binding.push_back(v);
    if (k == "x-popguard-scope") scope.push_back(v);
    if (k == "x-popguard-client-id") client.push_back(v);
  }
  EXPECT_THAT(sub, ElementsAre("alice"));
  EXPECT_THAT(binding, ElementsAre("none"));
  EXPECT_THAT(scope, ElementsAre("read"));
  EXPECT_THAT(client, ElementsAre("client-1"));
  EXPECT_THAT(issuer, ElementsAre(env().issuer().iss()));  // the default headers carry it
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
      {"no credential", "/public", {{"X-Popguard-Sub", "mallory"}}, 401, "token_missing", "Bearer"},
      {"bearer on a DPoP route",
       "/dpop",
       {{"Authorization", "Bearer " + token}},
       401,
       "binding_required",
       "DPoP"},
      {"expired token",
       "/public",
       {{"Authorization",
         "Bearer " + env().issuer().MintToken({.iat = absl::Now() - absl::Hours(2)})}},
       401,
       "token_expired",
       "error=\"invalid_token\""},
      // 400 (nginx's auth_request would make it 500; the example puts it back).
      {"non-ASCII byte in a header popguard reads",
       "/public",
       {{"Authorization", "Bearer " + token}, {"DPoP", "caf\xc3\xa9"}},
       400,
       "request_header_invalid",
       "error=\"invalid_request\""},
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
  HttpReply metrics =
      HttpExchange(MetricsPort(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   absl::Seconds(5));
  ASSERT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body,
              HasSubstr("popguard_request_duration_seconds_count{api=\"forward_auth\"}"));
  EXPECT_THAT(metrics.body,
              Not(HasSubstr("popguard_request_duration_seconds_count{api=\"forward_auth\"} 0\n")));
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
  EXPECT_THAT(
      denied.Value("www-authenticate"),
      HasSubstr("resource_metadata=\"https://api.test/.well-known/oauth-protected-resource\""));
}

// Several resources (resource_metadata.resources): each document at its own
// path under the well-known prefix, and each route's challenge naming its
// resource's URL.
TEST_P(GatewayE2eTest, ProtectedResourceMetadataPerResource) {
  struct Case {
    std::string name;
    std::string path;  // the denied request's
    std::string metadata_path;
    std::string resource;
    std::string scopes;  // "" : no scopes_supported
  };
  const std::string wk = "/.well-known/oauth-protected-resource";
  const std::vector<Case> cases = {
      {"admin", "/admin", wk + "/admin", "https://api.test/admin", "[\"admin\"]"},
      {"every other route", "/dpop", wk, "https://api.test", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Reply doc = Send("GET", c.metadata_path, {});
    ASSERT_EQ(doc.status, 200) << doc.body << Diagnostics();
    EXPECT_THAT(doc.body, HasSubstr("{\"resource\":\"" + c.resource + "\","));
    if (c.scopes.empty()) {
      EXPECT_THAT(doc.body, Not(HasSubstr("scopes_supported")));
    } else {
      EXPECT_THAT(doc.body, HasSubstr("\"scopes_supported\":" + c.scopes));
    }
    Reply denied = Send("GET", c.path, {});
    EXPECT_EQ(denied.status, 401);
    EXPECT_EQ(denied.Value("x-popguard-reason"), "token_missing");
    EXPECT_THAT(denied.Value("www-authenticate"),
                HasSubstr("resource_metadata=\"https://api.test" + c.metadata_path + "\""));
  }
  // A path that is not exactly a metadata path is nobody's document.
  Reply other = Send("GET", wk + "/nope", {});
  EXPECT_EQ(other.status, 404) << other.body;
}

// ExpectMtlsOutcome checks the answer `r` to a request for /mtls: `status`
// and `reason` ("" for an allow, which reaches the upstream with binding
// mtls; a denial never reaches it). `before` is the upstream's count before.
void ExpectMtlsOutcome(testserver::HttpsTestServer& upstream, int before, const Reply& r,
                       int status, const std::string& reason, const std::string& diagnostics) {
  EXPECT_EQ(r.status, status) << r.body << diagnostics;
  EXPECT_EQ(r.Value("x-popguard-reason"), reason);
  if (reason.empty()) {
    ASSERT_EQ(upstream.RequestCount("/mtls"), before + 1);
    EXPECT_EQ(upstream.LastRequest("/mtls").Header("x-popguard-binding"), "mtls");
  } else {
    EXPECT_EQ(upstream.RequestCount("/mtls"), before);
  }
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
      {"forged header on the plain port",
       false,
       "",
       {{"X-Client-Cert", EnvoyUrlEncode(ReadFileOrEmpty(GetPki().File("client.crt")))}},
       401,
       "mtls_cert_missing"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HeaderList headers = auth;
    headers.insert(headers.end(), c.extra.begin(), c.extra.end());
    const int before = Upstream()->RequestCount("/mtls");
    Reply r = c.tls ? SendTls("/mtls", headers, c.cert) : Send("GET", "/mtls", headers);
    ExpectMtlsOutcome(*Upstream(), before, r, c.status, c.reason, Diagnostics());
  }
}

// The forward-auth /auth endpoint never answers with the metadata document,
// even with answer_checks on: a 200 there makes the gateway forward the
// request. Asked directly (as a gateway routing the path through
// auth_request would), it is an ordinary request, denied without a token.
TEST_F(NginxMtlsE2eTest, AuthEndpointNeverAnswersTheMetadataDocument) {
  const int fa_port = LoggedPort("forward_auth_listening");
  for (const std::string path :
       {"/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/admin"}) {
    SCOPED_TRACE(path);
    HttpReply r = HttpExchange(
        fa_port,
        absl::StrCat("GET /auth HTTP/1.1\r\nHost: popguard\r\nConnection: close\r\n"
                     "X-Original-Method: GET\r\nX-Original-URI: ",
                     path, "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: api.test\r\n\r\n"),
        absl::Seconds(10));
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_THAT(r.head, HasSubstr("token_missing"));
    EXPECT_THAT(r.body, Not(HasSubstr("authorization_servers")));
  }
}

// TLS on the forward-auth listener (forward_auth.tls with client_ca_file)
// and Caddy terminating client mTLS (examples/caddy/Caddyfile.mtls): Caddy
// verifies the client's certificate, passes it to popguard in X-Client-Cert
// (der_base64) and talks to popguard over TLS with its own certificate.
class CaddyMtlsE2eTest : public ::testing::Test, public SuiteProcesses<struct CaddyMtlsSuite> {
 protected:
  static void SetUpTestSuite() {
    if (std::string e = GetPki().Make(); !e.empty()) {
      Error() = e;
      return;
    }
    const Pki& pki = GetPki();
    const std::string config = TestEnv::Get().WriteConfig(
        "gateway-tls", {.extra_yaml = absl::StrCat("forward_auth:\n"
                                                   "  listen: 127.0.0.1:0\n"
                                                   "  trusted_sources: [127.0.0.1/32]\n"
                                                   "  client_cert_header: x-client-cert\n"
                                                   "  client_cert_format: der_base64\n"
                                                   "  tls:\n"
                                                   "    cert_file: ",
                                                   pki.File("server.crt"),
                                                   "\n"
                                                   "    key_file: ",
                                                   pki.File("server.key"),
                                                   "\n"
                                                   "    client_ca_file: ",
                                                   pki.File("ca.crt"), "\n")});
    Error() =
        StartPopguardAndUpstream(config, {"/mtls"}, &Popguard(), &Upstream(), &ForwardAuthPort());
    if (!Error().empty()) return;
    std::string error;
    Caddy() = GatewayProcess::StartCaddyMtls(ForwardAuthPort(), Upstream()->port(), pki, &error);
    if (Caddy() == nullptr) Error() = error;
  }
  static void TearDownTestSuite() {
    Caddy().reset();
    Upstream().reset();
    Popguard().reset();
  }
  static int& ForwardAuthPort() {
    static int port = 0;
    return port;
  }
  static std::unique_ptr<GatewayProcess>& Caddy() {
    static std::unique_ptr<GatewayProcess> c;
    return c;
  }

  void SetUp() override { ASSERT_THAT(Error(), IsEmpty()); }

  std::string Diagnostics() {
    return absl::StrCat("\n--- popguard ---\n", Popguard()->LogText(), "\n--- caddy ---\n",
                        Caddy()->Log());
  }
};

TEST_F(CaddyMtlsE2eTest, MtlsBoundTokenWithTheCertificateCaddyVerified) {
  const Pki& pki = GetPki();
  const std::string token = TestEnv::Get().issuer().MintToken({.x5t = pki.Thumbprint("client")});
  const std::string client_der_b64 = [&] {
    auto der = CertificateDer(ReadFileOrEmpty(pki.File("client.crt")));
    return der.ok() ? absl::Base64Escape(*der) : std::string();
  }();
  ASSERT_FALSE(client_der_b64.empty());
  struct Case {
    std::string name;
    std::string cert;  // the client's TLS certificate ("" none)
    HeaderList extra;
    int status;
    std::string reason;  // "" for an allow
  };
  const std::vector<Case> cases = {
      {"the bound certificate", "client", {}, 200, ""},
      {"another certificate of the same CA", "other", {}, 401, "mtls_thumbprint_mismatch"},
      {"no certificate", "", {}, 401, "mtls_cert_missing"},
      // The client's own X-Client-Cert never reaches popguard: header_up
      // replaces it (with nothing, or with the certificate Caddy verified).
      {"forged header without a certificate",
       "",
       {{"X-Client-Cert", client_der_b64}},
       401,
       "mtls_cert_missing"},
      {"forged header with another certificate",
       "other",
       {{"X-Client-Cert", client_der_b64}},
       401,
       "mtls_thumbprint_mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    HeaderList headers = {{"Authorization", "Bearer " + token}};
    headers.insert(headers.end(), c.extra.begin(), c.extra.end());
    const int before = Upstream()->RequestCount("/mtls");
    Reply r = Curl(pki, Caddy()->tls_port(), "/mtls", headers, {.cert = c.cert, .ca = "ca.crt"});
    ExpectMtlsOutcome(*Upstream(), before, r, c.status, c.reason, Diagnostics());
  }
  // A certificate from another CA is refused by Caddy's client_auth itself.
  Reply rogue = Curl(pki, Caddy()->tls_port(), "/mtls", {{"Authorization", "Bearer " + token}},
                     {.cert = "rogue", .ca = "ca.crt"});
  EXPECT_EQ(rogue.status, 0) << rogue.body;
}

// The forward-auth listener itself over TLS: only a peer with a certificate
// from forward_auth.tls.client_ca_file gets to send a request; a client that
// trusts another CA refuses popguard's certificate; plaintext gets nothing.
TEST_F(CaddyMtlsE2eTest, ForwardAuthListenerTlsRefusesWrongOrMissingCertificates) {
  struct Case {
    std::string name;
    CurlOptions options;
    int status;  // 0: no HTTP answer
  };
  const std::vector<Case> cases = {
      {"gateway certificate from the client CA", {.cert = "gateway", .ca = "ca.crt"}, 400},
      {"no client certificate", {.ca = "ca.crt"}, 0},
      {"client certificate from another CA", {.cert = "rogue", .ca = "ca.crt"}, 0},
      {"client trusting another CA", {.cert = "gateway", .ca = "rogue-ca.crt"}, 0},
      {"plaintext HTTP", {.scheme = "http"}, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    // /auth without the forwarded headers: a 400 shows a request was read.
    Reply r = Curl(GetPki(), ForwardAuthPort(), "/auth", {}, c.options);
    EXPECT_EQ(r.status, c.status) << r.body;
    if (c.status != 0) EXPECT_EQ(r.Value("x-popguard-reason"), "forwarded_header_invalid");
  }
  // The listener still answers after the refused handshakes.
  EXPECT_EQ(
      Curl(GetPki(), ForwardAuthPort(), "/auth", {}, {.cert = "gateway", .ca = "ca.crt"}).status,
      400);
}

// Traefik cannot run here: its example is checked against what the tested
// gateways do, so the three cannot drift apart (endpoint, identity headers
// copied = popguard's default upstream_headers, forwarded headers not taken
// from the client).
TEST(TraefikExampleTest, MatchesPopguardsForwardAuthContract) {
  const YAML::Node root =
      YAML::LoadFile(std::string(POPGUARD_SOURCE_DIR) + "/examples/traefik/dynamic.yaml");
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
        "server {\n  listen 127.0.0.1:", p->tls_port_, " ssl;\n", "  ssl_certificate ",
        pki.File("server.crt"), ";\n", "  ssl_certificate_key ", pki.File("server.key"), ";\n",
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
                                   " --cacert ", pki.File("ca.crt"));
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
      {"correct chain: Caddy",
       absl::StrCat("http://127.0.0.1:", caddy, "/public/probe"),
       "",
       {},
       "",
       ""},
      {"correct chain: nginx (report in a header)",
       absl::StrCat("http://127.0.0.1:", nginx, "/public/probe?page=2"),
       "",
       {},
       "",
       ""},
      {"correct chain: nginx with TLS and the client certificate",
       absl::StrCat("https://127.0.0.1:", nginx_tls, "/mtls/probe"),
       "client",
       {},
       "",
       ""},
      {"TLS terminated before Caddy",
       absl::StrCat("https://127.0.0.1:", front->tls_port(), "/public/probe"),
       "",
       {"scheme"},
       "scheme https became http: TLS was terminated before popguard",
       absl::StrCat("set external_origin: https://127.0.0.1:", front->tls_port())},
      {"client certificate not forwarded (TLS ends before Caddy)",
       absl::StrCat("https://127.0.0.1:", front->tls_port(), "/public/probe"),
       "client",
       {"scheme", "client_certificate"},
       "scheme https became http",
       "external_origin"},
      {"path prefix stripped",
       absl::StrCat("http://127.0.0.1:", front->strip_port(), "/api/public/probe"),
       "",
       {"path"},
       "path prefix /api was stripped before popguard",
       "$request_uri"},
      {"Host rewritten",
       absl::StrCat("http://127.0.0.1:", front->host_port(), "/public/probe"),
       "",
       {"host"},
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
