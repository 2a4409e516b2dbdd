#pragma once
// A published store file (a blob, or a manifest by digest) sent as a complete 200 response.
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

// Streams the store file of `digest` with the given content type. Returns false when the file
// is not in the store (nothing was sent).
core::Task<bool> serve_stored_file(ClientConnection &client, const Digest &digest,
                                   std::string_view content_type,
                                   std::span<const http::Header> extra_headers);

} // namespace regcache::registry
