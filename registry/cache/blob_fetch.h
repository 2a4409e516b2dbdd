#pragma once
// One upstream download of a blob, shared by every client that wants that digest meanwhile.
// The fetch belongs to the store, not to a client: it runs to the end even when every reader
// has left (the bytes are worth caching), writes a temp file while hashing, and readers follow
// the file as it grows. The last byte is held back until the whole blob's sha256 matches the
// digest, so no reader ever gets a complete response with unverified content.
#include <cerrno>
#include <memory>
#include <mutex>
#include <string>

#include "core/task.h"
#include "core/wait_list.h"
#include "http/upstream_endpoint.h"
#include "http/upstream_exchange.h"
#include "registry/api/digest.h"
#include "registry/upstream/upstream_router.h"

namespace regcache::registry {

class BlobStore;
struct WorkerContext;

struct BlobFetchRequest {
  UpstreamChoice upstream;
  std::string target; // /v2/<name>/blobs/<digest>
  uint32_t redirects_max = 5;
  uint32_t answer_body_bytes_max = 64 * 1024;
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
    bool failed_before_response = false;
  };

  explicit BlobFetch(const Digest &digest) : digest_(digest) {}
  ~BlobFetch();
  BlobFetch(const BlobFetch &) = delete;
  BlobFetch &operator=(const BlobFetch &) = delete;

  // What readers may send of `written_bytes` in `state`: everything once verified, all but the
  // final byte while streaming, nothing otherwise.
  static uint64_t readable_bytes(State state, uint64_t written_bytes);

  const Digest &digest() const { return digest_; }
  Progress progress();
  // Suspends until the readable bytes pass `offset` or the state leaves `seen`; returns the new
  // progress at once when that is already true.
  core::Task<Progress> wait_beyond(uint64_t offset, State seen);

  // Valid once the state is Streaming or later; readers splice from it with explicit offsets.
  int file_fd() const { return file_fd_; }
  // Valid in state UpstreamAnswer.
  const http::ResponseFields &answer() const { return answer_; }
  const std::string &answer_body() const { return answer_body_; }
  const std::string &failure() const { return failure_; }
  int failure_errno() const { return failure_errno_; } // -EACCES: credentials refused

  // The download itself; spawned once by whoever created the fetch.
  static core::Task<void> run(std::shared_ptr<BlobFetch> self, WorkerContext &worker,
                              BlobFetchRequest request);

private:
  Progress progress_locked() const;
  void update(State state, uint64_t written_bytes); // publishes and wakes readers
  void fail(std::string reason, bool before_response, int failure_errno = -EIO);

  const Digest digest_;
  std::mutex mutex_;
  State state_ = State::Starting;
  uint64_t written_bytes_ = 0;
  bool total_known_ = false;
  uint64_t total_bytes_ = 0;
  bool failed_before_response_ = false;
  core::WaitList waiters_;
  int file_fd_ = -1;
  http::ResponseFields answer_;
  std::string answer_body_;
  std::string failure_;
  int failure_errno_ = 0;
};

} // namespace regcache::registry
