#pragma once
// What regcache has learned about its upstreams, as plain values for whoever shows it (the
// status page, tests): per configured upstream its health, its request counts and its last
// known Docker Hub quota, and the recent failed or throttled requests. Made by
// UpstreamObservers (registry/upstream/upstream_observer.h) and the server.
#include <cstdint>
#include <optional>
#include <string>

namespace regcache::registry {

// The quota an upstream announced in its last answer that carried one.
struct RateLimit {
  uint64_t limit = 0;
  uint64_t remaining = 0;
  uint64_t window_s = 0; // 0: the upstream did not say
  // Who the quota is counted for: the username configured for the upstream, or "anonymous".
  // Never a password or token.
  std::string credential;
  int64_t seen_unix_ms = 0;
};

struct UpstreamObservation {
  std::string host; // the upstream's configured host ("docker.io", "ghcr.io")
  // The outcome of the last contact (a client's request or the periodic probe): an answer
  // below 500. True before any contact: nothing is known against it.
  bool up = true;
  int64_t last_check_unix_s = 0;  // 0: never contacted
  int64_t last_check_unix_ms = 0; // the same, to the millisecond
  std::optional<RateLimit> ratelimit;
  uint64_t requests = 0;          // registry requests sent (token requests not included)
  uint64_t errors = 0;            // of those: no answer, or 5xx
  uint64_t too_many_requests = 0; // of those: 429
};

struct RecentUpstreamError {
  int64_t unix_ms = 0;
  std::string upstream; // the configured host, or the host a client named with ?ns=
  std::string sent_to;  // the authority the request went to (a token server's, for tokens)
  std::string method;
  std::string path;    // the request target without its query: repository and reference
  uint16_t status = 0; // 0: no answer (see error)
  std::string error;   // why there was no answer; empty with a status
};

} // namespace regcache::registry
