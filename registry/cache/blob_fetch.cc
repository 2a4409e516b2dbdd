#include "registry/cache/blob_fetch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <cstring>

#include "core/bounded_format.h"
#include "core/io_ops.h"
#include "registry/cache/sha256.h"

namespace regcache::registry {
namespace {

constexpr uint64_t kWakeEveryBytes = 1024 * 1024;
constexpr size_t kStageBytes = 1024 * 1024; // per write; two such buffers per running fetch

void log_line(core::LogSink *log, std::string_view text) {
  if (log == nullptr)
    return;
  std::array<char, 512> line;
  log->append(core::format_line_bounded(line, "regcache: {}", text));
}

bool is_redirect(uint16_t status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Double buffering for the cache file: while the kernel writes one buffer, the next chunk is
// received and copied into the other, so receiving, hashing and writing overlap.
class StagedFileWriter {
public:
  explicit StagedFileWriter(int fd)
      : fd_(fd), buffers_{std::make_unique<char[]>(kStageBytes),
                          std::make_unique<char[]>(kStageBytes)} {}
  ~StagedFileWriter() { assert(!pending_.started()); }

  uint64_t written() const { return written_; } // bytes the file holds (confirmed)
  uint64_t received() const { return submitted_ + staged_; }
  const std::string &failure() const { return failure_; }

  // Copies `piece` into the stage; full buffers go to the kernel. False once a write failed.
  core::Task<bool> append(std::span<const char> piece) {
    while (!piece.empty()) { // bounded by the piece's size
      size_t take = std::min(piece.size(), kStageBytes - staged_);
      std::memcpy(buffers_[filling_].get() + staged_, piece.data(), take);
      staged_ += take;
      piece = piece.subspan(take);
      if (staged_ == kStageBytes) {
        bool flushed = co_await flush_staged();
        if (!flushed)
          co_return false;
      }
    }
    co_return true;
  }
  // Writes the rest and waits for every write. False when one failed.
  core::Task<bool> finish() {
    bool flushed = co_await flush_staged();
    if (!flushed)
      co_return false;
    bool finished = co_await finish_pending();
    co_return finished;
  }
  // After a failure: waits for the write in flight, whose buffer the kernel still reads.
  core::Task<void> abandon() {
    if (pending_.started())
      co_await pending_.finish();
  }

private:
  // Waits for the write in flight; a short write is completed through the ring.
  core::Task<bool> finish_pending() {
    if (!pending_.started())
      co_return true;
    int32_t done = co_await pending_.finish();
    const char *buffer = buffers_[filling_ ^ 1].get();
    uint64_t expected = submitted_ - written_;
    uint64_t offset = 0;
    while (done > 0 && offset + static_cast<uint64_t>(done) < expected) { // bounded by expected
      offset += static_cast<uint64_t>(done);
      done = co_await core::write(fd_, std::span<const char>(buffer + offset, expected - offset),
                                  written_ + offset);
    }
    if (done <= 0) {
      failure_ =
          fmt::format("writing the cache file: {}", done == 0 ? "no progress" : strerror(-done));
      co_return false;
    }
    written_ = submitted_;
    co_return true;
  }
  core::Task<bool> flush_staged() {
    bool finished = co_await finish_pending();
    if (!finished)
      co_return false;
    if (staged_ == 0)
      co_return true;
    pending_.start_write(fd_, std::span<const char>(buffers_[filling_].get(), staged_), submitted_);
    submitted_ += staged_;
    staged_ = 0;
    filling_ ^= 1;
    co_return true;
  }

  const int fd_;
  std::array<std::unique_ptr<char[]>, 2> buffers_;
  size_t filling_ = 0;     // the buffer being filled
  size_t staged_ = 0;      // bytes in it
  uint64_t written_ = 0;   // bytes the file holds (confirmed writes)
  uint64_t submitted_ = 0; // bytes handed to the kernel
  core::PendingOp pending_;
  std::string failure_;
};

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

void BlobFetch::fail(std::string reason, int failure_errno) {
  core::Waiter *woken;
  {
    std::lock_guard lock(mutex_);
    failure_ = std::move(reason);
    failure_errno_ = failure_errno;
    state_ = State::Failed;
    woken = waiters_.take_all();
  }
  core::wake_all(woken);
}

void BlobFetch::set_file(int fd, bool total_known, uint64_t total_bytes) {
  std::lock_guard lock(mutex_);
  assert(file_fd_ < 0);
  file_fd_ = fd;
  total_known_ = total_known;
  total_bytes_ = total_bytes;
}

// The blob may have been published between the client's store lookup and the creation of this
// fetch (the previous fetch of the digest ended in between): then there is nothing to download.
core::Task<bool> BlobFetch::adopt_published(BlobStore &store, ProvenanceMark mark) {
  if (mark == ProvenanceMark::Public) {
    // Stored only through a limited upstream: an open route must ask its own upstream.
    bool limited = co_await is_marked_limited(store, digest_);
    if (limited)
      co_return false;
  }
  uint64_t size_bytes = 0;
  int fd = co_await store.open_published(digest_, &size_bytes);
  if (fd < 0)
    co_return false;
  set_file(fd, true, size_bytes);
  update(State::Verified, size_bytes);
  co_return true;
}

// Sends the GET with the registry's credentials and follows redirects to blob storage (S3, GCS,
// Azure Blob, a CDN), so the bytes are cached like any other blob. True with the final answer's
// head in `exchange`.
core::Task<bool> BlobFetch::open_upstream(FetchResources &resources,
                                          const BlobFetchRequest &request,
                                          http::UpstreamExchange &exchange, std::string &error,
                                          int &failure_errno) {
  http::Endpoint endpoint = request.upstream.endpoint;
  std::string target = request.target;
  for (uint32_t hop = 0; hop <= request.redirects_max; ++hop) {
    // A named request, not a temporary: GCC 12 mishandles temporaries bound to references
    // across a co_await.
    const http::UpstreamRequest upstream_request{"GET", target, {}};
    int rc = 0;
    if (hop == 0) {
      // The registry itself: with whatever credentials it asks for.
      rc = co_await resources.auth.start(resources.upstreams, exchange, request.upstream,
                                         upstream_request, &error);
    } else {
      // A redirect target (blob storage): never with the registry's Authorization.
      rc = co_await exchange.start(endpoint, upstream_request, &error);
    }
    if (rc < 0) {
      failure_errno = rc;
      co_return false;
    }
    const http::ResponseFields &fields = exchange.fields();
    if (!is_redirect(fields.status))
      co_return true;
    http::Endpoint next_endpoint;
    std::string next_target;
    std::string location = fields.location;
    if (!location.empty() && location.front() == '/') {
      next_endpoint = endpoint;
      next_target = location;
    } else if (!http::parse_absolute_url(location, next_endpoint, next_target)) {
      error = fmt::format("redirect to an unusable location '{}'", location.substr(0, 200));
      co_return false;
    }
    co_await exchange.drain_body(http::kDrainBytesMax);
    // Blob storage is another party: it is verified against the system store (or the default CA
    // file), not against a CA configured for the registry, unless it is the registry itself.
    if (next_endpoint.host == endpoint.host && next_endpoint.port == endpoint.port) {
      next_endpoint.tls_context = endpoint.tls_context;
    }
    // Where a client's registry redirects to is the client's choice too.
    next_endpoint.public_only = endpoint.public_only;
    endpoint = std::move(next_endpoint);
    target = std::move(next_target);
  }
  error = "too many redirects";
  co_return false;
}

// Not ours to store (404, 401, 429, 5xx): readers relay the upstream's answer as it was.
core::Task<void> BlobFetch::keep_upstream_answer(http::UpstreamExchange &exchange,
                                                 uint32_t body_bytes_max) {
  std::string body;
  for (;;) { // bounded by body_bytes_max
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got <= 0)
      break;
    size_t room = body_bytes_max - body.size();
    body.append(piece.data(), std::min(room, piece.size()));
    if (body.size() >= body_bytes_max)
      break;
  }
  {
    std::lock_guard lock(mutex_);
    answer_ = exchange.fields();
    answer_body_ = std::move(body);
  }
  update(State::UpstreamAnswer, 0);
}

// Receives the body into the temp file `fd`, hashing on the way and waking readers per MiB.
// Returns why the bytes cannot be published, or an empty string when they are verified.
core::Task<std::string> BlobFetch::download(http::UpstreamExchange &exchange, int fd,
                                            uint64_t *written) {
  const http::ResponseFields &fields = exchange.fields();
  Sha256 hasher;
  StagedFileWriter writer(fd);
  uint64_t told_readers = 0; // what readers were last told
  std::string failure;
  for (;;) { // bounded by the upstream's body (and its read timeout)
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got == 0)
      break;
    if (got < 0) {
      failure = fmt::format("upstream body broke off after {} bytes: {}", writer.received(),
                            strerror(-got));
      break;
    }
    hasher.update(piece);
    bool appended = co_await writer.append(piece);
    if (!appended) {
      failure = writer.failure();
      break;
    }
    // Readers are woken per MiB, not per recv: each wake costs them a splice round trip.
    if (writer.written() - told_readers >= kWakeEveryBytes) {
      update(State::Streaming, writer.written());
      told_readers = writer.written();
    }
  }
  if (failure.empty()) {
    bool finished = co_await writer.finish();
    if (!finished)
      failure = writer.failure();
  }
  co_await writer.abandon(); // nothing in flight after finish(); after a failure, wait for it
  *written = writer.written();
  if (failure.empty() && fields.has_content_length && *written != fields.content_length) {
    failure = fmt::format("upstream sent {} bytes, Content-Length said {}", *written,
                          fields.content_length);
  }
  if (failure.empty() && hasher.finish() != digest_) {
    failure =
        fmt::format("digest mismatch: the upstream's {} bytes do not hash to the digest", *written);
  }
  co_return failure;
}

// fsync then rename, so a published name always has its verified bytes on disk.
core::Task<void> BlobFetch::publish(FetchResources &resources, const StorePath &temp, int fd,
                                    ProvenanceMark mark) {
  BlobStore &store = resources.store;
  StorePath published = BlobStore::blob_path(digest_);
  bool marked = co_await mark_before_publish(store, digest_, mark);
  int rc = -EIO;
  if (marked)
    rc = co_await core::fsync(fd);
  if (rc == 0)
    rc = co_await core::renameat(store.root_fd(), temp.c_str(), store.root_fd(), published.c_str());
  if (rc < 0) {
    std::array<char, kDigestChars> digest_text;
    format_digest(digest_, digest_text);
    log_line(resources.log,
             fmt::format("fetch {}: cannot publish: {}",
                         std::string_view(digest_text.data(), digest_text.size()), strerror(-rc)));
    co_await core::unlinkat(store.root_fd(), temp.c_str());
    co_return;
  }
  co_await mark_after_publish(store, digest_, mark);
  store.note_published(digest_, written_bytes_); // the index: eviction and the hit size check
}

core::Task<void> BlobFetch::run(std::shared_ptr<BlobFetch> self, FetchResources resources,
                                BlobFetchRequest request) {
  // Every way out of here leaves the table, so new clients never join a finished fetch.
  struct LeaveTable {
    FetchTable &table;
    const BlobFetch &fetch;
    ~LeaveTable() { table.forget(fetch); }
  } leave_table{resources.table, *self};

  std::array<char, kDigestChars> digest_text;
  format_digest(self->digest_, digest_text);
  std::string_view digest_view(digest_text.data(), digest_text.size());
  bool adopted = co_await self->adopt_published(resources.store, request.mark);
  if (adopted)
    co_return;

  http::UpstreamExchange exchange(resources.upstreams);
  std::string error;
  int failure_errno = -EIO;
  bool opened = co_await open_upstream(resources, request, exchange, error, failure_errno);
  if (!opened) {
    log_line(resources.log, fmt::format("fetch {}: {}", digest_view, error));
    self->fail(error, failure_errno);
    co_return;
  }
  const http::ResponseFields &fields = exchange.fields();
  if (fields.status != 200) {
    co_await self->keep_upstream_answer(exchange, request.answer_body_bytes_max);
    co_return;
  }

  BlobStore &store = resources.store;
  StorePath temp = store.temp_path();
  int fd = co_await core::openat(store.root_fd(), temp.c_str(),
                                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    log_line(resources.log, fmt::format("fetch {}: cannot create {}: {}", digest_view, temp.c_str(),
                                        strerror(-fd)));
    self->fail("cannot create a cache file");
    co_return;
  }
  self->set_file(fd, fields.has_content_length, fields.content_length);
  self->update(State::Streaming, 0);

  uint64_t written = 0;
  std::string failure = co_await self->download(exchange, fd, &written);
  if (!failure.empty()) {
    log_line(resources.log,
             fmt::format("fetch {}: {}; not cached, readers reset", digest_view, failure));
    self->fail(failure);
    co_await core::unlinkat(store.root_fd(), temp.c_str());
    co_return;
  }
  {
    std::lock_guard lock(self->mutex_);
    self->total_known_ = true;
    self->total_bytes_ = written;
  }
  self->update(State::Verified, written);
  co_await self->publish(resources, temp, fd, request.mark);
}

std::shared_ptr<BlobFetch> FetchTable::join_or_create(const Digest &digest, bool limited,
                                                      bool *created) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = fetches_[limited ? 1 : 0].try_emplace(digest);
  if (!inserted) {
    if (auto running = it->second.lock()) {
      *created = false;
      return running;
    }
  }
  auto fresh = std::make_shared<BlobFetch>(digest, limited);
  it->second = fresh;
  *created = true;
  return fresh;
}

std::shared_ptr<BlobFetch> FetchTable::join(const Digest &digest, bool limited) {
  std::lock_guard lock(mutex_);
  Table &table = fetches_[limited ? 1 : 0];
  auto it = table.find(digest);
  return it == table.end() ? nullptr : it->second.lock();
}

void FetchTable::forget(const BlobFetch &fetch) {
  std::lock_guard lock(mutex_);
  Table &table = fetches_[fetch.limited() ? 1 : 0];
  auto it = table.find(fetch.digest());
  if (it == table.end())
    return;
  auto running = it->second.lock();
  if (!running || running.get() == &fetch)
    table.erase(it);
}

} // namespace regcache::registry
