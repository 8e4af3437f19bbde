#include "service/common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/common/json.h"
#include "service/common/strings.h"

namespace popguard {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_write_mu;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}
}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level)); }

bool ParseLogLevel(std::string_view name, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == LevelName(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

bool LogEnabled(LogLevel level) { return static_cast<int>(level) >= g_level.load(); }

LogLine::LogLine(LogLevel level, std::string_view event) : enabled_(LogEnabled(level)) {
  if (!enabled_) return;
  line_ = absl::StrCat("{\"ts\":\"",
                       absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
                       "\",\"level\":\"", AV(LevelName(level)), "\",\"event\":", JsonQuote(event));
}

LogLine::~LogLine() {
  if (!enabled_) return;
  line_.append("}\n");
  std::lock_guard<std::mutex> lock(g_write_mu);
  std::fwrite(line_.data(), 1, line_.size(), stdout);
  std::fflush(stdout);
}

LogLine& LogLine::Add(std::string_view key, std::string_view value) {
  if (enabled_) absl::StrAppend(&line_, ",", JsonQuote(key), ":", JsonQuote(value));
  return *this;
}

LogLine& LogLine::Add(std::string_view key, int64_t value) {
  if (enabled_) absl::StrAppend(&line_, ",", JsonQuote(key), ":", value);
  return *this;
}

LogLine& LogLine::Add(std::string_view key, bool value) {
  if (enabled_) absl::StrAppend(&line_, ",", JsonQuote(key), ":", value ? "true" : "false");
  return *this;
}

}  // namespace popguard
