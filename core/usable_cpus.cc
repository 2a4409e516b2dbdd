#include "core/usable_cpus.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>

namespace regcache::core {
namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t' || text.front() == '\n'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n'))
    text.remove_suffix(1);
  return text;
}

std::optional<int64_t> parse_integer(std::string_view text) {
  text = trim(text);
  int64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::string read_small_file(const std::string &path) {
  std::ifstream file(path);
  if (!file)
    return {};
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

// Splits on single spaces (mountinfo's separator; paths in it escape spaces as \040).
std::vector<std::string_view> fields_of(std::string_view line) {
  std::vector<std::string_view> fields;
  while (!line.empty()) {
    size_t space = line.find(' ');
    fields.push_back(line.substr(0, space));
    if (space == std::string_view::npos)
      break;
    line.remove_prefix(space + 1);
  }
  return fields;
}

bool names_cpu_controller(std::string_view list) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    if (list.substr(0, comma) == "cpu")
      return true;
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// Joins a mount point and the part of the process's cgroup path below the mount's root, then
// lists it and its parents up to the mount point. A cgroup path outside the mount's root (a
// container that sees only part of the hierarchy) falls back to the mount point alone.
std::vector<std::string> dirs_up_to_mount(std::string_view mount_point, std::string_view mount_root,
                                          std::string_view cgroup_path) {
  std::string_view below = cgroup_path;
  if (mount_root != "/") {
    if (below.substr(0, mount_root.size()) == mount_root &&
        (below.size() == mount_root.size() || below[mount_root.size()] == '/'))
      below.remove_prefix(mount_root.size());
    else
      below = {};
  }
  while (!below.empty() && below.back() == '/')
    below.remove_suffix(1);
  std::vector<std::string> dirs;
  for (;;) {
    std::string dir(mount_point);
    dir += below;
    dirs.push_back(std::move(dir));
    if (below.empty())
      break;
    size_t slash = below.rfind('/');
    below = below.substr(0, slash == std::string_view::npos ? 0 : slash);
  }
  return dirs;
}

} // namespace

std::optional<double> parse_cgroup2_cpu_max(std::string_view text) {
  text = trim(text);
  size_t space = text.find(' ');
  if (space == std::string_view::npos)
    return std::nullopt;
  if (text.substr(0, space) == "max")
    return std::nullopt;
  std::optional<int64_t> quota = parse_integer(text.substr(0, space));
  std::optional<int64_t> period = parse_integer(text.substr(space + 1));
  if (!quota || !period || *quota <= 0 || *period <= 0)
    return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

std::optional<double> parse_cgroup1_quota(std::string_view quota_us, std::string_view period_us) {
  std::optional<int64_t> quota = parse_integer(quota_us);
  std::optional<int64_t> period = parse_integer(period_us);
  if (!quota || !period || *quota <= 0 || *period <= 0)
    return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

CgroupCpuDirs cgroup_cpu_dirs(std::string_view mountinfo, std::string_view proc_self_cgroup) {
  // /proc/self/cgroup: "ID:CONTROLLERS:PATH"; v2's line is "0::PATH".
  std::string_view v2_path, v1_path;
  bool have_v2 = false, have_v1 = false;
  for (std::string_view rest = proc_self_cgroup; !rest.empty();) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    size_t first = line.find(':');
    size_t second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos)
      continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string_view path = line.substr(second + 1);
    if (line.substr(0, first) == "0" && controllers.empty()) {
      v2_path = path;
      have_v2 = true;
    } else if (names_cpu_controller(controllers)) {
      v1_path = path;
      have_v1 = true;
    }
  }
  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER".
  CgroupCpuDirs found;
  for (std::string_view rest = mountinfo; !rest.empty();) {
    size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    std::vector<std::string_view> fields = fields_of(line);
    size_t dash = 0;
    while (dash < fields.size() && fields[dash] != "-")
      ++dash;
    if (dash < 5 || dash + 1 >= fields.size())
      continue;
    std::string_view root = fields[3], mount_point = fields[4], fstype = fields[dash + 1];
    std::string_view super_options = dash + 3 < fields.size() ? fields[dash + 3] : "";
    if (fstype == "cgroup" && have_v1 && names_cpu_controller(super_options))
      return CgroupCpuDirs{false, dirs_up_to_mount(mount_point, root, v1_path)};
    if (fstype == "cgroup2" && have_v2 && found.dirs.empty()) {
      // cgroup2 with the cpu controller enabled is a candidate; a v1 cpu mount, which owns the
      // controller when both exist (hybrid systems), wins if one follows.
      found = CgroupCpuDirs{true, dirs_up_to_mount(mount_point, root, v2_path)};
    }
  }
  return found;
}

unsigned usable_from(unsigned affinity, double quota_cpus) {
  if (quota_cpus <= 0)
    return affinity == 0 ? 1 : affinity;
  // A quota of 1.5 CPUs still runs two threads at once for part of each period.
  unsigned granted = static_cast<unsigned>(std::ceil(quota_cpus - 1e-9));
  if (granted == 0)
    granted = 1;
  return affinity == 0 ? granted : std::min(affinity, granted);
}

UsableCpus usable_cpus() {
  UsableCpus cpus;
  cpu_set_t mask;
  CPU_ZERO(&mask);
  if (::sched_getaffinity(0, sizeof(mask), &mask) == 0)
    cpus.affinity = static_cast<unsigned>(CPU_COUNT(&mask));
  CgroupCpuDirs dirs = cgroup_cpu_dirs(read_small_file("/proc/self/mountinfo"),
                                       read_small_file("/proc/self/cgroup"));
  for (const std::string &dir : dirs.dirs) {
    std::optional<double> quota;
    std::string source;
    if (dirs.v2) {
      source = dir + "/cpu.max";
      quota = parse_cgroup2_cpu_max(read_small_file(source));
    } else {
      source = dir + "/cpu.cfs_quota_us";
      quota =
          parse_cgroup1_quota(read_small_file(source), read_small_file(dir + "/cpu.cfs_period_us"));
    }
    if (quota && (cpus.quota_cpus == 0 || *quota < cpus.quota_cpus)) {
      cpus.quota_cpus = *quota;
      cpus.quota_source = source;
    }
  }
  cpus.usable = usable_from(cpus.affinity, cpus.quota_cpus);
  return cpus;
}

} // namespace regcache::core
