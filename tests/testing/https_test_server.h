// HttpsTestServer: a small HTTP/1.1 server on 127.0.0.1:<free port> for tests
// that fetch over real TLS (JWKS, discovery documents).
//
//   auto server = HttpsTestServer::Start();           // makes a CA and a cert
//   server->SetRoute("/jwks.json", HttpResponse::Reply(200, jwks).WithHeader("Cache-Control",
//   "max-age=600")); fetch server->Url("/jwks.json") trusting server->ca_file() ...
//   EXPECT_EQ(server->RequestCount("/jwks.json"), 1);
//
// At start it generates, with the OpenSSL API, an EC P-256 test CA and a
// server certificate for IP 127.0.0.1 and DNS localhost signed by it, and
// writes the CA certificate to a temporary PEM file (ca_file()) that is
// removed with the server. Options::tls = false serves plain HTTP instead.
//
// Each connection gets its own thread and one request (Connection: close).
// Responses come from per-path routes or handlers; unknown paths get 404.
// Everything is thread-safe; Stop (and the destructor) interrupts delayed
// responses and blocked connections and joins every thread.
#ifndef POPGUARD_TESTS_TESTING_HTTPS_TEST_SERVER_H_
#define POPGUARD_TESTS_TESTING_HTTPS_TEST_SERVER_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace popguard::testserver {

struct HttpRequest {
  std::string method;
  std::string target;                                        // e.g. "/jwks.json"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  // Header returns the first value of the (lower-case) header `name`, or "".
  std::string Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // added as given
  absl::Duration delay = absl::ZeroDuration();               // wait this long before answering
  // When non-empty, sent verbatim instead of a formatted response (for
  // malformed HTTP); the connection is closed after it.
  std::string raw;

  // Reply returns a response with `status` and `body`.
  static HttpResponse Reply(int status, std::string body);
  // Raw returns a response that sends `bytes` verbatim.
  static HttpResponse Raw(std::string bytes);
  // WithHeader / WithDelay return a copy with a header added / the delay set.
  HttpResponse WithHeader(std::string name, std::string value) const;
  HttpResponse WithDelay(absl::Duration d) const;
};

class HttpsTestServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  struct Options {
    bool tls = true;
  };

  // Start binds 127.0.0.1:0 and starts accepting.
  static absl::StatusOr<std::unique_ptr<HttpsTestServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<HttpsTestServer>> Start() { return Start(Options()); }

  HttpsTestServer(const HttpsTestServer&) = delete;
  HttpsTestServer& operator=(const HttpsTestServer&) = delete;
  ~HttpsTestServer();

  // Stop closes the listener and every connection and joins all threads.
  // Idempotent.
  void Stop();

  int port() const { return port_; }
  // Url returns "https://127.0.0.1:<port><path>" ("http://..." without TLS).
  std::string Url(std::string_view path) const;
  // ca_pem / ca_file: the test CA certificate (PEM) and the file holding it.
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& ca_file() const { return ca_file_; }

  // SetRoute answers requests for exactly `target` with `response`;
  // SetHandler computes the response per request. Either replaces the other.
  void SetRoute(const std::string& target, HttpResponse response);
  void SetHandler(const std::string& target, Handler handler);
  void RemoveRoute(const std::string& target);

  // RequestCount returns how many requests for `target` arrived (counted when
  // the request head has been read, before any delay).
  int RequestCount(const std::string& target) const;
  int TotalRequests() const;
  // LastRequest returns the latest request for `target` (empty if none).
  HttpRequest LastRequest(const std::string& target) const;

 private:
  struct Tls;  // OpenSSL context, owned
  HttpsTestServer() = default;
  void AcceptLoop();
  void Serve(int fd);
  HttpResponse Respond(const HttpRequest& request);

  int listen_fd_ = -1;
  int port_ = 0;
  bool tls_enabled_ = true;
  std::unique_ptr<Tls> tls_;
  std::string ca_pem_;
  std::string dir_;  // temporary directory holding ca_file_
  std::string ca_file_;
  std::thread accept_thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Handler> routes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> counts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, HttpRequest> last_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int> open_fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace popguard::testserver

#endif  // POPGUARD_TESTS_TESTING_HTTPS_TEST_SERVER_H_
