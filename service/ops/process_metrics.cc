#include "service/ops/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "service/common/file.h"

namespace popguard {
namespace {

// ReadText returns a /proc file, or nullopt when it cannot be read. /proc
// files report size 0, so ReadFileToString's chunked read (never a size from
// stat) is what reads them correctly; 1 MiB is far above /proc/stat on any
// CPU count.
std::optional<std::string> ReadText(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path, size_t{1} << 20);
  if (!text.ok()) return std::nullopt;
  return *std::move(text);
}

// BootTime is /proc/stat's "btime SECONDS" line.
std::optional<double> BootTime(const std::string& proc) {
  std::optional<std::string> stat = ReadText(proc + "/stat");
  if (!stat) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*stat, '\n')) {
    double btime = 0;
    if (absl::ConsumePrefix(&line, "btime ") &&
        absl::SimpleAtod(absl::StripAsciiWhitespace(line), &btime)) {
      return btime;
    }
  }
  return std::nullopt;
}

// MaxOpenFiles is the soft limit of /proc/PID/limits' "Max open files" line.
std::optional<double> MaxOpenFiles(const std::string& dir) {
  std::optional<std::string> limits = ReadText(dir + "/limits");
  if (!limits) return std::nullopt;
  for (absl::string_view line : absl::StrSplit(*limits, '\n')) {
    if (!absl::ConsumePrefix(&line, "Max open files")) continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    double soft = 0;
    if (!f.empty() && absl::SimpleAtod(f[0], &soft)) return soft;  // "unlimited": none
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<double> OpenFds(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir + "/fd", ec);
  if (ec) return std::nullopt;
  double n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return std::nullopt;
    ++n;
  }
  return n;
}

}  // namespace

std::optional<ProcessStats> ReadProcessStats(const std::string& proc, const std::string& pid,
                                             double ticks_per_second, double page_size) {
  const std::string dir = proc + "/" + pid;
  std::optional<std::string> stat = ReadText(dir + "/stat");
  std::optional<double> boot = BootTime(proc);
  if (!stat || !boot || ticks_per_second <= 0) return std::nullopt;
  // "PID (comm) STATE PPID ...": comm may hold spaces and ')', so the fields
  // are counted after the last ')'. Field 3 (STATE) is index 0 there.
  const size_t close = stat->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(*stat).substr(close + 1), ' ', absl::SkipWhitespace());
  auto field = [&f](size_t number, double* out) {  // number: 1-based as in proc(5)
    return number >= 3 && number - 3 < f.size() && absl::SimpleAtod(f[number - 3], out);
  };
  double utime = 0, stime = 0, starttime = 0, rss = 0;
  if (!field(14, &utime) || !field(15, &stime) || !field(22, &starttime) || !field(24, &rss)) {
    return std::nullopt;
  }
  ProcessStats s;
  s.cpu_seconds = (utime + stime) / ticks_per_second;
  s.resident_memory_bytes = rss * page_size;
  s.start_time_seconds = *boot + starttime / ticks_per_second;
  s.open_fds = OpenFds(dir);
  s.max_fds = MaxOpenFiles(dir);
  return s;
}

std::optional<ProcessStats> ReadProcessStats() {
  return ReadProcessStats("/proc", "self", static_cast<double>(sysconf(_SC_CLK_TCK)),
                          static_cast<double>(sysconf(_SC_PAGESIZE)));
}

}  // namespace popguard
