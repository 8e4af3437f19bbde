// UsableCpus: how many CPUs this process may really use, for the "one per
// core" defaults (crypto.verify_threads: 0).
//
// In a container, std::thread::hardware_concurrency() counts the node's cores
// while the CPU limit (a CFS quota) may allow far fewer: a pool sized from the
// node then runs more threads than the quota can schedule and every request
// waits for throttled periods. So the count is, in order:
//   cgroup v2  cpu.max "QUOTA PERIOD" of the process's cgroup and each of its
//              ancestors (unified hierarchy at /sys/fs/cgroup, or
//              /sys/fs/cgroup/unified on hybrid hosts): the smallest
//              ceil(QUOTA / PERIOD); "max" is no limit;
//   cgroup v1  cpu.cfs_quota_us / cpu.cfs_period_us the same way, under
//              /sys/fs/cgroup/cpu,cpuacct or /sys/fs/cgroup/cpu; -1 is no limit;
//   otherwise  the CPUs the process may run on (sched_getaffinity, else
//              hardware_concurrency).
// A quota never raises the count above that last number, and the count is at
// least 1. The cgroup path comes from /proc/self/cgroup; a level whose
// directory is not visible (a container without its own cgroup namespace) is
// skipped, so the container's own root is still read.
#ifndef POPGUARD_SERVICE_CPU_COUNT_H_
#define POPGUARD_SERVICE_CPU_COUNT_H_

#include <string>

namespace popguard {

struct UsableCpus {
  int count = 1;
  // What limited the count: "cgroup2 cpu.max", "cgroup1 cpu.cfs_quota_us" or
  // "cpus" (no CPU quota applies).
  std::string source;
};

// CountUsableCpus reads the cgroup files under `root` ("" is the real "/";
// tests pass a directory holding proc/self/cgroup and sys/fs/cgroup/...).
// `host_cpus` is the count without a quota.
UsableCpus CountUsableCpus(const std::string& root, int host_cpus);

// CountUsableCpus for this process: the real files, and the CPUs of its
// affinity mask (else hardware_concurrency) as the count without a quota.
UsableCpus CountUsableCpus();

}  // namespace popguard

#endif  // POPGUARD_SERVICE_CPU_COUNT_H_
