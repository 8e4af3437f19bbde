// replay.backend: redis and the replay.redis section (docs/config.md): every
// key loads into exactly the value written, defaults are the documented ones,
// and every invalid value is rejected with an error naming its key.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"
#include "service/server/replay_factory.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;

constexpr char kJwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";

constexpr char kIssuer[] = R"(issuers:
  - issuer: https://issuer.example
    jwks_file: jwks.json
    audiences: [https://api.example]
)";

class ConfigRedisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "config_redis.XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    Write("jwks.json", kJwks);
    Write("redis.pw", "s3cret\n");
    Write("empty.pw", "\n");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }
  std::string Abs(const std::string& name) const { return (dir_ / name).string(); }

  // Load parses the issuer plus `replay` (the text after "replay:").
  absl::StatusOr<Config> Load(const std::string& replay) {
    return LoadConfigYaml(absl::StrCat(kIssuer, "replay:", replay), dir_.string());
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigRedisTest, DefaultsAreTheDocumentedOnes) {
  absl::StatusOr<Config> c =
      Load("\n  backend: redis\n  redis:\n    addresses: [127.0.0.1:6379]\n");
  ASSERT_TRUE(c.ok()) << c.status();
  const RedisReplayConfig& r = c->replay.redis;
  EXPECT_EQ(c->replay.backend, "redis");
  EXPECT_EQ(c->replay.max_entries, 1000000u);
  EXPECT_EQ(r.addresses, std::vector<std::string>{"127.0.0.1:6379"});
  EXPECT_EQ(r.username, "");
  EXPECT_EQ(r.password_file, "");
  EXPECT_EQ(r.database, 0);
  EXPECT_EQ(r.key_prefix, "popguard:dpop:");
  EXPECT_EQ(r.connect_timeout, absl::Milliseconds(50));
  EXPECT_EQ(r.command_timeout, absl::Milliseconds(50));
  EXPECT_EQ(r.pool_size, 2);
  EXPECT_EQ(r.failure_policy, "fail_closed");
  EXPECT_EQ(r.breaker_failures, 5);
  EXPECT_EQ(r.breaker_open, absl::Seconds(1));
  EXPECT_TRUE(r.required_for_readiness);
}

TEST_F(ConfigRedisTest, EveryKeyLoads) {
  absl::StatusOr<Config> c = Load(R"(
  backend: redis
  max_entries: 5000
  redis:
    addresses: [redis-0.redis:7000, "10.0.0.2:7001", "[::1]:7002"]
    username: popguard
    password_file: redis.pw
    key_prefix: "{tenant}:jti:"
    connect_timeout: 20ms
    command_timeout: 75ms
    pool_size: 4
    failure_policy: local_fallback
    breaker_failures: 3
    breaker_open: 250ms
    required_for_readiness: false
)");
  ASSERT_TRUE(c.ok()) << c.status();
  const RedisReplayConfig& r = c->replay.redis;
  EXPECT_EQ(c->replay.max_entries, 5000u);
  EXPECT_EQ(r.addresses,
            (std::vector<std::string>{"redis-0.redis:7000", "10.0.0.2:7001", "[::1]:7002"}));
  EXPECT_EQ(r.username, "popguard");
  EXPECT_EQ(r.password_file, Abs("redis.pw"));  // resolved against the config's directory
  EXPECT_EQ(r.key_prefix, "{tenant}:jti:");
  EXPECT_EQ(r.connect_timeout, absl::Milliseconds(20));
  EXPECT_EQ(r.command_timeout, absl::Milliseconds(75));
  EXPECT_EQ(r.pool_size, 4);
  EXPECT_EQ(r.failure_policy, "local_fallback");
  EXPECT_EQ(r.breaker_failures, 3);
  EXPECT_EQ(r.breaker_open, absl::Milliseconds(250));
  EXPECT_FALSE(r.required_for_readiness);
}

TEST_F(ConfigRedisTest, DatabaseOnASingleServer) {
  absl::StatusOr<Config> c =
      Load("\n  backend: redis\n  redis: {addresses: [\"127.0.0.1:6379\"], database: 7}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->replay.redis.database, 7);
}

TEST_F(ConfigRedisTest, MemoryBackendIsUnchanged) {
  absl::StatusOr<Config> c = Load(" {backend: memory, max_entries: 10}\n");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->replay.backend, "memory");
  EXPECT_TRUE(c->replay.redis.addresses.empty());
}

