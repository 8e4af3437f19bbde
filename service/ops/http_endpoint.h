// HttpEndpoint: popguard's plain-HTTP listeners, served by cpp-httplib
// (Debian's libcpp-httplib): the small one for /metrics, /healthz and /readyz
// (config metrics.listen, GET and HEAD only, a path handler) and the
// forward-auth listener (config forward_auth, service/server/forward_auth.h, every method, a
// request handler that sees the method, the raw target, the headers and the
// peer address).
//
// Connections are served concurrently by a small thread pool, one request per
// connection (Connection: close). Every read and write
// waits at most `io_timeout`, and the whole request (head read, handler,
// response written) must be done within `request_deadline` of the moment a
// thread takes the connection, so a client that dribbles bytes holds one pool
// thread for at most that long while the others keep answering. The listener
// does not set SO_REUSEPORT: an address in use is a start-up error. With
// Options::max_queued, connections beyond the threads and that many waiting
// are answered Options::shed_response on the accepting thread, without
// reading them (shedding at the door). The metrics port carries no secrets (metrics are aggregates
// without tokens or keys) but should stay on a pod-internal network; it does not speak TLS. The
// forward-auth listener may (Options::tls): the handshake and every TLS record are bound by the
// same io_timeout and request_deadline as the plaintext reads.
#ifndef POPGUARD_SERVICE_HTTP_ENDPOINT_H_
#define POPGUARD_SERVICE_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace httplib {
class Server;
}

namespace popguard {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

// HttpRequestView is one request as a RequestHandler sees it.
struct HttpRequestView {
  std::string method;
  std::string target;  // the request target as sent (path and query, not decoded)
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string remote_ip;  // the peer's address ("127.0.0.1", "::1")
};

class HttpEndpoint {
 public:
  // Handler maps a request path (without the query) to a response; it runs
  // on one of the endpoint's threads, possibly on several at once.
  using Handler = std::function<HttpResponse(const std::string& path)>;
  // RequestHandler answers any method; same threading as Handler.
  using RequestHandler = std::function<HttpResponse(const HttpRequestView& request)>;

  struct Options {
    int threads = 4;
    absl::Duration io_timeout = absl::Seconds(2);
    absl::Duration request_deadline = absl::Seconds(5);
    // Connections accepted but not yet taken by a thread; more are shed. 0: no bound.
    size_t max_queued = 0;
    HttpResponse shed_response;           // what a shed connection gets
    size_t max_body_bytes = 64 << 10;     // a larger request body is refused (413)
    std::string what = "metrics.listen";  // the config key, for errors
    // TLS (PEM files); an empty cert_file serves plaintext. With
    // client_ca_file, a client must present a certificate from that CA or
    // the handshake fails.
    struct Tls {
      std::string cert_file;
      std::string key_file;
      std::string client_ca_file;
    } tls;
  };

  // Start binds `listen` (host:port; port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen,
                                                             Handler handler);
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen,
                                                             Handler handler,
                                                             const Options& options);
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> StartForRequests(const std::string& listen,
                                                                        RequestHandler handler,
                                                                        const Options& options);
  // The destructor closes the listener and waits for requests being served
  // (each is bounded by request_deadline).
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  class Impl;
  HttpEndpoint() = default;
  // Bind binds `listen`, lets `routes` register the handlers and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Bind(
      const std::string& listen, const Options& options,
      const std::function<void(httplib::Server&)>& routes);

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_HTTP_ENDPOINT_H_
