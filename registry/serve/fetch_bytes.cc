#include "registry/serve/fetch_bytes.h"

#include <cerrno>

namespace regcache::registry {

core::Task<int> send_fetch_bytes(ClientConnection &client, BlobFetch::Reader &reader,
                                 uint64_t first, uint64_t bytes) {
  BlobFetch &fetch = reader.fetch();
  if (!fetch.holds(first)) {
    client.abort_response();
    co_return -ENODATA;
  }
  int rc = co_await client.send_body_file(reader.file_fd(), first, bytes);
  // Checked after the send too: the window moves first and punches after, so a hole read
  // during the send shows here.
  if (!fetch.holds(first)) {
    client.abort_response();
    co_return -ENODATA;
  }
  if (rc == 0)
    reader.sent_to(first + bytes);
  co_return rc;
}

} // namespace regcache::registry
