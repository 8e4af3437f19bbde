#include "tests/testing/popguard_process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string_view>

#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/common/json.h"
#include "tests/testing/test_vectors.h"

#ifndef POPGUARD_BINARY_DIR
#error "POPGUARD_BINARY_DIR must be defined by the build"
#endif

namespace popguard::e2e {
namespace {

// --- Registry of live children, so nothing outlives the test binary ---

absl::Mutex g_children_mu;
std::set<pid_t>& Children() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_children_mu) {
  static auto* children = new std::set<pid_t>();
  return *children;
}

void Register(pid_t pid) {
  absl::MutexLock lock(&g_children_mu);
  Children().insert(pid);
}

void Unregister(pid_t pid) {
  absl::MutexLock lock(&g_children_mu);
  Children().erase(pid);
}

// KillAllChildren SIGKILLs and reaps every child still registered. It runs
// after the last test (gtest Environment) and at exit: a test that failed an
// ASSERT in the middle of set-up must not leave a server listening.
void KillAllChildren() {
  std::set<pid_t> pids;
  {
    absl::MutexLock lock(&g_children_mu);
    pids.swap(Children());
  }
  for (pid_t pid : pids) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

class ReaperEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { KillAllChildren(); }
};

// Registered at static-initialisation time, before RUN_ALL_TESTS; gtest owns it.
[[maybe_unused]] ::testing::Environment* const kReaperEnvironment =
    ::testing::AddGlobalTestEnvironment(new ReaperEnvironment());

void InstallAtExitOnce() {
  static const bool installed = [] {
    std::atexit(&KillAllChildren);
    return true;
  }();
  (void)installed;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// ListeningPort returns the port of a {"event":"listening","port":N} line, or 0.
int ListeningPort(const std::string& line) {
  if (line.find("\"listening\"") == std::string::npos) return 0;
  absl::StatusOr<JsonValue> json = ParseJson(line);
  if (!json.ok() || !json->is_object()) return 0;
  const std::string* event = json->FindString("event");
  const JsonValue* port = json->Find("port");
  if (event == nullptr || *event != "listening" || port == nullptr) return 0;
  std::optional<int64_t> p = port->AsInt64();
  return p && *p > 0 && *p < 65536 ? static_cast<int>(*p) : 0;
}

// --- Minimal protobuf wire format, for the health and reflection probes ---

struct WireField {
  uint32_t number = 0;
  uint32_t type = 0;  // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;
  std::string_view bytes;
};

bool ReadVarint(std::string_view* in, uint64_t* out) {
  *out = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto b = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *out |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

bool ParseWire(std::string_view in, std::vector<WireField>* out) {
  while (!in.empty()) {
    uint64_t key = 0;
    if (!ReadVarint(&in, &key)) return false;
    WireField f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.type = static_cast<uint32_t>(key & 7);
    switch (f.type) {
      case 0:
        if (!ReadVarint(&in, &f.varint)) return false;
        break;
      case 1:
      case 5: {
        const size_t n = f.type == 1 ? 8 : 4;
        if (in.size() < n) return false;
        f.bytes = in.substr(0, n);
        in.remove_prefix(n);
        break;
      }
      case 2: {
        uint64_t len = 0;
        if (!ReadVarint(&in, &len) || len > in.size()) return false;
        f.bytes = in.substr(0, len);
        in.remove_prefix(len);
        break;
      }
      default:
        return false;
    }
    out->push_back(f);
  }
  return true;
}

std::string LengthDelimited(uint32_t field, std::string_view value) {
  std::string out;
  uint64_t key = (static_cast<uint64_t>(field) << 3) | 2;
  for (uint64_t v : {key, static_cast<uint64_t>(value.size())}) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  out.append(value);
  return out;
}

// NextTag waits for the next completion on `cq` and checks it is `want`.
bool NextTag(grpc::CompletionQueue* cq, void* want) {
  void* tag = nullptr;
  bool ok = false;
  return cq->Next(&tag, &ok) && ok && tag == want;
}

void DrainAndShutdown(grpc::CompletionQueue* cq) {
  cq->Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) {
  }
}

}  // namespace

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

int ConnectLoopback(int port, absl::Duration io_timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv = absl::ToTimeval(io_timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

HttpReply HttpExchange(int port, const std::string& request, absl::Duration io_timeout) {
  HttpReply r;
  const int fd = ConnectLoopback(port, io_timeout);
  if (fd < 0) return r;
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string all;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) all.append(buf, static_cast<size_t>(n));
  close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (all.size() < 12) return r;
  absl::SimpleAtoi(absl::string_view(all.data() + 9, 3), &r.status);
  const size_t sep = all.find("\r\n\r\n");
  r.head = all.substr(0, sep);
  if (sep != std::string::npos) r.body = all.substr(sep + 4);
  return r;
}

std::string PopguardProcess::ServerBinary() { return POPGUARD_BINARY_DIR "/popguard"; }

absl::StatusOr<std::unique_ptr<PopguardProcess>> PopguardProcess::Start(
    const std::string& config_path, absl::Duration timeout) {
  return Start(config_path, Options(), timeout);
}

absl::StatusOr<std::unique_ptr<PopguardProcess>> PopguardProcess::Start(
    const std::string& config_path, const Options& options, absl::Duration timeout) {
  const std::string binary = ServerBinary();
  if (access(binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("server binary ", binary,
                                                      " is missing or not executable (build target "
                                                      "`popguard` first)"));
  }
  InstallAtExitOnce();

  // Everything the child needs is prepared before fork(): between fork and
  // exec a multi-threaded parent's child may only make async-signal-safe calls.
  std::vector<std::string> args = {binary, "--config", config_path, "--listen", options.listen};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe2 failed");
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  sigset_t empty_mask;
  sigemptyset(&empty_mask);

  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    if (devnull >= 0) close(devnull);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    // Die with the test process, even if it crashes (SIGKILL is sent when
    // the forking thread exits; Start is called from the test's main thread).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigprocmask(SIG_SETMASK, &empty_mask, nullptr);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  if (devnull >= 0) close(devnull);
  Register(pid);

  auto process = std::unique_ptr<PopguardProcess>(new PopguardProcess());
  process->pid_ = pid;
  const int read_fd = fds[0];
  process->reader_ = std::thread([p = process.get(), read_fd] { p->ReadLoop(read_fd); });

  const absl::Time deadline = absl::Now() + timeout;
  bool timed_out = false;
  {
    absl::MutexLock lock(&process->mu_);
    size_t scanned = 0;
    while (process->port_ == 0) {
      for (; scanned < process->lines_.size() && process->port_ == 0; ++scanned) {
        process->port_ = ListeningPort(process->lines_[scanned]);
      }
      if (process->port_ != 0 || process->eof_) break;
      if (absl::Now() >= deadline) {
        timed_out = true;
        break;
      }
      process->cv_.WaitWithDeadline(&process->mu_, deadline);
    }
  }
  if (process->port_ != 0) return process;

  const int code = process->Stop();
  return absl::UnavailableError(
      absl::StrCat("popguard did not report \"listening\" ",
                   timed_out ? absl::StrCat("within ", absl::FormatDuration(timeout))
                             : absl::StrCat("before exiting (exit code ", code, ")"),
                   "; config ", config_path, "; its output:\n", process->LogText()));
}

PopguardProcess::~PopguardProcess() { Stop(); }

std::string PopguardProcess::address() const { return absl::StrCat("127.0.0.1:", port_); }

void PopguardProcess::ReadLoop(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    absl::MutexLock lock(&mu_);
    if (n <= 0) {
      if (!partial_.empty()) lines_.push_back(std::move(partial_));
      partial_.clear();
      eof_ = true;
      cv_.SignalAll();
      break;
    }
    partial_.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      lines_.push_back(partial_.substr(start, nl - start));
    }
    partial_.erase(0, start);
    cv_.SignalAll();
  }
  close(fd);
}

