#include "tests/testing/redis_server.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace popguard::redis_testing {
namespace {

// --- Every live redis-server child, killed at exit whatever happened ---

absl::Mutex g_mu;
std::set<pid_t>& Children() ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_mu) {
  static auto* children = new std::set<pid_t>();
  return *children;
}

void KillAll() {
  std::set<pid_t> pids;
  {
    absl::MutexLock lock(&g_mu);
    pids.swap(Children());
  }
  for (pid_t pid : pids) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

void Register(pid_t pid) {
  static const bool installed = [] {
    std::atexit(&KillAll);
    return true;
  }();
  (void)installed;
  absl::MutexLock lock(&g_mu);
  Children().insert(pid);
}

void Unregister(pid_t pid) {
  absl::MutexLock lock(&g_mu);
  Children().erase(pid);
}

std::string MakeTempDir() {
  char tmpl[] = "/tmp/popguard-redis.XXXXXX";
  const char* dir = mkdtemp(tmpl);
  return dir == nullptr ? "" : std::string(dir);
}

// Spawn runs argv with stdout/stderr to `log_path`; returns the pid or -1.
// Everything the child needs is prepared before fork: the test process has
// other threads, so the child may only make async-signal-safe calls.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) {
    if (log >= 0) close(log);
    return pid;
  }
  // Child: die with the test process, whatever way it ends.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(127);
  if (log >= 0) {
    dup2(log, 1);
    dup2(log, 2);
  }
  execvp(args[0], args.data());
  _exit(127);
}

}  // namespace

pid_t SpawnChild(const std::vector<std::string>& argv, const std::string& log_path) {
  const pid_t pid = Spawn(argv, log_path);
  if (pid > 0) Register(pid);
  return pid;
}

