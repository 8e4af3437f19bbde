// LatencyHistogram: an HDR-style log-linear histogram of non-negative
// integer values (popguard-load records nanoseconds).
//
// Values below 2^kSubBits are counted exactly; above, each power of two is
// split into 2^kSubBits equal buckets, so a reported percentile is at most
// 2^-kSubBits (0.8 %) above the true sample value, never below it. Record is
// lock-free (relaxed atomics) and may be called from any number of threads;
// the readers are meant for after the recording threads have finished (or
// for approximate progress while they run).
#ifndef POPGUARD_BENCH_LATENCY_HISTOGRAM_H_
#define POPGUARD_BENCH_LATENCY_HISTOGRAM_H_

#include <atomic>
#include <bit>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace popguard::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr int64_t kSubCount = int64_t{1} << kSubBits;
  // Buckets: kSubCount exact ones, then kSubCount per power of two up to 2^63.
  static constexpr size_t kBuckets = static_cast<size_t>(kSubCount * (64 - kSubBits));

  LatencyHistogram();
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Record counts one value; negative values count as 0.
  void Record(int64_t value);

  uint64_t Count() const { return count_.load(std::memory_order_relaxed); }
  int64_t Min() const;  // 0 when empty
  int64_t Max() const { return max_.load(std::memory_order_relaxed); }
  double Mean() const;  // 0 when empty

  // Percentile returns the value at quantile `q` (0 < q <= 1): the upper bound
  // of the bucket holding the ceil(q * Count())-th smallest value, capped at
  // Max(). Percentile(1) is exactly Max(). 0 when empty.
  int64_t Percentile(double q) const;

  // BucketIndex and BucketUpperBound expose the layout (for tests).
  static size_t BucketIndex(int64_t value);
  static int64_t BucketUpperBound(size_t index);

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> max_{0};
  std::atomic<int64_t> min_{INT64_MAX};
  std::atomic<uint64_t> sum_{0};  // wraps only after ~584 years of nanoseconds
};

// --- Implementation (header-only, so tests can use it without the bench library). ---

inline LatencyHistogram::LatencyHistogram() : buckets_(new std::atomic<uint64_t>[kBuckets]) {
  for (size_t i = 0; i < kBuckets; ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

inline size_t LatencyHistogram::BucketIndex(int64_t value) {
  if (value < kSubCount) return value < 0 ? 0 : static_cast<size_t>(value);
  const int exponent = 63 - std::countl_zero(static_cast<uint64_t>(value));  // >= kSubBits
  const int shift = exponent - kSubBits;
  const int64_t sub = (value >> shift) - kSubCount;  // in [0, kSubCount)
  return static_cast<size_t>(kSubCount + static_cast<int64_t>(shift) * kSubCount + sub);
}

inline int64_t LatencyHistogram::BucketUpperBound(size_t index) {
  if (index < static_cast<size_t>(kSubCount)) return static_cast<int64_t>(index);
  const int64_t rel = static_cast<int64_t>(index) - kSubCount;
  const int shift = static_cast<int>(rel / kSubCount);
  const int64_t sub = rel % kSubCount;
  // The bucket holds [(kSubCount + sub) << shift, (kSubCount + sub + 1) << shift).
  const uint64_t next = static_cast<uint64_t>(kSubCount + sub + 1) << shift;
  return next - 1 > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(next - 1);
}

inline void LatencyHistogram::Record(int64_t value) {
  if (value < 0) value = 0;
  buckets_[BucketIndex(value)].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(static_cast<uint64_t>(value), std::memory_order_relaxed);
  int64_t seen = max_.load(std::memory_order_relaxed);
  while (value > seen && !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
  seen = min_.load(std::memory_order_relaxed);
  while (value < seen && !min_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

inline int64_t LatencyHistogram::Min() const {
  return Count() == 0 ? 0 : min_.load(std::memory_order_relaxed);
}

inline double LatencyHistogram::Mean() const {
  uint64_t n = Count();
  return n == 0 ? 0 : static_cast<double>(sum_.load(std::memory_order_relaxed)) / n;
}

inline int64_t LatencyHistogram::Percentile(double q) const {
  const uint64_t n = Count();
  if (n == 0) return 0;
  if (q >= 1) return Max();
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  if (rank < 1) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i].load(std::memory_order_relaxed);
    if (seen >= rank) {
      int64_t bound = BucketUpperBound(i);
      return bound < Max() ? bound : Max();
    }
  }
  return Max();
}

}  // namespace popguard::bench

#endif  // POPGUARD_BENCH_LATENCY_HISTOGRAM_H_
