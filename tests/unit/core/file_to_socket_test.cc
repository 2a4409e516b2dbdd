// send_file_range over a real socketpair and a temp file of pseudo-random bytes: the range
// arrives byte-exact through one pipe, through two alternating pipes, through one refilled pipe
// and through the copy buffer when the pool has no pipe; a range past the end of the file is
// -EIO; a peer that goes away is an error (not success, not a timeout); and the pool's pipes
// serve the next response afterwards.
#include "core/file_to_socket.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/pipe_pool.h"
#include "core/ring.h"
#include "core/task.h"

namespace regcache::core {
namespace {

constexpr uint64_t kFileBytes = 3 * 1024 * 1024 + 4321; // not a multiple of any pipe size
constexpr uint32_t kSmallPipeBytes = 64 * 1024;         // the kernel's default pipe size
constexpr uint32_t kLargePipeBytes = 1024 * 1024;       // what the server asks for
constexpr uint32_t kSendTimeoutMs = 5000;
constexpr size_t kPeerReadsToTheEnd = std::numeric_limits<size_t>::max();

// The receiving end of the socketpair, drained on its own thread with blocking reads (a receive
// timeout bounds each one). It reads until end of stream, or until `bytes_max` have arrived and
// then closes its end: a client that went away mid-body. It owns `fd` and closes it.
class PeerReader {
public:
  PeerReader(int fd, size_t bytes_max) : thread_([this, fd, bytes_max] { drain(fd, bytes_max); }) {}
  PeerReader(const PeerReader &) = delete;
  PeerReader &operator=(const PeerReader &) = delete;
  ~PeerReader() { join(); }

  const std::string &join() {
    if (thread_.joinable())
      thread_.join();
    return received_;
  }

private:
  void drain(int fd, size_t bytes_max) {
    std::vector<char> buffer(64 * 1024);
    // Bounded: each turn receives bytes or ends (end of stream, error, receive timeout).
    while (received_.size() < bytes_max) {
      ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
      if (got <= 0)
        break;
      received_.append(buffer.data(), static_cast<size_t>(got));
    }
    ::close(fd);
  }

  std::string received_; // declared before thread_: the thread writes it from its first turn
  std::thread thread_;
};

struct Outcome {
  int rc = 1; // not a value send_file_range returns: the coroutine did not run
  uint64_t bytes_sent = 0;
  std::string received;
};

Task<void> send_range(PipePool &pipes, FileToSocket io, uint64_t offset, uint64_t bytes,
                      Outcome &outcome, bool &done) {
  outcome.rc = co_await send_file_range(pipes, io, offset, bytes, &outcome.bytes_sent);
  done = true;
}

std::string pseudo_random_bytes(size_t count) {
  std::mt19937_64 generator(20240611);
  std::string bytes(count, '\0');
  for (char &byte : bytes)
    byte = static_cast<char>(generator() & 0xff);
  return bytes;
}

// Compares without printing megabytes: sizes and the first differing offset.
::testing::AssertionResult same_bytes(std::string_view actual, std::string_view expected) {
  auto [at_actual, at_expected] =
      std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
  if (at_actual == actual.end() && at_expected == expected.end())
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "received " << actual.size() << " bytes, expected " << expected.size()
         << "; first difference at byte " << (at_actual - actual.begin());
}

size_t open_fd_count() {
  size_t count = 0;
  for ([[maybe_unused]] const auto &entry : std::filesystem::directory_iterator("/proc/self/fd"))
    ++count;
  return count;
}

// A pipe from the pool must not hold bytes of an earlier response.
bool pipe_is_empty(const Pipe &pipe) {
  char byte;
  return ::read(pipe.read_fd, &byte, 1) < 0 && errno == EAGAIN;
}

class FileToSocketTest : public ::testing::Test {
protected:
  // As registry/daemon/main.cc does: a client that went away is an error result, not a signal.
  static void SetUpTestSuite() { std::signal(SIGPIPE, SIG_IGN); }

  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(RingOptions{}, &error)) << error;
    char path[] = "/tmp/regcache-file-to-socket-test-XXXXXX";
    int write_fd = ::mkstemp(path);
    ASSERT_GE(write_fd, 0);
    path_ = path;
    content_ = pseudo_random_bytes(kFileBytes);
    size_t written = 0;
    while (written < content_.size()) { // bounded: each turn writes bytes or fails the test
      ssize_t rc = ::write(write_fd, content_.data() + written, content_.size() - written);
      ASSERT_GT(rc, 0);
      written += static_cast<size_t>(rc);
    }
    ::close(write_fd);
    // Read-only, as the server opens published blobs.
    file_fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(file_fd_, 0);
  }
  void TearDown() override {
    if (file_fd_ >= 0)
      ::close(file_fd_);
    if (!path_.empty())
      ::unlink(path_.c_str());
  }

