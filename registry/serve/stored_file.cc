#include "registry/serve/stored_file.h"

#include "core/io_ops.h"
#include "registry/cache/blob_store.h"

namespace regcache::registry {

void add_digest_header(http::HeadWriter &head, const Digest &digest,
                       std::array<char, kDigestChars> &text) {
  format_digest(digest, text);
  head.header("Docker-Content-Digest", std::string_view(text.data(), text.size()));
}

std::string_view format_blob_etag(const Digest &digest, std::array<char, kBlobEtagChars> &out) {
  out.front() = '"';
  format_digest(digest, std::span<char, kDigestChars>(out.data() + 1, kDigestChars));
  out.back() = '"';
  return {out.data(), out.size()};
}

void add_blob_headers(http::HeadWriter &head, const Digest &digest) {
  std::array<char, kDigestChars> digest_text;
  add_digest_header(head, digest, digest_text);
  std::array<char, kBlobEtagChars> etag;
  head.header("ETag", format_blob_etag(digest, etag));
  head.header("Accept-Ranges", "bytes");
}

http::HeadWriter start_stored_head(ClientConnection &client, std::string_view content_type,
                                   const Digest &digest, uint64_t size_bytes,
                                   std::span<const http::Header> extra_headers) {
  std::array<char, kDigestChars> digest_text;
  http::HeadWriter head = client.start_head(200);
  head.header("Content-Type", content_type);
  add_digest_header(head, digest, digest_text);
  client.frame_length(head, size_bytes);
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  return head;
}

core::Task<bool> serve_stored_file(ClientConnection &client, const Digest &digest,
                                   std::string_view content_type,
                                   std::span<const http::Header> extra_headers) {
  uint64_t size_bytes = 0;
  int fd = co_await client.worker().store.open_published(digest, &size_bytes);
  if (fd < 0)
    co_return false;
  http::HeadWriter head =
      start_stored_head(client, content_type, digest, size_bytes, extra_headers);
  if (co_await client.send_head(head) == 0)
    co_await client.send_body_file(fd, 0, size_bytes);
  co_await core::close(fd);
  co_return true;
}

} // namespace regcache::registry
