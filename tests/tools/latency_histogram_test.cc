// Tests of popguard-load's latency histogram (service/tools/load/latency_histogram.h):
// bucket layout, percentiles against exact sorted samples, edge cases.
#include "service/tools/load/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/test_seed.h"

namespace popguard::bench {
namespace {

TEST(LatencyHistogramTest, BucketLayout) {
  struct Case {
    int64_t value;
    size_t index;
    int64_t upper;
  };
  const Case cases[] = {
      {0, 0, 0},       {1, 1, 1},       {127, 127, 127},
      {128, 128, 128},                                    // first log bucket: [128, 129)
      {129, 129, 129}, {255, 255, 255}, {256, 256, 257},  // next power of two: buckets 2 wide
      {257, 256, 257}, {258, 257, 259}, {511, 383, 511},
      {512, 384, 515},  // 4 wide
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("value " + std::to_string(c.value));
    EXPECT_EQ(LatencyHistogram::BucketIndex(c.value), c.index);
    EXPECT_EQ(LatencyHistogram::BucketUpperBound(c.index), c.upper);
  }
}

TEST(LatencyHistogramTest, EveryValueLiesInItsBucketWithinOnePart128) {
  std::mt19937_64 rng(testing_support::TestSeed(1));
  for (int i = 0; i < 200000; ++i) {
    const int64_t v = static_cast<int64_t>((rng() >> 1) >> (rng() % 63));  // >= 0
    const size_t idx = LatencyHistogram::BucketIndex(v);
    ASSERT_LT(idx, LatencyHistogram::kBuckets);
    const int64_t upper = LatencyHistogram::BucketUpperBound(idx);
    ASSERT_GE(upper, v) << v;
    ASSERT_LE(static_cast<double>(upper - v), static_cast<double>(v) / 128.0) << v;
    if (idx > 0) {
      ASSERT_LT(LatencyHistogram::BucketUpperBound(idx - 1), v) << v;
    }
  }
  EXPECT_EQ(LatencyHistogram::BucketIndex(INT64_MAX), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(LatencyHistogram::BucketUpperBound(LatencyHistogram::kBuckets - 1), INT64_MAX);
}

TEST(LatencyHistogramTest, EmptyIsAllZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.Mean(), 0);
  EXPECT_EQ(h.Percentile(0.5), 0);
  EXPECT_EQ(h.Percentile(1), 0);
}

TEST(LatencyHistogramTest, PercentilesMatchSortedSamples) {
  // Log-normal latencies around 300 us with a long tail, in nanoseconds.
  std::mt19937_64 rng(testing_support::TestSeed(2));
  std::lognormal_distribution<double> dist(std::log(300000.0), 0.6);
  std::vector<int64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 100000; ++i) {
    int64_t v = static_cast<int64_t>(dist(rng));
    samples.push_back(v);
    h.Record(v);
  }
  std::sort(samples.begin(), samples.end());
  ASSERT_EQ(h.Count(), samples.size());
  EXPECT_EQ(h.Min(), samples.front());
  EXPECT_EQ(h.Max(), samples.back());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    SCOPED_TRACE("q " + std::to_string(q));
    const int64_t exact = samples[static_cast<size_t>(std::ceil(q * samples.size())) - 1];
    const int64_t got = h.Percentile(q);
    EXPECT_GE(got, exact);
    EXPECT_LE(static_cast<double>(got - exact), static_cast<double>(exact) / 128.0);
  }
  EXPECT_EQ(h.Percentile(1), samples.back());
}

TEST(LatencyHistogramTest, SmallCountsAndNegatives) {
  LatencyHistogram h;
  h.Record(-5);  // counted as 0
  h.Record(10);
  h.Record(1000);
  EXPECT_EQ(h.Count(), 3u);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Percentile(0.34), 10);
  EXPECT_EQ(h.Percentile(0.3), 0);
  EXPECT_EQ(h.Percentile(0.99), 1000);  // capped at Max, not the bucket bound
  EXPECT_DOUBLE_EQ(h.Mean(), 1010.0 / 3);
}

TEST(LatencyHistogramTest, ConcurrentRecordsAreAllCounted) {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 50000; ++i) h.Record(t * 1000 + i % 1000);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(h.Count(), 200000u);
  EXPECT_EQ(h.Max(), 3999);
  EXPECT_EQ(h.Min(), 0);
}

}  // namespace
}  // namespace popguard::bench
