#include "service/tools/cli/revoke.h"

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/authn/revocation.h"
#include "service/common/file.h"
#include "service/common/strings.h"
#include "service/config/config.h"
#include "storage/redis_sync.h"

namespace popguard {
namespace {

constexpr absl::string_view kDefaultKey = "{popguard-revocation}:entries";
constexpr absl::string_view kDefaultChannel = "popguard:revocation";

int Fail(absl::string_view msg) {
  std::cerr << "popguard-cli: revoke: " << msg << "\n";
  return 2;
}

// EntryFromFlags builds the entry the flags describe.
absl::StatusOr<RevocationEntry> EntryFromFlags(const FlagValues& args, absl::Time now) {
  static constexpr std::pair<absl::string_view, RevocationKind> kFlags[] = {
      {"jti", RevocationKind::kJti},
      {"sub", RevocationKind::kSub},
      {"client-id", RevocationKind::kClientId},
      {"jkt", RevocationKind::kJkt},
      {"kid", RevocationKind::kKid}};
  std::optional<RevocationEntry> entry;
  for (const auto& [flag, kind] : kFlags) {
    if (!args.Has(flag)) continue;
    if (entry) {
      return absl::InvalidArgumentError(
          "give exactly one of --jti, --sub, --client-id, --jkt, --kid");
    }
    entry = RevocationEntry{kind, args.Get("iss"), args.Get(flag), absl::InfinitePast()};
  }
  if (!entry) {
    return absl::InvalidArgumentError("give one of --jti, --sub, --client-id, --jkt, --kid");
  }
  if (args.Has("until") == args.Has("for")) {
    return absl::InvalidArgumentError("give exactly one of --until RFC3339 and --for DURATION");
  }
  if (args.Has("until")) {
    absl::StatusOr<absl::Time> until = ParseRfc3339(args.Get("until"));
    if (!until.ok())
      return absl::InvalidArgumentError(absl::StrCat("--until: ", until.status().message()));
    entry->until = *until;
  } else {
    absl::StatusOr<absl::Duration> d = ParseDuration(args.Get("for"));
    if (!d.ok() || *d <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("--for must be a positive duration (e.g. 15m, 1h)");
    }
    // Whole seconds, like exp: the entry lasts at least the time asked for.
    const absl::Time until = now + *d;
    const int64_t seconds = absl::ToUnixSeconds(until);
    entry->until =
        absl::FromUnixSeconds(absl::FromUnixSeconds(seconds) < until ? seconds + 1 : seconds);
  }
  if (entry->until <= now) return absl::InvalidArgumentError("--until is in the past");
  if (absl::Status s = CheckRevocationEntry(*entry); !s.ok()) return s;
  return *entry;
}

absl::StatusOr<RedisClientOptions> RedisFromFlags(const FlagValues& args) {
  RedisClientOptions o;
  absl::StatusOr<RedisEndpoint> endpoint = ParseRedisEndpoint(args.Get("redis"));
  if (!endpoint.ok()) return endpoint.status();
  o.seeds.push_back(*endpoint);
  o.username = args.Get("username");
  if (args.Has("password-file")) {
    absl::StatusOr<std::string> password = ReadFileToString(args.Get("password-file"), 64 << 10);
    if (!password.ok()) return absl::InvalidArgumentError("--password-file: cannot read it");
    o.password = std::string(StripWhitespace(*password));
  }
  o.database = static_cast<int>(args.GetInt("database", 0));
  o.connect_timeout = absl::Seconds(2);
  return o;
}

// WithOwner runs `run` on a connection to the node that owns `key`
// (following one MOVED from the --redis node in a Redis Cluster).
template <typename Fn>
absl::Status WithOwner(const RedisClientOptions& o, const std::string& key, Fn run) {
  RedisEndpoint endpoint = o.seeds[0];
  for (int hop = 0; hop < 2; ++hop) {
    auto c = OpenRedisSync(endpoint, o, absl::Seconds(5), /*select=*/true);
    if (!c.ok()) return c.status();
    auto probe = RedisSyncCommand(c->get(), {"ZCARD", key});
    if (probe.ok()) return run(c->get());
    absl::StatusOr<RedisEndpoint> owner = MovedTo(probe.status());
    if (!owner.ok()) return probe.status();
    endpoint = *owner;
  }
  return absl::UnavailableError("too many MOVED redirections");
}

int WriteRedis(const FlagValues& args, const RevocationEntry& entry, absl::Time now) {
  absl::StatusOr<RedisClientOptions> o = RedisFromFlags(args);
  if (!o.ok()) return Fail(o.status().message());
  const std::string key = args.Get("key", std::string(kDefaultKey));
  const std::string channel = args.Get("channel", std::string(kDefaultChannel));
  int64_t receivers = 0;
  absl::Status s = WithOwner(*o, key, [&](redisContext* c) -> absl::Status {
    // GT: an entry already there with a later expiry keeps it.
    auto added =
        RedisSyncCommand(c, {"ZADD", key, "GT", absl::StrCat(absl::ToUnixSeconds(entry.until)),
                             RevocationMember(entry)});
    if (!added.ok()) return added.status();
    // Entries past their expiry deny nothing: the writer drops them.
    (void)RedisSyncCommand(
        c, {"ZREMRANGEBYSCORE", key, "-inf", absl::StrCat(absl::ToUnixSeconds(now))});
    // Written before it is announced: a replica that reconnects in between
    // reads it in full; one that is subscribed gets the message.
    auto published = RedisSyncCommand(c, {"PUBLISH", channel, RevocationMessage(entry)});
    if (!published.ok()) return published.status();
    receivers = (*published)->integer;
    return absl::OkStatus();
  });
  if (!s.ok()) return Fail(s.message());
  std::cout << "revoked " << RevocationKindName(entry.kind) << " until "
            << FormatRfc3339(entry.until) << " in Redis " << args.Get("redis") << " (" << receivers
            << " subscribers notified)\n";
  return 0;
}

int WriteFile(const FlagValues& args, const RevocationEntry& entry) {
  const std::string path = args.Get("file");
  const std::string line = RevocationJsonLine(entry) + "\n";
  // O_APPEND: one write of one line, so a reader never sees half an entry
  // from two writers at once.
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(absl::StrCat("cannot open ", path));
  const ssize_t n = write(fd, line.data(), line.size());
  close(fd);
  if (n != static_cast<ssize_t>(line.size())) return Fail(absl::StrCat("cannot append to ", path));
  std::cout << "revoked " << RevocationKindName(entry.kind) << " until "
            << FormatRfc3339(entry.until) << " in " << path
            << " (replicas apply it on their next config reload: SIGHUP)\n";
  return 0;
}

int List(const FlagValues& args, absl::Time now) {
  std::vector<RevocationEntry> entries;
  if (args.Has("file")) {
    absl::StatusOr<std::vector<RevocationEntry>> read = ReadRevocationFile(args.Get("file"));
    if (!read.ok()) return Fail(read.status().message());
    entries = *std::move(read);
  } else {
    absl::StatusOr<RedisClientOptions> o = RedisFromFlags(args);
    if (!o.ok()) return Fail(o.status().message());
    const std::string key = args.Get("key", std::string(kDefaultKey));
    absl::Status s = WithOwner(*o, key, [&](redisContext* c) -> absl::Status {
      auto r =
          RedisSyncCommand(c, {"ZRANGEBYSCORE", key, absl::StrCat("(", absl::ToUnixSeconds(now)),
                               "+inf", "WITHSCORES"});
      if (!r.ok()) return r.status();
      for (size_t i = 0; i + 1 < (*r)->elements; i += 2) {
        int64_t until = 0;
        if (!absl::SimpleAtoi(AV(ReplyString((*r)->element[i + 1])), &until)) continue;
        auto entry = ParseRevocationMember(ReplyString((*r)->element[i]), until);
        if (entry.ok()) entries.push_back(*std::move(entry));
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return Fail(s.message());
  }
  // The values are identifiers, not credentials: an operator needs to see
  // them to audit the list. popguard itself never logs them.
  for (const RevocationEntry& e : RevocationSet::Build(entries, now)->Entries()) {
    std::cout << RevocationJsonLine(e) << "\n";
  }
  return 0;
}

}  // namespace

std::vector<FlagSpec> RevokeFlags() {
  constexpr FlagKind kStr = FlagKind::kString;
  return {
      {"jti", kStr, false, false, "JTI", "revoke one token (its jti claim)"},
      {"sub", kStr, false, false, "SUB", "revoke every token of a subject (needs --iss)"},
      {"client-id", kStr, false, false, "ID", "revoke every token of a client (client_id)"},
      {"jkt", kStr, false, false, "JKT", "revoke a DPoP key: tokens bound to it (cnf.jkt)"},
      {"kid", kStr, false, false, "KID", "revoke an issuer key: tokens it signed (needs --iss)"},
      {"iss", kStr, false, false, "ISS", "the issuer of --sub or --kid"},
      {"until", kStr, false, false, "RFC3339", "the entry's expiry, e.g. 2026-12-03T04:00:00Z"},
      {"for", kStr, false, false, "DURATION", "the entry's lifetime from now, e.g. 1h"},
      {"redis", kStr, false, false, "HOST:PORT", "write to (or --list) this Redis"},
      {"username", kStr, false, false, "USER", "Redis ACL user"},
      {"password-file", kStr, false, false, "FILE", "Redis password"},
      {"database", FlagKind::kInt, false, false, "N", "Redis database (single server)"},
      {"key", kStr, false, false, "KEY",
       "the sorted set (default {popguard-revocation}:entries; revocation.redis_key)"},
      {"channel", kStr, false, false, "CHANNEL",
       "the pub/sub channel (default popguard:revocation; revocation.redis_channel)"},
      {"file", kStr, false, false, "FILE", "append to (or --list) this revocation file"},
      {"list", FlagKind::kSwitch, false, false, "", "print the live entries as JSON lines"},
  };
}

int RunRevoke(const FlagValues& args) {
  if (args.Has("redis") == args.Has("file")) {
    return Fail("give exactly one of --redis HOST:PORT and --file PATH");
  }
  const absl::Time now = absl::Now();
  if (args.Has("list")) return List(args, now);
  absl::StatusOr<RevocationEntry> entry = EntryFromFlags(args, now);
  if (!entry.ok()) return Fail(entry.status().message());
  return args.Has("redis") ? WriteRedis(args, *entry, now) : WriteFile(args, *entry);
}

}  // namespace popguard
