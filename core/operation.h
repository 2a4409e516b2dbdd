#pragma once
// An Operation is what every submitted SQE points at. It lives inside its owner (an awaitable in
// a coroutine frame, a listener, a waiter), never on the heap per operation, and the owner cannot
// go away while `pending` is non-zero: the coroutine that owns it stays suspended until then.
#include <coroutine>
#include <cstdint>

namespace regcache::core {

enum class OpKind : uint8_t {
  Resume,   // a coroutine awaits the CQE(s); resume it when the last one arrives
  Callback, // every CQE goes to the owner's on_cqe (multishot accept, its cancel and timer)
};

// The low bits of user_data say which SQE of a chain a CQE belongs to. Operations are at
// least 8-byte aligned, so three bits are free.
enum class CqeTag : uint8_t { Main = 0, LinkedTimeout = 1 };
inline constexpr uint64_t kCqeTagMask = 7;

struct Operation {
  OpKind kind = OpKind::Resume;
  uint8_t pending = 0;    // CQEs still expected before the owner may be resumed or freed
  bool timed_out = false; // a linked timeout fired
  int32_t result = 0;     // res of the main CQE
  uint32_t cqe_flags = 0;
  std::coroutine_handle<> waiter;
  void (*on_cqe)(Operation &op, int32_t result, uint32_t flags) = nullptr; // OpKind::Callback
  Operation *next_ready = nullptr; // intrusive link in the ring's ready list
};
static_assert(alignof(Operation) >= 8, "user_data tag bits need 8-byte alignment");

} // namespace regcache::core
