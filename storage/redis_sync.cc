#include "storage/redis_sync.h"

#include <sys/time.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace popguard {
namespace {

timeval TimevalOf(absl::Duration d) { return absl::ToTimeval(std::max(d, absl::Milliseconds(1))); }

}  // namespace

std::string_view ReplyString(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                          r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view();
}

absl::StatusOr<RedisSyncReply> RedisSyncCommand(redisContext* c,
                                                const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  RedisSyncReply reply(static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  if (reply == nullptr) return absl::UnavailableError(absl::StrCat(args[0], ": ", c->errstr));
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view text = ReplyString(reply.get());
    return absl::FailedPreconditionError(
        absl::StrCat(args[0], ": ", absl::string_view(text.data(), text.size())));
  }
  return reply;
}

absl::StatusOr<RedisSyncContext> OpenRedisSync(const RedisEndpoint& endpoint,
                                               const RedisClientOptions& options,
                                               absl::Duration io_timeout, bool select) {
  RedisSyncContext c(redisConnectWithTimeout(
      endpoint.host.c_str(), endpoint.port,
      TimevalOf(std::max(options.connect_timeout, absl::Milliseconds(200)))));
  if (c == nullptr || c->err != 0) {
    return absl::UnavailableError(absl::StrCat("connect ", endpoint.ToString(), ": ",
                                               c != nullptr ? c->errstr : "out of memory"));
  }
  redisSetTimeout(c.get(), TimevalOf(io_timeout));
  if (!options.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!options.username.empty()) auth.push_back(options.username);
    auth.push_back(options.password);
    if (!RedisSyncCommand(c.get(), auth).ok()) {
      return absl::PermissionDeniedError(absl::StrCat("AUTH refused by ", endpoint.ToString()));
    }
  }
  if (select && options.database != 0) {
    auto selected = RedisSyncCommand(c.get(), {"SELECT", absl::StrCat(options.database)});
    if (!selected.ok()) return selected.status();
  }
  return c;
}

absl::StatusOr<RedisEndpoint> MovedTo(const absl::Status& status) {
  const std::string_view message(status.message().data(), status.message().size());
  const size_t moved = message.find("MOVED ");
  if (moved == std::string_view::npos) return absl::NotFoundError("not a MOVED error");
  std::string_view rest = message.substr(moved + 6);
  const size_t space = rest.find(' ');
  if (space == std::string_view::npos) return absl::InvalidArgumentError("malformed MOVED");
  return ParseRedisEndpoint(rest.substr(space + 1));
}

}  // namespace popguard
