#include "registry/cache/blob_fetch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstring>

#include "core/io_ops.h"
#include "core/log_sink.h"
#include "registry/auth/upstream_auth.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/sha256.h"
#include "registry/serve/worker_context.h"

namespace regcache::registry {
namespace {

constexpr uint64_t kWakeEveryBytes = 1024 * 1024;
constexpr size_t kStageBytes = 1024 * 1024; // per write; two such buffers per running fetch

void log_line(core::LogSink *log, std::string_view text) {
  if (log == nullptr)
    return;
  std::array<char, 512> line;
  auto result = fmt::format_to_n(line.data(), line.size() - 1, "regcache: {}\n", text);
  size_t size = std::min(result.size, line.size() - 1);
  if (result.size > line.size() - 1)
    line[size - 1] = '\n';
  log->append(std::string_view(line.data(), size));
}

} // namespace

BlobFetch::~BlobFetch() {
  if (file_fd_ >= 0)
    ::close(file_fd_); // last reader gone; a regular-file close does not block
}

BlobFetch::Progress BlobFetch::progress_locked() const {
  Progress progress;
  progress.state = state_;
  progress.total_known = total_known_;
  progress.total_bytes = total_bytes_;
  progress.failed_before_response = failed_before_response_;
  progress.readable_bytes = readable_bytes(state_, written_bytes_);
  return progress;
}

uint64_t BlobFetch::readable_bytes(State state, uint64_t written_bytes) {
  // Hold back the final byte until the digest is verified: a reader can never complete a
  // response whose content was not checked.
  switch (state) {
  case State::Verified:
    return written_bytes;
  case State::Streaming:
    return written_bytes > 0 ? written_bytes - 1 : 0;
  case State::Starting:
  case State::UpstreamAnswer:
  case State::Failed:
    return 0;
  }
  return 0;
}

BlobFetch::Progress BlobFetch::progress() {
  std::lock_guard lock(mutex_);
  return progress_locked();
}

core::Task<BlobFetch::Progress> BlobFetch::wait_beyond(uint64_t offset, State seen) {
  core::Waiter waiter;
  {
    std::lock_guard lock(mutex_);
    Progress now = progress_locked();
    if (now.state != seen || now.readable_bytes > offset)
      co_return now;
    waiter.arm();
    waiters_.push(waiter);
  }
  co_await waiter;
  co_return progress();
}

void BlobFetch::update(State state, uint64_t written_bytes) {
  core::Waiter *woken;
  {
    std::lock_guard lock(mutex_);
    state_ = state;
    written_bytes_ = written_bytes;
    woken = waiters_.take_all();
  }
  core::wake_all(woken);
}

void BlobFetch::fail(std::string reason, bool before_response, int failure_errno) {
  core::Waiter *woken;
  {
    std::lock_guard lock(mutex_);
    failure_ = std::move(reason);
    failure_errno_ = failure_errno;
    failed_before_response_ = before_response;
    state_ = State::Failed;
    woken = waiters_.take_all();
  }
  core::wake_all(woken);
}

core::Task<void> BlobFetch::run(std::shared_ptr<BlobFetch> self, WorkerContext &worker,
                                BlobFetchRequest request) {
  BlobStore &store = worker.store;
  core::LogSink *log = &worker.log;
  std::array<char, kDigestChars> digest_text;
  format_digest(self->digest_, digest_text);
  std::string_view digest_view(digest_text.data(), digest_text.size());

  http::Endpoint endpoint = request.upstream.endpoint;
  std::string target = request.target;
  http::UpstreamExchange exchange(worker.upstreams);
  std::string error;
  bool ok = false;
  int failure_errno = -EIO;
  for (uint32_t hop = 0; hop <= request.redirects_max; ++hop) {
    // A named request, not a temporary: GCC 12 mishandles temporaries bound to references
    // across a co_await.
    const http::UpstreamRequest upstream_request{"GET", target, {}};
    int rc = 0;
    if (hop == 0) {
      // The registry itself: with whatever credentials it asks for.
      rc = co_await worker.auth.start(worker, exchange, request.upstream, upstream_request, &error);
    } else {
      // A redirect target (blob storage): never with the registry's Authorization.
      rc = co_await exchange.start(endpoint, upstream_request, &error);
    }
    if (rc < 0) {
      failure_errno = rc;
      break;
    }
    const http::ResponseFields &fields = exchange.fields();
    bool redirect = fields.status == 301 || fields.status == 302 || fields.status == 303 ||
                    fields.status == 307 || fields.status == 308;
    if (!redirect) {
      ok = true;
      break;
    }
    // Blob storage behind a registry (S3, GCS, Azure Blob, a CDN) answers with a redirect.
    // Follow it ourselves so the bytes are cached like any other blob.
    http::Endpoint next_endpoint;
    std::string next_target;
    std::string location = fields.location;
    if (!location.empty() && location.front() == '/') {
      next_endpoint = endpoint;
      next_target = location;
    } else if (!http::parse_absolute_url(location, next_endpoint, next_target)) {
      error = fmt::format("redirect to an unusable location '{}'", location.substr(0, 200));
      break;
    }
    co_await exchange.drain_body(64 * 1024);
    // Blob storage is another party: it is verified against the system store (or the default CA
    // file), not against a CA configured for the registry, unless it is the registry itself.
    if (next_endpoint.host == endpoint.host && next_endpoint.port == endpoint.port) {
      next_endpoint.tls_context = endpoint.tls_context;
    }
    endpoint = std::move(next_endpoint);
    target = std::move(next_target);
    error = "too many redirects";
  }
  if (!ok) {
    log_line(log, fmt::format("fetch {}: {}", digest_view, error));
    self->fail(error, true, failure_errno);
    store.forget_fetch(self->digest_, self.get());
    co_return;
  }

  const http::ResponseFields &fields = exchange.fields();
  if (fields.status != 200) {
    // Not ours to store: the client sees the upstream's answer as it was.
    std::string body;
    for (;;) {
      std::span<const char> piece;
      int got = co_await exchange.read_body(piece);
      if (got <= 0)
        break;
      size_t room = request.answer_body_bytes_max - body.size();
      body.append(piece.data(), std::min(room, piece.size()));
      if (body.size() >= request.answer_body_bytes_max)
        break;
    }
    {
      std::lock_guard lock(self->mutex_);
      self->answer_ = fields;
      self->answer_body_ = std::move(body);
    }
    self->update(State::UpstreamAnswer, 0);
    store.forget_fetch(self->digest_, self.get());
    co_return;
  }

  StorePath temp = store.temp_path();
  int fd = co_await core::openat(store.root_fd(), temp.c_str(),
                                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_line(log, fmt::format("fetch {}: cannot create {}: {}", digest_view, temp.c_str(),
                              strerror(-fd)));
    self->fail("cannot create a cache file", true);
    store.forget_fetch(self->digest_, self.get());
    co_return;
  }
  {
    std::lock_guard lock(self->mutex_);
    self->file_fd_ = fd;
    self->total_known_ = fields.has_content_length;
    self->total_bytes_ = fields.content_length;
    self->answer_ = fields;
  }
  self->update(State::Streaming, 0);

  // Double buffering: while the kernel writes one buffer to the file, the next chunk is
  // received and hashed into the other, so receiving, hashing and writing overlap.
  Sha256 hasher;
  std::array<std::unique_ptr<char[]>, 2> buffers{std::make_unique<char[]>(kStageBytes),
                                                 std::make_unique<char[]>(kStageBytes)};
  size_t filling = 0;        // the buffer being filled
  size_t staged = 0;         // bytes in it
  uint64_t written = 0;      // bytes the file holds (confirmed writes)
  uint64_t submitted = 0;    // bytes handed to the kernel
  uint64_t told_readers = 0; // what readers were last told
  core::PendingOp pending;
  std::string failure;
  // Waits for the write in flight; a short write is completed synchronously through the ring.
  auto finish_pending = [&]() -> core::Task<bool> {
    if (!pending.started())
      co_return true;
    int32_t done = co_await pending.finish();
    size_t previous = filling ^ 1;
    uint64_t expected = submitted - written;
    uint64_t offset = 0;
    while (done > 0 && offset + static_cast<uint64_t>(done) < expected) { // bounded by expected
      offset += static_cast<uint64_t>(done);
      done = co_await core::write(
          fd, std::span<const char>(buffers[previous].get() + offset, expected - offset),
          written + offset);
    }
    if (done <= 0) {
      failure =
          fmt::format("writing the cache file: {}", done == 0 ? "no progress" : strerror(-done));
      co_return false;
    }
    written = submitted;
    // Readers are woken per MiB, not per recv: each wake costs them a splice round trip.
    if (written - told_readers >= kWakeEveryBytes) {
      self->update(State::Streaming, written);
      told_readers = written;
    }
    co_return true;
  };
  auto flush_staged = [&]() -> core::Task<bool> {
    bool ok = co_await finish_pending();
    if (!ok || staged == 0)
      co_return ok;
    pending.start_write(fd, std::span<const char>(buffers[filling].get(), staged), submitted);
    submitted += staged;
    staged = 0;
    filling ^= 1;
    co_return true;
  };
  for (;;) {
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got == 0)
      break;
    if (got < 0) {
      failure = fmt::format("upstream body broke off after {} bytes: {}", submitted + staged,
                            strerror(-got));
      break;
    }
    hasher.update(piece);
    while (!piece.empty()) { // bounded by the piece's size
      size_t take = std::min(piece.size(), kStageBytes - staged);
      std::memcpy(buffers[filling].get() + staged, piece.data(), take);
      staged += take;
      piece = piece.subspan(take);
      if (staged == kStageBytes) {
        bool ok = co_await flush_staged();
        if (!ok)
          break;
      }
    }
    if (!failure.empty())
      break;
  }
  if (failure.empty()) {
    bool ok = co_await flush_staged();
    if (ok)
      ok = co_await finish_pending();
    (void)ok; // a failure is recorded in `failure`
  } else if (pending.started()) {
    co_await pending.finish(); // the kernel must be done with the buffer before it goes away
  }
  if (failure.empty() && fields.has_content_length && written != fields.content_length) {
    failure = fmt::format("upstream sent {} bytes, Content-Length said {}", written,
                          fields.content_length);
  }
  if (failure.empty() && hasher.finish() != self->digest_) {
    failure =
        fmt::format("digest mismatch: the upstream's {} bytes do not hash to the digest", written);
  }
  if (!failure.empty()) {
    log_line(log, fmt::format("fetch {}: {}; not cached, readers reset", digest_view, failure));
    self->fail(failure, false);
    co_await core::unlinkat(store.root_fd(), temp.c_str());
    store.forget_fetch(self->digest_, self.get());
    co_return;
  }
  {
    std::lock_guard lock(self->mutex_);
    self->total_known_ = true;
    self->total_bytes_ = written;
  }
  self->update(State::Verified, written);

  // Publish: fsync then rename, so a published name always has its verified bytes on disk.
  StorePath published = BlobStore::blob_path(self->digest_);
  int rc = co_await core::fsync(fd);
  if (rc == 0)
    rc = co_await core::renameat(store.root_fd(), temp.c_str(), store.root_fd(), published.c_str());
  if (rc < 0) {
    log_line(log, fmt::format("fetch {}: cannot publish: {}", digest_view, strerror(-rc)));
    co_await core::unlinkat(store.root_fd(), temp.c_str());
  }
  store.forget_fetch(self->digest_, self.get());
}

} // namespace regcache::registry
