// Options shared by the Redis client (redis_client.h) and the Redis replay
// store (redis_replay_store.h): where Redis is, how to log in, how long to
// wait, and where state changes are reported.
//
// storage/ does not depend on service/, so logging is a sink the caller
// injects (the service wires it to service/common/log.h). Nothing handed to the sink
// contains a password, a key stored in Redis, a token or a proof.
#ifndef POPGUARD_STORAGE_REDIS_OPTIONS_H_
#define POPGUARD_STORAGE_REDIS_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace popguard {

// RedisEndpoint is one Redis server address.
struct RedisEndpoint {
  std::string host;  // DNS name or IP literal (IPv6 without brackets)
  int port = 0;

  // ToString returns "host:port" ("[v6]:port" for IPv6 literals).
  std::string ToString() const;
  friend bool operator==(const RedisEndpoint& a, const RedisEndpoint& b) {
    return a.port == b.port && a.host == b.host;
  }
};

// ParseRedisEndpoint parses "host:port" or "[v6]:port" with a port of 1..65535.
absl::StatusOr<RedisEndpoint> ParseRedisEndpoint(std::string_view text);

enum class RedisLogLevel { kInfo, kWarn, kError };

// RedisLogSink receives one event per state change: `event` is a stable
// snake_case name (e.g. "redis_connection_lost"), `detail` a short human text.
using RedisLogSink =
    std::function<void(RedisLogLevel level, std::string_view event, std::string_view detail)>;

struct RedisClientOptions {
  // Seeds: a single server, or any number of cluster nodes (the rest of the
  // cluster is discovered with CLUSTER SLOTS).
  std::vector<RedisEndpoint> seeds;
  std::string username;  // Redis 6 ACL user; empty: AUTH with the password only
  std::string password;  // empty: no AUTH
  int database = 0;      // SELECTed on connect when not 0 (single node only)
  absl::Duration connect_timeout = absl::Milliseconds(50);  // TCP connect + AUTH/SELECT
  absl::Duration command_timeout = absl::Milliseconds(50);  // submission to reply
  int pool_size = 2;                                        // connections per node
  absl::Duration reconnect_backoff_min = absl::Milliseconds(10);
  absl::Duration reconnect_backoff_max = absl::Seconds(1);
  int max_redirects = 5;  // MOVED/ASK hops per command
  RedisLogSink log;       // may be empty
  // The wall clock a detected loss of a server's data is dated with (see
  // RedisClient::ExecuteSince); empty: absl::Now.
  std::function<absl::Time()> wall_clock;
  // The state marker (RedisClient header, loss of data): a key
  // marker_prefix + "<this client's random id>:{n}" kept on every node that
  // owns slots, checked every marker_interval; its absence is a loss of the
  // node's data. Empty: no marker (only a changed run_id is noticed).
  // marker_ttl only lets the markers of processes gone away expire; it is
  // refreshed by every check.
  std::string marker_prefix;
  absl::Duration marker_interval = absl::Milliseconds(250);
  absl::Duration marker_ttl = absl::Hours(1);
  // on_topology, when set, receives every slot map the client applies (on
  // its loop thread): the owners' names ("host:port") and, for each of the
  // 16384 slots, the index of its owner in that list (-1: no owner known).
  // A single server owns every slot. MOVED updates between two maps are not
  // reported; the map re-read they trigger is.
  std::function<void(const std::vector<std::string>& nodes, const std::vector<int16_t>& owner)>
      on_topology;
};

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_OPTIONS_H_
