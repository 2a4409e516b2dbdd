// The listener when the process runs out of fds: accept fails with EMFILE, the reserve fd's
// slot takes one waiting client (handed over as fds_exhausted, for a 503), the listener backs
// off instead of spinning, and once fds are free again it accepts as before.
#include "core/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <string>
#include <vector>

#include "core/ring.h"
#include "core/socket_address.h"

namespace regcache::core {
namespace {

struct Accepted {
  std::vector<int> normal;
  std::vector<int> exhausted;
};

void record(void *context, int fd, bool fds_exhausted) {
  auto *accepted = static_cast<Accepted *>(context);
  (fds_exhausted ? accepted->exhausted : accepted->normal).push_back(fd);
}

TEST(ListenerTest, OutOfFdsHandsOneClientToTheReserveAndKeepsAccepting) {
  Ring ring;
  std::string error;
  ASSERT_TRUE(ring.init(RingOptions{}, &error)) << error;
  SocketAddress address;
  ASSERT_TRUE(numeric_address("127.0.0.1", 0, address));
  int listen_fd = listen_tcp(address, false, 64, &error);
  ASSERT_GE(listen_fd, 0) << error;
  sockaddr_in bound{};
  socklen_t bound_length = sizeof(bound);
  ASSERT_EQ(::getsockname(listen_fd, reinterpret_cast<sockaddr *>(&bound), &bound_length), 0);

  // The client sockets first (connect needs no new fd), then a low soft limit, then the
  // listener: io_uring reads RLIMIT_NOFILE when the accept is prepared, not when it completes.
  std::array<int, 3> clients{};
  for (int &client : clients) {
    client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(client, 0);
  }
  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  rlimit low = original;
  low.rlim_cur = 256;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  Accepted accepted;
  Listener listener(listen_fd, &record, &accepted);
  listener.start(); // opens the reserve fd
  ring.run_once(10);
  // Every other fd below the limit taken, so the next accept fails with EMFILE.
  std::vector<int> fillers;
  for (int turn = 0; turn < 512; ++turn) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      break;
    fillers.push_back(fd);
  }
  ASSERT_EQ(::open("/dev/null", O_RDONLY | O_CLOEXEC), -1);

  for (int client : clients)
    ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr *>(&bound), sizeof(bound)), 0);
  for (int turn = 0; turn < 200 && accepted.exhausted.empty(); ++turn)
    ring.run_once(10);
  ASSERT_EQ(accepted.exhausted.size(), 1u) << "the reserve fd took no client";
  EXPECT_TRUE(accepted.normal.empty());
  EXPECT_GE(listener.accept_failures(), 1u);
  // Still out of fds: half a second of loop turns re-arms after each 100 ms back-off, never
  // in a tight loop (a spin would count thousands of failures).
  for (int turn = 0; turn < 50; ++turn)
    ring.run_once(10);
  EXPECT_LE(listener.accept_failures(), 20u);
  EXPECT_TRUE(accepted.normal.empty());

  // Fds free again: the two clients still waiting in the backlog are accepted normally.
  for (int fd : fillers)
    ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  for (int turn = 0; turn < 200 && accepted.normal.size() < 2; ++turn)
    ring.run_once(10);
  EXPECT_EQ(accepted.normal.size(), 2u);
  EXPECT_EQ(listener.reserve_accepts(), 1u);

  listener.stop();
  for (int turn = 0; turn < 100 && !listener.stopped(); ++turn)
    ring.run_once(10);
  EXPECT_TRUE(listener.stopped());
  for (int fd : accepted.normal)
    ::close(fd);
  for (int fd : accepted.exhausted)
    ::close(fd);
  for (int client : clients)
    ::close(client);
}

} // namespace
} // namespace regcache::core
