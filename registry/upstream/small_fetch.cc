#include "registry/upstream/small_fetch.h"

#include <fmt/format.h>

#include <cstring>

namespace regcache::registry {

core::Task<void> read_small_answer(http::UpstreamExchange &exchange, const http::Endpoint &endpoint,
                                   uint64_t body_bytes_max, SmallResponse &out) {
  out.fields = exchange.fields();
  for (;;) { // bounded by body_bytes_max: each turn appends bytes or ends
    std::span<const char> piece;
    int got = co_await exchange.read_body(piece);
    if (got == 0)
      break;
    if (got < 0) {
      out.rc = got;
      out.error = fmt::format("reading the body from {}: {}", endpoint.authority, strerror(-got));
      co_return;
    }
    if (out.body.size() + piece.size() > body_bytes_max) {
      out.too_large = true;
      co_return;
    }
    out.body.append(piece.data(), piece.size());
  }
}

core::Task<void> fetch_small(http::UpstreamPool &pool, const http::Endpoint &endpoint,
                             const http::UpstreamRequest &request, uint64_t body_bytes_max,
                             SmallResponse &out) {
  http::UpstreamExchange exchange(pool);
  out.rc = co_await exchange.start(endpoint, request, &out.error);
  if (out.rc < 0)
    co_return;
  co_await read_small_answer(exchange, endpoint, body_bytes_max, out);
}

} // namespace regcache::registry
