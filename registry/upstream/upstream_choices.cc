#include "registry/upstream/upstream_choices.h"

#include <cstring>

#include "registry/api/name_grammar.h"
#include "registry/api/route.h"

namespace regcache::registry {
namespace {

// "<raw ns value>\n<name>": neither contains a newline (the request parser refuses control
// characters in the target). The raw value: the same raw value decodes to the same host.
constexpr size_t kKeyBytesMax = 3 * kRegistryHostBytesMax + 1 + kRepositoryNameBytesMax;

} // namespace

UpstreamRefusal UpstreamChoices::choose(uint64_t generation, const Config &config,
                                        const UpstreamTlsContexts *tls, std::string_view query,
                                        std::string_view name, UpstreamChoiceRef &out) {
  if (generation > memo_generation_) {
    memo_.clear();
    memo_generation_ = generation;
  }
  const std::string_view ns = query_param(query, "ns");
  std::array<char, kKeyBytesMax> key_buffer;
  const bool keyed =
      generation == memo_generation_ && ns.size() + 1 + name.size() <= key_buffer.size();
  std::string_view key;
  if (keyed) {
    if (!ns.empty()) // an absent ns= is a null view, which memcpy must not see
      std::memcpy(key_buffer.data(), ns.data(), ns.size());
    key_buffer[ns.size()] = '\n';
    if (!name.empty()) // the ping's and a relayed path's empty name: a null view too
      std::memcpy(key_buffer.data() + ns.size() + 1, name.data(), name.size());
    key = std::string_view(key_buffer.data(), ns.size() + 1 + name.size());
    if (UpstreamChoiceRef *known = memo_.find(key)) {
      out = *known;
      return UpstreamRefusal::None;
    }
  }
  auto choice = std::make_shared<UpstreamChoice>();
  const UpstreamRefusal refusal = choose_upstream(config, query, name, *choice);
  if (refusal != UpstreamRefusal::None)
    return refusal;
  if (choice->config != nullptr && tls != nullptr) {
    auto it = tls->find(choice->config);
    if (it != tls->end())
      choice->endpoint.tls_context = it->second;
  }
  out = choice;
  if (keyed) {
    memo_.find_or_insert(
        key, [](const UpstreamChoiceRef &) { return false; },
        [](const UpstreamChoiceRef &) { return false; }) = std::move(choice);
  }
  return UpstreamRefusal::None;
}

} // namespace regcache::registry
