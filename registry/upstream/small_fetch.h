#pragma once
// A small request to an upstream whose whole answer is read into memory: token servers, Entra
// ID, manifests and error bodies. Nothing here knows about clients or credentials; auth/ adds
// the registry's credentials on top (fetch_small_authorized).
#include <cstdint>
#include <string>

#include "core/task.h"
#include "http/upstream_endpoint.h"
#include "http/upstream_exchange.h"
#include "http/upstream_pool.h"

namespace regcache::registry {

// An upstream answer read whole into memory.
struct SmallResponse {
  int rc = 0;             // < 0: no usable answer (error says why)
  bool too_large = false; // the body passed the limit; body holds a prefix
  http::ResponseFields fields;
  std::string body;
  std::string error;
};

// Sends `request` to `endpoint` and reads the answer, at most `body_bytes_max` of body.
core::Task<void> fetch_small(http::UpstreamPool &pool, const http::Endpoint &endpoint,
                             const http::UpstreamRequest &request, uint64_t body_bytes_max,
                             SmallResponse &out);

// Reads the body of the answer `exchange` holds into `out` (status and headers too).
core::Task<void> read_small_answer(http::UpstreamExchange &exchange, const http::Endpoint &endpoint,
                                   uint64_t body_bytes_max, SmallResponse &out);

} // namespace regcache::registry
