#include "registry/cache/index_snapshot.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <limits>

#include "registry/cache/sha256.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kMagic = "RCBLOBIX";
constexpr uint32_t kVersion = 1;
static_assert(kMagic.size() + 4 + 4 + 8 + 8 + kSha256Bytes == kIndexHeaderBytes);
static_assert(kSha256Bytes + 8 + 8 + 8 + 8 == kIndexRecordBytes);
static_assert(kSha256Bytes == kIndexTrailerBytes);

template <typename Int> void put_le(std::string &out, Int value) {
  auto bits = static_cast<std::make_unsigned_t<Int>>(value);
  for (size_t i = 0; i < sizeof(Int); ++i)
    out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
}

template <typename Int> Int get_le(const char *in) {
  std::make_unsigned_t<Int> bits = 0;
  for (size_t i = 0; i < sizeof(Int); ++i)
    bits |= static_cast<std::make_unsigned_t<Int>>(static_cast<uint8_t>(in[i])) << (8 * i);
  return static_cast<Int>(bits);
}

void put_digest(std::string &out, const Digest &digest) {
  out.append(reinterpret_cast<const char *>(digest.bytes.data()), digest.bytes.size());
}

Digest get_digest(const char *in) {
  Digest digest;
  std::memcpy(digest.bytes.data(), in, digest.bytes.size());
  return digest;
}

bool fail(std::string *problem, std::string text) {
  if (problem != nullptr)
    *problem = std::move(text);
  return false;
}

} // namespace

std::string encode_index_snapshot(const IndexSnapshot &snapshot) {
  assert(std::adjacent_find(snapshot.records.begin(), snapshot.records.end(),
                            [](const IndexRecord &a, const IndexRecord &b) {
                              return !digest_less(a.digest, b.digest);
                            }) == snapshot.records.end());
  std::string out;
  out.reserve(kIndexHeaderBytes + snapshot.records.size() * kIndexRecordBytes + kIndexTrailerBytes);
  out.append(kMagic);
  put_le<uint32_t>(out, kVersion);
  put_le<uint32_t>(out, 0);
  put_le<uint64_t>(out, snapshot.records.size());
  put_le<uint64_t>(out, snapshot.eviction_clock);
  put_digest(out, snapshot.scrub_cursor);
  for (const IndexRecord &record : snapshot.records) {
    put_digest(out, record.digest);
    put_le<uint64_t>(out, record.size_bytes);
    put_le<int64_t>(out, record.last_use_unix_s);
    put_le<uint64_t>(out, record.hits);
    put_le<uint64_t>(out, record.priority);
  }
  Digest checksum = sha256_of(std::span<const char>(out.data(), out.size()));
  put_digest(out, checksum);
  return out;
}

bool decode_index_snapshot(std::string_view bytes, IndexSnapshot &out, std::string *problem) {
  out.records.clear();
  if (bytes.size() < kIndexHeaderBytes + kIndexTrailerBytes)
    return fail(problem, "shorter than its header");
  if (bytes.substr(0, kMagic.size()) != kMagic)
    return fail(problem, "not a regcache blob index");
  if (get_le<uint32_t>(bytes.data() + 8) != kVersion || get_le<uint32_t>(bytes.data() + 12) != 0)
    return fail(problem, "another version of the format");
  const uint64_t count = get_le<uint64_t>(bytes.data() + 16);
  const size_t body_bytes = bytes.size() - kIndexHeaderBytes - kIndexTrailerBytes;
  // Checked by division: count * 48 could overflow for a hostile count.
  if (body_bytes % kIndexRecordBytes != 0 || count != body_bytes / kIndexRecordBytes)
    return fail(problem, "its length does not match its record count");
  const std::string_view covered = bytes.substr(0, bytes.size() - kIndexTrailerBytes);
  const Digest checksum = sha256_of(std::span<const char>(covered.data(), covered.size()));
  if (checksum != get_digest(bytes.data() + covered.size()))
    return fail(problem, "its checksum does not match (a damaged or cut-off file)");
  out.eviction_clock = get_le<uint64_t>(bytes.data() + 24);
  out.scrub_cursor = get_digest(bytes.data() + 32);
  out.records.reserve(static_cast<size_t>(count));
  const char *at = bytes.data() + kIndexHeaderBytes;
  for (uint64_t i = 0; i < count; ++i, at += kIndexRecordBytes) { // bounded by count
    IndexRecord record;
    record.digest = get_digest(at);
    record.size_bytes = get_le<uint64_t>(at + 32);
    record.last_use_unix_s = get_le<int64_t>(at + 40);
    record.hits = get_le<uint64_t>(at + 48);
    record.priority = get_le<uint64_t>(at + 56);
    if (!out.records.empty() && !digest_less(out.records.back().digest, record.digest))
      return fail(problem, "its records are not in digest order");
    // A priority is a clock plus the hits, and a stored blob was used at least once.
    if (record.last_use_unix_s < 0 ||
        record.size_bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        record.hits == 0 || record.priority < record.hits)
      return fail(problem, "a record out of range");
    out.records.push_back(record);
  }
  return true;
}

} // namespace regcache::registry
