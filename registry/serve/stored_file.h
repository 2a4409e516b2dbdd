#pragma once
// A published store file (a blob, or a manifest by digest) sent as a complete 200 response, and
// the headers every blob answer carries.
#include <array>
#include <span>
#include <string_view>

#include "core/task.h"
#include "http/message_head.h"
#include "registry/api/digest.h"
#include "registry/serve/client_connection.h"

namespace regcache::registry {

inline constexpr std::string_view kBlobContentType = "application/octet-stream";

// The Docker-Content-Digest header of `digest`, written into `text`.
void add_digest_header(http::HeadWriter &head, const Digest &digest,
                       std::array<char, kDigestChars> &text);

inline constexpr size_t kBlobEtagChars = kDigestChars + 2;
// A blob's ETag: its quoted digest, as docker-registry sends it. The digest names the exact
// bytes, so it is a strong validator (RFC 9110 section 8.8.1), usable in If-Range.
std::string_view format_blob_etag(const Digest &digest, std::array<char, kBlobEtagChars> &out);
// Docker-Content-Digest, ETag and Accept-Ranges (RFC 9110 section 14.3: range requests on it
// are served), which every blob answer of the cache carries.
void add_blob_headers(http::HeadWriter &head, const Digest &digest);

// The head of a 200 answer of stored content: type, Docker-Content-Digest, length and
// `extra_headers` (written into the connection's head buffer at once).
http::HeadWriter start_stored_head(ClientConnection &client, std::string_view content_type,
                                   const Digest &digest, uint64_t size_bytes,
                                   std::span<const http::Header> extra_headers);

// Streams the store file of `digest` with the given content type. Returns false when the file
// is not in the store (nothing was sent).
core::Task<bool> serve_stored_file(ClientConnection &client, const Digest &digest,
                                   std::string_view content_type,
                                   std::span<const http::Header> extra_headers);

} // namespace regcache::registry
