// TestSeed: the seed of every randomized test.
//
//   std::mt19937_64 rng(TestSeed(3));   // 3: this test's own stream
//
// The seed is POPGUARD_TEST_SEED when set (decimal), else a fresh one drawn
// from std::random_device per process, so each run explores new inputs. It is
// printed once, on first use, with the command that reproduces the run, and
// again by the test main (test_main.cc) when a test failed.
#ifndef POPGUARD_TESTS_TESTING_TEST_SEED_H_
#define POPGUARD_TESTS_TESTING_TEST_SEED_H_

#include <cstdint>
#include <optional>

namespace popguard::testing_support {

// TestSeed returns the process seed mixed with `stream` (SplitMix64), so
// several tests draw independent sequences from one printed seed.
uint64_t TestSeed(uint64_t stream = 0);

// UsedTestSeed returns the process seed if TestSeed was called, else nullopt.
std::optional<uint64_t> UsedTestSeed();

// LongTests returns whether POPGUARD_LONG_TESTS=1 (more cases per random test).
bool LongTests();

}  // namespace popguard::testing_support

#endif  // POPGUARD_TESTS_TESTING_TEST_SEED_H_