  std::string_view expected(uint64_t offset, uint64_t bytes) const {
    return std::string_view(content_).substr(offset, bytes);
  }

  bool run_until(const bool &done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (int turn = 0; turn < 100000 && !done && std::chrono::steady_clock::now() < deadline;
         ++turn)
      ring_.run_once(100);
    return done;
  }

  // Sends [offset, offset + bytes) of the file over a fresh socketpair whose sending end is
  // non-blocking, as the server's client sockets are (so a full socket is -EAGAIN and the code
  // must poll). The peer reads up to `peer_bytes_max` and then closes.
  Outcome transfer(PipePool &pipes, uint64_t offset, uint64_t bytes,
                   std::span<char> copy_buffer = {}, size_t peer_bytes_max = kPeerReadsToTheEnd) {
    Outcome outcome;
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
      ADD_FAILURE() << "socketpair failed";
      return outcome;
    }
    EXPECT_EQ(::fcntl(sockets[0], F_SETFL, ::fcntl(sockets[0], F_GETFL) | O_NONBLOCK), 0);
    timeval receive_timeout{10, 0};
    EXPECT_EQ(::setsockopt(sockets[1], SOL_SOCKET, SO_RCVTIMEO, &receive_timeout,
                           sizeof(receive_timeout)),
              0);
    {
      PeerReader peer(sockets[1], peer_bytes_max);
      bool done = false;
      spawn(send_range(pipes, FileToSocket{file_fd_, sockets[0], kSendTimeoutMs, copy_buffer},
                       offset, bytes, outcome, done));
      if (!run_until(done, std::chrono::seconds(30))) {
        ADD_FAILURE() << "send_file_range did not finish in 30 s";
        ::shutdown(sockets[0], SHUT_RDWR);
        if (!run_until(done, std::chrono::seconds(30))) {
          // Its frame points into this one: returning would let it write to a dead stack.
          std::fputs("send_file_range still running after shutdown; aborting\n", stderr);
          std::abort();
        }
      }
      ::shutdown(sockets[0], SHUT_WR); // the end of stream the peer reads up to
      outcome.received = peer.join();
    }
    ::close(sockets[0]);
    return outcome;
  }

  Ring ring_;
  std::string path_;
  std::string content_;
  int file_fd_ = -1;
};

TEST_F(FileToSocketTest, WholeFileArrivesByteExact) {
  PipePool pipes(2, kLargePipeBytes);
  Outcome outcome = transfer(pipes, 0, kFileBytes);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, kFileBytes);
  EXPECT_TRUE(same_bytes(outcome.received, content_));
}

TEST_F(FileToSocketTest, RangeInTheMiddleArrivesExact) {
  PipePool pipes(2, kLargePipeBytes);
  const uint64_t offset = 123457, bytes = 200003; // fits one pipe
  Outcome outcome = transfer(pipes, offset, bytes);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, bytes);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, bytes)));
}

TEST_F(FileToSocketTest, RangeLargerThanOnePipeArrivesExactThroughTwoAlternatingPipes) {
  PipePool pipes(2, kSmallPipeBytes);
  const uint64_t offset = 1001, bytes = 1024 * 1024 + 17; // 17 pipe loads
  Outcome outcome = transfer(pipes, offset, bytes);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, bytes);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, bytes)));
}

TEST_F(FileToSocketTest, RangeLargerThanOnePipeTakesASecondPipe) {
  PipePool pipes(2, kSmallPipeBytes);
  size_t fds_before = open_fd_count();
  Outcome outcome = transfer(pipes, 0, 4 * uint64_t{kSmallPipeBytes});
  EXPECT_EQ(outcome.rc, 0);
  // Both pipes were created and went back to the pool (which keeps them open).
  EXPECT_EQ(open_fd_count(), fds_before + 4);
}

TEST_F(FileToSocketTest, RangeLargerThanTheOnlyPipeArrivesExactByRefillingIt) {
  PipePool pipes(1, kSmallPipeBytes);
  const uint64_t offset = 77, bytes = 1024 * 1024 + 5;
  Outcome outcome = transfer(pipes, offset, bytes);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, bytes);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, bytes)));
}

