#include "service/server/replay_factory.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "service/common/file.h"
#include "service/common/log.h"
#include "storage/memory_replay_store.h"
#include "storage/redis_replay_store.h"

namespace popguard {
namespace {

LogLevel ToLogLevel(RedisLogLevel level) {
  switch (level) {
    case RedisLogLevel::kInfo:
      return LogLevel::kInfo;
    case RedisLogLevel::kWarn:
      return LogLevel::kWarn;
    case RedisLogLevel::kError:
      return LogLevel::kError;
  }
  return LogLevel::kError;
}

absl::StatusOr<RedisReplayStoreOptions> RedisOptions(const Config& config) {
  const RedisReplayConfig& rc = config.replay.redis;
  RedisReplayStoreOptions o;
  for (const std::string& address : rc.addresses) {
    absl::StatusOr<RedisEndpoint> ep = ParseRedisEndpoint(address);
    if (!ep.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("replay.redis.addresses: ", ep.status().message()));
    }
    o.redis.seeds.push_back(*std::move(ep));
  }
  o.redis.username = rc.username;
  if (!rc.password_file.empty()) {
    absl::StatusOr<std::string> password = ReadRedisPassword(rc.password_file);
    if (!password.ok()) return password.status();
    o.redis.password = *std::move(password);
  }
  o.redis.database = rc.database;
  o.redis.connect_timeout = rc.connect_timeout;
  o.redis.command_timeout = rc.command_timeout;
  o.redis.pool_size = rc.pool_size;
  o.redis.log = [](RedisLogLevel level, std::string_view event, std::string_view detail) {
    LogLine(ToLogLevel(level), event).Add("detail", detail);
  };
  o.key_prefix = rc.key_prefix;
  o.failure_policy = rc.failure_policy == "local_fallback" ? ReplayFailurePolicy::kLocalFallback
                                                           : ReplayFailurePolicy::kFailClosed;
  o.fallback_max_entries = config.replay.max_entries;
  o.breaker_failures = rc.breaker_failures;
  o.breaker_open = rc.breaker_open;
  return o;
}

}  // namespace

absl::StatusOr<RedisClientOptions> RedisClientOptionsFor(const Config& config) {
  absl::StatusOr<RedisReplayStoreOptions> options = RedisOptions(config);
  if (!options.ok()) return options.status();
  return options->redis;
}

absl::StatusOr<std::string> ReadRedisPassword(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 64 << 10);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("replay.redis.password_file: cannot read ", path));
  }
  std::string password = *std::move(text);
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r' ||
                               password.back() == ' ' || password.back() == '\t')) {
    password.pop_back();
  }
  if (password.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("replay.redis.password_file: ", path, " holds no password"));
  }
  return password;
}

absl::StatusOr<std::unique_ptr<ReplayStore>> CreateReplayStore(const Config& config,
                                                               Readiness* readiness) {
  if (config.replay.backend != "redis") {
    // The window of this process begins now: a proof issued before may have
    // been accepted by the process that ran before this one (a restart), so
    // MemoryReplayStore refuses it with kWindowReset. Whole seconds, like iat,
    // so a client's proof made in the second popguard started still passes.
    const absl::Time start = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()));
    return std::unique_ptr<ReplayStore>(
        std::make_unique<MemoryReplayStore>(config.replay.max_entries, /*shards=*/64, start));
  }
  absl::StatusOr<RedisReplayStoreOptions> options = RedisOptions(config);
  if (!options.ok()) return options.status();
  std::unique_ptr<RedisReplayStore> store = RedisReplayStore::Create(*std::move(options));
  const RedisReplayConfig& rc = config.replay.redis;
  LogLine(LogLevel::kInfo, "replay_store")
      .Add("backend", "redis")
      .Add("addresses", absl::StrJoin(rc.addresses, ","))
      .Add("failure_policy", rc.failure_policy)
      .Add("required_for_readiness", rc.required_for_readiness);
  if (readiness != nullptr && rc.required_for_readiness) {
    RedisReplayStore* raw = store.get();
    readiness->Add("replay_store", [raw](std::string* why) { return raw->Ready(why); });
  }
  return std::unique_ptr<ReplayStore>(std::move(store));
}

}  // namespace popguard
