// Tests for service/ops/process_metrics.h: the process_* values read from fake
// /proc files (a command name with spaces and ')' included), and from this
// process's real /proc.
#include "service/ops/process_metrics.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace popguard {
namespace {

using e2e::TempDir;

// /proc/PID/stat with utime 250, stime 150, starttime 5000, rss 1000 pages;
// fields 3..24 after the command.
std::string Stat(const std::string& comm) {
  return "42 (" + comm +
         ") S 1 42 42 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 7 0 5000 123456789 1000 "
         "18446744073709551615\n";
}

constexpr char kProcStat[] = "cpu  1 2 3 4\nbtime 1700000000\nprocesses 5\n";
constexpr char kLimits[] =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max open files            1024                 524288               files     \n";

struct Case {
  const char* name;
  std::string stat;       // "" : no /proc/42/stat
  std::string proc_stat;  // "" : no /proc/stat
  std::string limits;     // "" : no limits file
  int fds;                // entries in /proc/42/fd; -1: no fd directory
  bool want_ok;
  std::optional<double> want_open_fds, want_max_fds;
};

TEST(ReadProcessStatsTest, ReadsFakeProc) {
  const std::vector<Case> cases = {
      {"plain", Stat("popguard"), kProcStat, kLimits, 3, true, 3, 1024},
      {"command with spaces and a paren", Stat("pop guard) x"), kProcStat, kLimits, 0, true, 0,
       1024},
      {"unlimited open files", Stat("popguard"), kProcStat,
       "Max open files            unlimited            unlimited            files\n", 1, true, 1,
       std::nullopt},
      {"no fd directory, no limits", Stat("popguard"), kProcStat, "", -1, true, std::nullopt,
       std::nullopt},
      {"no stat", "", kProcStat, kLimits, 1, false, std::nullopt, std::nullopt},
      {"no btime", Stat("popguard"), "cpu 1 2 3\n", kLimits, 1, false, std::nullopt, std::nullopt},
      {"truncated stat", "42 (popguard) S 1 42\n", kProcStat, kLimits, 1, false, std::nullopt,
       std::nullopt},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir proc;
    std::filesystem::create_directories(proc.path() + "/42");
    if (!c.stat.empty()) proc.Write("42/stat", c.stat);
    if (!c.proc_stat.empty()) proc.Write("stat", c.proc_stat);
    if (!c.limits.empty()) proc.Write("42/limits", c.limits);
    if (c.fds >= 0) {
      std::filesystem::create_directories(proc.path() + "/42/fd");
      for (int i = 0; i < c.fds; ++i) proc.Write("42/fd/" + std::to_string(i), "");
    }
    std::optional<ProcessStats> s = ReadProcessStats(proc.path(), "42", 100, 4096);
    ASSERT_EQ(s.has_value(), c.want_ok);
    if (!s) continue;
    EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);  // (250 + 150) / 100
    EXPECT_DOUBLE_EQ(s->resident_memory_bytes, 1000.0 * 4096);
    EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000000.0 + 50);
    EXPECT_EQ(s->open_fds, c.want_open_fds);
    EXPECT_EQ(s->max_fds, c.want_max_fds);
  }
}

TEST(ReadProcessStatsTest, ThisProcess) {
  std::optional<ProcessStats> s = ReadProcessStats();
  ASSERT_TRUE(s.has_value());
  const double now = absl::ToUnixSeconds(absl::Now());
  EXPECT_GT(s->resident_memory_bytes, 0);
  EXPECT_GE(s->cpu_seconds, 0);
  EXPECT_LE(s->start_time_seconds, now + 1);
  EXPECT_GT(s->start_time_seconds, now - 3600);
  ASSERT_TRUE(s->open_fds.has_value());
  EXPECT_GE(*s->open_fds, 3);  // stdin, stdout, stderr
}

}  // namespace
}  // namespace popguard
