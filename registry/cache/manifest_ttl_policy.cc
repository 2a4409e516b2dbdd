#include "registry/cache/manifest_ttl_policy.h"

#include <fmt/format.h>

namespace regcache::registry {

bool ManifestTtlPolicy::compile(const Config &config, std::string *error) {
  classifiers_.clear();
  override_index_.clear();
  auto global = TtlClassifier::compile(config.manifest_ttl, error);
  if (!global)
    return false;
  classifiers_.push_back(std::move(global));
  for (const UpstreamConfig &upstream : config.upstreams) {
    if (!upstream.manifest_ttl)
      continue;
    std::string own_error;
    auto own = TtlClassifier::compile(*upstream.manifest_ttl, &own_error);
    if (!own) {
      *error = fmt::format("upstream {}: {}", upstream.host, own_error);
      return false;
    }
    override_index_[&upstream] = classifiers_.size();
    classifiers_.push_back(std::move(own));
  }
  return true;
}

ManifestTtlPolicy::Scratches ManifestTtlPolicy::make_scratches() const {
  Scratches scratches;
  scratches.policy_ = this;
  for (const auto &classifier : classifiers_)
    scratches.scratches_.push_back(classifier->make_scratch());
  return scratches;
}

uint64_t ManifestTtlPolicy::Scratches::ttl_ms(const UpstreamConfig *upstream, std::string_view name,
                                              std::string_view reference) {
  size_t index = 0;
  if (upstream != nullptr) {
    auto it = policy_->override_index_.find(upstream);
    if (it != policy_->override_index_.end())
      index = it->second;
  }
  MatchScratch *scratch = scratches_[index].get();
  if (scratch == nullptr)
    return 0; // no memory for match data at startup: revalidate every time
  return policy_->classifiers_[index]->ttl_ms(name, reference, *scratch);
}

} // namespace regcache::registry
