#pragma once
// One worker's memo of choose_upstream: the choice for a (?ns= value, repository name) pair,
// made once and then shared by the requests that name the pair again. Routing is a pure
// function of the configuration generation (immutable) and those two, but it builds strings
// (the endpoint, the name with library/ or a prefix in front); with the memo, a hit routes
// without allocating. The memo holds the answers of one generation, the newest it was asked
// about: a newer one empties it, and a request of an older one (begun before a reload) routes
// without it, so no answer, with its credentials and TLS context, crosses a reload. Bounded (least
// recently used out: the pairs are the client's choice); not thread-safe (one per worker).
#include <array>
#include <cstddef>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "core/lru_map.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

using UpstreamChoiceRef = std::shared_ptr<const UpstreamChoice>;
// A configuration generation's per-upstream TLS contexts (ConfigGeneration::upstream_tls).
using UpstreamTlsContexts = std::unordered_map<const UpstreamConfig *, const tls::ClientContext *>;

class UpstreamChoices {
public:
  static constexpr size_t kEntriesMax = 256;
  UpstreamChoices() : memo_(kEntriesMax) {}
  UpstreamChoices(const UpstreamChoices &) = delete;
  UpstreamChoices &operator=(const UpstreamChoices &) = delete;

  // choose_upstream's answer, with the upstream's own TLS context from `tls` (may be null) set
  // in the endpoint. A refusal is not remembered; `out` is set only for None. The choice stays
  // valid while `out` holds it, whatever the memo does meanwhile.
  // `generation` numbers `config` (registry/serve/config_generation.h): it grows with every
  // reload.
  UpstreamRefusal choose(uint64_t generation, const Config &config, const UpstreamTlsContexts *tls,
                         std::string_view query, std::string_view name, UpstreamChoiceRef &out);

  size_t remembered() const { return memo_.size(); }

private:
  core::LruMap<UpstreamChoiceRef> memo_;
  uint64_t memo_generation_ = 0; // the generation of the answers in memo_
};

} // namespace regcache::registry
