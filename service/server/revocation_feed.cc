#include "service/server/revocation_feed.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/common/log.h"
#include "service/ops/popguard_metrics.h"
#include "service/server/replay_factory.h"

namespace popguard {

absl::StatusOr<std::unique_ptr<RevocationFeed>> RevocationFeed::Start(const Config& config,
                                                                      const Clock* clock,
                                                                      Readiness* readiness) {
  auto feed = std::unique_ptr<RevocationFeed>(new RevocationFeed());
  feed->clock_ = clock;
  const RevocationConfig& rc = config.revocation;
  if (!rc.redis) return feed;
  absl::StatusOr<RedisClientOptions> redis = RedisClientOptionsFor(config);
  if (!redis.ok()) return redis.status();
  feed->list_ = std::make_unique<LiveRevocations>();
  {
    absl::MutexLock lock(&feed->mu_);
    feed->lost_since_ = clock->Now();
  }
  RedisSubscriberOptions o;
  o.redis = *std::move(redis);
  o.channel = rc.redis_channel;
  o.key = rc.redis_key;
  o.resync_interval = rc.resync_interval;
  o.wall_clock = [clock] { return clock->Now(); };
  RevocationFeed* raw = feed.get();
  o.on_snapshot = [raw](auto members) { raw->OnSnapshot(std::move(members)); };
  o.on_messages = [raw](auto messages) { raw->OnMessages(std::move(messages)); };
  o.on_state = [raw](bool connected, std::string_view why) { raw->OnState(connected, why); };
  if (readiness != nullptr && rc.max_staleness > absl::ZeroDuration()) {
    const absl::Duration max_staleness = rc.max_staleness;
    readiness->Add("revocation", [raw, clock, max_staleness](std::string* why) {
      absl::Time since;
      if (raw->Current(&since) || clock->Now() - since < max_staleness) return true;
      *why = absl::StrCat("the Redis revocation list has not been current since ",
                          FormatRfc3339(since), " (revocation.max_staleness ",
                          absl::FormatDuration(max_staleness), ")");
      return false;
    });
  }
  feed->subscriber_ = RedisSubscriber::Start(std::move(o));
  LogLine(LogLevel::kInfo, "revocation_redis")
      .Add("key", rc.redis_key)
      .Add("channel", rc.redis_channel)
      .Add("resync_interval", absl::FormatDuration(rc.resync_interval))
      .Add("max_staleness", absl::FormatDuration(rc.max_staleness));
  return feed;
}

RevocationFeed::~RevocationFeed() { subscriber_.reset(); }

bool RevocationFeed::Current(absl::Time* since) const {
  absl::MutexLock lock(&mu_);
  *since = lost_since_;
  return connected_;
}

void RevocationFeed::OnSnapshot(std::vector<std::pair<std::string, int64_t>> members) {
  std::vector<RevocationEntry> entries;
  entries.reserve(members.size());
  int64_t skipped = 0;
  for (const auto& [member, until] : members) {
    absl::StatusOr<RevocationEntry> entry = ParseRevocationMember(member, until);
    if (entry.ok()) {
      entries.push_back(*std::move(entry));
    } else {
      ++skipped;
    }
  }
  const absl::Time now = clock_->Now();
  list_->Add(entries, now);
  snapshots_.fetch_add(1, std::memory_order_relaxed);
  last_read_unix_.store(absl::ToUnixSeconds(now), std::memory_order_relaxed);
  if (skipped > 0) {
    // The member itself is not logged: it may hold a subject.
    LogLine(LogLevel::kWarn, "revocation_entries_skipped")
        .Add("count", skipped)
        .Add("detail", "members not of the form <kind>\\t<iss>\\t<value>");
  }
}

void RevocationFeed::OnMessages(std::vector<std::string> messages) {
  std::vector<RevocationEntry> entries;
  for (const std::string& message : messages) {
    absl::StatusOr<RevocationEntry> entry = ParseRevocationMessage(message);
    if (!entry.ok()) {
      LogLine(LogLevel::kWarn, "revocation_message_skipped")
          .Add("detail", entry.status().message());
      continue;
    }
    entries.push_back(*std::move(entry));
  }
  if (entries.empty()) return;
  list_->Add(entries, clock_->Now());
  messages_.fetch_add(entries.size(), std::memory_order_relaxed);
  for (const RevocationEntry& e : entries) {
    LogLine(LogLevel::kInfo, "revocation_applied")
        .Add("kind", RevocationKindName(e.kind))
        .Add("until", FormatRfc3339(e.until));
  }
}

void RevocationFeed::OnState(bool connected, std::string_view why) {
  absl::MutexLock lock(&mu_);
  if (!connected && !connected_ && !told_unreachable_) {
    // Never connected yet: say so once (the replica runs on the file alone).
    told_unreachable_ = true;
    LogLine(LogLevel::kWarn, "revocation_redis_unreachable")
        .Add("detail", why)
        .Add("action", "retrying; no Redis entries known yet");
    return;
  }
  if (connected == connected_) return;
  connected_ = connected;
  if (!connected) lost_since_ = clock_->Now();
  LogLine(connected ? LogLevel::kInfo : LogLevel::kWarn,
          connected ? "revocation_redis_subscribed" : "revocation_redis_lost")
      .Add("detail", why)
      .Add("action", connected ? "full list read; following announcements"
                               : "keeping the last list; reconnecting");
}

void RevocationFeed::RegisterMetrics(std::function<std::shared_ptr<const Authenticator>()> current,
                                     const RevocationFeed* feed) {
  MetricRegistry& registry = PopguardMetrics::Get().registry();
  registry.AddCallback(
      "popguard_revocation_entries",
      "Live revocation entries, by source (file, redis) and kind (jti, sub, client_id, jkt, kid).",
      "gauge", {"source", "kind"}, [current, feed] {
        std::vector<Sample> samples;
        std::shared_ptr<const Authenticator> auth = current ? current() : nullptr;
        std::shared_ptr<const RevocationSet> live =
            feed != nullptr && feed->list() != nullptr ? feed->list()->Current() : nullptr;
        for (RevocationKind kind : kAllRevocationKinds) {
          const std::string name(RevocationKindName(kind));
          samples.push_back({{"file", name},
                             static_cast<double>(auth ? auth->file_revocations().Count(kind) : 0)});
          if (live) samples.push_back({{"redis", name}, static_cast<double>(live->Count(kind))});
        }
        return samples;
      });
  registry.AddCallback(
      "popguard_revocation_updates_total",
      "Revocation updates applied from Redis: full reads (redis_sync) and announced entries "
      "(redis_message).",
      "counter", {"source"}, [feed] {
        std::vector<Sample> samples;
        const bool on = feed != nullptr && feed->list() != nullptr;
        samples.push_back({{"redis_sync"}, on ? static_cast<double>(feed->snapshots_.load()) : 0});
        samples.push_back(
            {{"redis_message"}, on ? static_cast<double>(feed->messages_.load()) : 0});
        return samples;
      });
  registry.AddCallback(
      "popguard_revocation_last_sync_timestamp_seconds",
      "When the Redis revocation list was last read in full (unix seconds; 0: never).", "gauge", {},
      [feed] {
        const bool on = feed != nullptr && feed->list() != nullptr;
        return std::vector<Sample>{
            {{}, on ? static_cast<double>(feed->last_read_unix_.load()) : 0}};
      });
  registry.AddCallback(
      "popguard_revocation_redis_connected",
      "1 while the revocation subscriber is connected and current, 0 while not; absent without "
      "revocation.redis.",
      "gauge", {}, [feed] {
        std::vector<Sample> samples;
        if (feed != nullptr && feed->list() != nullptr) {
          absl::Time since;
          samples.push_back({{}, feed->Current(&since) ? 1.0 : 0.0});
        }
        return samples;
      });
}

}  // namespace popguard
