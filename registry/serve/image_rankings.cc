#include "registry/serve/image_rankings.h"

#include <algorithm>
#include <cstring>

namespace regcache::registry {

bool ImageRankings::Name::set(std::string_view repository, std::string_view tag) {
  // The route checked the grammar, whose bounds size the array; a longer name is not counted.
  if (repository.size() + 1 + tag.size() > bytes.size())
    return false;
  std::memcpy(bytes.data(), repository.data(), repository.size());
  bytes[repository.size()] = ':';
  std::memcpy(bytes.data() + repository.size() + 1, tag.data(), tag.size());
  length = static_cast<uint16_t>(repository.size() + 1 + tag.size());
  return true;
}

void ImageRankings::count_pull(std::string_view repository, std::string_view tag) {
  Name name;
  if (!name.set(repository, tag))
    return;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < pulled_used_; ++i) {
    if (pulled_[i].name.view() == name.view()) {
      ++pulled_[i].pulls;
      return;
    }
  }
  if (pulled_used_ < pulled_.size()) {
    pulled_[pulled_used_++] = PullCounter{name, 1, 0};
    return;
  }
  // Space-saving: the newcomer replaces the smallest counter and may owe it all its pulls.
  auto smallest = std::min_element(
      pulled_.begin(), pulled_.end(),
      [](const PullCounter &a, const PullCounter &b) { return a.pulls < b.pulls; });
  *smallest = PullCounter{name, smallest->pulls + 1, smallest->pulls};
}

void ImageRankings::note_size(std::string_view repository, std::string_view tag,
                              uint64_t image_bytes) {
  Name name;
  if (!name.set(repository, tag))
    return;
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < largest_used_; ++i) {
    if (largest_[i].name.view() == name.view()) {
      largest_[i].image_bytes = image_bytes; // the tag moved to another image
      return;
    }
  }
  if (largest_used_ < largest_.size()) {
    largest_[largest_used_++] = SizeEntry{name, image_bytes};
    return;
  }
  auto smallest = std::min_element(
      largest_.begin(), largest_.end(),
      [](const SizeEntry &a, const SizeEntry &b) { return a.image_bytes < b.image_bytes; });
  if (image_bytes > smallest->image_bytes)
    *smallest = SizeEntry{name, image_bytes};
}

std::vector<RankedImage> ImageRankings::most_pulled(size_t count) const {
  std::vector<RankedImage> ranked;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < pulled_used_; ++i) {
      const PullCounter &counter = pulled_[i];
      ranked.push_back(
          RankedImage{std::string(counter.name.view()), counter.pulls, counter.overcount, 0});
    }
  }
  std::sort(ranked.begin(), ranked.end(), [](const RankedImage &a, const RankedImage &b) {
    return a.pulls != b.pulls ? a.pulls > b.pulls : a.name < b.name;
  });
  ranked.resize(std::min(ranked.size(), count));
  return ranked;
}

std::vector<RankedImage> ImageRankings::largest(size_t count) const {
  std::vector<RankedImage> ranked;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < largest_used_; ++i) {
      const SizeEntry &entry = largest_[i];
      ranked.push_back(RankedImage{std::string(entry.name.view()), 0, 0, entry.image_bytes});
    }
  }
  std::sort(ranked.begin(), ranked.end(), [](const RankedImage &a, const RankedImage &b) {
    return a.image_bytes != b.image_bytes ? a.image_bytes > b.image_bytes : a.name < b.name;
  });
  ranked.resize(std::min(ranked.size(), count));
  return ranked;
}

} // namespace regcache::registry
