#include "registry/serve/blob_responder.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include "core/io_ops.h"
#include "http/chunked_encoder.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/serve/upstream_relay.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kBlobContentType = "application/octet-stream";

void add_digest_header(http::HeadWriter &head, const Digest &digest,
                       std::array<char, kDigestChars> &text) {
  format_digest(digest, text);
  head.header("Docker-Content-Digest", std::string_view(text.data(), text.size()));
}

// Streams the blob a fetch is writing, following the file as it grows. Every client of a miss
// (the one that started the download included) takes this path.
core::Task<void> follow_fetch(ClientConnection &client, BlobFetch &fetch) {
  BlobFetch::Progress progress = co_await fetch.wait_beyond(0, BlobFetch::State::Starting);
  switch (progress.state) {
  case BlobFetch::State::Starting: // wait_beyond returns only after the state left Starting
  case BlobFetch::State::UpstreamAnswer:
    co_await send_upstream_answer(client, fetch.answer(), fetch.answer_body());
    co_return;
  case BlobFetch::State::Failed:
    co_await send_upstream_failure(client, fetch.failure_errno(), fetch.failure());
    co_return;
  case BlobFetch::State::Streaming:
  case BlobFetch::State::Verified:
    break;
  }
  std::array<char, kDigestChars> digest_text;
  http::HeadWriter head = client.start_head(200);
  head.header("Content-Type", kBlobContentType);
  add_digest_header(head, fetch.digest(), digest_text);
  bool chunked = !progress.total_known;
  if (chunked) {
    head.header("Transfer-Encoding", "chunked");
  } else {
    head.header_uint("Content-Length", progress.total_bytes);
  }
  if (co_await client.send_head(head) < 0)
    co_return;

  uint64_t sent = 0;
  // Bounded: every turn either sends new bytes or waits for the fetch to move; the fetch itself
  // ends on upstream timeouts.
  for (;;) {
    if (progress.state == BlobFetch::State::Failed) {
      client.abort_response();
      co_return;
    }
    if (progress.readable_bytes > sent) {
      uint64_t bytes = progress.readable_bytes - sent;
      if (chunked) {
        std::array<char, http::kChunkHeaderBytesMax> chunk_head;
        size_t size = http::format_chunk_header(chunk_head, bytes);
        if (co_await client.send_bytes(std::span<const char>(chunk_head.data(), size)) < 0)
          co_return;
      }
      if (co_await client.send_file_range(fetch.file_fd(), sent, bytes) < 0)
        co_return;
      if (chunked && co_await client.send_bytes(http::kChunkTrailer) < 0)
        co_return;
      sent = progress.readable_bytes;
    }
    if (progress.state == BlobFetch::State::Verified && sent == progress.readable_bytes)
      break;
    progress = co_await fetch.wait_beyond(sent, progress.state);
  }
  if (chunked)
    co_await client.send_bytes(http::kLastChunk);
}

// Downloads are counted per worker so a graceful shutdown lets them finish.
core::Task<void> run_counted_fetch(WorkerContext &worker, std::shared_ptr<BlobFetch> fetch,
                                   BlobFetchRequest request) {
  worker.fetches_running++;
  co_await BlobFetch::run(std::move(fetch), worker, std::move(request));
  worker.fetches_running--;
}

} // namespace

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
  head.header_uint("Content-Length", stat.stx_size);
  for (const http::Header &header : extra_headers)
    head.header(header.name, header.value);
  if (co_await client.send_head(head) == 0 && !client.is_head_request()) {
    co_await client.send_file_range(fd, 0, stat.stx_size);
  }
  co_await core::close(fd);
  co_return true;
}

core::Task<bool> serve_stored_blob(ClientConnection &client, const Route &route) {
  std::optional<Digest> digest = parse_sha256_digest(route.reference);
  if (!digest)
    co_return false;
  bool served = co_await serve_stored_file(client, *digest, kBlobContentType, {});
  if (served)
    client.set_outcome(CacheOutcome::Hit);
  co_return served;
}

core::Task<void> respond_blob(ClientConnection &client, const http::RequestHead &head,
                              const Route &route, const UpstreamChoice &upstream) {
  std::optional<Digest> digest = parse_sha256_digest(route.reference);
  std::string target = fmt::format("/v2/{}/blobs/{}", upstream.name, route.reference);
  if (!digest) {
    // A valid digest of another algorithm: regcache stores sha256 only, so pass it through.
    co_await relay_request(client, head, upstream, target, {});
    co_return;
  }
  if (client.is_head_request()) {
    // A HEAD must not turn into a download: ask the upstream the same question.
    co_await relay_request(client, head, upstream, target, {});
    co_return;
  }
  WorkerContext &worker = client.worker();
  bool created = false;
  std::shared_ptr<BlobFetch> fetch = worker.store.join_or_create_fetch(*digest, &created);
  if (created) {
    client.set_outcome(CacheOutcome::Miss);
    BlobFetchRequest request;
    request.upstream = upstream;
    request.target = std::move(target);
    core::spawn(run_counted_fetch(worker, fetch, std::move(request)));
  } else {
    client.set_outcome(CacheOutcome::Follow);
  }
  co_await follow_fetch(client, *fetch);
}

} // namespace regcache::registry
