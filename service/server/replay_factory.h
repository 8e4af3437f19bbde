// CreateReplayStore: the replay store `replay:` in the config asks for.
//
//   backend memory -> MemoryReplayStore(max_entries): this process only.
//   backend redis  -> RedisReplayStore: one window for every replica (see
//                     storage/redis_replay_store.h), its events logged through
//                     service/common/log.h, and, when replay.redis.required_for_readiness,
//                     a readiness check "replay_store" (not ready while no Redis
//                     node is reachable or the circuit breaker is open).
#ifndef POPGUARD_SERVICE_REPLAY_FACTORY_H_
#define POPGUARD_SERVICE_REPLAY_FACTORY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/config/config.h"
#include "service/ops/readiness.h"
#include "storage/redis_options.h"
#include "storage/replay_store.h"

namespace popguard {

// CreateReplayStore builds the store. It never waits for Redis: the store
// connects in the background and readiness reports when it can answer.
// `readiness` may be null; otherwise it must not outlive the returned store.
// Errors (InvalidArgument, naming the key) only come from reading the
// password file; the message never contains the password.
// RedisClientOptionsFor returns replay.redis as client options (addresses,
// ACL user and password, database, timeouts, logging), for other users of
// the same Redis (the revocation list).
absl::StatusOr<RedisClientOptions> RedisClientOptionsFor(const Config& config);

absl::StatusOr<std::unique_ptr<ReplayStore>> CreateReplayStore(const Config& config,
                                                               Readiness* readiness);

// ReadRedisPassword returns the content of `path` without its trailing line
// break(s) and spaces.
absl::StatusOr<std::string> ReadRedisPassword(const std::string& path);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_REPLAY_FACTORY_H_
