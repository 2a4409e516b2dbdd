#include "registry/cache/open_blob_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>

#include "registry/cache/index_snapshot.h"

namespace regcache::registry {
namespace {

// More fds than this process can have (the connection cap is per worker, and each holds a few).
constexpr size_t kFdsScannedMax = size_t{1} << 22;

} // namespace

std::optional<Digest> digest_of_open_path(std::string_view blobs_prefix,
                                          std::string_view link_target) {
  if (!link_target.starts_with(blobs_prefix))
    return std::nullopt;
  std::string_view rest = link_target.substr(blobs_prefix.size());
  // "<2 hex>/<64 hex>" exactly: an unlinked file's target ends in " (deleted)".
  if (rest.size() != 3 + kSha256HexChars || rest[2] != '/' ||
      rest.substr(0, 2) != rest.substr(3, 2))
    return std::nullopt;
  Digest digest;
  if (!decode_hex_lower(rest.substr(3), digest.bytes))
    return std::nullopt;
  return digest;
}

std::string open_blobs_prefix(int root_fd) {
  std::array<char, 4096> target;
  std::string link = fmt::format("/proc/self/fd/{}", root_fd);
  ssize_t length = ::readlink(link.c_str(), target.data(), target.size());
  if (length <= 0 || static_cast<size_t>(length) >= target.size())
    return {};
  std::string prefix(target.data(), static_cast<size_t>(length));
  if (prefix != "/")
    prefix += '/';
  prefix += "blobs/sha256/";
  return prefix;
}

std::vector<Digest> open_blob_files(std::string_view blobs_prefix) {
  std::vector<Digest> open;
  DIR *dir = ::opendir("/proc/self/fd");
  if (dir == nullptr)
    return open;
  const int dir_fd = ::dirfd(dir);
  std::array<char, 4096> target;
  for (size_t seen = 0; seen < kFdsScannedMax; ++seen) {
    dirent *entry = ::readdir(dir);
    if (entry == nullptr)
      break;
    if (entry->d_name[0] == '.')
      continue;
    ssize_t length = ::readlinkat(dir_fd, entry->d_name, target.data(), target.size());
    if (length <= 0 || static_cast<size_t>(length) >= target.size())
      continue;
    if (std::optional<Digest> digest = digest_of_open_path(
            blobs_prefix, std::string_view(target.data(), static_cast<size_t>(length)))) {
      open.push_back(*digest);
    }
  }
  ::closedir(dir);
  std::sort(open.begin(), open.end(), digest_less);
  open.erase(std::unique(open.begin(), open.end()), open.end());
  return open;
}

} // namespace regcache::registry
