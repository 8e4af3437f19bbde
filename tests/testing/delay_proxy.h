// DelayProxy: a TCP relay on 127.0.0.1:<free port> that adds a fixed latency
// to everything a client sends to a server on loopback, so that a test can
// make a dependency (Redis, an issuer) slow for real, with no process frozen
// and no CPU burnt:
//
//   auto proxy = DelayProxy::Start(redis->port(), absl::Milliseconds(50));
//   ... configure popguard with proxy->address() instead of redis->address() ...
//
// Latency, not throughput: each chunk read from a client is written to the
// server `delay` after it arrived, in order, however many follow it. The
// server's answers go back at once. The destructor closes every socket and
// joins every thread.
#ifndef POPGUARD_TESTS_TESTING_DELAY_PROXY_H_
#define POPGUARD_TESTS_TESTING_DELAY_PROXY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace popguard::testserver {

class DelayProxy {
 public:
  static absl::StatusOr<std::unique_ptr<DelayProxy>> Start(int target_port, absl::Duration delay);
  ~DelayProxy();
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"

 private:
  DelayProxy(int target_port, absl::Duration delay) : target_port_(target_port), delay_(delay) {}
  void AcceptLoop();
  void Relay(int client_fd);

  const int target_port_;
  const absl::Duration delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);  // every open connection socket
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace popguard::testserver

#endif  // POPGUARD_TESTS_TESTING_DELAY_PROXY_H_
