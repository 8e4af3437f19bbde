#include "tests/testing/delay_proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <deque>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace popguard::testserver {
namespace {

int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DelayProxy>> DelayProxy::Start(int target_port,
                                                              absl::Duration delay) {
  std::unique_ptr<DelayProxy> proxy(new DelayProxy(target_port, delay));
  proxy->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (proxy->listen_fd_ < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // a free port, chosen by the kernel
  socklen_t len = sizeof(addr);
  if (bind(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(proxy->listen_fd_, 64) != 0 ||
      getsockname(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError("bind/listen on 127.0.0.1:0 failed");
  }
  proxy->port_ = ntohs(addr.sin_port);
  proxy->acceptor_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

DelayProxy::~DelayProxy() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // shutdown(2) wakes every thread blocked in accept/recv on these sockets.
    for (int fd : fds_) shutdown(fd, SHUT_RDWR);
  }
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  {
    absl::MutexLock lock(&mu_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu_);
  for (int fd : fds_) close(fd);
  if (listen_fd_ >= 0) close(listen_fd_);
}

std::string DelayProxy::address() const { return absl::StrCat("127.0.0.1:", port_); }

void DelayProxy::AcceptLoop() {
  for (;;) {
    const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;  // shut down
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      close(client);
      return;
    }
    fds_.push_back(client);
    threads_.emplace_back([this, client] { Relay(client); });
  }
}

void DelayProxy::Relay(int client) {
  const int server = ConnectLoopback(target_port_);
  {
    absl::MutexLock lock(&mu_);
    if (server < 0 || stopping_) {
      shutdown(client, SHUT_RDWR);
      if (server >= 0) close(server);
      return;
    }
    fds_.push_back(server);
  }
  const int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  // Client -> server: each chunk is due `delay_` after it arrived.
  struct Chunk {
    absl::Time due;
    std::string data;
  };
  absl::Mutex mu;
  absl::CondVar cv;
  std::deque<Chunk> chunks;
  bool closed = false;
  std::thread writer([&] {
    for (;;) {
      Chunk c;
      {
        absl::MutexLock lock(&mu);
        while (chunks.empty() && !closed) cv.Wait(&mu);
        if (chunks.empty()) break;
        c = std::move(chunks.front());
        chunks.pop_front();
      }
      absl::SleepFor(c.due - absl::Now());  // the injected latency
      if (!WriteAll(server, c.data.data(), c.data.size())) break;
    }
    shutdown(server, SHUT_WR);
  });
  // Server -> client: at once.
  std::thread back([&] {
    char buf[16384];
    for (;;) {
      const ssize_t n = recv(server, buf, sizeof(buf), 0);
      if (n <= 0 || !WriteAll(client, buf, static_cast<size_t>(n))) break;
    }
    shutdown(client, SHUT_RDWR);
  });
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(client, buf, sizeof(buf), 0);
    if (n <= 0) break;
    absl::MutexLock lock(&mu);
    chunks.push_back({absl::Now() + delay_, std::string(buf, static_cast<size_t>(n))});
    cv.Signal();
  }
  {
    absl::MutexLock lock(&mu);
    closed = true;
    cv.Signal();
  }
  writer.join();
  shutdown(server, SHUT_RDWR);
  back.join();
}

}  // namespace popguard::testserver
