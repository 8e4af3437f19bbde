#include "tests/testing/test_seed.h"

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/numbers.h"

namespace popguard::testing_support {
namespace {

bool g_seed_used = false;

uint64_t ProcessSeed() {
  static const uint64_t seed = [] {
    uint64_t s = 0;
    const char* env = std::getenv("POPGUARD_TEST_SEED");
    if (env != nullptr && *env != '\0') {
      if (!absl::SimpleAtoi(env, &s)) {
        std::cerr << "POPGUARD_TEST_SEED=" << env << " is not a decimal uint64\n";
        std::abort();
      }
    } else {
      std::random_device rd;
      s = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    }
    std::cout << "[ seed     ] POPGUARD_TEST_SEED=" << s << " (reproduce: POPGUARD_TEST_SEED=" << s
              << " <this test binary>)" << std::endl;
    return s;
  }();
  g_seed_used = true;
  return seed;
}

}  // namespace

uint64_t TestSeed(uint64_t stream) {
  // SplitMix64 of seed + stream: neighbouring streams give unrelated seeds.
  uint64_t z = ProcessSeed() + (stream + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::optional<uint64_t> UsedTestSeed() {
  if (!g_seed_used) return std::nullopt;
  return ProcessSeed();
}

bool LongTests() {
  const char* v = std::getenv("POPGUARD_LONG_TESTS");
  return v != nullptr && std::string(v) == "1";
}

}  // namespace popguard::testing_support
