// HttpEndpoint: the small plain-HTTP listener for /metrics, /healthz and
// /readyz (config metrics.listen).
//
// One thread accepts and answers one request per connection (HTTP/1.0-style,
// Connection: close). Only GET and HEAD; the request head is capped at 8 KiB
// and must arrive within 2 s, so a slow or hostile client holds the thread
// for at most that long. This port carries no secrets (metrics are
// aggregates without tokens or keys) but should stay on a pod-internal
// network; it does not speak TLS.
#ifndef POPGUARD_SERVICE_HTTP_ENDPOINT_H_
#define POPGUARD_SERVICE_HTTP_ENDPOINT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace popguard {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoint {
 public:
  // Handler maps a request path (without the query) to a response; it runs
  // on the endpoint's thread.
  using Handler = std::function<HttpResponse(const std::string& path)>;

  // Start binds `listen` (host:port; port 0 picks one) and starts serving.
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& listen,
                                                             Handler handler);
  // The destructor stops the thread and closes the socket.
  ~HttpEndpoint();

  int port() const { return port_; }

 private:
  HttpEndpoint() = default;
  void Loop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int wake_fd_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
};

// StatusText returns the reason phrase for the few statuses the endpoint uses.
const char* HttpStatusText(int status);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_HTTP_ENDPOINT_H_
