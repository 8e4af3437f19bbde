// HttpEndpoint: the small plain-HTTP listener for /metrics, /healthz and
// /readyz (config metrics.listen), served by cpp-httplib (Debian's
// libcpp-httplib).
//
// Connections are served concurrently by a small thread pool, one request per
// connection (Connection: close), GET and HEAD only. Every read and write
// waits at most `io_timeout`, and the whole request (head read, handler,
// response written) must be done within `request_deadline` of the moment a
// thread takes the connection, so a client that dribbles bytes holds one pool
// thread for at most that long while the others keep answering. The listener
// does not set SO_REUSEPORT: an address in use is a start-up error. This port
// carries no secrets (metrics are aggregates without tokens or keys) but should
// stay on a pod-internal network; it does not speak TLS.
#ifndef POPGUARD_SERVICE_HTTP_ENDPOINT_H_
#define POPGUARD_SERVICE_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popguard {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  // Handler maps a request path (without the query) to a response; it runs
  // on one of the endpoint's threads, possibly on several at once.
  using Handler = std::function<HttpResponse(const std::string& path)>;

  struct Options {
    int threads = 4;
    absl::Duration io_timeout = absl::Seconds(2);
    absl::Duration request_deadline = absl::Seconds(5);
  };

  // Start binds `listen` (host:port; port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen,
                                                             Handler handler);
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen,
                                                             Handler handler,
                                                             const Options& options);
  // The destructor closes the listener and waits for requests being served
  // (each is bounded by request_deadline).
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  class Impl;
  HttpEndpoint() = default;

  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::thread thread_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_HTTP_ENDPOINT_H_
