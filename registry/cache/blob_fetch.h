#pragma once
// One upstream download of a blob, shared by every client that wants that digest meanwhile.
// The fetch belongs to the store's table of running fetches, not to a client: it runs to the
// end even when every reader has left (the bytes are worth caching), writes a temp file while
// hashing, and readers follow the file as it grows. The last byte is held back until the whole
// blob's sha256 matches the digest, so no reader ever gets a complete response with unverified
// content.
//
// Pass-through: when the blob cannot be cached (a write fails with ENOSPC, EDQUOT or EIO, the
// temp file cannot be created, or a Content-Length larger than the free space or the cache's
// limit), the download goes on without the disk. Its bytes go to an in-memory file (memfd) that
// keeps only a window of the most recent bytes (FetchResources::uncached_window_bytes; older
// ones are punched out), readers follow that file exactly as they follow the temp file, and the
// digest is still verified with the last byte held back. Without a disk to spill to, memory is
// bounded by backpressure: the download does not run more than the window ahead of its slowest
// reader (each reader is a Reader, registered while it follows), waiting for it up to
// FetchResources::uncached_reader_stall_ms each time the window is full, so in pass-through the
// clients set the pace. A reader still behind after that is left behind: it has lost bytes it
// never sent and must reset its client (Progress::first_held_byte, holds(); serve/fetch_bytes.h
// does both). Once the window has moved past the first byte the fetch leaves the table, so a
// new client starts its own download instead of joining one it could not follow; when no
// reader is left then, the download stops. Nothing is published.
//
// Slow upstreams: every read has the upstream's silence limit and rate floor
// (http/read_budget.h); past either the readers are reset and nothing is published. Readers are
// woken within about 100 ms of bytes arriving (kAnnounceAfter in blob_fetch.cc), not only per
// MiB written.
#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/log_sink.h"
#include "core/task.h"
#include "core/wait_list.h"
#include "http/upstream_endpoint.h"
#include "http/upstream_exchange.h"
#include "http/upstream_pool.h"
#include "registry/api/digest.h"
#include "registry/auth/upstream_auth.h"
#include "registry/cache/blob_store.h"
#include "registry/cache/cache_space.h"
#include "registry/cache/limited_marks.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

class FetchTable;
class StagedFileWriter;

struct BlobFetchRequest {
  UpstreamChoice upstream;
  std::string target; // /v2/<name>/blobs/<digest>
  uint32_t redirects_max = 5;
  uint32_t answer_body_bytes_max = 64 * 1024;
  // Through a limited upstream or an open one (cache/limited_marks.h).
  ProvenanceMark mark = ProvenanceMark::Untracked;
};

// What a download uses: the shared store and fetch table, and the pool, credentials and log of
// the worker it runs on.
struct FetchResources {
  BlobStore &store;
  FetchTable &table;
  http::UpstreamPool &upstreams;
  UpstreamAuth &auth;
  core::LogSink *log = nullptr;
  // Bytes of an uncached download kept for its readers (--uncached-window-bytes), and how long
  // it waits for its slowest reader when they are all in use (--uncached-reader-stall-ms).
  uint64_t uncached_window_bytes = 8u << 20;
  uint32_t uncached_reader_stall_ms = 5000;
};

// A running download as the status page shows it.
struct FetchSnapshot {
  Digest digest;
  std::string repository; // from the upstream target; empty before the download starts
  uint64_t written_bytes = 0;
  bool total_known = false;
  uint64_t total_bytes = 0;
  uint32_t readers = 0; // clients following it now
  bool passing_through = false;
};

class BlobFetch {
public:
  enum class State : uint8_t {
    Starting,       // waiting for the upstream's response head
    Streaming,      // 200: bytes are arriving in the temp file
    Verified,       // every byte arrived and the sha256 matched: all of it is readable
    UpstreamAnswer, // the upstream answered something else (404, 401, 429, 5xx): relay it
    Failed,         // network error, truncation or digest mismatch: readers must reset
  };
  struct Progress {
    State state = State::Starting;
    uint64_t readable_bytes = 0; // what readers may send now
    bool total_known = false;
    uint64_t total_bytes = 0;
    // Bytes below this are gone from the file (a pass-through's window has moved on): a reader
    // that has not sent them must reset its client. 0 while the blob goes to the cache.
    uint64_t first_held_byte = 0;
  };
  // A pass-through window moves in steps of this much (whole pages, so holes can be punched).
  static constexpr uint64_t kWindowStepBytes = 1024 * 1024;

  // A client following the fetch, registered for as long as it lives (it belongs in the
  // follower's frame). Its position tells a pass-through which bytes it may drop, so the file
  // is reached only through a Reader: a follower the fetch does not know of could be sent holes.
  class Reader {
  public:
    explicit Reader(BlobFetch &fetch);
    ~Reader();
    Reader(const Reader &) = delete;
    Reader &operator=(const Reader &) = delete;
    BlobFetch &fetch() const { return fetch_; }
    // Every byte before `offset` was sent, or is not wanted (a range reader starts by saying
    // where its range begins): the download may drop them.
    void sent_to(uint64_t offset);
    // The file to splice from, valid once the state is Streaming or later, with explicit
    // offsets. It may change once, when a download starts to pass through: an fd read before
    // stays open, with its bytes, until the fetch is gone. Send through send_fetch_bytes
    // (serve/fetch_bytes.h), which checks holds() around the send.
    int file_fd() const { return fetch_.file_fd(); }

  private:
    friend class BlobFetch;
    BlobFetch &fetch_;
    uint64_t position_ = 0; // guarded by fetch_.mutex_, as the links
    Reader *prev_ = nullptr;
    Reader *next_ = nullptr;
  };

