// Tests of the benchmark-only no-op mode (Config::noop, set only by the
// bench/popguard_noop_server.cc executable; `popguard --noop` is refused):
// it allows without validating, is off by default, and cannot be switched on
// from a config file.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "service/authn/authenticator.h"
#include "service/common/clock.h"
#include "service/config/config.h"
#include "service/jose/native_verifier.h"
#include "storage/memory_replay_store.h"
#include "tests/testing/unit_fixtures.h"

namespace popguard {
namespace {

HttpRequestInfo NoCredentials() {
  HttpRequestInfo r;
  r.method = "GET";
  r.url = "https://api.example/resource";
  return r;
}

class NoopModeTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authenticator> Make(bool noop) {
    Config config = unit::BaseConfig();
    config.noop = noop;
    std::vector<std::string> warnings;
    auto a = Authenticator::Create(config, NativeVerifier::Create(), &clock_, &replay_, &warnings);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? *std::move(a) : nullptr;
  }

  FakeClock clock_{unit::kNow};
  MemoryReplayStore replay_{1000};
};

TEST_F(NoopModeTest, OffByDefault) { EXPECT_FALSE(Config().noop); }

TEST_F(NoopModeTest, AllowsWithoutValidating) {
  struct Case {
    const char* name;
    HttpRequestInfo request;
  };
  HttpRequestInfo garbage = NoCredentials();
  garbage.method = "";
  garbage.url = "not a url";
  garbage.headers = {{"authorization", "DPoP x.y.z"}, {"dpop", "a"}, {"dpop", "b"}};
  const Case cases[] = {{"no credentials", NoCredentials()}, {"garbage", garbage}};
  auto noop = Make(/*noop=*/true);
  auto real = Make(/*noop=*/false);
  ASSERT_NE(noop, nullptr);
  ASSERT_NE(real, nullptr);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Decision d = noop->DecideSync(c.request);
    EXPECT_TRUE(d.allow);
    EXPECT_EQ(d.reason, Reason::kOk);
    EXPECT_EQ(d.http_status, 200);
    EXPECT_EQ(d.route, "noop");
    EXPECT_TRUE(d.upstream_headers.empty());
    EXPECT_FALSE(real->DecideSync(c.request).allow);
  }
  EXPECT_EQ(replay_.Size(), 0u);
}

TEST_F(NoopModeTest, NotAConfigFileKey) {
  auto config = LoadConfigYaml("noop: true\n", "/tmp");
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("noop"), absl::string_view::npos)
      << config.status().message();
}

}  // namespace
}  // namespace popguard
