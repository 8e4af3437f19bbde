// Rollout readiness end to end (issue 16 part 2): the real binary gets a mix
// of bearer, DPoP, mTLS and failing requests on report-only and enforcing
// routes; GET /rollout, /metrics and `popguard-cli rollout` are then asserted
// exactly. Two more real replicas get each part of a mix, and `popguard-cli
// rollout --metrics A --metrics B` is asserted on the sum. Loopback only; the
// admin ports are picked by the kernel.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "service/common/json.h"
#include "tests/testing/admin_port.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using ::popguard::v1::VerifyResponse;

constexpr char kRolloutYaml[] =
    "metrics: {listen: \"127.0.0.1:0\"}\n"
    "rollout: {top_clients: 2, metric_clients: 2, ready_min_requests: 5,\n"
    "          ready_max_deny_ratio: 0.25}\n";
constexpr char kExtraRoutes[] =
    "  - {name: legacy, match: {path_prefix: /legacy}, binding: bearer, report_only: true}\n"
    "  - {name: beta, match: {path_prefix: /beta}, binding: bound, report_only: true}\n";

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

HttpSpec Bearer(const std::string& path, const std::string& client) {
  const std::string token = TestEnv::Get().issuer().MintToken({.client_id = client});
  return {.url = TestEnv::Url(path), .headers = {H("Authorization", "Bearer " + token)}};
}

// Dpop: a DPoP-bound token of `client` with a fresh proof (none: no DPoP header).
HttpSpec Dpop(const std::string& path, const std::string& client, bool with_proof = true) {
  TestEnv& env = TestEnv::Get();
  const PrivateKey& key = env.client_key(JwsAlg::kES256);
  const std::string token = env.issuer().MintToken({.client_id = client, .jkt = key.Thumbprint()});
  const std::string url = TestEnv::Url(path);
  HttpSpec spec{.url = url, .headers = {H("Authorization", "DPoP " + token)}};
  if (with_proof) {
    spec.headers.push_back(
        H("DPoP", MintProof(key, {.alg = JwsAlg::kES256, .url = url, .token = token})));
  }
  return spec;
}

// Mtls: a certificate-bound token of `client`, with the certificate or without.
HttpSpec Mtls(const std::string& path, const std::string& client, bool with_cert = true) {
  TestEnv& env = TestEnv::Get();
  const std::string token =
      env.issuer().MintToken({.client_id = client, .x5t = env.cert().thumbprint()});
  HttpSpec spec{.url = TestEnv::Url(path), .headers = {H("Authorization", "Bearer " + token)}};
  if (with_cert) {
    spec.cert_form = HttpSpec::CertForm::kPem;
    spec.cert = env.cert().pem();
  }
  return spec;
}

// OneShotHttpServer answers the first connection on a loopback port with
// `response` and closes; the thread is joined on destruction.
class OneShotHttpServer {
 public:
  explicit OneShotHttpServer(std::string response) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd_, 1) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, response = std::move(response)] {
      const int conn = accept(fd_, nullptr, nullptr);
      if (conn < 0) return;
      char buf[4096];
      (void)!read(conn, buf, sizeof(buf));
      (void)!write(conn, response.data(), response.size());
      close(conn);
    });
  }
  ~OneShotHttpServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept when no client came
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// ClosedLoopbackPort returns a loopback port that was free a moment ago and
// that nothing listens on now.
int ClosedLoopbackPort() {
  OneShotHttpServer probe("");  // closed again on return
  return probe.port();
}

// Report lines both traffic mixes give (popguard-cli rollout, --admin or
// --metrics): the routes whose counts are the same in either.
constexpr char kPublicReport[] =
    "route public (enforce, binding bearer): 1 request (bearer 0, dpop 0, mtls 0, dpop_mtls 0, "
    "failed 1)\n"
    "  failing now: token_missing 1\n"
    "  requiring dpop now would deny none of 1 request\n"
    "  requiring mtls now would deny none of 1 request\n"
    "  requiring bound now would deny none of 1 request\n"
    "  enforcing already\n";
