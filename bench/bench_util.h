// Small helpers shared by the *_benchmark.cc binaries: thread CPU time, a CPU
// timer for a benchmark loop that honours PauseTiming, a calibrated
// measurement of one operation, and ratio counters.
//
// Ratios are what the issue asks for ("1.15 x one OpenSSL ES256 verify"): each
// benchmark divides its own thread-CPU nanoseconds per iteration by a baseline
// measured in the same process, so machine speed and load cancel out.
#ifndef POPGUARD_BENCH_BENCH_UTIL_H_
#define POPGUARD_BENCH_BENCH_UTIL_H_

#include <benchmark/benchmark.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace popguard::bench {

// ThreadCpuNanos returns the CPU time this thread has used, in nanoseconds.
inline int64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// MedianNanosPerOp runs `op` in `rounds` batches, each sized to take about
// `batch_seconds` of CPU, and returns the median thread-CPU ns per call.
template <typename Op>
double MedianNanosPerOp(Op&& op, int rounds = 9, double batch_seconds = 0.03) {
  // Size the batch from a short probe.
  int64_t probe_start = ThreadCpuNanos();
  int probe = 0;
  while (ThreadCpuNanos() - probe_start < 2000000 || probe < 2) {
    op();
    ++probe;
  }
  double ns = static_cast<double>(ThreadCpuNanos() - probe_start) / probe;
  int64_t batch = std::max<int64_t>(1, static_cast<int64_t>(batch_seconds * 1e9 / ns));
  std::vector<double> samples;
  for (int r = 0; r < rounds; ++r) {
    int64_t start = ThreadCpuNanos();
    for (int64_t i = 0; i < batch; ++i) op();
    samples.push_back(static_cast<double>(ThreadCpuNanos() - start) / static_cast<double>(batch));
  }
  std::sort(samples.begin(), samples.end());
  return samples[samples.size() / 2];
}

// AdjacentBaseline measures a baseline operation just before a benchmark
// loop (construction) and just after it (Finish), and returns the mean: on a
// shared machine the load changes over a run, and a ratio is only meaningful
// between figures taken under the same load.
class AdjacentBaseline {
 public:
  explicit AdjacentBaseline(std::function<void()> op)
      : op_(std::move(op)), before_(MedianNanosPerOp(op_, 5, 0.01)) {}
  // Finish measures again and returns the mean ns per call of both.
  double Finish() const { return (before_ + MedianNanosPerOp(op_, 5, 0.01)) / 2; }

 private:
  std::function<void()> op_;
  double before_;
};

// LoopCpuTimer measures the thread CPU time of a benchmark loop, leaving out
// the stretches between Pause and Resume (call them next to
// state.PauseTiming/ResumeTiming).
class LoopCpuTimer {
 public:
  LoopCpuTimer() : start_(ThreadCpuNanos()) {}
  void Pause() { paused_at_ = ThreadCpuNanos(); }
  void Resume() { excluded_ += ThreadCpuNanos() - paused_at_; }
  // NanosPerIteration returns the loop's CPU time divided by `iterations`.
  double NanosPerIteration(int64_t iterations) const {
    if (iterations <= 0) return 0;
    return static_cast<double>(ThreadCpuNanos() - start_ - excluded_) /
           static_cast<double>(iterations);
  }

 private:
  int64_t start_;
  int64_t paused_at_ = 0;
  int64_t excluded_ = 0;
};

// SetRatio records `ns_per_iteration / baseline_ns` as counter `name`.
inline void SetRatio(benchmark::State& state, const std::string& name, double ns_per_iteration,
                     double baseline_ns) {
  if (baseline_ns > 0) state.counters[name] = benchmark::Counter(ns_per_iteration / baseline_ns);
}

// SetRatio records the loop's CPU time per iteration divided by `baseline`,
// measured again only after the loop's time has been read.
inline void SetRatio(benchmark::State& state, const std::string& name, const LoopCpuTimer& timer,
                     const AdjacentBaseline& baseline) {
  const double ns = timer.NanosPerIteration(state.iterations());
  SetRatio(state, name, ns, baseline.Finish());
}

}  // namespace popguard::bench

#endif  // POPGUARD_BENCH_BENCH_UTIL_H_
