#pragma once
// What the registry layer learns from each upstream exchange (its status, its rate-limit
// fields, or why it got no answer), told by UpstreamExchange::start once the response head is
// read or the exchange has failed. One observer per pool, so per worker: it is called on the
// worker's thread only.
#include <string_view>

#include "http/upstream_endpoint.h"

namespace regcache::http {

// http/upstream_exchange.h, which calls the observer (declared, not included: no cycle).
struct UpstreamRequest;
struct ResponseFields;

struct ExchangeReport {
  const Endpoint &endpoint;
  const UpstreamRequest &request; // request.observed_as says what it was for
  int rc;                         // 0: an answer came; < 0: -errno, no answer
  const ResponseFields *fields;   // the answer's head when rc is 0, else null
  std::string_view error;         // why there was no answer (a log phrase, no secret)
};

class ExchangeObserver {
public:
  virtual ~ExchangeObserver() = default;
  // Runs on the pool's worker thread before start() returns: it must not block.
  virtual void on_exchange(const ExchangeReport &report) = 0;
};

} // namespace regcache::http
