#include "registry/cache/index_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "registry/api/byte_size.h"

namespace regcache::registry {
namespace {

// The largest blob-index read: 2^24 blobs (a cache of 16 million files is far past what one
// directory tree of this layout serves well).
constexpr uint64_t kIndexFileBytesMax =
    kIndexHeaderBytes + (uint64_t{1} << 24) * kIndexRecordBytes + kIndexTrailerBytes;
// Bounds the listing the same way.
constexpr uint64_t kFilesPerDirectoryMax = uint64_t{1} << 24;

bool read_whole_file(int root_fd, const char *path, std::string &out, std::string *problem) {
  int fd = ::openat(root_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *problem =
        errno == ENOENT ? "no blob-index file" : fmt::format("cannot open: {}", strerror(errno));
    return false;
  }
  struct stat stat {};
  if (::fstat(fd, &stat) != 0 || static_cast<uint64_t>(stat.st_size) > kIndexFileBytesMax) {
    *problem = "larger than any index this version writes";
    ::close(fd);
    return false;
  }
  out.resize(static_cast<size_t>(stat.st_size));
  size_t have = 0;
  while (have < out.size()) { // bounded: every turn reads bytes or stops
    ssize_t got = ::pread(fd, out.data() + have, out.size() - have, static_cast<off_t>(have));
    if (got <= 0) {
      if (got < 0 && errno == EINTR)
        continue;
      *problem = got == 0 ? "shorter than its size" : fmt::format("read: {}", strerror(errno));
      ::close(fd);
      return false;
    }
    have += static_cast<size_t>(got);
  }
  ::close(fd);
  return true;
}

// The digest a file name under blobs/sha256/<dir>/ stands for, or nullopt for anything that is
// not <dir><62 more hex> (regcache never writes other names there).
std::optional<Digest> digest_of_name(std::string_view directory, std::string_view name) {
  if (name.size() != kSha256HexChars || !name.starts_with(directory))
    return std::nullopt;
  Digest digest;
  if (!decode_hex_lower(name, digest.bytes))
    return std::nullopt;
  return digest;
}

struct ListedFile {
  Digest digest;
  int directory; // 0-255
};

bool list_blob_files(int root_fd, std::vector<ListedFile> &out, std::string *error) {
  for (int directory = 0; directory < 256; ++directory) {
    std::array<char, 32> path;
    auto end = fmt::format_to_n(path.data(), path.size() - 1, "blobs/sha256/{:02x}", directory);
    *end.out = '\0';
    int fd = ::openat(root_fd, path.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT)
        continue;
      *error = fmt::format("cannot list {}: {}", path.data(), strerror(errno));
      return false;
    }
    DIR *dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      *error = fmt::format("cannot list {}: {}", path.data(), strerror(errno));
      return false;
    }
    std::string_view prefix(path.data() + 13, 2);
    for (uint64_t seen = 0; seen < kFilesPerDirectoryMax; ++seen) {
      dirent *entry = ::readdir(dir);
      if (entry == nullptr)
        break;
      if (entry->d_type != DT_REG && entry->d_type != DT_UNKNOWN)
        continue;
      if (std::optional<Digest> digest = digest_of_name(prefix, entry->d_name))
        out.push_back(ListedFile{*digest, directory});
    }
    ::closedir(dir);
  }
  return true;
}

