// The rollout section of the config (docs/config.md "rollout"): defaults,
// values read, and each invalid value refused naming its key.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/config/config.h"

namespace popguard {
namespace {

// One issuer with an inline key, so the config needs no file.
constexpr char kIssuer[] = R"(issuers:
  - issuer: https://issuer.example
    jwks: {keys: [{kty: OKP, crv: Ed25519, x: 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo}]}
    audiences: [https://api.example]
)";

class RolloutConfigTest : public ::testing::Test {
 protected:
  absl::StatusOr<Config> Load(const std::string& rest) {
    return LoadConfigYaml(absl::StrCat(kIssuer, rest), "/nonexistent");
  }
};

TEST_F(RolloutConfigTest, DefaultsAndValues) {
  absl::StatusOr<Config> defaults = Load("");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->rollout.top_clients, 10u);
  EXPECT_EQ(defaults->rollout.metric_clients, 10u);
  EXPECT_EQ(defaults->rollout.ready_min_requests, 1000u);
  EXPECT_EQ(defaults->rollout.ready_max_deny_ratio, 0.001);
  absl::StatusOr<Config> set = Load(
      "rollout: {top_clients: 3, metric_clients: 0, ready_min_requests: 50, "
      "ready_max_deny_ratio: 0.02}\n");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->rollout.top_clients, 3u);
  EXPECT_EQ(set->rollout.metric_clients, 0u);
  EXPECT_EQ(set->rollout.ready_min_requests, 50u);
  EXPECT_EQ(set->rollout.ready_max_deny_ratio, 0.02);
}

TEST_F(RolloutConfigTest, RejectsInvalidValuesNamingTheKey) {
  struct Case {
    std::string name;
    std::string yaml;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"unknown key", "rollout: {top: 3}\n", "rollout.top: unknown key"},
      {"not a mapping", "rollout: [1]\n", "rollout: must be a mapping, got a list"},
      {"no top clients", "rollout: {top_clients: 0}\n", "rollout.top_clients:"},
      {"too many top clients", "rollout: {top_clients: 1001}\n", "rollout.top_clients:"},
      {"too many metric clients", "rollout: {metric_clients: 1001}\n", "rollout.metric_clients:"},
      {"negative min requests", "rollout: {ready_min_requests: -1}\n",
       "rollout.ready_min_requests:"},
      {"ratio above 1", "rollout: {ready_max_deny_ratio: 1.5}\n",
       "rollout.ready_max_deny_ratio: must be a number from 0 to 1"},
      {"ratio not a number", "rollout: {ready_max_deny_ratio: low}\n",
       "rollout.ready_max_deny_ratio: must be a number from 0 to 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<Config> config = Load(c.yaml);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.error), absl::string_view::npos)
        << config.status().message();
  }
}

}  // namespace
}  // namespace popguard
