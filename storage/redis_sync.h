// Blocking hiredis connections for the few places that want one: the
// revocation subscriber's thread (redis_subscriber.h) and popguard-cli revoke.
// The request path never uses these (it has RedisClient).
#ifndef POPGUARD_STORAGE_REDIS_SYNC_H_
#define POPGUARD_STORAGE_REDIS_SYNC_H_

#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/redis_options.h"

namespace popguard {

struct RedisContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisSyncContext = std::unique_ptr<redisContext, RedisContextFree>;
struct RedisSyncReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisSyncReply = std::unique_ptr<redisReply, RedisSyncReplyFree>;

// OpenRedisSync connects to `endpoint` (connect_timeout, at least 200 ms),
// sets `io_timeout` on the socket, logs in with options' username/password
// and, when `select` and options.database != 0, SELECTs it. Errors never
// contain the password.
absl::StatusOr<RedisSyncContext> OpenRedisSync(const RedisEndpoint& endpoint,
                                               const RedisClientOptions& options,
                                               absl::Duration io_timeout, bool select);

// RedisSyncCommand runs one command: a transport failure is Unavailable, an
// error reply FailedPrecondition with the reply's text.
absl::StatusOr<RedisSyncReply> RedisSyncCommand(redisContext* c,
                                                const std::vector<std::string>& args);

// MovedTo returns the node named by a "MOVED <slot> <host:port>" error in
// `status`, or an error when it is not one.
absl::StatusOr<RedisEndpoint> MovedTo(const absl::Status& status);

// ReplyString returns a string, status or error reply's text ("" otherwise).
std::string_view ReplyString(const redisReply* r);

}  // namespace popguard

#endif  // POPGUARD_STORAGE_REDIS_SYNC_H_