void StopChild(pid_t pid, absl::Duration grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (waitpid(pid, nullptr, WNOHANG) == 0) {
    if (absl::Now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  Unregister(pid);
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string ReplyText(const redisReply* r) {
  if (r == nullptr) return "(null)";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(r->str, r->len);
    case REDIS_REPLY_ERROR:
      return absl::StrCat("ERR: ", std::string(r->str, r->len));
    case REDIS_REPLY_INTEGER:
      return absl::StrCat(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::vector<std::string> items;
      for (size_t i = 0; i < r->elements; ++i) items.push_back(ReplyText(r->element[i]));
      return absl::StrCat("[", absl::StrJoin(items, ", "), "]");
    }
  }
  return "(unknown)";
}

// --- RedisServer ---

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(const Options& options) {
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->options_ = options;
  server->dir_ = MakeTempDir();
  if (server->dir_.empty()) return absl::InternalError("mkdtemp failed");
  // A port picked this way can be taken by someone else before redis binds
  // it; a few attempts make that race harmless.
  absl::Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    server->port_ = FreeLoopbackPort();
    if (server->port_ == 0) continue;
    last = server->Launch();
    if (last.ok()) return server;
  }
  return last;
}

RedisServer::~RedisServer() {
  Kill();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string RedisServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

absl::Status RedisServer::Launch() {
  std::vector<std::string> argv = {"redis-server",
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--enable-debug-command",
                                   "yes",
                                   "--daemonize",
                                   "no",
                                   "--dir",
                                   dir_};
  if (options_.cluster) {
    for (const char* a : {"--cluster-enabled", "yes", "--cluster-config-file"}) argv.push_back(a);
    argv.push_back(dir_ + "/nodes.conf");
    for (const char* a : {"--cluster-node-timeout", "5000"}) argv.push_back(a);
  }
  for (const std::string& a : options_.extra_args) argv.push_back(a);
  pid_ = Spawn(argv, dir_ + "/redis.log");
  if (pid_ < 0) return absl::InternalError("fork failed");
  Register(pid_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      Unregister(pid_);
      pid_ = -1;
      return absl::UnavailableError(absl::StrCat("redis-server exited at start (port ", port_,
                                                 "), see ", dir_, "/redis.log"));
    }
    if (CommandText({"PING"}) == "PONG") return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Kill();
  return absl::DeadlineExceededError(
      absl::StrCat("redis-server on port ", port_, " never answered"));
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  Unregister(pid_);
  pid_ = -1;
}

void RedisServer::Freeze() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void RedisServer::Thaw() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

absl::Status RedisServer::Restart() {
  Kill();
  return Launch();
}

absl::StatusOr<RedisReplyPtr> RedisServer::Command(const std::vector<std::string>& args,
                                                   int db) const {
  timeval tv{2, 0};
  redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (ctx == nullptr) return absl::InternalError("redisConnect failed");
  std::unique_ptr<redisContext, decltype(&redisFree)> owned(ctx, &redisFree);
  if (ctx->err != 0) return absl::UnavailableError(ctx->errstr);
  redisSetTimeout(ctx, tv);
  if (db != 0) {
    const std::string select = absl::StrCat("SELECT ", db);
    void* r = redisCommand(ctx, select.c_str());
    if (r == nullptr) return absl::UnavailableError(ctx->errstr);
    freeReplyObject(r);
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  void* reply = redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data());
  if (reply == nullptr) return absl::UnavailableError(ctx->errstr);
  return RedisReplyPtr(static_cast<redisReply*>(reply));
}

std::string RedisServer::CommandText(const std::vector<std::string>& args, int db) const {
  absl::StatusOr<RedisReplyPtr> r = Command(args, db);
  if (!r.ok()) return absl::StrCat("ERROR: ", r.status().message());
  return ReplyText(r->get());
}

int RedisServer::PopguardConnections() const {
  const std::string list = CommandText({"CLIENT", "LIST"});
  int n = 0;
  for (size_t pos = 0; (pos = list.find(" name=popguard ", pos)) != std::string::npos; ++pos) ++n;
  return n;
}

bool IsStateMarker(std::string_view key) {
  return absl::StrContains(absl::string_view(key.data(), key.size()), ":marker:");
}

int64_t RedisServer::ReplayKeys(int slot, std::string_view prefix) const {
  absl::StatusOr<RedisReplyPtr> r =
      slot < 0 ? Command({"KEYS", "*"})
               : Command({"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "1000000"});
  if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY) return -1;
  int64_t n = 0;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const redisReply* e = (*r)->element[i];
    const std::string_view key(e->str, e->len);
    n += !IsStateMarker(key) && key.starts_with(prefix) ? 1 : 0;
  }
  return n;
}

// --- RedisCluster ---

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start(int masters,
                                                                  int replicas_per_master) {
  auto cluster = std::make_unique<RedisCluster>();
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  const int total = masters * (1 + replicas_per_master);
  for (int i = 0; i < total; ++i) {
    RedisServer::Options options;
    options.cluster = true;
    absl::StatusOr<std::unique_ptr<RedisServer>> node = RedisServer::Start(options);
    if (!node.ok()) return node.status();
    argv.push_back((*node)->address());
    cluster->nodes_.push_back(*std::move(node));
  }
  argv.push_back("--cluster-replicas");
  argv.push_back(std::to_string(replicas_per_master));
  argv.push_back("--cluster-yes");
  const std::string log = cluster->nodes_[0]->dir() + "/cluster-create.log";
  const pid_t pid = Spawn(argv, log);
  if (pid < 0) return absl::InternalError("fork failed");
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("redis-cli --cluster create failed, see ", log));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (;;) {
    bool ok = true;
    for (auto& node : cluster->nodes_) {
      const std::string info = node->CommandText({"CLUSTER", "INFO"});
      ok = ok && absl::StrContains(info, "cluster_state:ok") &&
           absl::StrContains(info, "cluster_slots_ok:16384") &&
           absl::StrContains(info, absl::StrCat("cluster_known_nodes:", total, "\r\n"));
      const std::string repl = node->CommandText({"INFO", "replication"});
      // A replica counts once its initial sync is done.
      if (absl::StrContains(repl, "role:slave")) {
        ok = ok && absl::StrContains(repl, "master_link_status:up") &&
             absl::StrContains(repl, "master_sync_in_progress:0");
      }
    }
    if (ok) return cluster;
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError("cluster never reached cluster_state:ok");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> RedisCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back(n->address());
  return out;
}

std::string RedisCluster::NodeId(int i) const {
  return nodes_[i]->CommandText({"CLUSTER", "MYID"});
}

std::vector<int> RedisCluster::SlotOwners() const {
  std::vector<int> owners(16384, -1);
  for (const auto& asked : nodes_) {
    if (!asked->running()) continue;
    absl::StatusOr<RedisReplyPtr> r = asked->Command({"CLUSTER", "SLOTS"});
    if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY) continue;
    for (size_t i = 0; i < (*r)->elements; ++i) {
      const redisReply* range = (*r)->element[i];
      const long long port = range->element[2]->element[1]->integer;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[n]->port() != port) continue;
        for (long long s = range->element[0]->integer; s <= range->element[1]->integer; ++s) {
          owners[s] = static_cast<int>(n);
        }
      }
    }
    return owners;
  }
  return owners;
}

