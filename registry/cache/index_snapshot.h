#pragma once
// The blob index as a file: what BlobIndex keeps of every published blob (its size, when it
// was last used, its hits and its eviction priority), the eviction clock, and where the scrub
// stopped, so a restart needs no stat of every file and keeps the eviction order. Pure: bytes
// in, bytes out (unit-tested).
//
//   offset  0  "RCBLOBIX"                       magic
//           8  u32 version (1), u32 zero
//          16  u64 record count
//          24  u64 eviction clock (cache/eviction_policy.h)
//          32  32 bytes: the digest the scrub verified last
//          64  records, 64 bytes each, digests strictly ascending:
//                32 bytes digest, u64 size in bytes, i64 last use (Unix seconds),
//                u64 hits (at least 1), u64 priority (at least the hits)
//        end   32 bytes: sha256 of everything before it
// Integers are little-endian. A file that fails any check is refused whole: the directory is
// the truth, and the index is rebuilt from it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/digest.h"

namespace regcache::registry {

struct IndexRecord {
  Digest digest{};
  uint64_t size_bytes = 0;
  int64_t last_use_unix_s = 0;
  uint64_t hits = 1;     // publishes and hits
  uint64_t priority = 1; // GDSF: the eviction clock at the last use, plus the hits
  friend bool operator==(const IndexRecord &, const IndexRecord &) = default;
};

struct IndexSnapshot {
  uint64_t eviction_clock = 0;
  Digest scrub_cursor{};
  std::vector<IndexRecord> records; // strictly ascending by digest
};

inline constexpr size_t kIndexHeaderBytes = 64;
inline constexpr size_t kIndexRecordBytes = 64;
inline constexpr size_t kIndexTrailerBytes = 32;

// Requires records strictly ascending by digest.
std::string encode_index_snapshot(const IndexSnapshot &snapshot);
// False, with the first problem found, for a damaged or foreign file.
bool decode_index_snapshot(std::string_view bytes, IndexSnapshot &out, std::string *problem);

inline bool digest_less(const Digest &a, const Digest &b) {
  return a.bytes < b.bytes;
}

} // namespace regcache::registry
