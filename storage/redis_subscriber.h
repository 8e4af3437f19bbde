// RedisSubscriber: keeps a sorted set mirrored from Redis, with its updates
// announced on a pub/sub channel (used for the revocation list).
//
//   thread: connect (a seed, in turn) → AUTH → SUBSCRIBE channel
//           → full read of the sorted set (members with score > now)
//           → messages as they come; a full read every resync_interval;
//             PING every ping_interval, and a connection that does not answer
//             within read_timeout is dropped
//           → on any failure: on_state(false), backoff, start over
//
// The channel is subscribed BEFORE the full read, so an update published
// while the replica was disconnected is in the read and one published during
// the read arrives as a message: nothing is missed. Classic PUBLISH reaches
// subscribers on every node of a Redis Cluster (the cluster bus broadcasts
// it), so the subscriber may sit on any seed; the full read follows one MOVED
// to the node that owns the key.
//
// Blocking hiredis connections on one thread of its own; callbacks run on
// that thread. Nothing logged contains a password or a value read.
#ifndef POPGUARD_STORAGE_REDIS_SUBSCRIBER_H_
#define POPGUARD_STORAGE_REDIS_SUBSCRIBER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/redis_options.h"

namespace popguard {

struct RedisSubscriberOptions {
  // seeds, username, password, database (for the read), connect_timeout, log.
  RedisClientOptions redis;
  std::string channel;
  std::string key;  // sorted set: score = expiry in unix seconds
  absl::Duration resync_interval = absl::Seconds(60);
  absl::Duration read_timeout = absl::Seconds(5);  // a full read; a PING's answer
  absl::Duration ping_interval = absl::Seconds(5);
  absl::Duration backoff_min = absl::Milliseconds(100);
  absl::Duration backoff_max = absl::Seconds(2);
  std::function<absl::Time()> wall_clock;  // empty: absl::Now

  // A full read: every (member, score) pair with a score above now.
  std::function<void(std::vector<std::pair<std::string, int64_t>>)> on_snapshot;
  // Messages received on the channel, in order (as many as arrived at once).
  std::function<void(std::vector<std::string>)> on_messages;
  // Connected (subscribed and read) or lost, with a short reason.
  std::function<void(bool connected, std::string_view why)> on_state;
};

class RedisSubscriber {
 public:
  static std::unique_ptr<RedisSubscriber> Start(RedisSubscriberOptions options);
  // The destructor stops the thread: within 200 ms while it waits for
  // messages, after the blocking command in progress (read_timeout) otherwise.
  ~RedisSubscriber();
  RedisSubscriber(const RedisSubscriber&) = delete;
  RedisSubscriber& operator=(const RedisSubscriber&) = delete;

  bool connected() const { return connected_.load(std::memory_order_relaxed); }

 private:
  explicit RedisSubscriber(RedisSubscriberOptions options) : options_(std::move(options)) {}
  void Loop();
  // Session runs one connection's life; returns why it ended.
  std::string Session(const RedisEndpoint& seed);
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> FullRead(
      const RedisEndpoint& endpoint, int redirects_left);
  bool Stopping();
  void SetState(bool connected, std::string_view why);
  absl::Time Now() const;

  const RedisSubscriberOptions options_;
  std::atomic<bool> connected_{false};
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_SUBSCRIBER_H_
