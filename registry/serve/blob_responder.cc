#include "registry/serve/blob_responder.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cassert>

#include "core/bounded_format.h"
#include "core/io_ops.h"
#include "core/unix_time.h"
#include "registry/api/byte_range.h"
#include "registry/cache/blob_fetch.h"
#include "registry/cache/blob_store.h"
#include "registry/serve/client_access.h"
#include "registry/serve/fetch_bytes.h"
#include "registry/serve/range_body.h"
#include "registry/serve/stored_file.h"
#include "registry/serve/upstream_answer.h"

namespace regcache::registry {
namespace {

// 416 (RFC 9110 section 15.5.17): no range of the request lies inside the blob. The
// Content-Range names the blob's size (section 14.4), so the client can ask again.
core::Task<int> send_range_unsatisfiable(ClientConnection &client, uint64_t size_bytes) {
  std::array<char, 40> content_range;
  const std::array<http::Header, 2> headers{{
      {"Content-Range", core::format_bounded(content_range, "bytes */{}", size_bytes)},
      {"Accept-Ranges", "bytes"},
  }};
  int rc = co_await client.send_simple(416, {}, {}, headers);
  co_return rc;
}

// The head of a 206 answer; false when the client is gone.
core::Task<bool> send_range_head(ClientConnection &client, const Digest &digest,
                                 const RangeBody &body) {
  http::HeadWriter head = client.start_head(206);
  add_blob_headers(head, digest);
  body.add_headers(head);
  client.frame_length(head, body.body_bytes());
  int rc = co_await client.send_head(head);
  co_return rc == 0;
}

// Memory bytes of a multipart body (delimiters, part heads).
core::Task<int> send_body_text(ClientConnection &client, std::string_view text) {
  int rc = co_await client.send_body(std::span<const char>(text.data(), text.size()));
  co_return rc;
}

core::Task<void> send_stored_whole(ClientConnection &client, int fd, const Digest &digest,
                                   uint64_t size_bytes) {
  http::HeadWriter head = client.start_head(200);
  head.header("Content-Type", kBlobContentType);
  add_blob_headers(head, digest);
  client.frame_length(head, size_bytes);
  int rc = co_await client.send_head(head);
  if (rc == 0)
    co_await client.send_body_file(fd, 0, size_bytes);
}

// The 206 answer of a stored blob: every part spliced from its offset in the file.
core::Task<void> send_stored_ranges(ClientConnection &client, int fd, const Digest &digest,
                                    const RangeBody &body) {
  bool head_sent = co_await send_range_head(client, digest, body);
  if (!head_sent)
    co_return;
  if (!body.multipart()) {
    const ByteRange &range = body.ranges().front();
    co_await client.send_body_file(fd, range.first, range.bytes());
    co_return;
  }
  std::array<char, RangeBody::kPartHeadBytesMax> part_head;
  for (size_t index = 0; index < body.ranges().size(); ++index) { // bounded by kByteRangesMax
    const ByteRange &range = body.ranges()[index];
    int rc = co_await send_body_text(client, body.part_head(index, part_head));
    if (rc < 0)
      co_return;
    rc = co_await client.send_body_file(fd, range.first, range.bytes());
    if (rc < 0)
      co_return;
  }
  std::array<char, RangeBody::kClosingBytesMax> closing;
  co_await send_body_text(client, body.closing(closing));
}

// Waits until the fetch knows the blob's size (at the latest once it is verified) or stops
// streaming. Bounded: every turn waits for the fetch to move, and the fetch ends on its own
// upstream timeouts.
core::Task<BlobFetch::Progress> wait_for_total(BlobFetch &fetch, BlobFetch::Progress progress) {
  while (!progress.total_known && progress.state == BlobFetch::State::Streaming)
    progress = co_await fetch.wait_beyond(progress.readable_bytes, progress.state);
  co_return progress;
}

// Waits until the fetch is verified or failed; bounded as wait_for_total.
core::Task<BlobFetch::Progress> wait_for_verified(BlobFetch &fetch, BlobFetch::Progress progress) {
  while (progress.state == BlobFetch::State::Streaming)
    progress = co_await fetch.wait_beyond(progress.readable_bytes, progress.state);
  co_return progress;
}

// Streams the whole blob a fetch is writing, following the file as it grows. Every client of
// a miss (the one that started the download included) takes this path unless it asked for
// ranges.
core::Task<void> follow_whole(ClientConnection &client, BlobFetch::Reader &reader,
                              BlobFetch::Progress progress) {
  BlobFetch &fetch = reader.fetch();
  http::HeadWriter head = client.start_head(200);
  head.header("Content-Type", kBlobContentType);
  add_blob_headers(head, fetch.digest());
  if (progress.total_known) {
    client.frame_length(head, progress.total_bytes);
  } else {
    client.frame_unknown_length(head);
  }
  int head_rc = co_await client.send_head(head);
  if (head_rc < 0)
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

// Sends blob bytes [first, end) of a fetch as they become readable; `progress` follows the
// fetch. The part that ends the response keeps its last byte until the blob is verified.
core::Task<int> follow_part(ClientConnection &client, BlobFetch::Reader &reader,
                            BlobFetch::Progress &progress, uint64_t first, uint64_t end,
                            bool holds_final_byte) {
  assert(first < end);
  BlobFetch &fetch = reader.fetch();
  uint64_t sent = first;
  // Bounded: every turn either sends new bytes or waits for the fetch to move.
  for (;;) {
    if (progress.state == BlobFetch::State::Failed) {
      client.abort_response();
      co_return -EIO;
    }
    const bool verified = progress.state == BlobFetch::State::Verified;
    const uint64_t limit =
        sendable_part_end(progress.readable_bytes, verified, end, holds_final_byte);
    if (limit > sent) {
      int rc = co_await send_fetch_bytes(client, reader, sent, limit - sent);
      if (rc < 0)
        co_return rc;
      sent = limit;
    }
    if (sent == end)
      co_return 0;
    if (verified) {
      // A verified blob shorter than its announced size cannot be: the fetch checks
      // Content-Length. Reset rather than wait for a change that will never come.
      assert(false && "verified fetch shorter than its ranges");
      client.abort_response();
      co_return -EIO;
    }
    progress = co_await fetch.wait_beyond(progress.readable_bytes, progress.state);
  }
}

// The 206 answer of a blob still being fetched: each part as its bytes reach the disk, and the
// response's final byte (the last part's, or the multipart close-delimiter's) only once the
// blob is verified.
core::Task<void> follow_ranges(ClientConnection &client, BlobFetch::Reader &reader,
                               BlobFetch::Progress progress, const ByteRanges &ranges) {
  BlobFetch &fetch = reader.fetch();
  // The bytes before the lowest range are not wanted: a pass-through need not keep them. (A
  // later part that starts before an earlier one ends may find its bytes dropped by then, and
  // is reset: only an uncached download with out-of-order ranges meets that.)
  uint64_t lowest_first = UINT64_MAX;
  for (const ByteRange &range : ranges.view())
    lowest_first = std::min(lowest_first, range.first);
  reader.sent_to(lowest_first);
  const RangeBody body(ranges, fetch.digest(), progress.total_bytes);
  bool head_sent = co_await send_range_head(client, fetch.digest(), body);
  if (!head_sent)
    co_return;
  if (!body.multipart()) {
    const ByteRange &range = body.ranges().front();
    co_await follow_part(client, reader, progress, range.first, range.last + 1, true);
    co_return;
  }
  std::array<char, RangeBody::kPartHeadBytesMax> part_head;
  for (size_t index = 0; index < body.ranges().size(); ++index) { // bounded by kByteRangesMax
    const ByteRange &range = body.ranges()[index];
    int rc = co_await send_body_text(client, body.part_head(index, part_head));
    if (rc < 0)
      co_return;
    rc = co_await follow_part(client, reader, progress, range.first, range.last + 1, false);
    if (rc < 0)
      co_return;
  }
  progress = co_await wait_for_verified(fetch, progress);
  if (progress.state != BlobFetch::State::Verified) {
    client.abort_response();
    co_return;
  }
  std::array<char, RangeBody::kClosingBytesMax> closing;
  co_await send_body_text(client, body.closing(closing));
}

// Answers from the single download of the blob: the upstream's refusal, the whole blob, or the
// ranges `range_value` asks for (empty: none).
core::Task<void> follow_fetch(ClientConnection &client, BlobFetch &fetch,
                              std::string_view range_value) {
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
  // An invalid Range is ignored at once (RFC 9110 section 14.2): no need to learn the size.
  if (range_value.empty() || !byte_ranges_are_valid(range_value)) {
    co_await follow_whole(client, reader, progress);
    co_return;
  }
  if (!progress.total_known) {
    // The upstream sent no Content-Length: ranges are resolved against the size, so the answer
    // waits until the size is known.
    progress = co_await wait_for_total(fetch, progress);
    if (progress.state == BlobFetch::State::Failed) {
      co_await send_upstream_failure(client, fetch.failure_errno(), fetch.failure());
      co_return;
    }
  }
  const ByteRanges ranges = parse_byte_ranges(range_value, progress.total_bytes);
  switch (ranges.verdict) {
  case ByteRanges::Verdict::Ignore:
    co_await follow_whole(client, reader, progress);
    break;
  case ByteRanges::Verdict::Unsatisfiable:
    co_await send_range_unsatisfiable(client, progress.total_bytes);
    break;
  case ByteRanges::Verdict::Satisfiable:
    co_await follow_ranges(client, reader, progress, ranges);
    break;
  }
}

// A HEAD of a stored blob answered from the index alone, no file opened: the size of a Present
// entry, its use recorded as a file hit's would be. False for a blob the index does not hold
// as Present (not stored, being evicted, rotten, or a file placed by hand: the file decides).
// A file removed by hand behind the index's back still answers HEAD until a GET finds it gone.
bool head_from_index(BlobStore &store, const Digest &digest, uint64_t *size_bytes) {
  IndexEntryView entry;
  if (!store.index().lookup(digest, entry) || entry.state != BlobState::Present)
    return false;
  if (store.index().check_hit(digest, entry.size_bytes, core::unix_now_s()) !=
      BlobIndex::HitVerdict::Serve)
    return false; // evicted or republished between the two looks: the file decides
  *size_bytes = entry.size_bytes;
  return true;
}

// Downloads are counted per worker so a graceful shutdown lets them finish. A download holds
// the configuration generation of the request that started it until it ends: it outlives that
// request (its followers read on), and its upstream choice points into that generation.
core::Task<void> run_counted_fetch(WorkerContext &worker, std::shared_ptr<BlobFetch> fetch,
                                   BlobFetchRequest request,
                                   std::shared_ptr<const ConfigGeneration> generation) {
  worker.fetches_running++;
  const FetchResources resources{worker.store,
                                 worker.fetches,
                                 worker.upstreams,
                                 *generation->auth,
                                 &worker.log,
                                 generation->config.uncached_window_bytes,
                                 generation->config.uncached_reader_stall_ms};
  co_await BlobFetch::run(std::move(fetch), resources, std::move(request));
  worker.fetches_running--;
}

} // namespace

core::Task<bool> serve_stored_blob(ClientConnection &client, const http::RequestHead &request,
                                   const Route &route) {
  std::optional<Digest> digest = parse_sha256_digest(route.reference);
  if (!digest)
    co_return false;
  uint64_t size_bytes = 0;
  int fd = -1;
  if (!client.is_head_request() || !head_from_index(client.worker().store, *digest, &size_bytes)) {
    fd = co_await client.worker().store.open_published(*digest, &size_bytes);
    if (fd < 0)
      co_return false;
  }
  // A HEAD from the index has no fd: nothing below touches it for a HEAD (send_body_file sends
  // no body then).
  client.set_outcome(CacheOutcome::Hit);
  std::array<char, kBlobEtagChars> etag;
  const std::string_view range_value = requested_ranges(request, format_blob_etag(*digest, etag));
  if (range_value.empty()) {
    co_await send_stored_whole(client, fd, *digest, size_bytes);
  } else {
    // A fixed array in this frame (which comes from the frame pool): a range hit allocates
    // nothing either.
    const ByteRanges ranges = parse_byte_ranges(range_value, size_bytes);
    switch (ranges.verdict) {
    case ByteRanges::Verdict::Ignore:
      co_await send_stored_whole(client, fd, *digest, size_bytes);
      break;
    case ByteRanges::Verdict::Unsatisfiable:
      co_await send_range_unsatisfiable(client, size_bytes);
      break;
    case ByteRanges::Verdict::Satisfiable: {
      const RangeBody body(ranges, *digest, size_bytes);
      co_await send_stored_ranges(client, fd, *digest, body);
      break;
    }
    }
  }
  if (fd >= 0)
    co_await core::close(fd);
  co_return true;
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
  const ProvenanceMark mark = provenance_mark(client.generation(), upstream);
  const bool limited = mark == ProvenanceMark::Limited;
  std::shared_ptr<BlobFetch> fetch;
  if (worker.fetches_running < client.generation().config.fetches_max) {
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
    core::spawn(run_counted_fetch(worker, fetch, std::move(request), client.generation_held()));
  } else {
    client.set_outcome(CacheOutcome::Follow);
  }
  std::array<char, kBlobEtagChars> etag;
  const std::string_view range_value = requested_ranges(head, format_blob_etag(*digest, etag));
  co_await follow_fetch(client, *fetch, range_value);
}

} // namespace regcache::registry