TEST_F(FileToSocketTest, WithoutPipesTheBytesGoThroughTheCopyBufferExact) {
  PipePool pipes(0, kSmallPipeBytes);
  std::vector<char> copy_buffer(16 * 1024, '\0');
  const uint64_t offset = 4099, bytes = 200003;
  Outcome outcome = transfer(pipes, offset, bytes, copy_buffer);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, bytes);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, bytes)));
  // The last chunk of the range is still in the buffer: the copy path carried the bytes.
  const uint64_t last_chunk_bytes = bytes % copy_buffer.size();
  EXPECT_TRUE(same_bytes(std::string_view(copy_buffer.data(), last_chunk_bytes),
                         expected(offset + bytes - last_chunk_bytes, last_chunk_bytes)));
}

TEST_F(FileToSocketTest, RangePastTheEndOfTheFileReturnsEioAfterTheBytesThatExist) {
  PipePool pipes(2, kSmallPipeBytes);
  const uint64_t offset = kFileBytes - 100;
  Outcome outcome = transfer(pipes, offset, 1000);
  EXPECT_EQ(outcome.rc, -EIO);
  EXPECT_EQ(outcome.bytes_sent, 100u);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, 100)));
}

TEST_F(FileToSocketTest, RangeStartingPastTheEndOfTheFileReturnsEioWithNothingSent) {
  PipePool pipes(2, kSmallPipeBytes);
  Outcome outcome = transfer(pipes, kFileBytes + 10, 1000);
  EXPECT_EQ(outcome.rc, -EIO);
  EXPECT_EQ(outcome.bytes_sent, 0u);
  EXPECT_TRUE(outcome.received.empty());
}

TEST_F(FileToSocketTest, RangePastTheEndOfTheFileOnTheCopyPathReturnsEio) {
  PipePool pipes(0, kSmallPipeBytes);
  std::vector<char> copy_buffer(16 * 1024, '\0');
  const uint64_t offset = kFileBytes - 100;
  Outcome outcome = transfer(pipes, offset, 1000, copy_buffer);
  EXPECT_EQ(outcome.rc, -EIO);
  EXPECT_EQ(outcome.bytes_sent, 100u);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, 100)));
}

TEST_F(FileToSocketTest, PeerClosingEarlyReturnsAnErrorAndCountsOnlyWhatWasSent) {
  PipePool pipes(2, kSmallPipeBytes);
  Outcome outcome = transfer(pipes, 0, kFileBytes, {}, 64 * 1024);
  EXPECT_LT(outcome.rc, 0);
  EXPECT_NE(outcome.rc, -ETIME) << "the close must be noticed, not waited out";
  EXPECT_LT(outcome.bytes_sent, kFileBytes);
  EXPECT_GE(outcome.bytes_sent, outcome.received.size());
  EXPECT_TRUE(same_bytes(outcome.received, expected(0, outcome.received.size())));
}

TEST_F(FileToSocketTest, PeerClosingEarlyOnTheCopyPathReturnsAnError) {
  PipePool pipes(0, kSmallPipeBytes);
  std::vector<char> copy_buffer(16 * 1024, '\0');
  Outcome outcome = transfer(pipes, 0, kFileBytes, copy_buffer, 64 * 1024);
  EXPECT_LT(outcome.rc, 0);
  EXPECT_NE(outcome.rc, -ETIME) << "the close must be noticed, not waited out";
  EXPECT_LT(outcome.bytes_sent, kFileBytes);
  EXPECT_GE(outcome.bytes_sent, outcome.received.size());
}

TEST_F(FileToSocketTest, PipesAreReusableAfterThePeerClosedEarly) {
  PipePool pipes(2, kSmallPipeBytes);
  Outcome aborted = transfer(pipes, 0, kFileBytes, {}, 64 * 1024);
  ASSERT_LT(aborted.rc, 0);
  // The pool still hands out two pipes (a discarded one is replaced), and none holds bytes of
  // the aborted response.
  Pipe first, second, third;
  ASSERT_TRUE(pipes.acquire(first));
  ASSERT_TRUE(pipes.acquire(second));
  EXPECT_FALSE(pipes.acquire(third));
  EXPECT_TRUE(pipe_is_empty(first));
  EXPECT_TRUE(pipe_is_empty(second));
  pipes.release(first);
  pipes.release(second);

  const uint64_t offset = 999, bytes = 1024 * 1024 + 3;
  Outcome outcome = transfer(pipes, offset, bytes);
  EXPECT_EQ(outcome.rc, 0);
  EXPECT_EQ(outcome.bytes_sent, bytes);
  EXPECT_TRUE(same_bytes(outcome.received, expected(offset, bytes)));
}

} // namespace
} // namespace regcache::core
