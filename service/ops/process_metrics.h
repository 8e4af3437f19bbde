// ReadProcessStats: the standard Prometheus process_* metrics of a Linux
// process, read from /proc at every scrape (nothing is sampled in between):
//   process_cpu_seconds_total      utime + stime of /proc/PID/stat
//   process_resident_memory_bytes  rss (pages) of /proc/PID/stat x page size
//   process_open_fds               entries of /proc/PID/fd
//   process_max_fds                soft "Max open files" of /proc/PID/limits
//   process_start_time_seconds     starttime of /proc/PID/stat after /proc/stat btime
#ifndef POPGUARD_SERVICE_PROCESS_METRICS_H_
#define POPGUARD_SERVICE_PROCESS_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>

namespace popguard {

struct ProcessStats {
  double cpu_seconds = 0;
  double resident_memory_bytes = 0;
  std::optional<double> open_fds;  // absent when /proc/PID/fd cannot be listed
  std::optional<double> max_fds;   // absent when unlimited or unreadable
  double start_time_seconds = 0;   // Unix time
};

// ReadProcessStats reads `proc`/`pid` ("/proc", "self" for this process;
// tests pass a directory of fake files). `ticks_per_second` and `page_size`
// convert /proc/PID/stat's units. nullopt when stat or /proc/stat's btime is
// missing or malformed.
std::optional<ProcessStats> ReadProcessStats(const std::string& proc, const std::string& pid,
                                             double ticks_per_second, double page_size);

// ReadProcessStats for this process (sysconf's ticks and page size).
std::optional<ProcessStats> ReadProcessStats();

}  // namespace popguard

#endif  // POPGUARD_SERVICE_PROCESS_METRICS_H_
