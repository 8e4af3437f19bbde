// Two real popguard processes sharing one real Redis (replay.backend: redis):
// a DPoP proof accepted by replica A is rejected by replica B; with Redis
// killed, A denies with replay_store_unavailable (HTTP 503) under
// fail_closed and its gRPC health goes NOT_SERVING; after Redis restarts on
// the same port both recover by themselves.
#include <memory>
#include <optional>
#include <string>

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
using popguard::v1::VerifyResponse;

std::pair<std::string, std::string> H(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

// DpopRequest returns a fresh token and proof (new jti) for GET `url`,
// issued at `iat` (default now).
HttpSpec DpopRequest(const std::string& url, std::optional<absl::Time> iat = std::nullopt) {
  TestEnv& env = TestEnv::Get();
  const PrivateKey& key = env.client_key(JwsAlg::kES256);
  const std::string token = env.issuer().MintToken({.jkt = key.Thumbprint()});
  const std::string proof = MintProof(key, {.url = url, .token = token, .iat = iat});
  return {.url = url, .headers = {H("Authorization", "DPoP " + token), H("DPoP", proof)}};
}

std::string ReplayYaml(const RedisServer& redis) {
  return RedisReplayYaml({redis.address()}, "fail_closed");
}

TEST(RedisE2eTest, ReplicasShareTheReplayWindowAndFailClosed) {
  auto redis = RedisServer::Start();
  ASSERT_TRUE(redis.ok()) << redis.status();
  ConfigOptions options;
  options.extra_yaml = ReplayYaml(**redis);
  auto a = RunningServer::Start("redis-a.yaml", options);
  ASSERT_TRUE(a->ok()) << a->error();
  auto b = RunningServer::Start("redis-b.yaml", options);
  ASSERT_TRUE(b->ok()) << b->error();
  ASSERT_TRUE(WaitForHealth(*a, kServing, absl::Seconds(5))) << a->process().LogText();
  ASSERT_TRUE(WaitForHealth(*b, kServing, absl::Seconds(5))) << b->process().LogText();

  // Cross-replica replay: accepted once by A, rejected by B.
  const std::string url = TestEnv::Url("/dpop/orders");
  const HttpSpec first = DpopRequest(url);
  VerifyResponse r = a->Verify(first);
  EXPECT_EQ(r.reason_code(), "ok") << r.message();
  EXPECT_EQ(r.decision(), popguard::v1::ALLOW);
  r = b->Verify(first);
  EXPECT_EQ(r.decision(), popguard::v1::DENY);
  EXPECT_EQ(r.reason_code(), "dpop_replayed") << r.message();
  EXPECT_EQ(r.http_status(), 401);
  // And by A itself.
  EXPECT_EQ(a->Verify(first).reason_code(), "dpop_replayed");
  EXPECT_EQ((*redis)->ReplayKeys(), 1);  // state markers aside

  // Redis dies: fail_closed denies with a retryable 503, never allows.
  (*redis)->Kill();
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    r = a->Verify(DpopRequest(url));
    EXPECT_EQ(r.decision(), popguard::v1::DENY);
    EXPECT_EQ(r.reason_code(), "replay_store_unavailable") << r.message();
    EXPECT_EQ(r.http_status(), 503);
  }
  EXPECT_TRUE(WaitForHealth(*a, kNotServing, absl::Seconds(5))) << a->process().LogText();
  EXPECT_TRUE(a->process().WaitForLogLine("replay_store_breaker_open", absl::Seconds(1)));
  EXPECT_TRUE(a->process().WaitForLogLine("redis_node_unreachable", absl::Seconds(1)));

  // Redis returns on the same port (empty): both replicas recover by themselves.
  ASSERT_TRUE((*redis)->Restart().ok());
  EXPECT_TRUE(WaitForHealth(*a, kServing, absl::Seconds(5))) << a->process().LogText();
  EXPECT_TRUE(WaitForHealth(*b, kServing, absl::Seconds(5))) << b->process().LogText();
  // Both noticed the restart: a proof must be issued after that moment (the
  // next whole second, iat's precision; dpop_replay_window_reset otherwise).
  const HttpSpec second = DpopRequest(url, absl::Now() + absl::Seconds(1));
  EXPECT_EQ(b->Verify(second).reason_code(), "ok");
  EXPECT_EQ(a->Verify(second).reason_code(), "dpop_replayed");
  // No log line carries the Redis key of a proof or the proof itself.
  for (const std::string& line : a->process().Logs()) {
    EXPECT_EQ(line.find("popguard:dpop:"), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace popguard::e2e
