#pragma once
// What the cache holds, as images: every tag entry is a root naming a manifest (or an index),
// manifests name what they are made of (api/manifest_references.h), and the blob index says
// which of those are stored, how large and when last used. regcachectl's ls reads it as the
// size and last use of each image; purge chooses from it what to remove (plan_purge). Pure
// (cache_catalog.h fills it from the store), unit-tested.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "registry/api/digest.h"

namespace regcache::registry {

// One tag of one repository and a manifest one of its entries names (a tag has one entry per
// Accept combination clients sent, so several roots may share a tag).
struct CachedTagRoot {
  std::string upstream; // authority, as tag files are keyed
  std::string name;     // repository as sent upstream
  std::string tag;
  Digest digest{};
  std::string media_type;
  int64_t confirmed_unix_ms = 0;
};

struct StoredContent {
  uint64_t size_bytes = 0;
  int64_t last_use_unix_s = 0;
};

using DigestSet = std::unordered_set<Digest, DigestHash>;

struct CacheGraph {
  std::vector<CachedTagRoot> roots;
  // Manifests read from the store -> the digests they name (platform manifests, config, layers).
  std::unordered_map<Digest, std::vector<Digest>, DigestHash> references;
  // What the blob index holds (Present entries).
  std::unordered_map<Digest, StoredContent, DigestHash> stored;
};

// Adds to `out` the digest and everything reachable from it through `references` (an index,
// its manifests, their configs and layers). Bounded: each digest is visited once.
void add_closure(const CacheGraph &graph, const Digest &root, DigestSet &out);

struct ImageUsage {
  uint64_t stored_bytes = 0;   // of the distinct stored digests of the closure
  uint64_t stored_count = 0;   // stored digests (manifests and blobs)
  uint64_t missing_count = 0;  // named by a stored manifest, not stored (never pulled, evicted)
  int64_t last_use_unix_s = 0; // the latest use of anything in it
};
ImageUsage image_usage(const CacheGraph &graph, const Digest &root);

struct PurgeSelection {
  enum class Kind : uint8_t {
    Image,     // upstream + name + (tag or digest): that image, less what other images share
    Digest,    // exactly this content, shared or not, and the tag entries naming it
    OlderThan, // images last used before cutoff, less what newer ones share, and stored
               // content no tag reaches that was last used before cutoff
  };
  Kind kind = Kind::Image;
  std::string upstream;
  std::string name;
  std::string tag;              // Image by tag
  std::optional<Digest> digest; // Image by digest, or Digest
  int64_t cutoff_unix_s = 0;    // OlderThan
};

struct PurgePlan {
  // Indexes into graph.roots of the roots removed; a tag whose every root is listed loses its
  // file (cache_purge.h).
  std::vector<size_t> roots;
  std::vector<Digest> digests; // stored digests to remove, ascending (digest_less)
  uint64_t bytes = 0;          // their sizes
  uint64_t kept_shared = 0;    // digests of the selection kept because another image names them
};
PurgePlan plan_purge(const CacheGraph &graph, const PurgeSelection &selection);

} // namespace regcache::registry
