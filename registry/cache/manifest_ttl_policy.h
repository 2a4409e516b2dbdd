#pragma once
// Which TTL a tag gets: the global tiers, or an upstream's own override. Compiled once at
// startup (shared, read-only); each worker holds its own match scratch for every classifier, so
// classifying a tag allocates nothing and takes no lock.
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "registry/api/ttl_classifier.h"
#include "registry/config/config.h"

namespace regcache::registry {

class ManifestTtlPolicy {
public:
  // Error names the tier's origin (environment variable or config path).
  bool compile(const Config &config, std::string *error);

  class Scratches {
  public:
    uint64_t ttl_ms(const UpstreamConfig *upstream, std::string_view name,
                    std::string_view reference);

  private:
    friend class ManifestTtlPolicy;
    const ManifestTtlPolicy *policy_ = nullptr;
    std::vector<std::unique_ptr<MatchScratch>> scratches_; // parallel to policy_->classifiers_
  };
  // One per worker, made on that worker at startup.
  Scratches make_scratches() const;

private:
  std::vector<std::unique_ptr<TtlClassifier>> classifiers_; // [0]: the global tiers
  std::unordered_map<const UpstreamConfig *, size_t> override_index_;
};

} // namespace regcache::registry