std::vector<std::string> PopguardProcess::Logs() const {
  absl::MutexLock lock(&mu_);
  return lines_;
}

std::string PopguardProcess::LogText() const { return absl::StrJoin(Logs(), "\n"); }

bool PopguardProcess::WaitForLogLine(const std::string& needle, absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    for (const std::string& line : Logs()) {
      if (line.find(needle) != std::string::npos) return true;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

bool PopguardProcess::Reap(bool block) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = ExitCodeOf(status);
  } else if (!(r < 0 && errno == ECHILD)) {
    return false;  // still running
  }
  // ECHILD: already reaped by the at-exit reaper.
  reaped_ = true;
  Unregister(pid_);
  return true;
}

bool PopguardProcess::Alive() {
  if (pid_ <= 0) return false;
  return !Reap(/*block=*/false);
}

int PopguardProcess::Stop() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGTERM);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!Reap(/*block=*/false) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (!reaped_) {
      kill(pid_, SIGKILL);
      Reap(/*block=*/true);
    }
  }
  // The child is gone, so its end of the pipe is closed and the reader sees EOF.
  if (reader_.joinable()) reader_.join();
  return exit_code_;
}

std::shared_ptr<grpc::Channel> PopguardProcess::NewChannel() const {
  return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
}

absl::StatusOr<int> HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::CompletionQueue cq;
  // grpc.health.v1.HealthCheckRequest { string service = 1; }
  const std::string request = service.empty() ? std::string() : LengthDelimited(1, service);
  auto call =
      stub.PrepareUnaryCall(&ctx, "/grpc.health.v1.Health/Check", ToByteBuffer(request), &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  int finish_tag = 0;
  call->Finish(&response, &status, &finish_tag);
  const bool done = NextTag(&cq, &finish_tag);
  DrainAndShutdown(&cq);
  if (!done) return absl::UnavailableError("health check did not complete");
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("health check failed: ", status.error_code(), " ", status.error_message()));
  }
  // grpc.health.v1.HealthCheckResponse { ServingStatus status = 1; }
  // `raw` owns the bytes the parsed fields point into.
  const std::string raw = FromByteBuffer(response);
  std::vector<WireField> fields;
  if (!ParseWire(raw, &fields)) {
    return absl::DataLossError("health response is not protobuf");
  }
  int result = 0;  // UNKNOWN when absent (proto3 default)
  for (const WireField& f : fields) {
    if (f.number == 1 && f.type == 0) result = static_cast<int>(f.varint);
  }
  return result;
}