constexpr char kLegacyAndBetaReport[] =
    "route legacy (report_only, binding bearer): 6 requests (bearer 5, dpop 0, mtls 1, "
    "dpop_mtls 0, failed 0)\n"
    "  requiring dpop now would deny 100.0 % of 6 requests, from these 2 clients: batch (4), "
    "tiny (1) and other clients (1)\n"
    "  requiring mtls now would deny 83.3 % of 6 requests, from these 2 clients: batch (4), "
    "tiny (1)\n"
    "  requiring bound now would deny 83.3 % of 6 requests, from these 2 clients: batch (4), "
    "tiny (1)\n"
    "  ready to enforce: enforcing now would deny 0.0 % of 6 requests\n"
    "route beta (report_only, binding bound): 1 request (bearer 0, dpop 1, mtls 0, "
    "dpop_mtls 0, failed 0)\n"
    "  requiring dpop now would deny none of 1 request\n"
    "  requiring mtls now would deny 100.0 % of 1 request, from 1 client: client-1 (1)\n"
    "  requiring bound now would deny none of 1 request\n"
    "  not ready: only 1 request (needs 5)\n";
// The rest of an enforcing route's lines that saw no request.
constexpr char kIdle[] =
    " (bearer 0, dpop 0, mtls 0, dpop_mtls 0, failed 0)\n"
    "  requiring dpop now would deny none of 0 requests\n"
    "  requiring mtls now would deny none of 0 requests\n"
    "  requiring bound now would deny none of 0 requests\n"
    "  enforcing already\n";

ProgramResult RunCli(const TempDir& dir, const std::vector<std::string>& args) {
  return RunProgram(std::string(POPGUARD_BINARY_DIR) + "/popguard-cli", args, dir.path());
}

class RolloutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = RunningServer::Start("rollout.yaml",
                                   {.extra_yaml = kRolloutYaml, .extra_routes_yaml = kExtraRoutes})
                  .release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->ok()) << server_->error();
    admin_port_ = static_cast<int>(LoggedInt(server_->process(), "metrics_listening", "port"));
    ASSERT_GT(admin_port_, 0) << server_->process().LogText();
  }

  // SendTraffic sends the mix the tests assert on, each request checked.
  static void SendTraffic() {
    struct Send {
      HttpSpec spec;
      std::string reason;
      bool report_only;
    };
    std::vector<Send> sends;
    auto add = [&sends](HttpSpec spec, const std::string& reason, int times = 1,
                        bool report_only = false) {
      for (int i = 0; i < times; ++i) sends.push_back({spec, reason, report_only});
    };
    add({.url = TestEnv::Url("/public/a")}, "token_missing");
    // shadow: report-only, binding dpop.
    add(Bearer("/shadow/a", "legacy-app"), "binding_required", 2, true);
    for (int i = 0; i < 3; ++i) add(Dpop("/shadow/a", "client-1"), "ok");
    add(Dpop("/shadow/a", "client-1", /*with_proof=*/false), "dpop_proof_missing", 1, true);
    // legacy: report-only, binding bearer; top_clients 2, so "tiny" takes
    // the slot of "pay" (the smallest) and "pay"'s request becomes "others".
    add(Bearer("/legacy/a", "batch"), "ok", 4);
    add(Mtls("/legacy/a", "pay"), "ok");
    add(Bearer("/legacy/a", "tiny"), "ok");
    // beta: report-only, binding bound, too few requests to judge.
    add(Dpop("/beta/a", "client-1"), "ok");
    // mtls: enforcing, binding mtls.
    add(Mtls("/mtls/a", "pay"), "ok", 2);
    add(Mtls("/mtls/a", "pay", /*with_cert=*/false), "mtls_cert_missing");
    add(Bearer("/mtls/a", "batch"), "binding_required");
    // default: no route matches; default_binding bound, enforcing.
    add(Bearer("/other", "batch"), "binding_required");
    for (size_t i = 0; i < sends.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("request ", i, " ", sends[i].spec.url));
      const VerifyResponse r = server_->Verify(sends[i].spec);
      EXPECT_EQ(r.reason_code(), sends[i].reason);
      EXPECT_EQ(r.report_only(), sends[i].report_only);
    }
  }

  static RunningServer* server_;
  int admin_port_ = 0;
};

RunningServer* RolloutTest::server_ = nullptr;

