#pragma once
// How many CPUs this process may actually use, for `--workers 0`. The machine's count
// (std::thread::hardware_concurrency) is wrong in the two places a cache is usually run: under
// `taskset`/a cpuset (the affinity mask is smaller) and in a container or a systemd unit with
// `CPUQuota=` (the cgroup grants, say, 1.5 CPUs of 32). A worker per CPU the process cannot get
// only adds ring threads that preempt each other.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regcache::core {

struct UsableCpus {
  unsigned affinity = 0;    // CPUs in the sched_getaffinity mask (0: the call failed)
  double quota_cpus = 0;    // the tightest cgroup CPU quota on the way to the root; 0: none
  std::string quota_source; // the file the quota came from, for the start-up line
  unsigned usable = 1;      // min(affinity, ceil(quota)), at least 1
};

// Reads the affinity mask, /proc/self/mountinfo, /proc/self/cgroup and the quota files.
UsableCpus usable_cpus();

// Pure parts (unit-tested).
// cgroup v2 `cpu.max`: "QUOTA PERIOD" or "max PERIOD"; the quota in CPUs, none for "max".
std::optional<double> parse_cgroup2_cpu_max(std::string_view text);
// cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`; none for -1 (no quota).
std::optional<double> parse_cgroup1_quota(std::string_view quota_us, std::string_view period_us);
// The CPU controller's directories for this process, leaf first then each parent up to the
// mount point (a parent's quota limits its children too), from the texts of
// /proc/self/mountinfo and /proc/self/cgroup. `v2` tells which file the directories hold
// (cpu.max, or cpu.cfs_quota_us and cpu.cfs_period_us). Empty when no CPU controller is mounted.
struct CgroupCpuDirs {
  bool v2 = false;
  std::vector<std::string> dirs;
};
CgroupCpuDirs cgroup_cpu_dirs(std::string_view mountinfo, std::string_view proc_self_cgroup);
// min(affinity, ceil(quota)), at least 1; an affinity of 0 (unknown) leaves the quota alone.
unsigned usable_from(unsigned affinity, double quota_cpus);

} // namespace regcache::core
