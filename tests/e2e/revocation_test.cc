// Revocation end to end: real redis-server, two real popguard replicas and the
// real popguard-cli.
//
//   ReachesBothReplicas      popguard-cli revoke (each kind) -> both replicas
//                            deny within 1 s (polled, bounded)
//   MissedWhileDisconnected  the subscriber is killed (CLIENT KILL TYPE pubsub)
//                            and an entry is written without an announcement it
//                            could receive: the full read on reconnect applies it
//   RedisRestart             Redis with appendonly (the persistence popguard
//                            assumes) restarts: the replicas keep denying
//                            meanwhile, entries survive, and new ones arrive
//   FileAndReload            revocation.file: read at start, re-read on SIGHUP;
//                            a bad file refuses the reload and keeps the old list
//   ExpiredEntries           an entry stops denying at its expiry
#include <signal.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/popguard_process.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/replay_replicas.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {
namespace {

using popguard::redis_testing::RedisServer;

constexpr char kKey[] = "{popguard-revocation}:entries";

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

// BearerRequest is GET /public/x (a bearer route) with a token minted with `options`.
HttpSpec BearerRequest(TokenOptions options) {
  const std::string token = TestEnv::Get().issuer().MintToken(options);
  return {.url = TestEnv::Url("/public/x"), .headers = {H("Authorization", "Bearer " + token)}};
}

TokenOptions WithJti(const std::string& jti) {
  return {.claims = {{"jti", JsonValue::String(jti)}}};
}

// Cli runs popguard-cli with `args`; a non-zero exit fails the test.
std::string Cli(const std::vector<std::string>& args) {
  ProgramResult r = RunProgram(std::string(POPGUARD_BINARY_DIR) + "/popguard-cli", args,
                               TestEnv::Get().dir().path(), absl::Seconds(20));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.out;
}

// ListeningPid reads the pid from the replica's "listening" line.
pid_t ListeningPid(PopguardProcess& p) {
  std::smatch m;
  static const std::regex kPid("\"pid\":([0-9]+)");
  for (const std::string& line : p.Logs()) {
    if (line.find("\"event\":\"listening\"") != std::string::npos &&
        std::regex_search(line, m, kPid)) {
      return static_cast<pid_t>(std::stol(m[1]));
    }
  }
  return -1;
}

// CountLines counts the replica's log lines containing `needle`.
int CountLines(PopguardProcess& p, const std::string& needle) {
  int n = 0;
  for (const std::string& line : p.Logs()) n += line.find(needle) != std::string::npos;
  return n;
}

class RevocationE2eTest : public ::testing::Test {
 protected:
  // StartRedisAndReplicas starts Redis (with `redis_args`) and replicas a and
  // b with revocation.redis, and waits until both are subscribed.
  void StartRedisAndReplicas(std::vector<std::string> redis_args = {}) {
    auto redis = RedisServer::Start({.extra_args = std::move(redis_args)});
    ASSERT_TRUE(redis.ok()) << redis.status();
    redis_ = *std::move(redis);
    ConfigOptions options;
    options.extra_yaml =
        RedisReplayYaml({redis_->address()}, "fail_closed") + "revocation:\n  redis: true\n";
    for (const char* name : {"revoke-a.yaml", "revoke-b.yaml"}) {
      auto replica = StartServingReplica(name, options, absl::Seconds(10));
      ASSERT_NE(replica, nullptr);
      ASSERT_TRUE(
          replica->process().WaitForLogLine("revocation_redis_subscribed", absl::Seconds(5)))
          << replica->process().LogText();
      replicas_.push_back(std::move(replica));
    }
  }