TEST_F(RolloutTest, ReportMetricsAndCliAgreeOnTheTraffic) {
  SendTraffic();

  // --- GET /rollout ---
  const HttpReply reply = HttpGet(admin_port_, "/rollout");
  ASSERT_EQ(reply.status, 200) << reply.head;
  EXPECT_NE(reply.head.find("application/json"), std::string::npos) << reply.head;
  absl::StatusOr<JsonValue> report = ParseJson(reply.body);
  ASSERT_TRUE(report.ok()) << report.status() << reply.body;
  auto route = [&report](const std::string& name) {
    for (const JsonValue& r : report->Find("routes")->array_items()) {
      if (*r.FindString("route") == name) return SerializeJson(r);
    }
    return std::string("missing");
  };
  EXPECT_EQ(
      route("legacy"),
      R"({"route":"legacy","mode":"report_only","binding":"bearer","requests":6,)"
      R"("arrivals":{"bearer":5,"dpop":0,"mtls":1,"dpop_mtls":0,"failed":0},"failures":{},)"
      R"("clients":[{"client":"batch","requests":4,"max_missed":0,"arrivals":{"bearer":4,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0}},)"
      R"({"client":"tiny","requests":1,"max_missed":1,"arrivals":{"bearer":1,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0}}],)"
      R"("other_clients":{"requests":1,"arrivals":{"bearer":0,"dpop":0,"mtls":1,"dpop_mtls":0,"failed":0}},)"
      R"("require":{"dpop":{"would_deny":6,"ratio":1,"clients":[{"client":"batch","requests":4},{"client":"tiny","requests":1}],"other_clients":1},)"
      R"("mtls":{"would_deny":5,"ratio":0.8333333333333334,"clients":[{"client":"batch","requests":4},{"client":"tiny","requests":1}],"other_clients":0},)"
      R"("bound":{"would_deny":5,"ratio":0.8333333333333334,"clients":[{"client":"batch","requests":4},{"client":"tiny","requests":1}],"other_clients":0}},)"
      R"("enforce":{"would_deny":0,"ratio":0,"status":"ready"}})");
  EXPECT_EQ(
      route("shadow"),
      R"({"route":"shadow","mode":"report_only","binding":"dpop","requests":6,)"
      R"("arrivals":{"bearer":2,"dpop":3,"mtls":0,"dpop_mtls":0,"failed":1},"failures":{"dpop_proof_missing":1},)"
      R"("clients":[{"client":"client-1","requests":4,"max_missed":0,"arrivals":{"bearer":0,"dpop":3,"mtls":0,"dpop_mtls":0,"failed":1}},)"
      R"({"client":"legacy-app","requests":2,"max_missed":0,"arrivals":{"bearer":2,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0}}],)"
      R"("other_clients":{"requests":0,"arrivals":{"bearer":0,"dpop":0,"mtls":0,"dpop_mtls":0,"failed":0}},)"
      R"("require":{"dpop":{"would_deny":2,"ratio":0.3333333333333333,"clients":[{"client":"legacy-app","requests":2}],"other_clients":0},)"
      R"("mtls":{"would_deny":5,"ratio":0.8333333333333334,"clients":[{"client":"client-1","requests":3},{"client":"legacy-app","requests":2}],"other_clients":0},)"
      R"("bound":{"would_deny":2,"ratio":0.3333333333333333,"clients":[{"client":"legacy-app","requests":2}],"other_clients":0}},)"
      R"("enforce":{"would_deny":3,"ratio":0.5,"status":"not_ready","why":"would_deny_too_many"}})");
  EXPECT_EQ(SerializeJson(*report->Find("readiness")),
            R"({"min_requests":5,"max_deny_ratio":0.25})");
  EXPECT_EQ(SerializeJson(*report->Find("unrouted")), R"({"requests":0,"failures":{}})");

  // --- /metrics: first-come labels, the rest as (others) ---
  const std::string metrics = HttpGet(admin_port_, "/metrics").body;
  const std::vector<std::pair<std::string, double>> samples = {
      {R"(popguard_rollout_requests_total{route="legacy",client="batch",arrival="bearer"})", 4},
      {R"(popguard_rollout_requests_total{route="legacy",client="pay",arrival="mtls"})", 1},
      {R"m(popguard_rollout_requests_total{route="legacy",client="(others)",arrival="bearer"})m",
       1},
      {R"(popguard_rollout_requests_total{route="shadow",client="legacy-app",arrival="bearer"})",
       2},
      {R"(popguard_rollout_requests_total{route="shadow",client="client-1",arrival="failed"})", 1},
      {R"m(popguard_rollout_requests_total{route="public",client="(unidentified)",arrival="failed"})m",
       1},
      {R"(popguard_rollout_requests_total{route="default",client="batch",arrival="bearer"})", 1},
  };
  for (const auto& [series, value] : samples) {
    EXPECT_EQ(MetricValue(metrics, series), value) << series << "\n" << metrics;
  }
  EXPECT_EQ(MetricValue(metrics, R"(popguard_rollout_requests_total{route="legacy",)"
                                 R"(client="tiny",arrival="bearer"})"),
            std::nullopt);

  // --- popguard-cli rollout ---
  TempDir dir;
  const ProgramResult cli =
      RunCli(dir, {"rollout", "--admin", absl::StrCat("http://127.0.0.1:", admin_port_)});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.err, "");
  EXPECT_EQ(
      cli.out,
      std::string(kPublicReport) +
          "route mtls (enforce, binding mtls): 4 requests (bearer 1, dpop 0, mtls 2, dpop_mtls 0, "
          "failed 1)\n"
          "  failing now: mtls_cert_missing 1\n"
          "  requiring dpop now would deny 75.0 % of 4 requests, from these 2 clients: pay (2), "
          "batch (1)\n"
          "  requiring mtls now would deny 25.0 % of 4 requests, from 1 client: batch (1)\n"
          "  requiring bound now would deny 25.0 % of 4 requests, from 1 client: batch (1)\n"
          "  enforcing already\n"
          "route dpop (enforce, binding dpop): 0 requests" +
          kIdle + "route admin (enforce, binding bound): 0 requests" + kIdle +
          "route shadow (report_only, binding dpop): 6 requests (bearer 2, dpop 3, mtls 0, "
          "dpop_mtls 0, failed 1)\n"
          "  failing now: dpop_proof_missing 1\n"
          "  requiring dpop now would deny 33.3 % of 6 requests, from 1 client: legacy-app (2)\n"
          "  requiring mtls now would deny 83.3 % of 6 requests, from these 2 clients: client-1 "
          "(3), "
          "legacy-app (2)\n"
          "  requiring bound now would deny 33.3 % of 6 requests, from 1 client: legacy-app (2)\n"
          "  not ready: enforcing now would deny 50.0 % of 6 requests (limit 25.0 %)\n" +
          kLegacyAndBetaReport +
          "route default (enforce, binding bound): 1 request (bearer 1, dpop 0, mtls 0, dpop_mtls "
          "0, "
          "failed 0)\n"
          "  requiring dpop now would deny 100.0 % of 1 request, from 1 client: batch (1)\n"
          "  requiring mtls now would deny 100.0 % of 1 request, from 1 client: batch (1)\n"
          "  requiring bound now would deny 100.0 % of 1 request, from 1 client: batch (1)\n"
          "  enforcing already\n"
          "ready to enforce: legacy\n");
}

