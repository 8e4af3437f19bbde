// ParsePrometheusText: a strict reader of the Prometheus text exposition
// format (0.0.4), what popguard's GET /metrics and Prometheus's /federate
// serve, for popguard-cli rollout --metrics.
//
// A line is blank, a comment ("# HELP name text", "# TYPE name type", any
// other "# ..." is ignored) or a sample: name, optional {label="value",...}
// (a trailing comma allowed), whitespace, value (a decimal float, NaN, +Inf or
// -Inf) and an optional integer timestamp in milliseconds. Label values may
// only escape \\, \" and \n, and must be UTF-8. Anything else is an error
// naming the line, never a guess: the figures printed from it decide whether a
// route is switched to enforcement. The same series (name and label set, in
// any label order) twice in one exposition is an error too; summing would count
// it twice.
#ifndef POPGUARD_SERVICE_TOOLS_CLI_PROMETHEUS_TEXT_H_
#define POPGUARD_SERVICE_TOOLS_CLI_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace popguard {

struct PromSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // as written, unescaped
  double value = 0;
  std::optional<int64_t> timestamp_ms;
  int line = 0;  // 1-based, for errors about the sample's meaning

  // Label returns the value of label `name`, nullopt when the sample has none.
  std::optional<std::string_view> Label(std::string_view name) const;
};

struct PromText {
  std::vector<PromSample> samples;                      // in exposition order
  absl::flat_hash_map<std::string, std::string> types;  // # TYPE: family -> type
};

// SeriesText renders `s`'s name and labels as exposition text (escaped), for
// messages.
std::string SeriesText(const PromSample& s);

// ParsePrometheusText parses `text`; InvalidArgument "line N: ..." on the
// first malformed line.
absl::StatusOr<PromText> ParsePrometheusText(std::string_view text);

}  // namespace popguard

#endif  // POPGUARD_SERVICE_TOOLS_CLI_PROMETHEUS_TEXT_H_
