#include "service/common/cpu_count.h"

#include <sched.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace popguard {
namespace {

// ReadSmall returns a small control file's first line, or nullopt.
std::optional<std::string> ReadSmall(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

// CpusFor is ceil(quota / period), or nullopt for no (or a malformed) limit.
std::optional<int64_t> CpusFor(absl::string_view quota, absl::string_view period) {
  int64_t q = 0, p = 0;
  if (!absl::SimpleAtoi(quota, &q) || !absl::SimpleAtoi(period, &p) || q <= 0 || p <= 0) {
    return std::nullopt;
  }
  return std::max<int64_t>(1, (q + p - 1) / p);
}

// SmallestLimit reads `limit_at(dir)` in `hierarchy` + `cgroup` and in each
// ancestor up to `hierarchy` itself, and returns the smallest limit found.
std::optional<int64_t> SmallestLimit(
    const std::string& hierarchy, const std::string& cgroup,
    const std::function<std::optional<int64_t>(const std::string&)>& limit_at) {
  std::optional<int64_t> smallest;
  std::filesystem::path rel = std::filesystem::path(cgroup).relative_path();
  while (true) {
    const std::string dir = (std::filesystem::path(hierarchy) / rel).string();
    if (std::optional<int64_t> limit = limit_at(dir)) {
      smallest = smallest ? std::min(*smallest, *limit) : *limit;
    }
    if (rel.empty()) break;
    rel = rel.parent_path();
  }
  return smallest;
}

// CgroupPaths maps each /proc/self/cgroup hierarchy to the process's path in
// it: "" for the v2 line "0::/path", else every controller ("cpu", ...).
std::vector<std::pair<std::string, std::string>> CgroupPaths(const std::string& root) {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(root + "/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (parts.size() != 3) continue;
    if (parts[1].empty()) {
      out.emplace_back("", parts[2]);
      continue;
    }
    for (absl::string_view controller : absl::StrSplit(parts[1], ',')) {
      out.emplace_back(std::string(controller), parts[2]);
    }
  }
  return out;
}

std::optional<std::string> PathOf(const std::vector<std::pair<std::string, std::string>>& paths,
                                  absl::string_view hierarchy) {
  for (const auto& [name, path] : paths) {
    if (name == hierarchy) return path;
  }
  return std::nullopt;
}

int HostCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

UsableCpus CountUsableCpus(const std::string& root, int host_cpus) {
  const int host = std::max(1, host_cpus);
  const auto paths = CgroupPaths(root);
  const std::string cgroup_fs = root + "/sys/fs/cgroup";
  auto limited = [host](int64_t cpus, const char* source) {
    return UsableCpus{static_cast<int>(std::min<int64_t>(cpus, host)), source};
  };
  // cgroup v2: "0::/path"; the unified hierarchy is /sys/fs/cgroup, or
  // /sys/fs/cgroup/unified when v1 controllers are mounted beside it.
  if (std::optional<std::string> path = PathOf(paths, "")) {
    for (const std::string& hierarchy : {cgroup_fs, cgroup_fs + "/unified"}) {
      if (!std::filesystem::exists(hierarchy + "/cgroup.controllers")) continue;
      auto limit = SmallestLimit(hierarchy, *path, [](const std::string& dir) {
        std::optional<std::string> max = ReadSmall(dir + "/cpu.max");
        if (!max) return std::optional<int64_t>();
        std::vector<absl::string_view> f = absl::StrSplit(*max, ' ', absl::SkipEmpty());
        return f.size() == 2 ? CpusFor(f[0], f[1]) : std::nullopt;
      });
      if (limit) return limited(*limit, "cgroup2 cpu.max");
    }
  }
  // cgroup v1: the "cpu" controller, mounted alone or together with cpuacct.
  if (std::optional<std::string> path = PathOf(paths, "cpu")) {
    for (const std::string& hierarchy : {cgroup_fs + "/cpu,cpuacct", cgroup_fs + "/cpu"}) {
      if (!std::filesystem::is_directory(hierarchy)) continue;
      auto limit = SmallestLimit(hierarchy, *path, [](const std::string& dir) {
        std::optional<std::string> quota = ReadSmall(dir + "/cpu.cfs_quota_us");
        std::optional<std::string> period = ReadSmall(dir + "/cpu.cfs_period_us");
        return quota && period ? CpusFor(*quota, *period) : std::nullopt;
      });
      if (limit) return limited(*limit, "cgroup1 cpu.cfs_quota_us");
      break;  // the same hierarchy under both names (a symlink): read once
    }
  }
  return UsableCpus{host, "cpus"};
}

UsableCpus CountUsableCpus() { return CountUsableCpus("", HostCpus()); }

}  // namespace popguard
