#include "core/usable_cpus.h"

#include <gtest/gtest.h>

namespace regcache::core {
namespace {

TEST(UsableCpus, Cgroup2CpuMax) {
  EXPECT_EQ(parse_cgroup2_cpu_max("max 100000\n"), std::nullopt);
  EXPECT_DOUBLE_EQ(*parse_cgroup2_cpu_max("150000 100000\n"), 1.5);
  EXPECT_DOUBLE_EQ(*parse_cgroup2_cpu_max("200000 100000"), 2.0);
  EXPECT_EQ(parse_cgroup2_cpu_max(""), std::nullopt);
  EXPECT_EQ(parse_cgroup2_cpu_max("garbage"), std::nullopt);
  EXPECT_EQ(parse_cgroup2_cpu_max("0 100000"), std::nullopt);
  EXPECT_EQ(parse_cgroup2_cpu_max("12x 100000"), std::nullopt);
}

TEST(UsableCpus, Cgroup1Quota) {
  EXPECT_EQ(parse_cgroup1_quota("-1\n", "100000\n"), std::nullopt);
  EXPECT_DOUBLE_EQ(*parse_cgroup1_quota("50000\n", "100000\n"), 0.5);
  EXPECT_EQ(parse_cgroup1_quota("", ""), std::nullopt);
  EXPECT_EQ(parse_cgroup1_quota("50000", "0"), std::nullopt);
}

TEST(UsableCpus, UsableIsTheSmallerOfMaskAndRoundedUpQuota) {
  EXPECT_EQ(usable_from(8, 0), 8u);
  EXPECT_EQ(usable_from(8, 1.5), 2u);
  EXPECT_EQ(usable_from(8, 2.0), 2u);
  EXPECT_EQ(usable_from(2, 6.0), 2u);
  EXPECT_EQ(usable_from(4, 0.25), 1u);
  EXPECT_EQ(usable_from(0, 0), 1u); // the mask could not be read: one worker
  EXPECT_EQ(usable_from(0, 3.0), 3u);
}

// A cgroup v2 host (systemd, a container runtime): the unified mount and the 0:: line.
TEST(UsableCpus, Cgroup2DirectoriesLeafFirstUpToTheMount) {
  const char *mountinfo =
      "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
      "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n";
  const char *cgroup = "0::/system.slice/regcache.service\n";
  CgroupCpuDirs dirs = cgroup_cpu_dirs(mountinfo, cgroup);
  EXPECT_TRUE(dirs.v2);
  ASSERT_EQ(dirs.dirs.size(), 3u);
  EXPECT_EQ(dirs.dirs[0], "/sys/fs/cgroup/system.slice/regcache.service");
  EXPECT_EQ(dirs.dirs[1], "/sys/fs/cgroup/system.slice");
  EXPECT_EQ(dirs.dirs[2], "/sys/fs/cgroup");
}

// Inside a container the mount's root is the container's own cgroup: /proc/self/cgroup then
// names a path at or below that root.
TEST(UsableCpus, Cgroup2MountRootIsStrippedFromThePath) {
  const char *mountinfo =
      "700 690 0:30 /kubepods/pod1/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n";
  CgroupCpuDirs dirs = cgroup_cpu_dirs(mountinfo, "0::/kubepods/pod1/abc\n");
  ASSERT_EQ(dirs.dirs.size(), 1u);
  EXPECT_EQ(dirs.dirs[0], "/sys/fs/cgroup");
  // A namespaced /proc/self/cgroup ("0::/") with a root mount is the mount point alone too.
  dirs = cgroup_cpu_dirs("700 690 0:30 / /sys/fs/cgroup rw - cgroup2 cgroup rw\n", "0::/\n");
  ASSERT_EQ(dirs.dirs.size(), 1u);
  EXPECT_EQ(dirs.dirs[0], "/sys/fs/cgroup");
  // A path outside the mount's root cannot be mapped: the mount point is all that is readable.
  dirs = cgroup_cpu_dirs("700 690 0:30 /a /sys/fs/cgroup rw - cgroup2 cgroup rw\n", "0::/ab/c\n");
  ASSERT_EQ(dirs.dirs.size(), 1u);
  EXPECT_EQ(dirs.dirs[0], "/sys/fs/cgroup");
}

// A hybrid host (this project's machines): the v1 cpu hierarchy owns the controller, even with
// a unified mount beside it.
TEST(UsableCpus, Cgroup1CpuControllerWinsOnHybridHosts) {
  const char *mountinfo =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "29 31 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n";
  const char *cgroup = "4:cpuset:/\n3:cpu,cpuacct:/ci/job7\n0::/ci/job7\n";
  CgroupCpuDirs dirs = cgroup_cpu_dirs(mountinfo, cgroup);
  EXPECT_FALSE(dirs.v2);
  ASSERT_EQ(dirs.dirs.size(), 3u);
  EXPECT_EQ(dirs.dirs[0], "/sys/fs/cgroup/cpu,cpuacct/ci/job7");
  EXPECT_EQ(dirs.dirs[2], "/sys/fs/cgroup/cpu,cpuacct");
}

TEST(UsableCpus, NoCpuControllerMeansNoDirectories) {
  CgroupCpuDirs dirs = cgroup_cpu_dirs(
      "34 31 0:31 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n", "4:cpuset:/\n");
  EXPECT_TRUE(dirs.dirs.empty());
  EXPECT_TRUE(cgroup_cpu_dirs("", "").dirs.empty());
}

TEST(UsableCpus, ThisProcessHasAtLeastOne) {
  UsableCpus cpus = usable_cpus();
  EXPECT_GE(cpus.usable, 1u);
  EXPECT_GE(cpus.affinity, 1u);
  EXPECT_LE(cpus.usable, cpus.affinity);
}

} // namespace
} // namespace regcache::core