  // WaitForReason polls every replica until each answers `spec` with
  // `reason`, for at most `bound` in all; returns how long it took, or
  // InfiniteDuration when some replica never did.
  absl::Duration WaitForReason(const HttpSpec& spec, const std::string& reason,
                               absl::Duration bound) {
    const absl::Time start = absl::Now();
    for (auto& replica : replicas_) {
      while (replica->Verify(spec).reason_code() != reason) {
        if (absl::Now() - start > bound) return absl::InfiniteDuration();
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
    return absl::Now() - start;
  }

  std::vector<std::string> Revoke(std::vector<std::string> what) {
    what.insert(what.begin(), "revoke");
    what.push_back("--redis");
    what.push_back(redis_->address());
    return what;
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<RunningServer>> replicas_;
};

TEST_F(RevocationE2eTest, ReachesBothReplicasWithinASecond) {
  ASSERT_NO_FATAL_FAILURE(StartRedisAndReplicas());
  TestEnv& env = TestEnv::Get();
  const PrivateKey& dpop_key = env.client_key(JwsAlg::kES384);
  struct Case {
    std::string name;
    HttpSpec request;
    std::vector<std::string> flags;
    std::string reason;
  };
  std::vector<Case> cases;
  cases.push_back(
      {"jti", BearerRequest(WithJti("e2e-jti-1")), {"--jti", "e2e-jti-1"}, "token_revoked"});
  cases.push_back({"sub",
                   BearerRequest({.sub = "mallory"}),
                   {"--sub", "mallory", "--iss", env.issuer().iss()},
                   "token_revoked"});
  cases.push_back({"client_id",
                   BearerRequest({.client_id = "leaky-client"}),
                   {"--client-id", "leaky-client"},
                   "token_revoked"});
  {
    const std::string url = TestEnv::Url("/dpop/orders");
    const std::string token = env.issuer().MintToken({.jkt = dpop_key.Thumbprint()});
    cases.push_back({"jkt",
                     {.url = url,
                      .headers = {H("Authorization", "DPoP " + token),
                                  H("DPoP", MintProof(dpop_key, {.url = url, .token = token}))}},
                     {"--jkt", dpop_key.Thumbprint()},
                     "key_revoked"});
  }
  // Last: it revokes an issuer key every later token of this test would use.
  cases.push_back({"kid",
                   BearerRequest({.alg = JwsAlg::kES512}),
                   {"--kid", "es512-1", "--iss", env.issuer().iss()},
                   "key_revoked"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.name != "jkt") {  // a DPoP request is allowed once (its proof's jti)
      for (auto& replica : replicas_) EXPECT_EQ(replica->Verify(c.request).reason_code(), "ok");
    }
    std::vector<std::string> flags = c.flags;
    flags.insert(flags.end(), {"--for", "10m"});
    EXPECT_NE(Cli(Revoke(flags)).find("2 subscribers notified"), std::string::npos);
    const absl::Duration took = WaitForReason(c.request, c.reason, absl::Seconds(1));
    EXPECT_LE(took, absl::Seconds(1)) << replicas_[0]->process().LogText();
    const popguard::v1::VerifyResponse r = replicas_[1]->Verify(c.request);
    EXPECT_EQ(r.http_status(), 401);
    EXPECT_EQ(r.decision(), popguard::v1::DENY);
  }
  // popguard-cli revoke --list shows them, as JSON lines; the replicas log
  // each applied entry by kind and expiry, never by value.
  const std::string list = Cli(Revoke({"--list"}));
  EXPECT_NE(list.find("\"kind\":\"sub\",\"iss\":\"https://issuer.test\",\"value\":\"mallory\""),
            std::string::npos)
      << list;
  for (auto& replica : replicas_) {
    int applied = 0;
    for (const std::string& line : replica->process().Logs()) {
      if (line.find("\"event\":\"revocation_applied\"") == std::string::npos) continue;
      ++applied;
      for (const char* value : {"e2e-jti-1", "mallory", "leaky-client", "es512-1"}) {
        EXPECT_EQ(line.find(value), std::string::npos) << line;
      }
    }
    EXPECT_EQ(applied, 5);
  }
}

TEST_F(RevocationE2eTest, EntryWrittenWhileDisconnectedIsAppliedAfterReconnect) {
  ASSERT_NO_FATAL_FAILURE(StartRedisAndReplicas());
  const HttpSpec request = BearerRequest(WithJti("e2e-missed"));
  for (auto& replica : replicas_) ASSERT_EQ(replica->Verify(request).reason_code(), "ok");
  // The subscribers are cut off and the entry is written with no announcement
  // they could receive (as if it had been published while they were away).
  // Only the full read on reconnect can bring it: the periodic re-read is a
  // minute away.
  EXPECT_EQ(redis_->CommandText({"CLIENT", "KILL", "TYPE", "pubsub"}), "2");
  const std::string until = absl::StrCat(absl::ToUnixSeconds(absl::Now() + absl::Minutes(10)));
  EXPECT_EQ(redis_->CommandText({"ZADD", kKey, until, "jti\t\te2e-missed"}), "1");
  EXPECT_LE(WaitForReason(request, "token_revoked", absl::Seconds(5)), absl::Seconds(5));
  for (auto& replica : replicas_) {
    EXPECT_TRUE(replica->process().WaitForLogLine("revocation_redis_lost", absl::Seconds(1)));
    EXPECT_EQ(CountLines(replica->process(), "revocation_redis_subscribed"), 2)
        << replica->process().LogText();
  }
}

TEST_F(RevocationE2eTest, SurvivesARedisRestart) {
  // popguard assumes Redis persists the set (appendonly or RDB snapshots):
  // a replica that starts while Redis is empty could not learn old entries.
  ASSERT_NO_FATAL_FAILURE(StartRedisAndReplicas({"--appendonly", "yes"}));
  const HttpSpec before = BearerRequest(WithJti("e2e-before-restart"));
  Cli(Revoke({"--jti", "e2e-before-restart", "--for", "10m"}));
  ASSERT_LE(WaitForReason(before, "token_revoked", absl::Seconds(1)), absl::Seconds(1));

  redis_->Kill();
  for (auto& replica : replicas_) {
    ASSERT_TRUE(replica->process().WaitForLogLine("revocation_redis_lost", absl::Seconds(10)));
    // Redis down: the last list keeps denying.
    EXPECT_EQ(replica->Verify(before).reason_code(), "token_revoked");
  }
  ASSERT_TRUE(redis_->Restart().ok());
  // The entry was persisted...
  EXPECT_NE(Cli(Revoke({"--list"})).find("e2e-before-restart"), std::string::npos);
  // ...and the replicas resubscribed: a new entry reaches both.
  for (auto& replica : replicas_) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (CountLines(replica->process(), "revocation_redis_subscribed") < 2 &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    ASSERT_EQ(CountLines(replica->process(), "revocation_redis_subscribed"), 2)
        << replica->process().LogText();
  }
  const HttpSpec after = BearerRequest(WithJti("e2e-after-restart"));
  Cli(Revoke({"--jti", "e2e-after-restart", "--for", "10m"}));
  EXPECT_LE(WaitForReason(after, "token_revoked", absl::Seconds(1)), absl::Seconds(1));
  EXPECT_EQ(replicas_[0]->Verify(before).reason_code(), "token_revoked");
}

TEST_F(RevocationE2eTest, ExpiredEntriesStopDenying) {
  ASSERT_NO_FATAL_FAILURE(StartRedisAndReplicas());
  const HttpSpec request = BearerRequest(WithJti("e2e-short"));
  Cli(Revoke({"--jti", "e2e-short", "--for", "2s"}));
  ASSERT_LE(WaitForReason(request, "token_revoked", absl::Seconds(1)), absl::Seconds(1));
  // The entry lasts 2 to 3 s (whole seconds, rounded up): allowed again after.
  EXPECT_LE(WaitForReason(request, "ok", absl::Seconds(5)), absl::Seconds(5));
}

TEST(RevocationFileE2eTest, FileIsReadAtStartAndOnReload) {
  TestEnv& env = TestEnv::Get();
  const std::string file = env.dir().Write("revoked.jsonl", "");
  Cli({"revoke", "--sub", "eve", "--iss", env.issuer().iss(), "--for", "1h", "--file", file});
  ConfigOptions options;
  options.extra_yaml = absl::StrCat("revocation:\n  file: ", file, "\n");
  auto server = RunningServer::Start("revoke-file.yaml", options);
  ASSERT_TRUE(server->ok()) << server->error();
  PopguardProcess& p = server->process();
  const pid_t pid = ListeningPid(p);
  ASSERT_GT(pid, 0) << p.LogText();

  const HttpSpec eve = BearerRequest({.sub = "eve"});
  const HttpSpec bob = BearerRequest({.sub = "bob"});
  EXPECT_EQ(server->Verify(eve).reason_code(), "token_revoked");
  EXPECT_EQ(server->Verify(bob).reason_code(), "ok");

  // A new entry applies on the next reload.
  Cli({"revoke", "--sub", "bob", "--iss", env.issuer().iss(), "--for", "1h", "--file", file});
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(p.WaitForLogLine("\"event\":\"config_reloaded\"", absl::Seconds(10))) << p.LogText();
  EXPECT_EQ(server->Verify(bob).reason_code(), "token_revoked");

  // A bad file refuses the reload, like a bad config; the last list stays.
  env.dir().Write("revoked.jsonl", "{\"kind\":\"jti\",\"value\":\"x\"}\n");
  ASSERT_EQ(kill(pid, SIGHUP), 0);
  ASSERT_TRUE(p.WaitForLogLine("config_reload_failed", absl::Seconds(10))) << p.LogText();
  EXPECT_NE(p.LogText().find("revocation.file"), std::string::npos);
  EXPECT_EQ(server->Verify(bob).reason_code(), "token_revoked");
  EXPECT_EQ(server->Verify(eve).reason_code(), "token_revoked");
}

}  // namespace
}  // namespace popguard::e2e