int RedisCluster::ReplicaOf(int master) const {
  const std::string port = std::to_string(nodes_[master]->port());
  for (size_t n = 0; n < nodes_.size(); ++n) {
    if (static_cast<int>(n) == master || !nodes_[n]->running()) continue;
    // ROLE on a replica: [slave, master host, master port, state, offset].
    const std::string role = nodes_[n]->CommandText({"ROLE"});
    if (absl::StartsWith(role, "[slave, ") && absl::StrContains(role, ", " + port + ", ")) {
      return static_cast<int>(n);
    }
  }
  return -1;
}

absl::Status RedisCluster::WaitUntilOk(absl::Duration timeout, int except) const {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    bool ok = true;
    std::string slots;
    for (size_t n = 0; n < nodes_.size() && ok; ++n) {
      if (static_cast<int>(n) == except || !nodes_[n]->running()) continue;
      ok = absl::StrContains(nodes_[n]->CommandText({"CLUSTER", "INFO"}), "cluster_state:ok");
      // Every node agrees on the owners (a promotion has reached them all):
      // "address=first slot range" of each master not flagged failed, in
      // CLUSTER NODES (id, address, flags, master, ping, pong, epoch, link,
      // slot ranges...).
      std::vector<std::string> masters;
      for (absl::string_view line :
           absl::StrSplit(nodes_[n]->CommandText({"CLUSTER", "NODES"}), '\n')) {
        std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
        if (f.size() > 8 && absl::StrContains(f[2], "master") && !absl::StrContains(f[2], "fail")) {
          masters.push_back(absl::StrCat(f[1], "=", f[8]));
        }
      }
      std::sort(masters.begin(), masters.end());
      const std::string mine = absl::StrJoin(masters, ";");
      if (slots.empty()) slots = mine;
      ok = ok && mine == slots;
    }
    if (ok) return absl::OkStatus();
    if (absl::Now() > deadline) return absl::DeadlineExceededError("cluster never settled");
    absl::SleepFor(absl::Milliseconds(50));
  }
}

int RedisCluster::OwnerOfSlot(int slot) const {
  // Ask node 0's view: CLUSTER SLOTS ranges with the master's port.
  absl::StatusOr<RedisReplyPtr> r = nodes_[0]->Command({"CLUSTER", "SLOTS"});
  if (!r.ok() || (*r)->type != REDIS_REPLY_ARRAY) return -1;
  for (size_t i = 0; i < (*r)->elements; ++i) {
    const redisReply* range = (*r)->element[i];
    if (range->element[0]->integer <= slot && slot <= range->element[1]->integer) {
      const long long port = range->element[2]->element[1]->integer;
      for (size_t n = 0; n < nodes_.size(); ++n) {
        if (nodes_[n]->port() == port) return static_cast<int>(n);
      }
    }
  }
  return -1;
}

}  // namespace popguard::redis_testing