TEST_F(RolloutTest, CliNamesAnUnreachableOrForeignAdminPort) {
  TempDir dir;
  const int closed_port = ClosedLoopbackPort();
  OneShotHttpServer not_found("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  OneShotHttpServer foreign_json(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
      "{\"hello\":1}");
  OneShotHttpServer not_json("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  struct Case {
    std::string name;
    std::string admin;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"not http", "https://127.0.0.1:1",
       "--admin must be http://HOST:PORT (popguard's metrics.listen)"},
      {"with a path", "http://127.0.0.1:1/rollout",
       "--admin must be http://HOST:PORT (popguard's metrics.listen)"},
      {"nothing listens", absl::StrCat("http://127.0.0.1:", closed_port), "cannot read it: "},
      {"404", absl::StrCat("http://127.0.0.1:", not_found.port()),
       "GET /rollout answered HTTP 404; not a popguard admin port (of this version)?"},
      {"foreign JSON", absl::StrCat("http://127.0.0.1:", foreign_json.port()),
       "not a popguard rollout report (no valid \"readiness\")"},
      {"not JSON", absl::StrCat("http://127.0.0.1:", not_json.port()),
       "GET /rollout did not answer JSON; not a popguard admin port?"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ProgramResult r = RunCli(dir, {"rollout", "--admin", c.admin});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind(absl::StrCat("popguard-cli: rollout: ", c.admin, ": ", c.error), 0), 0u)
        << r.err;
  }
}

