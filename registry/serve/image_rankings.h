#pragma once
// The most-pulled and the largest images (repository:tag) for the status page, in fixed memory:
// clients choose the names, so a map with one entry per name would grow with every name a client
// cares to send. Pulls are counted with the space-saving algorithm (Metwally, Agrawal and El
// Abbadi, 2005): K counters; a new name takes over the smallest counter and inherits its count
// as its possible overcount, so any name pulled more than total/K times is in the table, and
// counts are exact while at most K names were seen. The largest images are the K largest sizes
// seen. Shared by the workers behind one short lock (a manifest GET by tag, not a blob byte).
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/name_grammar.h"

namespace regcache::registry {

struct RankedImage {
  std::string name; // repository:tag
  uint64_t pulls = 0;
  uint64_t pulls_overcount = 0; // the count is at most this much too high (0: exact)
  uint64_t image_bytes = 0;
};

class ImageRankings {
public:
  static constexpr size_t kPulledMax = 64;
  static constexpr size_t kLargestMax = 16;
  // repository ":" tag, each at its grammar's longest.
  static constexpr size_t kNameBytesMax = kRepositoryNameBytesMax + 1 + kTagBytesMax;

  // A manifest GET by tag answered with a manifest.
  void count_pull(std::string_view repository, std::string_view tag);
  // A tag's image manifest declared `image_bytes` (config and layers).
  void note_size(std::string_view repository, std::string_view tag, uint64_t image_bytes);

  // Up to `count` of each, most pulled / largest first.
  std::vector<RankedImage> most_pulled(size_t count) const;
  std::vector<RankedImage> largest(size_t count) const;

private:
  struct Name {
    std::array<char, kNameBytesMax> bytes{};
    uint16_t length = 0;
    bool set(std::string_view repository, std::string_view tag);
    std::string_view view() const { return {bytes.data(), length}; }
  };
  struct PullCounter {
    Name name;
    uint64_t pulls = 0;
    uint64_t overcount = 0;
  };
  struct SizeEntry {
    Name name;
    uint64_t image_bytes = 0;
  };
  mutable std::mutex mutex_;
  std::array<PullCounter, kPulledMax> pulled_{};
  size_t pulled_used_ = 0;
  std::array<SizeEntry, kLargestMax> largest_{};
  size_t largest_used_ = 0;
};

} // namespace regcache::registry
