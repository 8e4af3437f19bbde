// Real redis-server processes for tests, on free loopback ports only.
//
//   auto redis = RedisServer::Start();              // single node
//   auto cluster = RedisCluster::Start(3);          // 3 masters, all slots assigned
//   redis->Command({"ACL", "SETUSER", ...});        // admin command (blocking hiredis)
//   redis->Kill(); redis->Restart();                // same port, same data dir
//   redis->Freeze(); redis->Thaw();                 // an outage that loses nothing
//
// Each server runs `redis-server --port N --bind 127.0.0.1 --save "" --appendonly
// no --enable-debug-command yes --daemonize no` in its own temp dir, dies with
// the test process (PR_SET_PDEATHSIG) and is killed by its destructor; the temp
// dir is removed. Nothing ever listens on or connects to a non-loopback address.
#ifndef POPGUARD_TESTS_TESTING_REDIS_SERVER_H_
#define POPGUARD_TESTS_TESTING_REDIS_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/redis_options.h"
#include "storage/redis_resp.h"

namespace popguard::redis_testing {

// FreeLoopbackPort binds 127.0.0.1:0, reads the port the kernel chose and
// closes the socket. Returns 0 on failure.
int FreeLoopbackPort();

// SpawnChild runs argv (argv[0] looked up in PATH) with stdout and stderr
// appended to `log_path`, dying with the test process (PR_SET_PDEATHSIG) and
// killed at exit if still running; returns the pid or -1. StopChild sends
// SIGTERM, waits up to `grace`, then SIGKILLs, and reaps it. For other real
// servers the tests start (nginx, Caddy).
pid_t SpawnChild(const std::vector<std::string>& argv, const std::string& log_path);
void StopChild(pid_t pid, absl::Duration grace);

// ReplyText renders a reply for assertions and messages: strings as they
// are, integers in decimal, nil as "(nil)", errors as "ERR: <text>", arrays
// as "[a, b]".
std::string ReplyText(const redisReply* reply);

// IsStateMarker reports whether `key` is a popguard state marker
// (RedisClient: key_prefix + "marker:" + ...), not a replay key.
bool IsStateMarker(std::string_view key);

class RedisServer {
 public:
  struct Options {
    bool cluster = false;  // --cluster-enabled yes, config file in the temp dir
    std::vector<std::string> extra_args;
  };

  // Start launches a server on a free port and waits until it answers PING.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(const Options& options);
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start() { return Start(Options{}); }

  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // address returns "127.0.0.1:<port>".
  std::string address() const;
  RedisEndpoint endpoint() const { return RedisEndpoint{"127.0.0.1", port_}; }
  const std::string& dir() const { return dir_; }

  // Kill sends SIGKILL and reaps the process (no-op when not running).
  void Kill();
  // Restart starts the server again on the same port and in the same dir.
  absl::Status Restart();
  // Freeze stops the process (SIGSTOP): connections stay open, nothing is
  // answered, and no data is lost. Thaw (SIGCONT) resumes it. The destructor
  // and Kill work on a frozen server.
  void Freeze();
  void Thaw();
  bool running() const { return pid_ > 0; }

  // Command runs one command over a new blocking connection (2 s timeout),
  // in database `db` (SELECTed first when not 0).
  absl::StatusOr<RedisReplyPtr> Command(const std::vector<std::string>& args, int db = 0) const;
  // CommandText is Command rendered with ReplyText ("ERROR: ..." when the
  // connection fails).
  std::string CommandText(const std::vector<std::string>& args, int db = 0) const;

  // PopguardConnections counts the connections named "popguard" (CLIENT LIST).
  int PopguardConnections() const;

  // ReplayKeys counts the keys in database 0 (in `slot` when >= 0: CLUSTER
  // GETKEYSINSLOT), leaving out popguard's state markers (IsStateMarker):
  // each popguard process keeps one per node, so tests that count the
  // replay window's keys must not see them. With a `prefix`, only keys that
  // begin with it: another test's key can hash to the same slot. -1 when the
  // server fails.
  int64_t ReplayKeys(int slot = -1, std::string_view prefix = "") const;

 private:
  RedisServer() = default;
  absl::Status Launch();

  Options options_;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

class RedisCluster {
 public:
  // Start launches `masters` * (1 + `replicas_per_master`) cluster-enabled
  // servers and joins them with `redis-cli --cluster create ...
  // --cluster-replicas R --cluster-yes`, then waits until every node reports
  // cluster_state:ok and every replica's link to its master is up and
  // synced (master_link_status:up, no sync in progress).
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start(int masters,
                                                             int replicas_per_master = 0);

  RedisServer& node(int i) { return *nodes_[i]; }
  // size counts every node, masters and replicas.
  int size() const { return static_cast<int>(nodes_.size()); }
  std::vector<std::string> addresses() const;
  // NodeId returns the cluster node id of node(i) (CLUSTER MYID).
  std::string NodeId(int i) const;
  // OwnerOfSlot returns the index of the node serving `slot`, or -1.
  int OwnerOfSlot(int slot) const;
  // SlotOwners returns OwnerOfSlot for every slot at once, asked of the
  // first running node that answers (-1 where unknown).
  std::vector<int> SlotOwners() const;
  // ReplicaOf returns the index of a node replicating node(master) (ROLE),
  // or -1.
  int ReplicaOf(int master) const;
  // WaitUntilOk waits up to `timeout` until every running node but
  // `except` reports cluster_state:ok and the same owner for every slot.
  absl::Status WaitUntilOk(absl::Duration timeout, int except = -1) const;

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace popguard::redis_testing

#endif  // POPGUARD_TESTS_TESTING_REDIS_SERVER_H_
