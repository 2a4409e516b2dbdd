#include "registry/serve/stored_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/io_ops.h"
#include "registry/cache/blob_store.h"

namespace regcache::registry {

void add_digest_header(http::HeadWriter &head, const Digest &digest,
                       std::array<char, kDigestChars> &text) {
  format_digest(digest, text);
  head.header("Docker-Content-Digest", std::string_view(text.data(), text.size()));
}

core::Task<bool> serve_stored_file(ClientConnection &client, const Digest &digest,
                                   std::string_view content_type,
                                   std::span<const http::Header> extra_headers) {
  StorePath path = BlobStore::blob_path(digest);
  int fd =
      co_await core::openat(client.worker().store.root_fd(), path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0)
    co_return false;
  struct statx stat {};
  int rc = co_await core::statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &stat);
  if (rc < 0) {
    co_await core::close(fd);
    co_return false;
  }
  std::array<char, kDigestChars> digest_text;
  http::HeadWriter head = client.start_head(200);
  head.header("Content-Type", content_type);
  add_digest_header(head, digest, digest_text);
  client.frame_length(head, stat.stx_size);
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  if (co_await client.send_head(head) == 0)
    co_await client.send_body_file(fd, 0, stat.stx_size);
  co_await core::close(fd);
  co_return true;
}

} // namespace regcache::registry
