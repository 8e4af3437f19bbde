// The revocation section of the config (service/config/config.h,
// docs/config.md "revocation"): defaults, every key, and each refusal naming
// its key.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/config/config.h"

namespace popguard {
namespace {

using ::testing::HasSubstr;

class RevocationConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "revocation_config_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    // RFC 8037 appendix A.2's Ed25519 public key.
    std::ofstream(dir_ / "jwks.json")
        << R"({"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]})";
    std::ofstream(dir_ / "revoked.jsonl") << "";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<Config> Load(const std::string& rest) {
    return LoadConfigYaml(absl::StrCat("issuers:\n  - issuer: https://issuer.example\n"
                                       "    jwks_file: jwks.json\n"
                                       "    audiences: [https://api.example]\n",
                                       rest),
                          dir_.string());
  }

  std::filesystem::path dir_;
};

constexpr char kRedisReplay[] =
    "replay: {backend: redis, redis: {addresses: [\"127.0.0.1:6379\"]}}\n";

TEST_F(RevocationConfigTest, DefaultsAndEveryKey) {
  absl::StatusOr<Config> config = Load("");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->revocation.file, "");
  EXPECT_FALSE(config->revocation.redis);
  EXPECT_EQ(config->revocation.redis_key, "{popguard-revocation}:entries");
  EXPECT_EQ(config->revocation.redis_channel, "popguard:revocation");
  EXPECT_EQ(config->revocation.resync_interval, absl::Seconds(60));
  EXPECT_EQ(config->revocation.max_staleness, absl::ZeroDuration());

  config = Load(absl::StrCat(kRedisReplay,
                             "revocation:\n  file: revoked.jsonl\n  redis: true\n"
                             "  redis_key: k\n  redis_channel: c\n  resync_interval: 10s\n"
                             "  max_staleness: 5m\n"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->revocation.file, (dir_ / "revoked.jsonl").string());  // resolved
  EXPECT_TRUE(config->revocation.redis);
  EXPECT_EQ(config->revocation.redis_key, "k");
  EXPECT_EQ(config->revocation.redis_channel, "c");
  EXPECT_EQ(config->revocation.resync_interval, absl::Seconds(10));
  EXPECT_EQ(config->revocation.max_staleness, absl::Minutes(5));
}

TEST_F(RevocationConfigTest, RefusalsNameTheKey) {
  struct Case {
    const char* name;
    std::string yaml;
    const char* error;
  };
  const Case cases[] = {
      {"unknown key", "revocation: {files: x}\n", "revocation.files: unknown key"},
      {"missing file", "revocation: {file: nope.jsonl}\n", "revocation.file: file "},
      {"redis without a Redis replay window", "revocation: {redis: true}\n",
       "revocation.redis: needs replay.backend: redis"},
      {"empty key", absl::StrCat(kRedisReplay, "revocation: {redis: true, redis_key: \"\"}\n"),
       "revocation.redis_key: must be 1 to 128 bytes"},
      {"empty channel",
       absl::StrCat(kRedisReplay, "revocation: {redis: true, redis_channel: \"\"}\n"),
       "revocation.redis_channel: must be 1 to 128 bytes"},
      {"resync too short",
       absl::StrCat(kRedisReplay, "revocation: {redis: true, resync_interval: 10ms}\n"),
       "revocation.resync_interval"},
      {"max_staleness without redis", "revocation: {max_staleness: 1m}\n",
       "revocation.redis: max_staleness and resync_interval need redis: true"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.error));
  }
}

}  // namespace
}  // namespace popguard
