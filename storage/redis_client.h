// RedisClient: an asynchronous, pipelined, cluster-aware Redis client for
// single-key commands.
//
// Flow of one command:
//   Execute (any thread) --slot--> node --> least-loaded ready connection of
//     that node (pipelined write)
//     written by the calling thread itself when the loop thread is asleep in
//     poll(2) (it holds the loop state only while it works), else handed over
//     through a queue + eventfd and written by the loop with everything else
//     that arrived meanwhile
//     --> reply: MOVED -> update the slot map, retry on the new owner
//                ASK   -> ASKING + retry once on the importing node
//                other -> callback
//   A command not answered within command_timeout completes with
//   DeadlineExceeded at once; its reply, should it come later, is dropped.
//
// Topology: CLUSTER SLOTS is asked of any known node (seeds first) at start,
// on MOVED, on connection errors and every 30 s. A server answering "cluster
// support disabled" is used as a single node for every slot; with more than
// one seed configured that is refused (replicas could each pick a different
// server and miss each other's replays).
//
// Connections: pool_size per node, kept open, reconnected with exponential
// backoff (jittered, reconnect_backoff_min .. _max). A connection whose
// oldest command has waited max(10 x command_timeout, 1 s) is considered
// dead and dropped.
//
// Loss of a server's data: every connection's handshake reads the server's
// run_id (INFO server), which changes whenever the server process restarts
// (and so, without persistence, comes back empty). A node seen for the first
// time is dated "holds its data since" the current wall-clock second; a node
// whose run_id changed (or that refuses INFO, on every reconnect after its
// first) since the moment that was noticed, exactly. The handshake finishes
// before any command on the connection is written, so a reply is never
// answered by a restarted server before the restart is known. Each reply
// carries that date (ExecuteSince).
// A server emptied without a restart (FLUSHALL, FLUSHDB, a failover to an
// empty replica that kept the address and run_id, eviction) keeps its run_id:
// with a marker_prefix, the client keeps a marker key of its own on every
// node that owns slots (marker_prefix + "<random client id>:{tag}", the tag
// picking a slot that node owns; re-placed when that slot moves away), written
// when the node is first seen and checked every marker_interval by the loop
// (SET XX PX: one command per node, none on the request path). A marker gone
// is a loss dated to the moment it is noticed, exactly like a new run_id. A
// loss is therefore noticed at most marker_interval (plus one round trip)
// late; replies in between carry the older date.
//
// Every callback runs exactly once, on the loop thread, or on the calling
// thread before Execute returns when the command fails at once (no
// connection, a write error, shutdown begun: Unavailable). A reply is always
// dispatched by the loop thread.
#ifndef POPGUARD_STORAGE_REDIS_CLIENT_H_
#define POPGUARD_STORAGE_REDIS_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/redis_connection.h"
#include "storage/redis_options.h"

namespace popguard {

class RedisClient {
 public:
  using Callback = RedisConnection::Callback;
  // A reply, and since when the server that produced it is known to hold its
  // data (InfinitePast when no server answered).
  using SinceCallback =
      absl::AnyInvocable<void(absl::StatusOr<RedisReplyPtr>, absl::Time server_since) &&>;

  enum class Mode { kDiscovering, kSingleNode, kCluster };

  // Stats are monotonic counters (mode and connection gauges aside).
  struct Stats {
    uint64_t commands = 0;          // commands written (retries included)
    uint64_t inline_writes = 0;     // ...of which the calling thread wrote itself
    uint64_t replies = 0;           // replies received for live commands
    uint64_t timeouts = 0;          // commands completed by command_timeout
    uint64_t errors = 0;            // commands failed by a connection error
    uint64_t late_replies = 0;      // replies that came after their timeout
    uint64_t moved = 0;             // MOVED redirections followed
    uint64_t ask = 0;               // ASK redirections followed
    uint64_t slot_refreshes = 0;    // CLUSTER SLOTS maps applied
    uint64_t connects = 0;          // connections that completed the handshake
    uint64_t connect_failures = 0;  // connections that failed to open, or were lost
    uint64_t state_losses = 0;      // restarted (or unidentifiable) servers noticed
    int ready_connections = 0;
    Mode mode = Mode::kDiscovering;
  };

  // Start spawns the loop thread and begins connecting to the seeds. It never
  // blocks on the network.
  static std::unique_ptr<RedisClient> Start(RedisClientOptions options);
  // The destructor stops the loop and completes every pending callback with
  // Unavailable.
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Execute sends `command` (RESP, see AppendRedisCommand), which touches the
  // single key `key`, to the node serving the key's slot. `done` runs exactly
  // once with the reply (possibly an error reply), DeadlineExceeded after
  // command_timeout, or Unavailable when no connection could carry it.
  void Execute(std::string_view key, std::string command, Callback done);
  // ExecuteSince is Execute whose callback also learns since when the server
  // that answered holds its data (see the header comment).
  void ExecuteSince(std::string_view key, std::string command, SinceCallback done);

  // Reachable reports whether at least one connection is ready.
  bool Reachable() const { return ready_connections_.load(std::memory_order_relaxed) > 0; }

  Stats stats() const;
  const RedisClientOptions& options() const { return options_; }

 private:
  struct Op;
  struct Node;
  class Loop;

  explicit RedisClient(RedisClientOptions options);

  const RedisClientOptions options_;
  std::string marker_id_;  // random per client (the state marker's key)
  int wake_fd_ = -1;

  // The loop's state (loop_ and everything in it) is held by the loop thread
  // except while it sleeps in poll(2); a caller that gets it then sends its
  // command itself, sparing a thread hand-off (taken before mu_, never after).
  absl::Mutex state_mu_;
  absl::Mutex mu_;
  std::vector<std::shared_ptr<Op>> incoming_ ABSL_GUARDED_BY(mu_);
  bool wake_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<int> ready_connections_{0};
  std::atomic<int> mode_{static_cast<int>(Mode::kDiscovering)};
  struct Counters {
    std::atomic<uint64_t> commands{0}, replies{0}, timeouts{0}, errors{0}, late_replies{0},
        moved{0}, ask{0}, slot_refreshes{0}, connects{0}, connect_failures{0}, state_losses{0},
        inline_writes{0};
  };
  Counters counters_;

  std::unique_ptr<Loop> loop_;  // state owned by the loop thread
  std::thread thread_;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_CLIENT_H_