// meta/sha256/<dir>/<64 hex> (media type) or <64 hex>.limited (provenance mark) whose blob the
// index lacks.
uint64_t remove_orphan_meta(int root_fd, const BlobIndex &index) {
  uint64_t removed = 0;
  for (int directory = 0; directory < 256; ++directory) {
    std::array<char, 32> path;
    auto end = fmt::format_to_n(path.data(), path.size() - 1, "meta/sha256/{:02x}", directory);
    *end.out = '\0';
    int fd = ::openat(root_fd, path.data(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      continue;
    DIR *dir = ::fdopendir(fd);
    if (dir == nullptr) {
      ::close(fd);
      continue;
    }
    std::string_view prefix(path.data() + 12, 2);
    std::vector<std::string> orphans;
    for (uint64_t seen = 0; seen < kFilesPerDirectoryMax; ++seen) {
      dirent *entry = ::readdir(dir);
      if (entry == nullptr)
        break;
      std::string_view name = entry->d_name;
      if (name.ends_with(".limited"))
        name.remove_suffix(std::string_view(".limited").size());
      std::optional<Digest> digest = digest_of_name(prefix, name);
      IndexEntryView view;
      if (digest && !index.lookup(*digest, view))
        orphans.emplace_back(entry->d_name);
    }
    for (const std::string &name : orphans) {
      if (::unlinkat(::dirfd(dir), name.c_str(), 0) == 0)
        ++removed;
    }
    ::closedir(dir);
  }
  return removed;
}

// What a stat says of a file the saved index does not know.
bool stat_record(int root_fd, const ListedFile &file, IndexRecord &out) {
  std::array<char, kSha256HexChars> hex;
  format_digest_hex(file.digest, hex);
  std::array<char, 96> path;
  auto end = fmt::format_to_n(path.data(), path.size() - 1, "blobs/sha256/{:02x}/{}",
                              file.directory, std::string_view(hex.data(), hex.size()));
  *end.out = '\0';
  struct statx stat {};
  if (::statx(root_fd, path.data(), AT_SYMLINK_NOFOLLOW,
              STATX_TYPE | STATX_SIZE | STATX_ATIME | STATX_MTIME, &stat) != 0 ||
      !S_ISREG(stat.stx_mode)) {
    return false;
  }
  out.digest = file.digest;
  out.size_bytes = stat.stx_size;
  // With relatime the atime is at most a day behind the last read; the mtime is the publish.
  out.last_use_unix_s = std::max(stat.stx_atime.tv_sec, stat.stx_mtime.tv_sec);
  return true;
}

uint64_t file_system_block_bytes(int root_fd) {
  struct statvfs fs {};
  if (::fstatvfs(root_fd, &fs) != 0)
    return 4096;
  uint64_t block = fs.f_frsize != 0 ? fs.f_frsize : fs.f_bsize;
  return block != 0 ? block : 4096;
}

} // namespace

std::string describe_index_load(const IndexLoadReport &report) {
  std::string how =
      report.rebuilt
          ? fmt::format("rebuilt from blobs/ ({})", report.why_rebuilt)
          : fmt::format("loaded from blob-index ({} files new since it was saved, {} gone)",
                        report.added, report.gone);
  return fmt::format(
      "{} files, {}, {} in {} ms{}", report.blobs, format_byte_size(report.content_bytes), how,
      report.elapsed_ms,
      report.orphans_removed == 0
          ? std::string()
          : fmt::format("; {} meta/ files without a blob removed", report.orphans_removed));
}

bool load_blob_index(int root_fd, BlobIndex &index, IndexLoadReport &report, std::string *error) {
  const auto started = std::chrono::steady_clock::now();
  report = IndexLoadReport{};
  IndexSnapshot saved;
  std::string bytes;
  std::string problem;
  bool have_saved = read_whole_file(root_fd, kIndexFileName, bytes, &problem) &&
                    decode_index_snapshot(bytes, saved, &problem);
  if (!have_saved) {
    saved = IndexSnapshot{};
    report.rebuilt = true;
    report.why_rebuilt = problem;
  }
  bytes = std::string(); // up to 800 MB at the bound: not kept past here

  std::vector<ListedFile> listed;
  if (!list_blob_files(root_fd, listed, error))
    return false;
  std::sort(listed.begin(), listed.end(), [](const ListedFile &a, const ListedFile &b) {
    return digest_less(a.digest, b.digest);
  });
  // Merge two ascending lists: a listed file takes its saved record, or a stat.
  std::vector<IndexRecord> records;
  records.reserve(listed.size());
  size_t next_saved = 0;
  for (const ListedFile &file : listed) {
    while (next_saved < saved.records.size() &&
           digest_less(saved.records[next_saved].digest, file.digest)) {
      ++next_saved;
      ++report.gone;
    }
    if (next_saved < saved.records.size() && saved.records[next_saved].digest == file.digest) {
      records.push_back(saved.records[next_saved++]);
      continue;
    }
    IndexRecord record;
    if (stat_record(root_fd, file, record)) {
      // Known for one use: as valuable as anything just published.
      record.hits = 1;
      record.priority = saved.eviction_clock + 1;
      records.push_back(record);
      if (have_saved)
        ++report.added;
    }
  }
  report.gone += saved.records.size() - next_saved;
  index.reset(file_system_block_bytes(root_fd), records, saved.eviction_clock);
  index.set_scrub_cursor(saved.scrub_cursor);
  report.orphans_removed = remove_orphan_meta(root_fd, index);
  report.blobs = index.count();
  report.content_bytes = index.content_bytes();
  report.elapsed_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::steady_clock::now() - started)
                                                .count());
  return true;
}

bool save_blob_index(int root_fd, const BlobIndex &index, const char *temp_path,
                     std::string *error) {
  const std::string bytes = encode_index_snapshot(index.snapshot());
  int fd = ::openat(root_fd, temp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = fmt::format("cannot create {}: {}", temp_path, strerror(errno));
    return false;
  }
  size_t written = 0;
  while (written < bytes.size()) { // bounded: every turn writes bytes or stops
    ssize_t done = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (done <= 0) {
      if (done < 0 && errno == EINTR)
        continue;
      *error = fmt::format("cannot write {}: {}", temp_path,
                           done == 0 ? "no progress" : strerror(errno));
      ::close(fd);
      ::unlinkat(root_fd, temp_path, 0);
      return false;
    }
    written += static_cast<size_t>(done);
  }
  bool synced = ::fsync(fd) == 0;
  bool closed = ::close(fd) == 0;
  if (!synced || !closed || ::renameat(root_fd, temp_path, root_fd, kIndexFileName) != 0) {
    *error = fmt::format("cannot save {}: {}", kIndexFileName, strerror(errno));
    ::unlinkat(root_fd, temp_path, 0);
    return false;
  }
  return true;
}

} // namespace regcache::registry