  // `limited`: the download runs for a limited upstream; only its clients may follow it.
  explicit BlobFetch(const Digest &digest, bool limited = false)
      : digest_(digest), limited_(limited) {}
  ~BlobFetch();
  BlobFetch(const BlobFetch &) = delete;
  BlobFetch &operator=(const BlobFetch &) = delete;

  // What readers may send of `written_bytes` in `state`: everything once verified, all but the
  // final byte while streaming, nothing otherwise.
  static uint64_t readable_bytes(State state, uint64_t written_bytes);
  // The first byte a pass-through keeps once `written_bytes` are written: the last
  // `window_bytes` at least, in whole steps.
  static uint64_t window_start(uint64_t written_bytes, uint64_t window_bytes);

  const Digest &digest() const { return digest_; }
  bool limited() const { return limited_; }
  Progress progress();
  FetchSnapshot snapshot();
  // Suspends until the readable bytes pass `offset` or the state leaves `seen`; returns the new
  // progress at once when that is already true.
  core::Task<Progress> wait_beyond(uint64_t offset, State seen);

  // Whether the file still has the bytes from `offset` on. A reader checks it after each send
  // too: a window that moved past bytes while they were being sent may have sent holes.
  bool holds(uint64_t offset);
  // True once the download passes through (not cached).
  bool passing_through();
  // Valid in state UpstreamAnswer.
  const http::ResponseFields &answer() const { return answer_; }
  const std::string &answer_body() const { return answer_body_; }
  const std::string &failure() const { return failure_; }
  int failure_errno() const { return failure_errno_; } // -EACCES: credentials refused

  // The download itself; spawned once by whoever created the fetch. It leaves the table when
  // it ends, whichever way.
  static core::Task<void> run(std::shared_ptr<BlobFetch> self, FetchResources resources,
                              BlobFetchRequest request);

private:
  struct Download; // what download() and its helpers share (blob_fetch.cc)

  int file_fd() const { return file_fd_.load(std::memory_order_acquire); }
  Progress progress_locked() const;
  void update(State state, uint64_t written_bytes); // publishes and wakes readers
  void fail(std::string reason, int failure_errno = -EIO);
  void set_file(int fd, bool total_known, uint64_t total_bytes, bool passing_through);

  // The steps of run(), in order.
  core::Task<bool> adopt_published(BlobStore &store, ProvenanceMark mark);
  static core::Task<bool> open_upstream(FetchResources &resources, const BlobFetchRequest &request,
                                        http::UpstreamExchange &exchange, std::string &error,
                                        int &failure_errno);
  core::Task<void> keep_upstream_answer(http::UpstreamExchange &exchange, uint32_t body_bytes_max);
  core::Task<int> open_target(FetchResources &resources, const http::ResponseFields &fields,
                              Download &state);
  core::Task<std::string> download(http::UpstreamExchange &exchange, Download &state);
  // The steps of download().
  core::Task<std::span<char>> stage_room(StagedFileWriter &writer, Download &state);
  core::Task<bool> flush_writes(StagedFileWriter &writer, Download &state);
  core::Task<bool> pass_through_after_failure(StagedFileWriter &writer, Download &state);
  core::Task<bool> copy_tail(int from_fd, int to_fd, uint64_t first, uint64_t end,
                             std::span<char> buffer);
  core::Task<bool> slide_window(uint64_t written_bytes, Download &state);
  // The smallest position of the readers (UINT64_MAX when there is none), and whether any is.
  uint64_t slowest_reader();
  bool has_readers();
  core::Task<void> publish(FetchResources &resources, const StorePath &temp, int fd,
                           ProvenanceMark mark, std::string_view digest_text);

  const Digest digest_;
  const bool limited_;
  std::mutex mutex_;
  State state_ = State::Starting;
  uint64_t written_bytes_ = 0;
  bool total_known_ = false;
  uint64_t total_bytes_ = 0;
  core::WaitList waiters_;
  std::atomic<int> file_fd_{-1};
  int disk_fd_ = -1; // the temp file after a switch to pass-through: open until the fetch ends
  bool passing_through_ = false;
  uint64_t first_held_byte_ = 0;
  Reader *readers_ = nullptr; // every Reader of this fetch (intrusive list)
  std::string target_;        // the upstream path, set once run() starts (for snapshot())
  http::ResponseFields answer_;
  std::string answer_body_;
  std::string failure_;
  int failure_errno_ = 0;
};

// The running fetches, one per digest, shared by every worker: single flight for blob misses.
// A download for a limited upstream is followed only by requests through limited upstreams
// (which passed their own client check), so it has a table of its own: a client on an open
// route never reads bytes that only a limited upstream gave. The table also owns what the
// downloads share about the disk (cache/cache_space.h).
class FetchTable {
public:
  CacheSpace &space() { return space_; }

  // The running download of a digest, or a new one (`*created` tells which; the creator runs
  // it).
  std::shared_ptr<BlobFetch> join_or_create(const Digest &digest, bool limited, bool *created);
  // The running download of a digest, or null (a worker at its fetch bound may only follow).
  std::shared_ptr<BlobFetch> join(const Digest &digest, bool limited);
  // Removes the entry of `fetch` (an entry of a newer fetch of the digest stays).
  void forget(const BlobFetch &fetch);
  // Downloads in the table now (for the status line and metrics).
  size_t running() const;
  // What the status page shows of at most `count_max` of them (in no order).
  std::vector<FetchSnapshot> snapshots(size_t count_max) const;

private:
  using Table = std::unordered_map<Digest, std::weak_ptr<BlobFetch>, DigestHash>;
  mutable std::mutex mutex_;
  Table fetches_[2]; // [0]: open and untracked downloads, [1]: limited ones
  CacheSpace space_;
};

} // namespace regcache::registry
