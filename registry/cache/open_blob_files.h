#pragma once
// Which published blobs this process has open right now, read from /proc/self/fd: every reader
// holds an fd on the file it sends (a hit, a client following a download that has been
// published, the scrub), whichever code opened it, so the evictor needs no reader count that
// every path would have to keep right. Background threads only (it reads /proc).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/digest.h"

namespace regcache::registry {

// The digest of a /proc/self/fd link target "<blobs_prefix><2 hex>/<64 hex>", or nullopt for
// any other file (sockets, pipes, tmp/, a file unlinked already: "... (deleted)").
// `blobs_prefix` ends in "/blobs/sha256/".
std::optional<Digest> digest_of_open_path(std::string_view blobs_prefix,
                                          std::string_view link_target);

// The absolute "<root>/blobs/sha256/" of the cache root open as `root_fd`, as /proc shows it
// (symlinks resolved), or empty when /proc cannot say.
std::string open_blobs_prefix(int root_fd);

// Every digest whose published file is open in this process, ascending, deduplicated.
std::vector<Digest> open_blob_files(std::string_view blobs_prefix);

} // namespace regcache::registry
