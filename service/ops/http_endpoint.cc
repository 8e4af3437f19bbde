#include "service/ops/http_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/common/openssl_util.h"

namespace popguard {
namespace {

// DeadlineStream is one connection's socket as httplib reads and writes it:
// each wait for the socket is bounded by the per-operation timeout and by
// what is left of the whole-request deadline. httplib's own timeouts are per
// read, so a client sending one byte just before each one expires could
// otherwise hold the thread for as long as the header size cap allows.
class DeadlineStream : public httplib::Stream {
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

 protected:
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

// TlsDeadlineStream is DeadlineStream over TLS: the socket is non-blocking
// and every wait OpenSSL asks for (WANT_READ, WANT_WRITE) goes through the
// same bounded Wait, so a peer that stalls the handshake or a record holds the
// thread no longer than a plaintext one would.
class TlsDeadlineStream final : public DeadlineStream {
 public:
  TlsDeadlineStream(int fd, SSL* ssl, absl::Duration io_timeout, absl::Time deadline)
      : DeadlineStream(fd, io_timeout, deadline), ssl_(ssl) {}

  // Handshake runs the server side of the handshake; false when it fails
  // (a client certificate missing or not from client_ca_file, no common
  // protocol, a timeout).
  bool Handshake() {
    return Drive([this] { return SSL_accept(ssl_); }) > 0;
  }

  bool is_readable() const override { return SSL_pending(ssl_) > 0 || Wait(POLLIN); }

  ssize_t read(char* ptr, size_t size) override {
    const int n = static_cast<int>(std::min<size_t>(size, 1 << 20));
    return Drive([&] { return SSL_read(ssl_, ptr, n); });
  }

  ssize_t write(const char* ptr, size_t size) override {
    const int n = static_cast<int>(std::min<size_t>(size, 1 << 20));
    return Drive([&] { return SSL_write(ssl_, ptr, n); });
  }

 private:
  // Drive repeats `op` while OpenSSL waits for the socket: its result when
  // positive, 0 on the peer's close_notify, -1 on an error or a timeout.
  template <typename Op>
  int Drive(Op op) {
    while (true) {
      ERR_clear_error();
      const int n = op();
      if (n > 0) return n;
      switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ:
          if (!Wait(POLLIN)) return -1;
          break;
        case SSL_ERROR_WANT_WRITE:
          if (!Wait(POLLOUT)) return -1;
          break;
        case SSL_ERROR_ZERO_RETURN:
          return 0;
        default:
          return -1;
      }
    }
  }

  SSL* const ssl_;
};

// NewServerTlsContext loads the listener's certificate, key and optional
// client CA. TLS 1.2 is the floor, renegotiation is off.
absl::StatusOr<SslCtxPtr> NewServerTlsContext(const HttpEndpoint::Options& options) {
  ErrorQueueGuard clear_errors;
  const auto& tls = options.tls;
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  auto fail = [&](const std::string& file, const char* what) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.what, ": ", file, " ", what, " (",
                     ERR_reason_error_string(ERR_peek_last_error()) != nullptr
                         ? ERR_reason_error_string(ERR_peek_last_error())
                         : "unknown error",
                     ")"));
  };
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1) {
    return fail(tls.cert_file, "is not a PEM certificate chain");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail(tls.key_file, "is not the PEM private key of the certificate");
  }
  if (!tls.client_ca_file.empty()) {
    // Security: with a client CA the gateway must authenticate itself; a
    // peer without a certificate from this CA never gets to send a request.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (names == nullptr ||
        SSL_CTX_load_verify_locations(ctx.get(), tls.client_ca_file.c_str(), nullptr) != 1) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      return fail(tls.client_ca_file, "is not a PEM CA bundle");
    }
    SSL_CTX_set_client_CA_list(ctx.get(), names);  // takes ownership
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

// Set while a connection is being shed: BoundedQueue runs its job on the
// accepting thread with this flag up, and Impl then answers it at once.
thread_local bool shedding = false;

// BoundedQueue is httplib's thread pool with a bound on the connections that
// wait for a thread. httplib's own pool queues without limit, so a burst
// would wait (each connection's deadline only starts when a thread takes it)
// until the gateway gave up; beyond the bound a connection is shed instead.
class BoundedQueue final : public httplib::TaskQueue {
 public:
  BoundedQueue(int threads, size_t max_queued) : pool_(threads), max_queued_(max_queued) {}

