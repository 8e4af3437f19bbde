// Structured JSON logs, one object per line on stdout.
//
//   LogLine(LogLevel::kInfo, "decision").Add("reason", "dpop_replayed").Add("route", r);
//
// The line is written when the LogLine is destroyed. Never Add a token, a
// proof or key material: log reason codes and ShortHash() values instead.
#ifndef POPGUARD_SERVICE_LOG_H_
#define POPGUARD_SERVICE_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace popguard {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// SetLogLevel sets the minimum level written; ParseLogLevel maps a name.
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view name, LogLevel* out);
bool LogEnabled(LogLevel level);

class LogLine {
 public:
  LogLine(LogLevel level, std::string_view event);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  LogLine& Add(std::string_view key, std::string_view value);
  LogLine& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, const std::string& value) {
    return Add(key, std::string_view(value));
  }
  LogLine& Add(std::string_view key, absl::string_view value) {
    return Add(key, std::string_view(value.data(), value.size()));
  }
  LogLine& Add(std::string_view key, int64_t value);
  LogLine& Add(std::string_view key, bool value);

 private:
  bool enabled_;
  std::string line_;
};

}  // namespace popguard

#endif  // POPGUARD_SERVICE_LOG_H_
