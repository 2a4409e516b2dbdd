// The reactor's contract: operations complete through the ring, linked timeouts report -ETIME
// and wait for both CQEs, wake-ups cross threads through MSG_RING, and frames are reused.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

#include "core/frame_pool.h"
#include "core/io_ops.h"
#include "core/ring.h"
#include "core/task.h"
#include "core/wait_list.h"

namespace regcache::core {
namespace {

class RingTest : public ::testing::Test {
protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(ring_.init(RingOptions{}, &error)) << error;
  }
  // Runs the loop until `done` is set, bounded by a number of turns.
  void run_until(const bool &done) {
    for (int turn = 0; turn < 10000 && !done; ++turn)
      ring_.run_once(100);
    ASSERT_TRUE(done) << "the ring never completed the work";
  }
  Ring ring_;
};

Task<int> add_after_sleep(int a, int b) {
  co_await sleep_ms(1);
  co_return a + b;
}

TEST_F(RingTest, TaskReturnsValueThroughAwaitChain) {
  bool done = false;
  int result = 0;
  spawn([](bool &done, int &result) -> Task<void> {
    result = co_await add_after_sleep(2, 3);
    done = true;
  }(done, result));
  run_until(done);
  EXPECT_EQ(result, 5);
}

TEST_F(RingTest, WritesAndReadsAFileThroughTheRing) {
  char path[] = "/tmp/regcache-ring-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  bool done = false;
  std::string read_back;
  spawn([](int fd, bool &done, std::string &read_back) -> Task<void> {
    std::string text = "hello ring";
    int32_t written = co_await write(fd, std::span<const char>(text.data(), text.size()), 0);
    EXPECT_EQ(written, static_cast<int32_t>(text.size()));
    char buffer[32] = {};
    int32_t got = co_await read(fd, std::span<char>(buffer, sizeof(buffer)), 0);
    EXPECT_EQ(got, static_cast<int32_t>(text.size()));
    if (got > 0)
      read_back.assign(buffer, static_cast<size_t>(got));
    done = true;
  }(fd, done, read_back));
  run_until(done);
  EXPECT_EQ(read_back, "hello ring");
  ::close(fd);
  ::unlink(path);
}

TEST_F(RingTest, RecvWithLinkedTimeoutReportsEtime) {
  int sockets[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets), 0);
  bool done = false;
  int32_t result = 0;
  spawn([](int fd, bool &done, int32_t &result) -> Task<void> {
    char buffer[16];
    result = co_await recv(fd, std::span<char>(buffer, sizeof(buffer)), 20);
    done = true;
  }(sockets[0], done, result));
  run_until(done);
  EXPECT_EQ(result, -ETIME);
  ::close(sockets[0]);
  ::close(sockets[1]);
}

TEST_F(RingTest, RecvWithLinkedTimeoutReturnsDataThatArrivesInTime) {
  int sockets[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets), 0);
  ASSERT_EQ(::write(sockets[1], "ping", 4), 4);
  bool done = false;
  int32_t result = 0;
  spawn([](int fd, bool &done, int32_t &result) -> Task<void> {
    char buffer[16];
    result = co_await recv(fd, std::span<char>(buffer, sizeof(buffer)), 5000);
    done = true;
  }(sockets[0], done, result));
  run_until(done);
  EXPECT_EQ(result, 4);
  ::close(sockets[0]);
  ::close(sockets[1]);
}

TEST_F(RingTest, WaiterIsWokenFromAnotherThreadThroughMsgRing) {
  bool done = false;
  Waiter waiter;
  waiter.arm();
  std::atomic<bool> armed{false};
  spawn([](Waiter &waiter, bool &done, std::atomic<bool> &armed) -> Task<void> {
    armed = true;
    co_await waiter;
    done = true;
  }(waiter, done, armed));
  ASSERT_TRUE(armed.load());
  // A thread without a ring of its own wakes the waiter while this thread sleeps in the kernel
  // with no timeout of its own: the message itself must wake it (a liveness check, with a 20 s
  // watchdog so a lost wake-up fails instead of hanging).
  std::thread other([&waiter] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    wake_all(&waiter);
  });
  auto started = std::chrono::steady_clock::now();
  for (int turn = 0; turn < 100 && !done; ++turn)
    ring_.run_once(20000);
  auto waited = std::chrono::steady_clock::now() - started;
  other.join();
  EXPECT_TRUE(done);
  EXPECT_LT(waited, std::chrono::seconds(10))
      << "the MSG_RING wake-up did not wake the sleeping ring";
}

TEST_F(RingTest, WaiterOnTheSameRingIsResumedAfterTheWaker) {
  std::string order;
  Waiter waiter;
  waiter.arm();
  bool done = false;
  spawn([](Waiter &waiter, std::string &order, bool &done) -> Task<void> {
    co_await waiter;
    order += "waiter;";
    done = true;
  }(waiter, order, done));
  wake_all(&waiter);
  order += "waker;";
  run_until(done);
  EXPECT_EQ(order, "waker;waiter;");
}

TEST_F(RingTest, FramesAreReusedInTheSteadyState) {
  auto run_one = [this] {
    bool done = false;
    spawn([](bool &done) -> Task<void> {
      co_await add_after_sleep(1, 1);
      done = true;
    }(done));
    run_until(done);
  };
  run_one(); // warms the pool
  FramePoolStats before = frame_pool_stats();
  for (int i = 0; i < 50; ++i)
    run_one();
  FramePoolStats after = frame_pool_stats();
  EXPECT_EQ(after.heap_allocations, before.heap_allocations);
  EXPECT_GE(after.pool_hits - before.pool_hits, 100u);
}

} // namespace
} // namespace regcache::core