// Two replicas of the same config, each with its own memory replay window,
// read together through their /metrics.
class FleetRolloutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name : {"fleet-a.yaml", "fleet-b.yaml"}) {
      replicas_.push_back(RunningServer::Start(
                              name, {.extra_yaml = kRolloutYaml, .extra_routes_yaml = kExtraRoutes})
                              .release());
    }
  }
  static void TearDownTestSuite() {
    for (RunningServer* r : replicas_) delete r;
    replicas_.clear();
  }
  void SetUp() override {
    for (RunningServer* r : replicas_) {
      ASSERT_TRUE(r->ok()) << r->error();
      const int port = static_cast<int>(LoggedInt(r->process(), "metrics_listening", "port"));
      ASSERT_GT(port, 0) << r->process().LogText();
      metrics_urls_.push_back(absl::StrCat("http://127.0.0.1:", port, "/metrics"));
    }
  }

  static std::vector<RunningServer*> replicas_;
  std::vector<std::string> metrics_urls_;
};

std::vector<RunningServer*> FleetRolloutTest::replicas_;

TEST_F(FleetRolloutTest, MetricsOfTwoReplicasAreSummed) {
  struct Send {
    size_t replica;
    HttpSpec spec;
    std::string reason;
  };
  const std::vector<Send> sends = {
      {0, {.url = TestEnv::Url("/public/a")}, "token_missing"},
      {0, Bearer("/shadow/a", "legacy-app"), "binding_required"},
      {0, Bearer("/shadow/a", "legacy-app"), "binding_required"},
      {0, Dpop("/shadow/a", "client-1"), "ok"},
      {0, Dpop("/shadow/a", "client-1"), "ok"},
      {0, Dpop("/shadow/a", "client-1"), "ok"},
      {0, Bearer("/legacy/a", "batch"), "ok"},
      {0, Bearer("/legacy/a", "batch"), "ok"},
      {1, Bearer("/shadow/a", "legacy-app"), "binding_required"},
      {1, Dpop("/shadow/a", "client-1", /*with_proof=*/false), "dpop_proof_missing"},
      {1, Bearer("/legacy/a", "batch"), "ok"},
      {1, Bearer("/legacy/a", "batch"), "ok"},
      {1, Bearer("/legacy/a", "tiny"), "ok"},
      // metric_clients 2: on replica B "pay" is legacy's third client, (others).
      {1, Mtls("/legacy/a", "pay"), "ok"},
      {1, Dpop("/beta/a", "client-1"), "ok"},
  };
  for (size_t i = 0; i < sends.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("request ", i, " to replica ", sends[i].replica));
    EXPECT_EQ(replicas_[sends[i].replica]->Verify(sends[i].spec).reason_code(), sends[i].reason);
  }
  TempDir dir;
  const ProgramResult cli =
      RunCli(dir, {"rollout", "--metrics", metrics_urls_[0], "--metrics", metrics_urls_[1],
                   "--ready-min-requests", "5", "--ready-max-deny-ratio", "0.25"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.err, "");
  EXPECT_EQ(
      cli.out,
      std::string(kPublicReport) + "route mtls (enforce, binding mtls): 0 requests" + kIdle +
          "route dpop (enforce, binding dpop): 0 requests" + kIdle +
          "route admin (enforce, binding bound): 0 requests" + kIdle +
          "route shadow (report_only, binding dpop): 7 requests (bearer 3, dpop 3, mtls 0, "
          "dpop_mtls 0, failed 1)\n"
          "  failing now: dpop_proof_missing 1\n"
          "  requiring dpop now would deny 42.9 % of 7 requests, from 1 client: legacy-app (3)\n"
          "  requiring mtls now would deny 85.7 % of 7 requests, from these 2 clients: client-1 "
          "(3), "
          "legacy-app (3)\n"
          "  requiring bound now would deny 42.9 % of 7 requests, from 1 client: legacy-app (3)\n"
          "  not ready: enforcing now would deny 57.1 % of 7 requests (limit 25.0 %)\n" +
          kLegacyAndBetaReport + "route default (enforce, binding bound): 0 requests" + kIdle +
          "ready to enforce: legacy\n");

  // Each replica alone: the same route, its own share (legacy on B: 4 requests,
  // too few for 5).
  const ProgramResult b =
      RunCli(dir, {"rollout", "--metrics", metrics_urls_[1], "--ready-min-requests", "5"});
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.out.find("route legacy (report_only, binding bearer): 4 requests (bearer 3, dpop 0, "
                       "mtls 1, dpop_mtls 0, failed 0)\n"),
            std::string::npos)
      << b.out;
  EXPECT_NE(b.out.find("ready to enforce: none\n"), std::string::npos) << b.out;
}

