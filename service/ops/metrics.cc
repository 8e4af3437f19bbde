#include "service/ops/metrics.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace popguard {
namespace {

// IndexKey joins label values with a byte that cannot occur in a config
// string (control characters are rejected by the config loader).
std::string IndexKey(const LabelValues& values) { return absl::StrJoin(values, "\x1f"); }

// LabelText renders {a="x",b="y"} (empty when there are no labels); `extra`
// is appended as one more pre-rendered pair (histogram "le").
std::string LabelText(const std::vector<std::string>& names, const LabelValues& values,
                      const std::string& extra = "") {
  if (names.empty() && extra.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? "" : ",", names[i], "=\"",
                    EscapeLabelValue(i < values.size() ? values[i] : ""), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, names.empty() ? "" : ",", extra);
  out.push_back('}');
  return out;
}

void WriteHeader(const std::string& name, const std::string& help, std::string_view type,
                 std::string* out) {
  // HELP text escapes only '\\' and newline (text format 0.0.4).
  std::string h;
  for (char c : help) {
    if (c == '\\') {
      h += "\\\\";
    } else if (c == '\n') {
      h += "\\n";
    } else {
      h.push_back(c);
    }
  }
  absl::StrAppend(out, "# HELP ", name, " ", h, "\n# TYPE ", name, " ",
                  absl::string_view(type.data(), type.size()), "\n");
}

// Child lookup shared by the three family types.
template <typename T, typename Make>
T* FindOrAdd(absl::Mutex* mu, std::vector<std::pair<LabelValues, std::unique_ptr<T>>>* children,
             absl::flat_hash_map<std::string, T*>* index, const LabelValues& values, Make make) {
  const std::string key = IndexKey(values);
  {
    absl::ReaderMutexLock lock(mu);
    auto it = index->find(key);
    if (it != index->end()) return it->second;
  }
  absl::MutexLock lock(mu);
  auto it = index->find(key);
  if (it != index->end()) return it->second;
  children->emplace_back(values, make());
  T* child = children->back().second.get();
  (*index)[key] = child;
  return child;
}

class CallbackFamily final : public MetricFamily {
 public:
  CallbackFamily(std::string name, std::string help, std::string type,
                 std::vector<std::string> labels, std::function<std::vector<Sample>()> collect)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(std::move(type)),
        labels_(std::move(labels)),
        collect_(std::move(collect)) {}

  void Write(std::string* out) const override {
    WriteHeader(name_, help_, type_, out);
    for (const Sample& s : collect_()) {
      absl::StrAppend(out, name_, LabelText(labels_, s.labels), " ", FormatMetricValue(s.value),
                      "\n");
    }
  }

 private:
  std::string name_, help_, type_;
  std::vector<std::string> labels_;
  std::function<std::vector<Sample>()> collect_;
};

}  // namespace

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                               0.005,   0.01,   0.025,   0.05,   0.1,   0.25,
                                               0.5,     1,      2.5,     5};
  return kBuckets;
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), buckets_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(absl::Duration d) {
  const double seconds = absl::ToDoubleSeconds(d);
  size_t i = 0;
  while (i < bounds_->size() && seconds > (*bounds_)[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  sum_nanos_.fetch_add(nanos > 0 ? static_cast<uint64_t>(nanos) : 0, std::memory_order_relaxed);
}

void Histogram::Snapshot(std::vector<uint64_t>* cumulative, double* sum) const {
  cumulative->assign(bounds_->size() + 1, 0);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    (*cumulative)[i] = running;
  }
  *sum = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

Counter* CounterFamily::WithLabels(const LabelValues& values) {
  return FindOrAdd(&mu_, &children_, &index_, values, [] { return std::make_unique<Counter>(); });
}

void CounterFamily::Write(std::string* out) const {
  WriteHeader(name_, help_, "counter", out);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, c] : children_) {
    absl::StrAppend(out, name_, LabelText(labels_, values), " ", c->value(), "\n");
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {}

Gauge* GaugeFamily::WithLabels(const LabelValues& values) {
  return FindOrAdd(&mu_, &children_, &index_, values, [] { return std::make_unique<Gauge>(); });
}

void GaugeFamily::Write(std::string* out) const {
  WriteHeader(name_, help_, "gauge", out);
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [values, g] : children_) {
    absl::StrAppend(out, name_, LabelText(labels_, values), " ", g->value(), "\n");
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> labels, std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {}

Histogram* HistogramFamily::WithLabels(const LabelValues& values) {
  return FindOrAdd(&mu_, &children_, &index_, values,
                   [this] { return std::make_unique<Histogram>(&bounds_); });
}

void HistogramFamily::Write(std::string* out) const {
  WriteHeader(name_, help_, "histogram", out);
  absl::ReaderMutexLock lock(&mu_);
  std::vector<uint64_t> cumulative;
  double sum = 0;
  for (const auto& [values, h] : children_) {
    h->Snapshot(&cumulative, &sum);
    for (size_t i = 0; i < cumulative.size(); ++i) {
      const std::string le = i < bounds_.size() ? FormatMetricValue(bounds_[i]) : "+Inf";
      absl::StrAppend(out, name_, "_bucket",
                      LabelText(labels_, values, absl::StrCat("le=\"", le, "\"")), " ",
                      cumulative[i], "\n");
    }
    absl::StrAppend(out, name_, "_sum", LabelText(labels_, values), " ", FormatMetricValue(sum),
                    "\n");
    absl::StrAppend(out, name_, "_count", LabelText(labels_, values), " ", cumulative.back(), "\n");
  }
}

CounterFamily* MetricRegistry::AddCounter(std::string name, std::string help,
                                          std::vector<std::string> labels) {
  auto f = std::make_unique<CounterFamily>(std::move(name), std::move(help), std::move(labels));
  CounterFamily* p = f.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(f));
  return p;
}

GaugeFamily* MetricRegistry::AddGauge(std::string name, std::string help,
                                      std::vector<std::string> labels) {
  auto f = std::make_unique<GaugeFamily>(std::move(name), std::move(help), std::move(labels));
  GaugeFamily* p = f.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(f));
  return p;
}

HistogramFamily* MetricRegistry::AddHistogram(std::string name, std::string help,
                                              std::vector<std::string> labels,
                                              std::vector<double> bounds) {
  auto f = std::make_unique<HistogramFamily>(std::move(name), std::move(help), std::move(labels),
                                             std::move(bounds));
  HistogramFamily* p = f.get();
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(f));
  return p;
}

void MetricRegistry::AddCallback(std::string name, std::string help, std::string type,
                                 std::vector<std::string> labels,
                                 std::function<std::vector<Sample>()> collect) {
  auto f = std::make_unique<CallbackFamily>(std::move(name), std::move(help), std::move(type),
                                            std::move(labels), std::move(collect));
  absl::MutexLock lock(&mu_);
  families_.push_back(std::move(f));
}

std::string MetricRegistry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& f : families_) f->Write(&out);
  return out;
}

}  // namespace popguard
