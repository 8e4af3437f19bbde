// Tests for service/common/cpu_count.h: the CPU count for "one per core" defaults
// read from fake cgroup v2 / v1 / hybrid trees in a temporary directory.
#include "service/common/cpu_count.h"

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace popguard {
namespace {

using e2e::TempDir;

// One fake file: path under the root, contents.
using Files = std::vector<std::pair<std::string, std::string>>;

constexpr char kV2Self[] = "0::/kubepods/pod1/ctr\n";
constexpr char kV2Ns[] = "0::/\n";  // a container with its own cgroup namespace
constexpr char kV1Self[] = "3:cpuset:/\n2:cpu,cpuacct:/kubepods/pod1/ctr\n1:memory:/x\n0::/\n";

struct Case {
  const char* name;
  Files files;
  int host_cpus;
  int want;
  const char* want_source;
};

TEST(CountUsableCpusTest, ReadsTheQuotaOfTheProcessCgroup) {
  const std::vector<Case> cases = {
      {"no cgroup files at all", {}, 8, 8, "cpus"},
      {"v2 quota 1.5 CPUs rounds up",
       {{"proc/self/cgroup", kV2Self},
        {"sys/fs/cgroup/cgroup.controllers", "cpu memory\n"},
        {"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "150000 100000\n"}},
       8,
       2,
       "cgroup2 cpu.max"},
      {"v2 quota below one CPU is 1",
       {{"proc/self/cgroup", kV2Self},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "20000 100000\n"}},
       8,
       1,
       "cgroup2 cpu.max"},
      {"v2 max is no limit",
       {{"proc/self/cgroup", kV2Self},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n"}},
       8,
       8,
       "cpus"},
      {"v2 the smallest quota of the cgroup and its ancestors",
       {{"proc/self/cgroup", kV2Self},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n"},
        {"sys/fs/cgroup/kubepods/pod1/cpu.max", "300000 100000\n"},
        {"sys/fs/cgroup/kubepods/cpu.max", "400000 100000\n"}},
       8,
       3,
       "cgroup2 cpu.max"},
      {"v2 own cgroup namespace: the root of the tree is the container",
       {{"proc/self/cgroup", kV2Ns},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/cpu.max", "200000 100000\n"}},
       8,
       2,
       "cgroup2 cpu.max"},
      {"v2 path not visible in the container: its root is read",
       {{"proc/self/cgroup", kV2Self},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/cpu.max", "400000 100000\n"}},
       8,
       4,
       "cgroup2 cpu.max"},
      {"a quota above the host's CPUs does not raise the count",
       {{"proc/self/cgroup", kV2Ns},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/cpu.max", "1600000 100000\n"}},
       4,
       4,
       "cgroup2 cpu.max"},
      {"v2 malformed cpu.max is ignored",
       {{"proc/self/cgroup", kV2Ns},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/cpu.max", "lots\n"}},
       8,
       8,
       "cpus"},
      {"v2 zero period is ignored",
       {{"proc/self/cgroup", kV2Ns},
        {"sys/fs/cgroup/cgroup.controllers", "cpu\n"},
        {"sys/fs/cgroup/cpu.max", "100000 0\n"}},
       8,
       8,
       "cpus"},
      {"v1 cfs quota 2.5 CPUs rounds up",
       {{"proc/self/cgroup", kV1Self},
        {"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr/cpu.cfs_quota_us", "250000\n"},
        {"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr/cpu.cfs_period_us", "100000\n"}},
       8,
       3,
       "cgroup1 cpu.cfs_quota_us"},
      {"v1 quota -1 is no limit",
       {{"proc/self/cgroup", kV1Self},
        {"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr/cpu.cfs_quota_us", "-1\n"},
        {"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr/cpu.cfs_period_us", "100000\n"}},
       8,
       8,
       "cpus"},
      {"v1 controller mounted as cpu/, container sees its own cgroup at the root",
       {{"proc/self/cgroup", "4:cpu:/docker/abc\n"},
        {"sys/fs/cgroup/cpu/cpu.cfs_quota_us", "100000\n"},
        {"sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"}},
       8,
       1,
       "cgroup1 cpu.cfs_quota_us"},
      {"hybrid host: v1 cpu controller, unified tree without cpu.max",
       {{"proc/self/cgroup", kV1Self},
        {"sys/fs/cgroup/unified/cgroup.controllers", "\n"},
        {"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "200000\n"},
        {"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"}},
       8,
       2,
       "cgroup1 cpu.cfs_quota_us"},
      {"a host count of 0 still gives 1", {}, 0, 1, "cpus"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir root;
    for (const auto& [path, contents] : c.files) {
      std::filesystem::create_directories(
          std::filesystem::path(root.path() + "/" + path).parent_path());
      root.Write(path, contents);
    }
    UsableCpus got = CountUsableCpus(root.path(), c.host_cpus);
    EXPECT_EQ(got.count, c.want);
    EXPECT_EQ(got.source, c.want_source);
  }
}

TEST(CountUsableCpusTest, ThisProcessGetsAtLeastOne) { EXPECT_GE(CountUsableCpus().count, 1); }

}  // namespace
}  // namespace popguard