  void enqueue(std::function<void()> fn) override {
    if (max_queued_ > 0 && waiting_.load(std::memory_order_acquire) >= max_queued_) {
      shedding = true;
      fn();  // Impl::process_and_close_socket answers shed_response and closes
      shedding = false;
      return;
    }
    waiting_.fetch_add(1, std::memory_order_acq_rel);
    pool_.enqueue([this, fn = std::move(fn)] {
      waiting_.fetch_sub(1, std::memory_order_acq_rel);
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  const size_t max_queued_;
  std::atomic<size_t> waiting_{0};
};

std::string SerializeShedResponse(const HttpResponse& r) {
  std::string out =
      absl::StrCat("HTTP/1.1 ", r.status, " ", r.status == 503 ? "Service Unavailable" : "Error",
                   "\r\nContent-Type: ", r.content_type, "\r\nContent-Length: ", r.body.size(),
                   "\r\nConnection: close\r\n");
  for (const auto& [k, v] : r.headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  absl::StrAppend(&out, "\r\n", r.body);
  return out;
}

}  // namespace

class HttpEndpoint::Impl final : public httplib::Server {
 public:
  Impl(const HttpEndpoint::Options& options, SslCtxPtr tls)
      : options_(options),
        shed_bytes_(SerializeShedResponse(options.shed_response)),
        tls_(std::move(tls)) {}

 private:
  // httplib calls this (virtually) on a pool thread for every accepted
  // connection; serving it through DeadlineStream is what bounds it.
  bool process_and_close_socket(socket_t sock) override {
    if (shedding && tls_ != nullptr) {
      // A plaintext answer means nothing inside TLS, and a handshake on the
      // accepting thread could wait: the connection is closed at once (the
      // gateway sees a failed connection and fails closed).
      close(sock);
      return true;
    }
    if (shedding) {
      // On the accepting thread: never wait. Whatever of the request has
      // already arrived is read first (so closing does not reset the
      // connection before the client reads the answer), then the answer is
      // written if the socket takes it at once.
      char buf[8192];
      while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
      }
      (void)send(sock, shed_bytes_.data(), shed_bytes_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      shutdown(sock, SHUT_RDWR);
      close(sock);
      return true;
    }
    const absl::Time deadline = absl::Now() + options_.request_deadline;
    bool ok = false;
    if (tls_ == nullptr) {
      DeadlineStream stream(sock, options_.io_timeout, deadline);
      bool closed = false;
      ok = process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
    } else {
      ErrorQueueGuard clear_errors;
      SslPtr ssl(SSL_new(tls_.get()));
      if (ssl != nullptr && fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK) == 0 &&
          SSL_set_fd(ssl.get(), sock) == 1) {
        TlsDeadlineStream stream(sock, ssl.get(), options_.io_timeout, deadline);
        if (stream.Handshake()) {
          bool closed = false;
          ok = process_request(stream, /*close_connection=*/true, closed, [](httplib::Request&) {});
          SSL_shutdown(ssl.get());  // one close_notify, not waiting for the peer's
        }
      }
    }
    shutdown(sock, SHUT_RDWR);
    close(sock);
    return ok;
  }

  const HttpEndpoint::Options options_;
  const std::string shed_bytes_;
  const SslCtxPtr tls_;  // null: plaintext
};

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                                  Handler handler) {
  return Start(listen, std::move(handler), Options());
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& listen,
                                                                  Handler handler,
                                                                  const Options& options) {
  return Bind(listen, options, [handler = std::move(handler)](httplib::Server& srv) {
    srv.Get("[\\s\\S]*", [handler](const httplib::Request& req, httplib::Response& res) {
      HttpResponse r = handler(req.path);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      res.set_content(std::move(r.body), r.content_type.c_str());
    });
    auto only_get = [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_content("only GET and HEAD\n", "text/plain; charset=utf-8");
    };
    srv.Post(".*", only_get).Put(".*", only_get).Patch(".*", only_get).Delete(".*", only_get);
    srv.Options(".*", only_get);
  });
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::StartForRequests(
    const std::string& listen, RequestHandler handler, const Options& options) {
  return Bind(listen, options, [handler = std::move(handler)](httplib::Server& srv) {
    auto serve = [handler](const httplib::Request& req, httplib::Response& res) {
      HttpRequestView view;
      view.method = req.method;
      view.target = req.target;
      view.remote_ip = req.remote_addr;
      view.headers.reserve(req.headers.size());
      for (const auto& [k, v] : req.headers) {
        // httplib adds these itself; they are not the client's.
        if (k == "REMOTE_ADDR" || k == "REMOTE_PORT" || k == "LOCAL_ADDR" || k == "LOCAL_PORT") {
          continue;
        }
        view.headers.emplace_back(absl::AsciiStrToLower(k), v);
      }
      HttpResponse r = handler(view);
      res.status = r.status;
      for (const auto& [k, v] : r.headers) res.set_header(k, v);
      res.set_content(std::move(r.body), r.content_type.c_str());
    };
    // Every path, newlines (decoded %0A) included.
    const char* kAny = "[\\s\\S]*";
    srv.Get(kAny, serve).Post(kAny, serve).Put(kAny, serve).Patch(kAny, serve);
    srv.Delete(kAny, serve).Options(kAny, serve);
  });
}

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Bind(
    const std::string& listen, const Options& options,
    const std::function<void(httplib::Server&)>& routes) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(options.what, " \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";

  SslCtxPtr tls;
  if (!options.tls.cert_file.empty()) {
    absl::StatusOr<SslCtxPtr> ctx = NewServerTlsContext(options);
    if (!ctx.ok()) return ctx.status();
    tls = *std::move(ctx);
  }
  auto ep = std::unique_ptr<HttpEndpoint>(new HttpEndpoint());
  ep->impl_ = std::make_unique<Impl>(options, std::move(tls));
  Impl& srv = *ep->impl_;
  const int threads = std::max(1, options.threads);
  const size_t max_queued = options.max_queued;
  srv.new_task_queue = [threads, max_queued] { return new BoundedQueue(threads, max_queued); };
  // httplib's default also sets SO_REUSEPORT, which would let a second
  // process bind the same port and take half of the probes and scrapes.
  srv.set_socket_options([](socket_t sock) {
    int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  srv.set_payload_max_length(options.max_body_bytes);
  routes(srv);

  errno = 0;
  const int bound =
      port == 0 ? srv.bind_to_any_port(host) : (srv.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen, " (", options.what,
        "): ", errno != 0 ? std::strerror(errno) : "the address is in use or not of this host"));
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
