#pragma once
// Host name resolution. getaddrinfo blocks, so it never runs on a worker: a short-lived helper
// thread resolves and posts the result back through the worker's ring. Numeric addresses resolve
// at once, and answers are cached for a while so steady-state upstream connects skip the lookup.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/socket_address.h"
#include "core/task.h"

namespace regcache::core {

// Returns 0 and fills `out`, or a negative EAI-derived error (-EHOSTUNREACH when not found).
Task<int> resolve(std::string host, uint16_t port, SocketAddress &out);

} // namespace regcache::core
