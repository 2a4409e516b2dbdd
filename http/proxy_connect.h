#pragma once
// Reaching an upstream through an HTTP proxy (--upstream-proxy): a TCP connection to the proxy,
// `CONNECT host:port` (RFC 9110 section 9.3.6), and on a 2xx answer the connection is a tunnel
// to host:port, over which the caller speaks TLS or plain HTTP as it would directly. Every
// upstream connection regcache opens goes through UpstreamPool::acquire, which calls
// open_through_proxy for hosts NO_PROXY does not match; anything else that needs a connection
// through the same proxy (proxy mode's client tunnels) calls it too.
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/task.h"
#include "http/no_proxy.h"

namespace regcache::http {

struct ProxyConfig {
  std::string host;  // DNS name, IPv4 literal or [IPv6] literal; empty: no proxy
  uint16_t port = 0; // given in the URL, or 80 for http:// without one (as curl)
  // The Proxy-Authorization field value ("Basic <base64 of user:password>", RFC 9110 section
  // 11.7.1); empty when the URL has no userinfo. A secret: never logged.
  std::string authorization;
  // The URL as it may be shown: the password replaced by *** ("http://user:***@host:3128").
  std::string display;
  NoProxyList no_proxy;

  bool enabled() const { return !host.empty(); }
  // Whether a connection to `host` (an Endpoint's host) goes through the proxy.
  bool applies_to(std::string_view upstream_host) const {
    return enabled() && !no_proxy.matches(upstream_host);
  }
};

// The proxy's answer head is read into a buffer of this size on the coroutine frame; a longer
// head is a failure (a proxy's CONNECT answer is a status line and a few fields).
inline constexpr size_t kConnectAnswerBytesMax = 8 * 1024;

// What open_through_proxy returns besides 0 when the proxy answered, but not with 2xx.
inline constexpr int kProxyRefused = -EACCES;

// Writes `CONNECT host:port HTTP/1.1` with Host and, when the proxy has credentials,
// Proxy-Authorization into `buffer`; returns the bytes written, 0 when it did not fit or a
// field had a forbidden character. `host` as an Endpoint holds it ([v6] bracketed).
size_t format_connect_request(const ProxyConfig &proxy, std::string_view host, uint16_t port,
                              std::span<char> buffer);

struct ConnectAnswer {
  enum class Kind : uint8_t {
    Incomplete, // read more
    Tunnel,     // a 2xx: the tunnel is open after `consumed` bytes
    Refused,    // another final status: `status`
    Invalid,    // not an HTTP answer, or too long: `reason`
  };
  Kind kind = Kind::Incomplete;
  uint16_t status = 0;
  size_t consumed = 0;
  std::string_view reason; // static text
};

// Parses the proxy's answer at the start of `input` (1xx heads before it are skipped). Pure.
ConnectAnswer parse_connect_answer(std::span<const char> input);

// The error text for a refusal: the status and what it usually means, naming the proxy by its
// display URL (no password). 407: "the upstream proxy refused the credentials".
std::string describe_proxy_refusal(const ProxyConfig &proxy, std::string_view target,
                                   uint16_t status);

// Opens a tunnel to host:port through the proxy: resolves the proxy's name, connects, sends
// CONNECT and reads the answer, all within `timeout_ms`. Returns 0 with `*fd` the tunnel's
// socket (the caller owns it); kProxyRefused when the proxy answered with another status; any
// other -errno when the proxy could not be reached or did not answer properly (-ETIME on the
// timeout). On failure `*fd` is -1 and `error` is a log phrase without secrets. `proxy` and
// `host` must outlive the call (a coroutine: they are not copied).
core::Task<int> open_through_proxy(const ProxyConfig &proxy, std::string_view host, uint16_t port,
                                   uint32_t timeout_ms, int *fd, std::string *error);

// regcache_upstream_proxy_connects_total: one per worker, written by its thread only (relaxed
// load + store), read by the metrics thread.
struct ProxyConnectCounters {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> refused{0}; // the proxy answered, not with 2xx
  std::atomic<uint64_t> failed{0};  // the proxy unreachable, silent or not speaking HTTP
  // Counts one result of open_through_proxy.
  void count(int rc) {
    std::atomic<uint64_t> &counter = rc == 0 ? ok : rc == kProxyRefused ? refused : failed;
    counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

} // namespace regcache::http
