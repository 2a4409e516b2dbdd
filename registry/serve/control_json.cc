#include "registry/serve/control_json.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <numeric>
#include <tuple>

#include "registry/api/oci_error.h"
#include "registry/serve/cache_outcome.h"

namespace regcache::registry {
namespace {

// Writes one JSON object's fields into `out`, with the commas between them.
class JsonFields {
public:
  explicit JsonFields(std::string &out) : out_(out) { out_.push_back('{'); }
  JsonFields &add(std::string_view key, std::string_view text) {
    start_field(key);
    append_json_string(out_, text);
    return *this;
  }
  JsonFields &add(std::string_view key, uint64_t number) {
    start_field(key);
    fmt::format_to(std::back_inserter(out_), "{}", number);
    return *this;
  }
  JsonFields &add(std::string_view key, int64_t number) {
    start_field(key);
    fmt::format_to(std::back_inserter(out_), "{}", number);
    return *this;
  }
  // A field whose value the caller writes next (an object, null, a fraction).
  std::string &add_raw(std::string_view key) {
    start_field(key);
    return out_;
  }
  void close() { out_.push_back('}'); }

private:
  void start_field(std::string_view key) {
    if (!first_)
      out_.push_back(',');
    first_ = false;
    append_json_string(out_, key);
    out_.push_back(':');
  }
  std::string &out_;
  bool first_ = true;
};

} // namespace

std::string format_images_json(const CacheGraph &graph) {
  std::vector<size_t> order(graph.roots.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const CachedTagRoot &left = graph.roots[a];
    const CachedTagRoot &right = graph.roots[b];
    return std::tie(left.upstream, left.name, left.tag, left.media_type) <
           std::tie(right.upstream, right.name, right.tag, right.media_type);
  });
  std::string out = R"({"images":[)";
  DigestSet tagged;
  for (size_t position = 0; position < order.size(); ++position) {
    const CachedTagRoot &root = graph.roots[order[position]];
    add_closure(graph, root.digest, tagged);
    const ImageUsage usage = image_usage(graph, root.digest);
    if (position > 0)
      out.push_back(',');
    JsonFields(out)
        .add("upstream", root.upstream)
        .add("name", root.name)
        .add("tag", root.tag)
        .add("digest", to_string(root.digest))
        .add("media_type", root.media_type)
        .add("confirmed_unix_ms", root.confirmed_unix_ms)
        .add("stored_bytes", usage.stored_bytes)
        .add("stored_count", usage.stored_count)
        .add("missing_count", usage.missing_count)
        .add("last_use_unix_s", usage.last_use_unix_s)
        .close();
  }
  uint64_t untagged_count = 0;
  uint64_t untagged_bytes = 0;
  uint64_t stored_bytes = 0;
  for (const auto &[digest, content] : graph.stored) {
    stored_bytes += content.size_bytes;
    if (tagged.contains(digest))
      continue;
    ++untagged_count;
    untagged_bytes += content.size_bytes;
  }
  out += R"(],"untagged":)";
  JsonFields(out).add("count", untagged_count).add("bytes", untagged_bytes).close();
  out += R"(,"stored":)";
  JsonFields(out)
      .add("count", static_cast<uint64_t>(graph.stored.size()))
      .add("bytes", stored_bytes)
      .close();
  out += "}\n";
  return out;
}

std::string format_stats_json(const ControlStats &stats) {
  const uint64_t lookups = stats.requests.cache_lookups();
  const uint64_t answered = stats.requests.cache_answered();
  std::string out;
  JsonFields fields(out);
  std::string &ratio = fields.add_raw("hit_ratio");
  if (lookups == 0) {
    ratio += "null";
  } else {
    fmt::format_to(std::back_inserter(ratio), "{:.4f}",
                   static_cast<double>(answered) / static_cast<double>(lookups));
  }
  // What the upstream sent through to clients: misses and the requests that followed them.
  uint64_t via_upstream = 0;
  for (RequestKind kind : {RequestKind::Manifest, RequestKind::Blob}) {
    for (CacheOutcome outcome : {CacheOutcome::Miss, CacheOutcome::Follow, CacheOutcome::Pass})
      via_upstream +=
          stats.requests.body_bytes[static_cast<size_t>(kind)][static_cast<size_t>(outcome)];
  }
  fields.add("cache_lookups", lookups)
      .add("cache_answered", answered)
      .add("bytes_from_cache", stats.requests.bytes_from_cache())
      .add("bytes_via_upstream", via_upstream);
  JsonFields requests(fields.add_raw("requests"));
  // From 1: CacheOutcome::None is a request the cache had no part in (ping, token, ops).
  for (size_t outcome = 1; outcome < kCacheOutcomes; ++outcome) {
    uint64_t count = 0;
    for (size_t kind = 0; kind < kRequestKinds; ++kind)
      count += stats.requests.requests[kind][outcome];
    requests.add(outcome_name(static_cast<CacheOutcome>(outcome)), count);
  }
  requests.close();
  fields.add("disk_bytes", stats.cache_disk_bytes)
      .add("content_bytes", stats.cache_content_bytes)
      .add("cache_max_bytes", stats.cache_max_bytes)
      .add("entries", stats.cache_entries)
      .add("tags_held", stats.tags_held)
      .add("manifests_held", stats.manifests_held)
      .add("downloads_running", stats.downloads_running)
      .close();
  out += "\n";
  return out;
}

std::string format_purge_json(const PurgePlan &plan, const PurgeReport &report) {
  std::string out;
  JsonFields(out)
      .add("selected_tags", static_cast<uint64_t>(plan.roots.size()))
      .add("digests", static_cast<uint64_t>(plan.digests.size()))
      .add("bytes", plan.bytes)
      .add("kept_shared", plan.kept_shared)
      .add("tags_removed", report.tags_removed)
      .add("digests_removed", report.digests_removed)
      .add("bytes_removed", report.bytes_removed)
      .add("tag_entries_dropped", report.tag_entries_dropped)
      .add("kept_busy", report.kept_busy)
      .add("downloads_running", report.downloads_running)
      .close();
  out += "\n";
  return out;
}

} // namespace regcache::registry
