// Tests of the mTLS certificate thumbprint cache (service/authn/cert_thumbprint_cache.h):
// compute runs once per distinct (kind, bytes), failures are never cached,
// and the cache is transparent.
#include "service/authn/cert_thumbprint_cache.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"

namespace popguard {
namespace {

TEST(CertThumbprintCacheTest, ComputesOncePerDistinctInput) {
  CertThumbprintCache cache;
  int calls = 0;
  auto compute = [&](std::string result) {
    return [&calls, result]() -> absl::StatusOr<std::string> {
      ++calls;
      return result;
    };
  };
  struct Step {
    const char* name;
    char kind;
    std::string input;
    std::string want;
    int calls_after;
  };
  const Step steps[] = {
      {"first sight", 'e', "cert-A", "thumb-A", 1},
      {"same bytes again", 'e', "cert-A", "thumb-A", 1},
      {"other bytes", 'e', "cert-B", "thumb-B", 2},
      {"same bytes, other form", 'p', "cert-A", "thumb-A-as-pem", 3},
      {"first again", 'e', "cert-A", "thumb-A", 3},
  };
  for (const Step& s : steps) {
    SCOPED_TRACE(s.name);
    auto got = cache.GetOrCompute(s.kind, s.input, compute(s.want));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, s.want);
    EXPECT_EQ(calls, s.calls_after);
  }
  EXPECT_EQ(cache.hits(), 2u);
  EXPECT_EQ(cache.misses(), 3u);
  EXPECT_EQ(cache.size(), 3u);
}

TEST(CertThumbprintCacheTest, FailuresAreNotCached) {
  CertThumbprintCache cache;
  int calls = 0;
  auto fail = [&]() -> absl::StatusOr<std::string> {
    ++calls;
    return absl::InvalidArgumentError("certificate: not a DER X.509 certificate");
  };
  for (int i = 0; i < 3; ++i) {
    auto got = cache.GetOrCompute('e', "bad", fail);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(got.status().message(), "certificate: not a DER X.509 certificate");
  }
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(CertThumbprintCacheTest, CapacityZeroAlwaysComputes) {
  CertThumbprintCache cache(0);
  int calls = 0;
  auto compute = [&]() -> absl::StatusOr<std::string> {
    ++calls;
    return std::string("t");
  };
  EXPECT_EQ(*cache.GetOrCompute('e', "x", compute), "t");
  EXPECT_EQ(*cache.GetOrCompute('e', "x", compute), "t");
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace popguard