TEST_F(ConfigRedisTest, RejectsInvalidValuesNamingTheKey) {
  struct Case {
    std::string name;
    std::string replay;  // after "replay:"
    std::string error;   // expected substring
  };
  const std::string r = "\n  backend: redis\n  redis:\n    addresses: [127.0.0.1:6379]\n";
  const Case cases[] = {
      {"unknown backend", " {backend: etcd}", "replay.backend: \"etcd\" is not a backend"},
      {"redis without a redis section", " {backend: redis}",
       "replay.redis.addresses: required when replay.backend is redis"},
      {"redis section with the memory backend",
       " {backend: memory, redis: {addresses: [\"127.0.0.1:6379\"]}}",
       "replay.redis: is only used with replay.backend: redis"},
      {"unknown redis key", r + "    adresses: [x:1]\n", "replay.redis.adresses: unknown key"},
      {"no addresses", "\n  backend: redis\n  redis: {addresses: []}\n",
       "replay.redis.addresses: list at least one"},
      {"addresses not a list", "\n  backend: redis\n  redis: {addresses: \"a:1\"}\n",
       "replay.redis.addresses: must be a list"},
      {"address without port", "\n  backend: redis\n  redis: {addresses: [redis]}\n",
       "replay.redis.addresses[0]: \"redis\" is not host:port"},
      {"address port zero", "\n  backend: redis\n  redis: {addresses: [\"a:1\", \"b:0\"]}\n",
       "replay.redis.addresses[1]: \"b:0\" is not host:port"},
      {"address bad host", "\n  backend: redis\n  redis: {addresses: [\"a b:1\"]}\n",
       "replay.redis.addresses[0]"},
      {"duplicate address", "\n  backend: redis\n  redis: {addresses: [\"a:1\", \"a:1\"]}\n",
       "replay.redis.addresses[1]: duplicate address"},
      {"username without password", r + "    username: popguard\n",
       "replay.redis.username: needs password_file"},
      {"missing password file", r + "    password_file: nope.pw\n",
       "replay.redis.password_file: file"},
      {"empty password file", r + "    password_file: empty.pw\n", ""},  // checked below
      {"negative database", r + "    database: -1\n", "replay.redis.database: must be an integer"},
      {"database too large", r + "    database: 65536\n", "replay.redis.database"},
      {"database in a cluster",
       "\n  backend: redis\n  redis: {addresses: [\"a:1\", \"b:1\"], database: 1}\n",
       "replay.redis.database: must be 0 with several addresses"},
      {"empty key prefix", r + "    key_prefix: \"\"\n",
       "replay.redis.key_prefix: must be 1 to 128"},
      {"long key prefix", r + "    key_prefix: " + std::string(129, 'p') + "\n",
       "replay.redis.key_prefix: must be 1 to 128"},
      {"zero connect timeout", r + "    connect_timeout: 0ms\n",
       "replay.redis.connect_timeout: must be at least 1ms"},
      {"bare-number command timeout", r + "    command_timeout: 50\n",
       "replay.redis.command_timeout: must be at most 10s (a bare number is seconds"},
      {"bad duration", r + "    command_timeout: fast\n", "replay.redis.command_timeout"},
      {"pool size zero", r + "    pool_size: 0\n",
       "replay.redis.pool_size: must be an integer from 1 to 64"},
      {"pool size large", r + "    pool_size: 65\n", "replay.redis.pool_size"},
      {"unknown policy", r + "    failure_policy: fail_open\n",
       "replay.redis.failure_policy: \"fail_open\" is not one of fail_closed, local_fallback"},
      {"breaker failures zero", r + "    breaker_failures: 0\n", "replay.redis.breaker_failures"},
      {"breaker open too short", r + "    breaker_open: 1ms\n",
       "replay.redis.breaker_open: must be at least 10ms"},
      {"breaker open too long", r + "    breaker_open: 1h\n",
       "replay.redis.breaker_open: must be at most 10m"},
      {"readiness not bool", r + "    required_for_readiness: yes\n",
       "replay.redis.required_for_readiness: must be true or false"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.replay);
    if (c.name == "empty password file") {
      // The file exists and is not empty on disk; the factory finds no
      // password in it.
      ASSERT_TRUE(config.ok()) << config.status();
      auto store = CreateReplayStore(*config, nullptr);
      ASSERT_FALSE(store.ok());
      EXPECT_EQ(store.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(
          store.status().message(),
          HasSubstr("replay.redis.password_file: " + Abs("empty.pw") + " holds no password"));
      continue;
    }
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(config.status().message(), HasSubstr(c.error));
  }
}

TEST_F(ConfigRedisTest, PasswordFileIsReadWithoutTrailingNewline) {
  absl::StatusOr<std::string> pw = ReadRedisPassword(Abs("redis.pw"));
  ASSERT_TRUE(pw.ok()) << pw.status();
  EXPECT_EQ(*pw, "s3cret");
  Write("crlf.pw", "p@ss word\r\n");
  EXPECT_EQ(ReadRedisPassword(Abs("crlf.pw")).value_or(""), "p@ss word");
  absl::StatusOr<std::string> missing = ReadRedisPassword(Abs("missing.pw"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ConfigRedisTest, FactoryBuildsTheConfiguredStore) {
  absl::StatusOr<Config> memory = Load(" {backend: memory}\n");
  ASSERT_TRUE(memory.ok());
  Readiness readiness;
  auto m = CreateReplayStore(*memory, &readiness);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(readiness.Ready());  // the memory store registers nothing

  // Nothing listens on port 1: the store is created anyway (it never waits
  // for Redis) and readiness says why it is not ready.
  absl::StatusOr<Config> redis = Load(
      "\n  backend: redis\n  redis: {addresses: [\"127.0.0.1:1\"], password_file: redis.pw}\n");
  ASSERT_TRUE(redis.ok()) << redis.status();
  auto r = CreateReplayStore(*redis, &readiness);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> why;
  EXPECT_FALSE(readiness.Ready(&why));
  ASSERT_EQ(why.size(), 1u);
  EXPECT_EQ(why[0], "replay_store: no redis node reachable");
}

}  // namespace
}  // namespace popguard
