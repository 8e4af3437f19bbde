// ServerTest: a gtest fixture base that starts one real popguard per test
// suite (RunningServer from test_env.h), shared by the end-to-end tests.
#ifndef POPGUARD_TESTS_TESTING_SERVER_TEST_H_
#define POPGUARD_TESTS_TESTING_SERVER_TEST_H_

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace popguard::e2e {

// DpopChallenge is the WWW-Authenticate value popguard sends for a DPoP
// denial with `error` and reason `code`.
inline std::string DpopChallenge(const std::string& error, const std::string& code) {
  return absl::StrCat("DPoP error=\"", error, "\", error_description=\"", code, "\", algs=\"",
                      TestEnv::kDpopAlgs, "\"");
}

// ServerTestBase starts the server once per suite; Derived names the config
// (static kConfigName and Options()).
template <typename Derived>
class ServerTestBase : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server() = RunningServer::Start(Derived::kConfigName, Derived::Options());
  }
  static void TearDownTestSuite() { server().reset(); }
  static std::unique_ptr<RunningServer>& server() {
    static std::unique_ptr<RunningServer> s;
    return s;
  }
  void SetUp() override {
    ASSERT_NE(server(), nullptr);
    ASSERT_TRUE(server()->ok()) << server()->error();
  }
  TestEnv& env() { return TestEnv::Get(); }
};

}  // namespace popguard::e2e

#endif  // POPGUARD_TESTS_TESTING_SERVER_TEST_H_
