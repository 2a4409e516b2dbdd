#pragma once
// What a client connection needs only while it reads or answers a request: the receive buffer
// the request's views point into, the parser's header array, and the buffer response heads are
// written in. A connection takes one from its worker's pool (core/block_pool.h) when the first
// byte of a request arrives and gives it back when it waits for the next request with nothing
// buffered, so a connection idling between requests holds only its small coroutine frames.
#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "http/message_head.h"

namespace regcache::registry {

struct ConnectionBuffers {
  static constexpr size_t kReceiveBytes = 16 * 1024;
  static constexpr size_t kHeadBytes = 8 * 1024;
  static constexpr size_t kRequestHeadersMax = 64;

  std::array<char, kReceiveBytes> receive;
  std::array<http::Header, kRequestHeadersMax> headers;
  // Response heads; also the copy buffer of send_body_file when no pipe is left, which is safe
  // because a body is only sent after its head (asserted there).
  std::array<char, kHeadBytes> head;
};
// Placed in raw pool blocks and dropped without a destructor call.
static_assert(std::is_trivially_destructible_v<ConnectionBuffers>);

// Buffers a worker keeps for reuse when connections give them back: enough for the requests a
// worker answers at once in steady state (a pool hit allocates nothing); past it, a burst's
// buffers are unmapped as it ends. 256 x 28 KiB = 7 MiB per worker at most.
inline constexpr uint32_t kConnectionBuffersKeptMax = 256;

} // namespace regcache::registry
