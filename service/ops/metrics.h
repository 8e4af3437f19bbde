// Metrics: a small Prometheus registry and text-format (0.0.4) writer.
//
//   MetricRegistry r;
//   CounterFamily* f = r.AddCounter("popguard_shed_requests_total", "...", {"api"});
//   Counter* c = f->WithLabels({"check"});   // look up once, keep the pointer
//   c->Increment();                          // one relaxed atomic add
//   std::string text = r.Render();           // GET /metrics
//
// Hot paths hold Counter/Histogram pointers (stable for the registry's life)
// so a request costs an atomic add, not a map lookup. Values that live
// elsewhere (cache counters, JWKS state) are read at scrape time through
// AddCallback families.
#ifndef POPGUARD_SERVICE_METRICS_H_
#define POPGUARD_SERVICE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace popguard {

// Counter only goes up.
class Counter {
 public:
  void Increment(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Gauge holds an integer that goes up and down.
class Gauge {
 public:
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Histogram counts observations into fixed upper bounds (seconds).
class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void Observe(absl::Duration d);
  // Snapshot: cumulative bucket counts (one per bound, then +Inf), sum in seconds.
  void Snapshot(std::vector<uint64_t>* cumulative, double* sum) const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_->size() + 1
  std::atomic<uint64_t> sum_nanos_{0};
};

// LabelValues are in the order of the family's label names.
using LabelValues = std::vector<std::string>;

class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  // Write appends # HELP, # TYPE and every sample to *out.
  virtual void Write(std::string* out) const = 0;
};

class CounterFamily;
class GaugeFamily;
class HistogramFamily;

// Sample is one value reported by a callback family.
struct Sample {
  LabelValues labels;
  double value = 0;
};

class MetricRegistry {
 public:
  MetricRegistry() = default;
  MetricRegistry(const MetricRegistry&) = delete;
  MetricRegistry& operator=(const MetricRegistry&) = delete;

  // Add* register a family; names must be unique (not checked). The returned
  // pointer lives as long as the registry.
  CounterFamily* AddCounter(std::string name, std::string help, std::vector<std::string> labels);
  GaugeFamily* AddGauge(std::string name, std::string help, std::vector<std::string> labels);
  HistogramFamily* AddHistogram(std::string name, std::string help, std::vector<std::string> labels,
                                std::vector<double> bounds);
  // AddCallback registers a family whose samples `collect` returns at every
  // scrape; `type` is "counter" or "gauge". `collect` runs on the scraping
  // thread and must be thread-safe.
  void AddCallback(std::string name, std::string help, std::string type,
                   std::vector<std::string> labels, std::function<std::vector<Sample>()> collect);

  // Render returns every family in the Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<MetricFamily>> families_ ABSL_GUARDED_BY(mu_);
};

// CounterFamily, GaugeFamily, HistogramFamily: WithLabels returns the child
// for `values` (created on first use; the pointer stays valid). It takes a
// reader lock and hashes the values: cache the pointer when you can.
class CounterFamily final : public MetricFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> labels);
  Counter* WithLabels(const LabelValues& values);
  void Write(std::string* out) const override;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable absl::Mutex mu_;
  std::vector<std::pair<LabelValues, std::unique_ptr<Counter>>> children_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Counter*> index_ ABSL_GUARDED_BY(mu_);
};

class GaugeFamily final : public MetricFamily {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> labels);
  Gauge* WithLabels(const LabelValues& values);
  void Write(std::string* out) const override;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  mutable absl::Mutex mu_;
  std::vector<std::pair<LabelValues, std::unique_ptr<Gauge>>> children_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Gauge*> index_ ABSL_GUARDED_BY(mu_);
};

class HistogramFamily final : public MetricFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> labels,
                  std::vector<double> bounds);
  Histogram* WithLabels(const LabelValues& values);
  void Write(std::string* out) const override;

 private:
  std::string name_, help_;
  std::vector<std::string> labels_;
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::vector<std::pair<LabelValues, std::unique_ptr<Histogram>>> children_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Histogram*> index_ ABSL_GUARDED_BY(mu_);
};

// LatencyBuckets are the default request latency bounds: 50 us to 5 s.
const std::vector<double>& LatencyBuckets();

// EscapeLabelValue escapes '\\', '"' and newline for the text format.
std::string EscapeLabelValue(std::string_view v);

// FormatMetricValue renders a sample value (integers without a fraction).
std::string FormatMetricValue(double v);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_METRICS_H_