absl::StatusOr<std::vector<std::string>> ReflectionListServices(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  int start_tag = 0, write_tag = 0, writes_done_tag = 0, read_tag = 0, finish_tag = 0;
  call->StartCall(&start_tag);
  bool ok = NextTag(&cq, &start_tag);
  // ServerReflectionRequest { oneof message_request { string list_services = 7; } }
  if (ok) {
    call->Write(ToByteBuffer(LengthDelimited(7, "")), &write_tag);
    ok = NextTag(&cq, &write_tag);
  }
  grpc::ByteBuffer response;
  if (ok) {
    call->Read(&response, &read_tag);
    ok = NextTag(&cq, &read_tag);
  }
  if (ok) {
    call->WritesDone(&writes_done_tag);
    NextTag(&cq, &writes_done_tag);
  }
  grpc::Status status;
  call->Finish(&status, &finish_tag);
  NextTag(&cq, &finish_tag);
  DrainAndShutdown(&cq);
  if (!ok) {
    return absl::UnavailableError(absl::StrCat("reflection stream failed: ", status.error_code(),
                                               " ", status.error_message()));
  }
  // ServerReflectionResponse { ListServiceResponse list_services_response = 6;
  //   ErrorResponse error_response = 7; }
  // ListServiceResponse { repeated ServiceResponse service = 1; }
  // ServiceResponse { string name = 1; }
  const std::string raw = FromByteBuffer(response);  // owns what `top` points into
  std::vector<WireField> top;
  if (!ParseWire(raw, &top)) {
    return absl::DataLossError("reflection response is not protobuf");
  }
  std::vector<std::string> names;
  bool listed = false;
  for (const WireField& f : top) {
    if (f.number == 7 && f.type == 2) return absl::InternalError("reflection error_response");
    if (f.number != 6 || f.type != 2) continue;
    listed = true;
    std::vector<WireField> services;
    if (!ParseWire(f.bytes, &services)) return absl::DataLossError("bad list_services_response");
    for (const WireField& s : services) {
      if (s.number != 1 || s.type != 2) continue;
      std::vector<WireField> service;
      if (!ParseWire(s.bytes, &service)) return absl::DataLossError("bad ServiceResponse");
      for (const WireField& n : service) {
        if (n.number == 1 && n.type == 2) names.emplace_back(n.bytes);
      }
    }
  }
  if (!listed) return absl::DataLossError("reflection response has no list_services_response");
  return names;
}

ProgramResult RunProgram(const std::string& binary, const std::vector<std::string>& args,
                         const std::string& dir, absl::Duration timeout) {
  const std::string out_path = dir + "/program.out", err_path = dir + "/program.err";
  std::vector<std::string> argv_store = {binary};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  ProgramResult r;
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) return r;
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (done == pid && WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  }
  r.out = testdata::ReadFileOrEmpty(out_path);
  r.err = testdata::ReadFileOrEmpty(err_path);
  return r;
}

std::optional<double> MetricValue(const std::string& text, const std::string& series) {
  const std::string prefix = series + " ";
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    if (line.substr(0, prefix.size()) == prefix) {
      double v = 0;
      const std::string_view value = line.substr(prefix.size());
      if (absl::SimpleAtod(absl::string_view(value.data(), value.size()), &v)) {
        return v;
      }
    }
    pos = eol + 1;
  }
  return std::nullopt;
}

int LoggedPort(const PopguardProcess& p, const std::string& event) {
  for (const std::string& line : p.Logs()) {
    if (line.find("\"" + event + "\"") == std::string::npos) continue;
    const size_t at = line.find("\"port\":");
    int port = 0;
    if (at != std::string::npos &&
        absl::SimpleAtoi(line.substr(at + 7, line.find_first_of(",}", at) - at - 7), &port)) {
      return port;
    }
  }
  return 0;
}

std::optional<double> ScrapeMetric(int port, const std::string& series) {
  const HttpReply reply =
      HttpExchange(port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", absl::Seconds(2));
  if (reply.status != 200) return std::nullopt;
  return MetricValue(reply.body, series);
}

}  // namespace popguard::e2e
