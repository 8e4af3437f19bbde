// PopguardProcess: the real popguard server binary as a child process, for
// end-to-end tests.
//
//   auto server = PopguardProcess::Start(config_path);   // waits for "listening"
//   auto channel = grpc::CreateChannel(server->address(), ...);
//   ... server->Logs() ...                                // every line it printed
//
// The child runs POPGUARD_BINARY_DIR "/popguard --config <file> --listen
// 127.0.0.1:0" with stdout and stderr on one pipe. A thread drains the pipe
// into a buffer for the whole life of the child, so the child never blocks on a
// full pipe and tests can assert on everything it logged. The port comes from
// the JSON line with "event":"listening".
//
// No process is ever left behind: the destructor stops the child (SIGTERM,
// then SIGKILL after 10 s); a gtest Environment and an atexit handler kill any
// child still registered; and each child gets PR_SET_PDEATHSIG so that it dies
// with the test process even when that crashes.
//
// The file also holds small generic gRPC probes (health, reflection) that need
// no generated stubs.
#ifndef POPGUARD_TESTS_TESTING_POPGUARD_PROCESS_H_
#define POPGUARD_TESTS_TESTING_POPGUARD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace popguard::e2e {

class PopguardProcess {
 public:
  // ServerBinary returns POPGUARD_BINARY_DIR "/popguard".
  static std::string ServerBinary();

  // Start launches the server with `config_path` and waits up to `timeout`
  // for its "listening" line. On failure (binary missing, exit, timeout) the
  // child is killed and the error message holds everything it printed.
  static absl::StatusOr<std::unique_ptr<PopguardProcess>> Start(
      const std::string& config_path, absl::Duration timeout = absl::Seconds(20));

  struct Options {
    std::string listen = "127.0.0.1:0";   // the --listen flag
    std::vector<std::string> extra_args;  // appended to the command line
  };
  // Start with a chosen --listen address and extra flags.
  static absl::StatusOr<std::unique_ptr<PopguardProcess>> Start(
      const std::string& config_path, const Options& options,
      absl::Duration timeout = absl::Seconds(20));

  PopguardProcess(const PopguardProcess&) = delete;
  PopguardProcess& operator=(const PopguardProcess&) = delete;
  // The destructor calls Stop().
  ~PopguardProcess();

  int port() const { return port_; }
  // address returns "127.0.0.1:<port>".
  std::string address() const;

  // Logs returns every complete line the child printed so far (stdout and
  // stderr, without the newline).
  std::vector<std::string> Logs() const;
  // LogText returns Logs() joined with '\n' (for failure messages).
  std::string LogText() const;
  // WaitForLogLine waits up to `timeout` until some line contains `needle`.
  bool WaitForLogLine(const std::string& needle, absl::Duration timeout) const;

  // Alive reports whether the child is still running (it reaps it if not).
  bool Alive();
  // exit_code returns what Stop() would return once the child has been
  // reaped (by Alive or Stop), -1 before.
  int exit_code() const { return exit_code_; }

  // Stop sends SIGTERM, waits up to 10 s, then SIGKILLs. Returns the exit
  // code, or 128 + signal number when the child was killed by a signal.
  // Idempotent: later calls return the same value.
  int Stop();

  // NewChannel returns an insecure channel to address().
  std::shared_ptr<grpc::Channel> NewChannel() const;

 private:
  PopguardProcess() = default;
  void ReadLoop(int fd);
  // Reap waits for the child (blocking or not); returns true once reaped.
  bool Reap(bool block);

  pid_t pid_ = -1;
  int port_ = 0;
  bool reaped_ = false;
  int exit_code_ = -1;
  std::thread reader_;

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // signalled when lines_ grows or eof_ is set
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::string partial_ ABSL_GUARDED_BY(mu_);
  bool eof_ ABSL_GUARDED_BY(mu_) = false;
};

// ToByteBuffer / FromByteBuffer convert raw message bytes for gRPC's generic
// (ByteBuffer) calls.
grpc::ByteBuffer ToByteBuffer(const std::string& bytes);
std::string FromByteBuffer(const grpc::ByteBuffer& buffer);

// ConnectLoopback opens a TCP connection to 127.0.0.1:port whose reads and
// writes time out after `io_timeout`; -1 on failure.
int ConnectLoopback(int port, absl::Duration io_timeout);

// HttpReply is a plain HTTP response: status (0 when none arrived), the head
// (status line and headers) and the body.
struct HttpReply {
  int status = 0;
  std::string head;
  std::string body;
};

// HttpExchange sends `request` verbatim on a new connection to
// 127.0.0.1:port and reads until the server closes it.
HttpReply HttpExchange(int port, const std::string& request, absl::Duration io_timeout);

// MetricValue returns the value of the sample written exactly as `series`
// (name plus rendered labels) in Prometheus text `text`, or nullopt when absent.
std::optional<double> MetricValue(const std::string& text, const std::string& series);

// LoggedPort returns the "port" of the first line `p` logged with the event
// `event` (e.g. "metrics_listening"), or 0.
int LoggedPort(const PopguardProcess& p, const std::string& event);

// ScrapeMetric GETs /metrics from 127.0.0.1:port (2 s timeouts) and returns
// MetricValue of `series` in it.
std::optional<double> ScrapeMetric(int port, const std::string& series);

// ProgramResult: how a short-lived program ended and what it printed.
struct ProgramResult {
  int exit_code = -1;  // -1: killed by a signal (or by the timeout)
  std::string out, err;
};

// RunProgram runs `binary` with `args` to completion; stdout and stderr go
// to files in `dir` (no pipes, so a chatty child never blocks). A child
// still running after `timeout` is killed (exit_code -1), as it is when the
// test process dies.
ProgramResult RunProgram(const std::string& binary, const std::vector<std::string>& args,
                         const std::string& dir, absl::Duration timeout = absl::Seconds(60));

// HealthCheck calls grpc.health.v1.Health/Check for `service` ("" is the
// whole server) and returns the status enum value (1 = SERVING,
// 2 = NOT_SERVING), or an error when the RPC fails.
absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service);

// ReflectionListServices asks the server reflection service
// (grpc.reflection.v1alpha.ServerReflection) for the full names of every
// service the server exposes.
absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel);

}  // namespace popguard::e2e

#endif  // POPGUARD_TESTS_TESTING_POPGUARD_PROCESS_H_
