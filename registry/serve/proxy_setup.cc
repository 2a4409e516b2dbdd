#include "registry/serve/proxy_setup.h"

#include <fmt/format.h>

#include <algorithm>

#include "tls/certificate_authority.h"

namespace regcache::registry {

bool is_plain_host_field(std::string_view host) {
  if (host.empty() || host.size() > 300)
    return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == ':' || c == '[' || c == ']';
  });
}

std::string systemd_setup_script(std::string_view proxy_url, std::string_view ca_pem) {
  // The CA travels inside the script (a here-document with a quoted delimiter: nothing in it
  // is expanded), so running the script fetches nothing. NO_PROXY keeps loopback direct: Go
  // clients never proxy it anyway, and other programs reading these variables must not either.
  return fmt::format(R"(#!/bin/sh
# Written by regcache: makes this host's Docker and containerd pull through regcache at {0}
# (HTTPS_PROXY) and trust regcache's CA. Paths are below $REGCACHE_SETUP_ROOT (default /).
set -eu
ROOT="${{REGCACHE_SETUP_ROOT:-}}"
for unit in docker containerd; do
  mkdir -p "$ROOT/etc/systemd/system/$unit.service.d"
  cat > "$ROOT/etc/systemd/system/$unit.service.d/http-proxy.conf" <<'REGCACHE_UNIT'
[Service]
Environment="HTTPS_PROXY={0}" "NO_PROXY=localhost,127.0.0.1,::1"
REGCACHE_UNIT
done
if [ -d "$ROOT/etc/pki/ca-trust/source/anchors" ]; then
  ca_file="$ROOT/etc/pki/ca-trust/source/anchors/regcache.crt"
  update_trust=update-ca-trust
else
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  ca_file="$ROOT/usr/local/share/ca-certificates/regcache.crt"
  update_trust=update-ca-certificates
fi
cat > "$ca_file" <<'REGCACHE_CA'
{1}REGCACHE_CA
"$update_trust"
systemctl daemon-reload
for unit in containerd docker; do
  if systemctl cat "$unit.service" >/dev/null 2>&1; then
    systemctl restart "$unit.service"
  fi
done
echo "regcache: docker and containerd now pull through {0}"
)",
                     proxy_url, ca_pem);
}

core::Task<bool> serve_proxy_setup_endpoint(ClientConnection &client,
                                            const http::RequestHead &request) {
  if (request.path != "/ca.crt" && request.path != "/setup/systemd")
    co_return false;
  const tls::CertificateAuthority *ca = client.worker().proxy_ca;
  if (ca == nullptr || !client.generation().config.proxy_mode) {
    co_await client.send_simple(404, "text/plain; charset=utf-8",
                                "not found: proxy mode is off (--no-proxy-mode)\n");
    co_return true;
  }
  if (request.path == "/ca.crt") {
    co_await client.send_simple(200, "application/x-pem-file", ca->certificate_pem());
    co_return true;
  }
  if (!is_plain_host_field(request.host)) {
    // The proxy's address in the script is the one this client reached regcache by; anything
    // else than a plain host would be shell syntax in a script run as root.
    co_await client.send_simple(400, "text/plain; charset=utf-8",
                                "regcache: the Host header must be a plain host[:port]\n");
    co_return true;
  }
  const std::string proxy_url = "http://" + std::string(request.host);
  const std::string script = systemd_setup_script(proxy_url, ca->certificate_pem());
  co_await client.send_simple(200, "text/x-shellscript; charset=utf-8", script);
  co_return true;
}

} // namespace regcache::registry
