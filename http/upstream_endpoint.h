#pragma once
// Where an upstream request goes: scheme, host, port, and the Host header value.
#include <cstdint>
#include <string>

namespace regcache::tls {
class ClientContext;
}

namespace regcache::http {

struct Endpoint {
  bool tls = true;
  std::string host; // DNS name, IPv4 literal or [IPv6] literal
  uint16_t port = 443;
  std::string authority; // Host header: host, or host:port when the port is not the default
  // The upstream's own trust settings (a CA file, --insecure for that upstream); null: the
  // pool's default context.
  const tls::ClientContext *tls_context = nullptr;
  // A host a client named rather than the operator: connect only when it resolves to a public
  // address (core::is_public_address), checked on the address actually connected to, so a DNS
  // answer that changes between checks cannot point regcache at its own network.
  bool public_only = false;

  // The connection pool key: two endpoints with the same key may share connections.
  std::string pool_key() const {
    return (public_only ? "public+" : "") + std::string(tls ? "https://" : "http://") + host + ":" +
           std::to_string(port);
  }
};

// Parses an absolute http(s) URL into the endpoint and the request target (path + query).
// Used for redirects (Location) and for token realms. Returns false for anything else.
bool parse_absolute_url(std::string_view url, Endpoint &endpoint, std::string &target);

} // namespace regcache::http
