#include "storage/redis_subscriber.h"

#include <poll.h>

#include <algorithm>
#include <chrono>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "storage/redis_sync.h"

namespace popguard {
namespace {

using Steady = std::chrono::steady_clock;

absl::string_view Str(const redisReply* r) {
  const std::string_view text = ReplyString(r);
  return absl::string_view(text.data(), text.size());
}

absl::StatusOr<RedisSyncContext> Open(const RedisEndpoint& endpoint,
                                      const RedisSubscriberOptions& o, bool select) {
  auto c = OpenRedisSync(endpoint, o.redis, o.read_timeout, select);
  if (c.ok()) (void)RedisSyncCommand(c->get(), {"CLIENT", "SETNAME", "popguard-revocation"});
  return c;
}

}  // namespace

std::unique_ptr<RedisSubscriber> RedisSubscriber::Start(RedisSubscriberOptions options) {
  auto subscriber = std::unique_ptr<RedisSubscriber>(new RedisSubscriber(std::move(options)));
  subscriber->thread_ = std::thread([s = subscriber.get()] { s->Loop(); });
  return subscriber;
}

RedisSubscriber::~RedisSubscriber() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool RedisSubscriber::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

absl::Time RedisSubscriber::Now() const {
  return options_.wall_clock ? options_.wall_clock() : absl::Now();
}

void RedisSubscriber::SetState(bool connected, std::string_view why) {
  connected_.store(connected, std::memory_order_relaxed);
  if (options_.on_state) options_.on_state(connected, why);
}

void RedisSubscriber::Loop() {
  const std::vector<RedisEndpoint>& seeds = options_.redis.seeds;
  if (seeds.empty()) return;
  absl::Duration backoff = options_.backoff_min;
  for (size_t attempt = 0;; ++attempt) {
    std::string why = Session(seeds[attempt % seeds.size()]);
    if (connected()) backoff = options_.backoff_min;  // it had worked: retry soon
    SetState(false, why);
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), backoff)) return;
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> RedisSubscriber::FullRead(
    const RedisEndpoint& endpoint, int redirects_left) {
  absl::StatusOr<RedisSyncContext> c = Open(endpoint, options_, /*select=*/true);
  if (!c.ok()) return c.status();
  // "(now": only entries that still deny; expired ones are left for the
  // writer (popguard-cli revoke) to remove.
  const std::string min = absl::StrCat("(", absl::ToUnixSeconds(Now()));
  absl::StatusOr<RedisSyncReply> r =
      RedisSyncCommand(c->get(), {"ZRANGEBYSCORE", options_.key, min, "+inf", "WITHSCORES"});
  if (!r.ok()) {
    // Redis Cluster: the key's slot lives on another master.
    absl::StatusOr<RedisEndpoint> owner = MovedTo(r.status());
    if (owner.ok() && redirects_left > 0) return FullRead(*owner, redirects_left - 1);
    return r.status();
  }
  if ((*r)->type != REDIS_REPLY_ARRAY || (*r)->elements % 2 != 0) {
    return absl::InternalError("ZRANGEBYSCORE: unexpected reply");
  }
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve((*r)->elements / 2);
  for (size_t i = 0; i + 1 < (*r)->elements; i += 2) {
    double score = 0;
    if (!absl::SimpleAtod(Str((*r)->element[i + 1]), &score)) continue;
    out.emplace_back(std::string(Str((*r)->element[i])), static_cast<int64_t>(score));
  }
  return out;
}

std::string RedisSubscriber::Session(const RedisEndpoint& seed) {
  absl::StatusOr<RedisSyncContext> opened = Open(seed, options_, /*select=*/false);
  if (!opened.ok()) return std::string(opened.status().message());
  redisContext* c = opened->get();
  absl::StatusOr<RedisSyncReply> subscribed = RedisSyncCommand(c, {"SUBSCRIBE", options_.channel});
  if (!subscribed.ok()) return std::string(subscribed.status().message());
  auto snapshot = FullRead(seed, /*redirects_left=*/2);
  if (!snapshot.ok()) return absl::StrCat("full read: ", snapshot.status().message());
  if (options_.on_snapshot) options_.on_snapshot(*std::move(snapshot));
  SetState(true, "subscribed");

  const auto resync = absl::ToChronoMilliseconds(options_.resync_interval);
  const auto ping_every = absl::ToChronoMilliseconds(options_.ping_interval);
  const auto answer_within = absl::ToChronoMilliseconds(options_.read_timeout);
  Steady::time_point last_read = Steady::now();
  Steady::time_point last_ping = Steady::now();
  bool awaiting_pong = false;
  while (!Stopping()) {
    std::vector<std::string> messages;
    while (true) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) return "protocol error";
      if (raw == nullptr) break;
      RedisSyncReply reply(static_cast<redisReply*>(raw));
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) continue;
      const absl::string_view type = Str(reply->element[0]);
      if (type == "message" && reply->elements >= 3) {
        messages.emplace_back(Str(reply->element[2]));
      } else if (type == "pong") {
        awaiting_pong = false;
      }
    }
    if (!messages.empty() && options_.on_messages) options_.on_messages(std::move(messages));
    const Steady::time_point now = Steady::now();
    if (now - last_read >= resync) {
      // The safety net: anything a message could not carry (a writer that
      // skipped PUBLISH) arrives within resync_interval.
      auto again = FullRead(seed, /*redirects_left=*/2);
      if (!again.ok()) return absl::StrCat("full read: ", again.status().message());
      if (options_.on_snapshot) options_.on_snapshot(*std::move(again));
      last_read = Steady::now();
    }
    if (awaiting_pong && now - last_ping > answer_within) return "no answer to PING";
    if (!awaiting_pong && now - last_ping >= ping_every) {
      // A connection that died without a FIN or RST (a partition) would
      // otherwise look subscribed forever.
      redisAppendCommand(c, "PING");
      int done = 0;
      while (done == 0) {
        if (redisBufferWrite(c, &done) != REDIS_OK) return absl::StrCat("write: ", c->errstr);
      }
      awaiting_pong = true;
      last_ping = now;
    }
    pollfd p{c->fd, POLLIN, 0};
    const int ready = poll(&p, 1, 200);
    if (ready > 0 && redisBufferRead(c) != REDIS_OK) {
      return absl::StrCat("connection lost: ", c->errstr);
    }
  }
  return "stopping";
}

}  // namespace popguard