TEST_F(FleetRolloutTest, CliNamesAnUnreachableOrForeignMetricsUrl) {
  TempDir dir;
  const int closed_port = ClosedLoopbackPort();
  OneShotHttpServer not_found("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  OneShotHttpServer html(
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 13\r\n\r\n<html></html>");
  OneShotHttpServer foreign(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\n"
      "# TYPE up gauge\nup 1\n");
  const std::string closed = absl::StrCat("http://127.0.0.1:", closed_port, "/metrics");
  const std::string missing = absl::StrCat("http://127.0.0.1:", not_found.port(), "/metrics");
  const std::string html_url = absl::StrCat("http://127.0.0.1:", html.port(), "/");
  const std::string foreign_url = absl::StrCat("http://127.0.0.1:", foreign.port(), "/metrics");
  const std::string& a = metrics_urls_[0];
  struct Case {
    std::string name;
    std::vector<std::string> args;
    std::string error;  // the start of stderr's one line
  };
  const std::vector<Case> cases = {
      {"both sources",
       {"--admin", "http://127.0.0.1:1", "--metrics", a},
       "popguard-cli: rollout: --admin and --metrics exclude each other"},
      {"no source", {}, "popguard-cli: rollout: needs --admin URL or --metrics URL"},
      {"thresholds with --admin",
       {"--admin", "http://127.0.0.1:1", "--ready-min-requests", "1"},
       "popguard-cli: rollout: --ready-min-requests and --ready-max-deny-ratio go with --metrics"},
      {"ratio out of range",
       {"--metrics", a, "--ready-max-deny-ratio", "2"},
       "popguard-cli: rollout: --ready-max-deny-ratio must be a number from 0 to 1"},
      {"not a URL",
       {"--metrics", "127.0.0.1:9090"},
       "popguard-cli: rollout: 127.0.0.1:9090: --metrics must be an http:// or https:// URL"},
      {"the same replica twice",
       {"--metrics", a, "--metrics", a},
       absl::StrCat("popguard-cli: rollout: ", a, ": --metrics given twice")},
      {"nothing listens, after a good one",
       {"--metrics", a, "--metrics", closed},
       absl::StrCat("popguard-cli: rollout: ", closed, ": cannot read it: ")},
      {"404",
       {"--metrics", missing},
       absl::StrCat("popguard-cli: rollout: ", missing, ": answered HTTP 404")},
      {"not Prometheus text",
       {"--metrics", html_url},
       absl::StrCat("popguard-cli: rollout: ", html_url,
                    ": not Prometheus text (line 1: expected a metric name, a comment or a "
                    "blank line)\n")},
      {"another program's metrics",
       {"--metrics", a, "--metrics", foreign_url},
       absl::StrCat("popguard-cli: rollout: ", foreign_url,
                    ": no popguard_rollout_requests_total family; not a popguard /metrics (or "
                    "its federation)?\n")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> args = {"rollout"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const ProgramResult r = RunCli(dir, args);
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind(c.error, 0), 0u) << r.err;
  }
}

}  // namespace
}  // namespace popguard::e2e
