#include "service/ops/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace popguard {
namespace {

// DeadlineStream is one connection's socket as httplib reads and writes it:
// each wait for the socket is bounded by the per-operation timeout and by
// what is left of the whole-request deadline. httplib's own timeouts are per
// read, so a client sending one byte just before each one expires could
// otherwise hold the thread for as long as the header size cap allows.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int fd, absl::Duration io_timeout, absl::Time deadline)
      : fd_(fd), io_timeout_(io_timeout), deadline_(deadline) {}

  bool is_readable() const override { return Wait(POLLIN); }
  bool is_writable() const override { return Wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (!Wait(POLLIN)) return -1;
    ssize_t n;
    do {
      n = recv(fd_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!Wait(POLLOUT)) return -1;
    ssize_t n;
    do {
      n = send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

 private:
  bool Wait(short events) const {
    while (true) {
      const absl::Duration left = std::min(io_timeout_, deadline_ - absl::Now());
      if (left <= absl::ZeroDuration()) return false;
      pollfd p{fd_, events, 0};
      const int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // timeout or error
      // Readable also when the peer closed: recv then returns 0.
      return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    }
  }

  template <typename Fn>
  void Address(Fn fn, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    ip.clear();
    port = 0;
    if (fn(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char buf[INET6_ADDRSTRLEN] = {0};
    if (addr.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
      port = ntohs(a->sin6_port);
    } else if (addr.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
      port = ntohs(a->sin_port);
    }
    ip = buf;
  }

  const int fd_;
  const absl::Duration io_timeout_;
  const absl::Time deadline_;
};

}  // namespace

class HttpEndpoint::Impl final : public httplib::Server {
 public:
  explicit Impl(const HttpEndpoint::Options& options) : options_(options) {}

 private:
  // httplib calls this (virtually) on a pool thread for every accepted
  // connection; serving it through DeadlineStream is what bounds it.
  bool process_and_close_socket(socket_t sock) override {
    DeadlineStream stream(sock, options_.io_timeout, absl::Now() + options_.request_deadline);
    bool closed = false;
    const bool ok = process_request(stream, /*close_connection=*/true, closed,
                                    [](httplib::Request&) {});
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  const HttpEndpoint::Options options_;
};

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                                  Handler handler) {
  return Start(listen, std::move(handler), Options());
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                                  Handler handler,
                                                                  const Options& options) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics.listen \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";

  auto ep = std::unique_ptr<HttpEndpoint>(new HttpEndpoint());
  ep->impl_ = std::make_unique<Impl>(options);
  Impl& srv = *ep->impl_;
  const int threads = std::max(1, options.threads);
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // process bind the same port and take half of the probes and scrapes.
  srv.set_socket_options([](socket_t sock) {
    int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  srv.set_payload_max_length(64 << 10);
  srv.Get(".*", [handler = std::move(handler)](const httplib::Request& req,
                                               httplib::Response& res) {
    HttpResponse r = handler(req.path);
    res.status = r.status;
    res.set_content(std::move(r.body), r.content_type.c_str());
  });
  auto only_get = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
  };
  srv.Post(".*", only_get).Put(".*", only_get).Patch(".*", only_get).Delete(".*", only_get);
  srv.Options(".*", only_get);

  errno = 0;
  const int bound =
      port == 0 ? srv.bind_to_any_port(host) : (srv.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen, " (metrics.listen): ",
        errno != 0 ? std::strerror(errno) : "the address is in use or not of this host"));
  }
  ep->port_ = bound;
  ep->thread_ = std::thread([p = ep->impl_.get()] { p->listen_after_bind(); });
  // httplib's stop() does nothing until the listening loop runs (it would
  // then accept forever), so the endpoint is handed out only once it does.
  while (!srv.is_running()) absl::SleepFor(absl::Milliseconds(1));
  return ep;
}

HttpEndpoint::~HttpEndpoint() {
  if (impl_ != nullptr) impl_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace popguard
