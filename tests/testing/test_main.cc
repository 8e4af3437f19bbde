// The main of every test binary (instead of gtest_main). On top of
// RUN_ALL_TESTS it makes three things visible that gtest alone leaves green:
//
// - Skips. ctest runs a whole binary as one entry, so a GTEST_SKIP inside it
//   would pass unseen. Any skipped test FAILS the binary unless its full name
//   (Suite.Test, with parameter suffix) matches a pattern in
//   POPGUARD_ALLOW_SKIP (colon-separated globs, as in --gtest_filter). Only
//   tests/CMakeLists.txt sets it, for ctest entries that hold nothing but
//   CPU-dependent cases (e.g. p256_test_adx: the MULX/ADX assembly). When such
//   an allowed skip happens the binary exits with kSkipExitCode, which that
//   entry declares as SKIP_RETURN_CODE: ctest then reports the entry as
//   "Skipped" in its summary instead of "Passed", so a CPU without ADX shows.
//   Keeping the CPU cases in an entry of their own keeps the rest of the
//   binary's verdict a plain pass/fail.
// - CPU paths: the binary prints which P-256 field backend this CPU runs.
// - Empty runs: a filter that selects no test fails instead of passing.
//
// The randomized tests' seed (test_seed.h) is printed again after a failure.
#include <fnmatch.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "service/crypto/p256/p256_field.h"
#include "tests/testing/test_seed.h"

namespace {

constexpr int kSkipExitCode = 77;

bool SkipAllowed(const std::string& full_name) {
  const char* env = std::getenv("POPGUARD_ALLOW_SKIP");
  if (env == nullptr) return false;
  for (absl::string_view pattern : absl::StrSplit(env, ':', absl::SkipEmpty())) {
    if (fnmatch(std::string(pattern).c_str(), full_name.c_str(), 0) == 0) return true;
  }
  return false;
}

std::string SkipMessage(const ::testing::TestResult& result) {
  for (int i = 0; i < result.total_part_count(); ++i) {
    const ::testing::TestPartResult& part = result.GetTestPartResult(i);
    if (part.skipped()) return part.message();
  }
  return "";
}

void PrintCpuPaths() {
  // The default backend is chosen from CPUID at start-up (p256_field.cc).
  std::cout << "[ cpu      ] P-256 field: "
            << (popguard::p256::FieldUsesAdx() ? "adx+bmi2 (MULX/ADX assembly)"
                                               : "portable (this CPU has no BMI2/ADX)")
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (GTEST_FLAG_GET(list_tests)) return RUN_ALL_TESTS();
  PrintCpuPaths();
  const int gtest_rc = RUN_ALL_TESTS();

  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  std::vector<std::string> unexpected;
  int expected = 0;
  for (int s = 0; s < unit.total_test_suite_count(); ++s) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(s);
    for (int t = 0; t < suite.total_test_count(); ++t) {
      const ::testing::TestInfo& info = *suite.GetTestInfo(t);
      if (!info.should_run() || !info.result()->Skipped()) continue;
      const std::string name = std::string(info.test_suite_name()) + "." + info.name();
      const std::string why = SkipMessage(*info.result());
      if (SkipAllowed(name)) {
        ++expected;
        std::cout << "[ EXPECTED SKIP ] " << name << ": " << why << "\n";
      } else {
        unexpected.push_back(name + ": " + why);
      }
    }
  }
  int rc = gtest_rc;
  if (unit.test_to_run_count() == 0) {
    std::cout << "[ FAILED   ] no test selected: an empty run tests nothing\n";
    rc = 1;
  }
  for (const std::string& u : unexpected) {
    std::cout << "[ UNEXPECTED SKIP ] " << u
              << " (a skip fails the binary unless POPGUARD_ALLOW_SKIP lists it)\n";
    rc = 1;
  }
  if (rc != 0) {
    if (auto seed = popguard::testing_support::UsedTestSeed()) {
      std::cout << "[ seed     ] randomized tests ran with POPGUARD_TEST_SEED=" << *seed
                << "; set it to reproduce\n";
    }
    return 1;
  }
  return expected > 0 ? kSkipExitCode : 0;
}
