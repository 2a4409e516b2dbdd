#include "registry/serve/blob_responder.h"

#include <fmt/format.h>

#include <array>

#include "core/bounded_format.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/serve/client_access.h"
#include "registry/serve/fetch_bytes.h"
#include "registry/serve/stored_file.h"
#include "registry/serve/upstream_answer.h"

namespace regcache::registry {
namespace {

// Streams the blob a fetch is writing, following the file as it grows. Every client of a miss
// (the one that started the download included) takes this path.
core::Task<void> follow_fetch(ClientConnection &client, BlobFetch &fetch) {
  // Registered from the start: a pass-through keeps the bytes this reader has not sent yet, for
  // a while (cache/blob_fetch.h).
  BlobFetch::Reader reader(fetch);
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
  if (progress.total_known) {
    client.frame_length(head, progress.total_bytes);
  } else {
    client.frame_unknown_length(head);
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
      int rc = co_await send_fetch_bytes(client, reader, sent, bytes);
      if (rc < 0)
        co_return;
      sent = progress.readable_bytes;
    }
    if (progress.state == BlobFetch::State::Verified && sent == progress.readable_bytes)
      break;
    progress = co_await fetch.wait_beyond(sent, progress.state);
  }
  co_await client.end_body();
}

// Downloads are counted per worker so a graceful shutdown lets them finish.
core::Task<void> run_counted_fetch(WorkerContext &worker, std::shared_ptr<BlobFetch> fetch,
                                   BlobFetchRequest request) {
  worker.fetches_running++;
  const FetchResources resources{worker.store,
                                 worker.fetches,
                                 worker.upstreams,
                                 worker.auth,
                                 &worker.log,
                                 worker.config.uncached_window_bytes,
                                 worker.config.uncached_reader_stall_ms};
  co_await BlobFetch::run(std::move(fetch), resources, std::move(request));
  worker.fetches_running--;
}

} // namespace

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
  const ProvenanceMark mark = provenance_mark(worker, upstream);
  const bool limited = mark == ProvenanceMark::Limited;
  std::shared_ptr<BlobFetch> fetch;
  if (worker.fetches_running < worker.config.fetches_max) {
    fetch = worker.fetches.join_or_create(*digest, limited, &created);
  } else {
    // At the bound, each download holding its staging buffers and a connection: following a
    // download that runs already costs nothing upstream, starting one must wait for a retry.
    fetch = worker.fetches.join(*digest, limited);
    if (!fetch) {
      std::array<char, 80> why;
      co_await send_over_capacity(
          client, core::format_bounded(why, "{} downloads running on this worker (--fetches-max)",
                                       worker.fetches_running));
      co_return;
    }
  }
  if (created) {
    client.set_outcome(CacheOutcome::Miss);
    BlobFetchRequest request;
    request.upstream = upstream;
    request.mark = mark;
    request.target = std::move(target);
    core::spawn(run_counted_fetch(worker, fetch, std::move(request)));
  } else {
    client.set_outcome(CacheOutcome::Follow);
  }
  co_await follow_fetch(client, *fetch);
}

} // namespace regcache::registry
