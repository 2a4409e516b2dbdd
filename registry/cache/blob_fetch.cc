#include "registry/cache/blob_fetch.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cassert>
#include <chrono>
#include <cstring>

#include "core/bounded_format.h"
#include "core/io_ops.h"
#include "registry/cache/sha256.h"
#include "registry/cache/staged_file_writer.h"

namespace regcache::registry {
namespace {

using Clock = std::chrono::steady_clock;

// Bytes that arrived are handed to the readers (written, then announced) at the latest this
// long after the first of them arrived; a byte can wait for two such periods (it may arrive
// just after an announce that left older bytes in flight), so readers see it within 100 ms.
// Faster upstreams fill a 1 MiB stage sooner and are announced per write as before: each wake
// costs every reader a splice round trip, so wakes per recv would cost more than they give.
constexpr auto kAnnounceAfter = std::chrono::milliseconds(40);
static_assert(2 * kAnnounceAfter < std::chrono::milliseconds(100));
static_assert(BlobFetch::kWindowStepBytes % 4096 == 0, "holes are punched in whole pages");

void log_line(core::LogSink *log, std::string_view text) {
  if (log == nullptr)
    return;
  log->append_message(text);
}

bool is_redirect(uint16_t status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The wait until `due`, in whole milliseconds rounded up, at least 1.
uint32_t ms_until(Clock::time_point due, Clock::time_point now) {
  if (due <= now)
    return 1;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(due - now).count();
  return static_cast<uint32_t>(std::clamp<int64_t>(ms, 1, UINT32_MAX));
}

// The in-memory file of a download that passes through. A memfd, not a user-space ring: readers
// then take the same splice path from it as from a temp file, and its pages are returned to the
// system as the window moves (FALLOC_FL_PUNCH_HOLE). memfd_create is one non-blocking syscall
// per uncached download, outside the ring like pipe2.
int open_memory_file() {
  int fd = ::memfd_create("regcache-pass-through", MFD_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

} // namespace

// What download() and its helpers share.
struct BlobFetch::Download {
  FetchResources &resources;
  const StorePath &temp;
  std::string_view digest_text;
  bool temp_linked = false; // the temp file exists under tmp/
  bool left_table = false;  // forgotten by the table before the end (a pass-through moved on)
  uint64_t written_bytes = 0;
};

BlobFetch::~BlobFetch() {
  assert(readers_ == nullptr); // a reader holds the fetch
  // The last reader is gone; closing a regular file or a memfd does not block.
  if (int fd = file_fd_.load(); fd >= 0)
    ::close(fd);
  if (disk_fd_ >= 0)
    ::close(disk_fd_);
}

BlobFetch::Progress BlobFetch::progress_locked() const {
  Progress progress;
  progress.state = state_;
  progress.total_known = total_known_;
  progress.total_bytes = total_bytes_;
  progress.readable_bytes = readable_bytes(state_, written_bytes_);
  progress.first_held_byte = first_held_byte_;
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

uint64_t BlobFetch::window_start(uint64_t written_bytes, uint64_t window_bytes) {
  if (written_bytes <= window_bytes)
    return 0;
  const uint64_t first = written_bytes - window_bytes;
  return first - first % kWindowStepBytes;
}

BlobFetch::Reader::Reader(BlobFetch &fetch) : fetch_(fetch) {
  std::lock_guard lock(fetch_.mutex_);
  // A reader joining after the window moved is reset at its first send; from where it stands,
  // it holds nothing back.
  position_ = fetch_.first_held_byte_;
  next_ = fetch_.readers_;
  if (next_ != nullptr)
    next_->prev_ = this;
  fetch_.readers_ = this;
}

BlobFetch::Reader::~Reader() {
  std::lock_guard lock(fetch_.mutex_);
  if (prev_ != nullptr) {
    prev_->next_ = next_;
  } else {
    assert(fetch_.readers_ == this);
    fetch_.readers_ = next_;
  }
  if (next_ != nullptr)
    next_->prev_ = prev_;
}

void BlobFetch::Reader::sent_to(uint64_t offset) {
  std::lock_guard lock(fetch_.mutex_);
  position_ = std::max(position_, offset);
}

uint64_t BlobFetch::slowest_reader() {
  std::lock_guard lock(mutex_);
  uint64_t slowest = UINT64_MAX;
  // Bounded by the readers of this blob (each a client connection, at most connections-max).
  for (const Reader *reader = readers_; reader != nullptr; reader = reader->next_)
    slowest = std::min(slowest, reader->position_);
  return slowest;
}

bool BlobFetch::has_readers() {
  std::lock_guard lock(mutex_);
  return readers_ != nullptr;
}

bool BlobFetch::holds(uint64_t offset) {
  std::lock_guard lock(mutex_);
  return offset >= first_held_byte_;
}

bool BlobFetch::passing_through() {
  std::lock_guard lock(mutex_);
  return passing_through_;
}

BlobFetch::Progress BlobFetch::progress() {
  std::lock_guard lock(mutex_);
  return progress_locked();
}

FetchSnapshot BlobFetch::snapshot() {
  FetchSnapshot snapshot;
  snapshot.digest = digest_;
  std::lock_guard lock(mutex_);
  // The target is /v2/<name>/blobs/<digest>: the repository is what lies between.
  std::string_view target = target_;
  constexpr std::string_view kPrefix = "/v2/";
  size_t blobs = target.rfind("/blobs/");
  if (target.starts_with(kPrefix) && blobs != std::string_view::npos && blobs > kPrefix.size())
    snapshot.repository = target.substr(kPrefix.size(), blobs - kPrefix.size());
  snapshot.written_bytes = written_bytes_;
  snapshot.total_known = total_known_;
  snapshot.total_bytes = total_bytes_;
  snapshot.passing_through = passing_through_;
  for (const Reader *reader = readers_; reader != nullptr; reader = reader->next_)
    ++snapshot.readers; // bounded: one Reader per following client, all in this list
  return snapshot;
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

void BlobFetch::set_file(int fd, bool total_known, uint64_t total_bytes, bool passing_through) {
  std::lock_guard lock(mutex_);
  assert(file_fd_.load() < 0 && fd >= 0);
  file_fd_.store(fd, std::memory_order_release);
  total_known_ = total_known;
  total_bytes_ = total_bytes;
  passing_through_ = passing_through;
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
  set_file(fd, true, size_bytes, false);
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

// Where the body goes: the temp file, or a memory file when the blob cannot be cached from its
// first byte (larger than the free space or the cache's limit, or no temp file can be made).
// Returns the fd, or -errno when neither can be had.
core::Task<int> BlobFetch::open_target(FetchResources &resources,
                                       const http::ResponseFields &fields, Download &state) {
  BlobStore &store = resources.store;
  CacheSpace &space = resources.table.space();
  if (fields.has_content_length) {
    uint64_t free_bytes = 0;
    std::optional<SpaceCondition> too_large =
        space.check_fits(store.root_fd(), fields.content_length, &free_bytes);
    if (too_large) {
      if (space.report(*too_large)) {
        log_line(resources.log,
                 fmt::format("{}: such blobs pass through to their clients uncached, until a "
                             "download is cached again (first: {}, {} bytes, {} bytes free)",
                             CacheSpace::name(*too_large), state.digest_text, fields.content_length,
                             free_bytes));
      }
      co_return open_memory_file();
    }
  }
  int fd = co_await core::openat(store.root_fd(), state.temp.c_str(),
                                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd >= 0) {
    state.temp_linked = true;
    co_return fd;
  }
  const SpaceCondition condition = CacheSpace::condition_of_write_error(fd);
  if (space.report(condition)) {
    log_line(resources.log,
             fmt::format("{} (creating {}: {}): downloads pass through to their clients "
                         "uncached, until one is cached again (first: {})",
                         CacheSpace::name(condition), state.temp.c_str(), strerror(-fd),
                         state.digest_text));
  }
  co_return open_memory_file();
}

// Receives the body into the fetch's file, hashing on the way, and tells readers what they may
// send: per write, and at the latest kAnnounceAfter after bytes arrived. Returns why the bytes
// must not reach a client complete, or an empty string when they are verified.
core::Task<std::string> BlobFetch::download(http::UpstreamExchange &exchange, Download &state) {
  const http::ResponseFields &fields = exchange.fields();
  Sha256 hasher;
  StagedFileWriter writer(file_fd());
  uint64_t told_readers = 0;                // what readers were last told
  Clock::time_point unannounced_since = {}; // when bytes beyond told_readers began to wait
  std::string failure;
  auto write_failure = [&] {
    return fmt::format("writing the {}: {}",
                       passing_through() ? "pass-through memory file" : "cache file",
                       strerror(-writer.failure_errno()));
  };
  for (;;) { // bounded by the upstream's body and its read limits (silence, rate floor)
    uint32_t wait_ms_max = 0;
    if (writer.received() > told_readers)
      wait_ms_max = ms_until(unannounced_since + kAnnounceAfter, Clock::now());
    // The body is received straight into the stage the file write takes it from.
    const std::span<char> room = co_await stage_room(writer, state);
    if (room.empty()) {
      failure = write_failure();
      break;
    }
    int got = co_await exchange.read_body_into(room, wait_ms_max);
    if (got == 0)
      break;
    const bool quiet = got == -EAGAIN; // the upstream is quiet and bytes are waiting
    if (got < 0 && !quiet) {
      failure = fmt::format("upstream body broke off after {} bytes: {}", writer.received(),
                            exchange.describe_read_failure(got));
      break;
    }
    if (got > 0) {
      if (writer.received() == told_readers)
        unannounced_since = Clock::now();
      // Hashed where it landed, while the cache may still hold it; the other stage's write
      // goes on meanwhile.
      const size_t received = static_cast<size_t>(got);
      hasher.update(room.first(received));
      writer.commit(received);
    }
    if (quiet ||
        (writer.received() > told_readers && Clock::now() - unannounced_since >= kAnnounceAfter)) {
      bool flushed = co_await flush_writes(writer, state);
      if (!flushed) {
        failure = write_failure();
        break;
      }
    }
    if (writer.written() == told_readers)
      continue;
    update(State::Streaming, writer.written());
    told_readers = writer.written();
    if (writer.received() > told_readers)
      unannounced_since = Clock::now();
    if (passing_through()) {
      bool slid = co_await slide_window(told_readers, state);
      if (!slid) {
        failure = "cannot release the pass-through memory file's old bytes";
        break;
      }
      // No reader is left and no new one can find the fetch: nobody will read these bytes.
      if (state.left_table && !has_readers()) {
        failure = "passing through with no client left";
        break;
      }
    }
  }
  if (failure.empty()) {
    bool flushed = co_await flush_writes(writer, state);
    if (!flushed)
      failure = write_failure();
  }
  co_await writer.abandon(); // nothing in flight after a flush; after a failure, wait for it
  state.written_bytes = writer.written();
  const uint64_t written = state.written_bytes;
  if (failure.empty() && fields.has_content_length && written != fields.content_length) {
    failure = fmt::format("upstream sent {} bytes, Content-Length said {}", written,
                          fields.content_length);
  }
  if (failure.empty() && hasher.finish() != digest_) {
    failure =
        fmt::format("digest mismatch: the upstream's {} bytes do not hash to the digest", written);
  }
  co_return failure;
}

// The stage's free room; a failed write of the cache file turns the download into a
// pass-through first, and the room is the memory file's. Empty when the bytes cannot be kept
// anywhere.
core::Task<std::span<char>> BlobFetch::stage_room(StagedFileWriter &writer, Download &state) {
  std::span<char> room = co_await writer.room();
  if (!room.empty())
    co_return room;
  bool switched = co_await pass_through_after_failure(writer, state);
  if (!switched)
    co_return std::span<char>();
  room = co_await writer.room();
  co_return room;
}

// Writes everything received (see stage_room for a failed write).
core::Task<bool> BlobFetch::flush_writes(StagedFileWriter &writer, Download &state) {
  bool flushed = co_await writer.flush();
  if (flushed)
    co_return true;
  bool switched = co_await pass_through_after_failure(writer, state);
  if (!switched)
    co_return false;
  flushed = co_await writer.flush();
  co_return flushed;
}

// The cache file cannot take more (ENOSPC, EDQUOT, EIO): the rest of the download goes to a
// memory file. The bytes the file did not confirm are rewritten there from the writer's
// buffers, and the last window of those it holds is copied over, so readers that are not too
// far behind go on without noticing. False when already passing through or no memory file can
// be had.
core::Task<bool> BlobFetch::pass_through_after_failure(StagedFileWriter &writer, Download &state) {
  if (passing_through())
    co_return false; // the memory file failed: nothing else to fall back on
  FetchResources &resources = state.resources;
  const int write_errno = writer.failure_errno();
  const SpaceCondition condition = CacheSpace::condition_of_write_error(write_errno);
  const uint64_t on_disk = writer.written();
  if (resources.table.space().report(condition)) {
    log_line(resources.log,
             fmt::format("{} ({}): downloads pass through to their clients uncached, until one "
                         "is cached again (first: {}, after {} bytes)",
                         CacheSpace::name(condition), strerror(-write_errno), state.digest_text,
                         on_disk));
  }
  co_await writer.abandon();
  const int memory_fd = open_memory_file();
  if (memory_fd < 0)
    co_return false;
  bool rewritten = co_await writer.retarget(memory_fd);
  if (!rewritten) {
    ::close(memory_fd);
    co_return false;
  }
  const int disk_fd = file_fd();
  uint64_t first =
      std::min(window_start(writer.written(), resources.uncached_window_bytes), on_disk);
  bool copied = co_await copy_tail(disk_fd, memory_fd, first, on_disk, writer.spare_buffer());
  if (!copied)
    first = on_disk; // readers still behind the failed write must reset
  {
    std::lock_guard lock(mutex_);
    assert(disk_fd_ < 0);
    disk_fd_ = disk_fd; // a reader may be splicing from it: it stays open, with its bytes
    file_fd_.store(memory_fd, std::memory_order_release);
    first_held_byte_ = first;
    passing_through_ = true;
  }
  if (first > 0 && !state.left_table) {
    resources.table.forget(*this);
    state.left_table = true;
  }
  if (state.temp_linked) {
    // Its space comes back when the last reader closes the fd.
    co_await core::unlinkat(resources.store.root_fd(), state.temp.c_str());
    state.temp_linked = false;
  }
  co_return true;
}

// Copies bytes [first, end) of one file to the same offsets of another through `buffer`.
core::Task<bool> BlobFetch::copy_tail(int from_fd, int to_fd, uint64_t first, uint64_t end,
                                      std::span<char> buffer) {
  assert(!buffer.empty());
  // Bounded: every turn copies at least one byte or returns.
  for (uint64_t offset = first; offset < end;) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(end - offset, buffer.size()));
    int32_t got = co_await core::read(from_fd, buffer.first(chunk), offset);
    if (got <= 0)
      co_return false;
    for (int32_t put = 0; put < got;) { // bounded by got: every turn writes a byte or returns
      int32_t done = co_await core::write(
          to_fd, std::span<const char>(buffer.data() + put, static_cast<size_t>(got - put)),
          offset + static_cast<uint64_t>(put));
      if (done <= 0)
        co_return false;
      put += done;
    }
    offset += static_cast<uint64_t>(got);
  }
  co_return true;
}

// Moves a pass-through's window to the last uncached_window_bytes of `written_bytes` and
// returns the memory below it. Backpressure first: while the slowest reader still needs bytes
// the window would drop, the download waits (it reads nothing from the upstream meanwhile, and
// the upstream's read limits count only time spent waiting for it), for at most
// uncached_reader_stall_ms; a reader still behind then is left behind. The new start is
// published to readers before the hole is punched, so a reader that checks holds() after its
// send sees any loss. False when the memory cannot be returned (it would grow with the blob).
core::Task<bool> BlobFetch::slide_window(uint64_t written_bytes, Download &state) {
  const uint64_t next = window_start(written_bytes, state.resources.uncached_window_bytes);
  // Readers on other workers advance without waking this one, so it looks every 2 ms: only
  // while a pass-through's window is full, and fast enough for 8 MiB windows at 4 GB/s.
  constexpr uint32_t kReaderPollMs = 2;
  const Clock::time_point give_up =
      Clock::now() + std::chrono::milliseconds(state.resources.uncached_reader_stall_ms);
  // Bounded by the stall limit: every turn sleeps.
  while (slowest_reader() < next && Clock::now() < give_up)
    co_await core::sleep_ms(kReaderPollMs);
  uint64_t punch_from = 0;
  bool moves = false;
  {
    std::lock_guard lock(mutex_);
    moves = next > first_held_byte_;
    if (moves) {
      punch_from = first_held_byte_ - first_held_byte_ % kWindowStepBytes;
      first_held_byte_ = next;
    }
  }
  if (!moves)
    co_return true;
  if (!state.left_table) {
    // A client joining now could not be served from byte 0: it starts its own download.
    state.resources.table.forget(*this);
    state.left_table = true;
  }
  int rc = co_await core::fallocate(file_fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                    punch_from, next - punch_from);
  co_return rc == 0;
}

// fsync then rename, so a published name always has its verified bytes on disk.
core::Task<void> BlobFetch::publish(FetchResources &resources, const StorePath &temp, int fd,
                                    ProvenanceMark mark, std::string_view digest_text) {
  BlobStore &store = resources.store;
  CacheSpace &space = resources.table.space();
  StorePath published = BlobStore::blob_path(digest_);
  bool marked = co_await mark_before_publish(store, digest_, mark);
  int rc = -EIO;
  if (marked)
    rc = co_await core::fsync(fd);
  if (rc == 0)
    rc = co_await core::renameat(store.root_fd(), temp.c_str(), store.root_fd(), published.c_str());
  if (rc < 0) {
    const SpaceCondition condition = CacheSpace::condition_of_write_error(rc);
    // A full disk is said once (the write path says it too); other failures per blob.
    if (condition == SpaceCondition::WriteFailed || space.report(condition)) {
      log_line(resources.log,
               fmt::format("fetch {}: cannot publish: {}", digest_text, strerror(-rc)));
    }
    co_await core::unlinkat(store.root_fd(), temp.c_str());
    co_return;
  }
  co_await mark_after_publish(store, digest_, mark);
  store.note_published(digest_, written_bytes_); // the index: eviction and the hit size check
  if (space.report_published())
    log_line(resources.log, "a download was cached again: downloads go to the cache disk again");
}

core::Task<void> BlobFetch::run(std::shared_ptr<BlobFetch> self, FetchResources resources,
                                BlobFetchRequest request) {
  // Every way out of here leaves the table, so new clients never join a finished fetch.
  struct LeaveTable {
    FetchTable &table;
    const BlobFetch &fetch;
    ~LeaveTable() { table.forget(fetch); }
  } leave_table{resources.table, *self};
  {
    std::lock_guard lock(self->mutex_);
    self->target_ = request.target;
  }

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
  const StorePath temp = store.temp_path();
  Download state{resources, temp, digest_view};
  int fd = co_await self->open_target(resources, fields, state);
  if (fd < 0) {
    log_line(resources.log, fmt::format("fetch {}: neither a cache file nor a memory file: {}",
                                        digest_view, strerror(-fd)));
    self->fail("cannot create a cache file");
    co_return;
  }
  self->set_file(fd, fields.has_content_length, fields.content_length, !state.temp_linked);
  self->update(State::Streaming, 0);

  std::string failure = co_await self->download(exchange, state);
  if (!failure.empty()) {
    log_line(resources.log,
             fmt::format("fetch {}: {}; not cached, readers reset", digest_view, failure));
    self->fail(failure);
    if (state.temp_linked)
      co_await core::unlinkat(store.root_fd(), temp.c_str());
    co_return;
  }
  {
    std::lock_guard lock(self->mutex_);
    self->total_known_ = true;
    self->total_bytes_ = state.written_bytes;
  }
  self->update(State::Verified, state.written_bytes);
  if (!state.temp_linked)
    co_return; // passed through: verified for its readers, nothing to publish
  co_await self->publish(resources, temp, self->file_fd(), request.mark, digest_view);
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

size_t FetchTable::running() const {
  std::lock_guard lock(mutex_);
  return fetches_[0].size() + fetches_[1].size();
}

std::vector<FetchSnapshot> FetchTable::snapshots(size_t count_max) const {
  // The fetches are taken under the table's lock and asked outside it, so the table's lock is
  // never held while a fetch's is taken.
  std::vector<std::shared_ptr<BlobFetch>> running;
  {
    std::lock_guard lock(mutex_);
    for (const Table &table : fetches_) {
      for (const auto &[digest, weak] : table) {
        if (running.size() >= count_max)
          break;
        if (std::shared_ptr<BlobFetch> fetch = weak.lock())
          running.push_back(std::move(fetch));
      }
    }
  }
  std::vector<FetchSnapshot> snapshots;
  snapshots.reserve(running.size());
  for (const auto &fetch : running)
    snapshots.push_back(fetch->snapshot());
  return snapshots;
}

} // namespace regcache::registry
