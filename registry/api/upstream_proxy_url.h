#pragma once
// --upstream-proxy's URL: http://[user[:password]@]host[:port][/]. The password is a secret:
// nothing here puts it in an error text, and the parsed form shows the URL with *** instead.
#include <optional>
#include <string>
#include <string_view>

#include "http/proxy_connect.h"

namespace regcache::registry {

// The proxy's host, port, Proxy-Authorization value and display URL (no_proxy stays empty).
// The user and password may be percent-encoded (RFC 3986 section 3.2.1: '@', ':' and '%'
// must be). A port not given is 80, as Go's clients assume for an http:// proxy. https://
// proxies (TLS to the proxy itself) are refused, as is anything else than the form above.
// On failure `problem` is one line naming what is wrong, with the password masked.
std::optional<http::ProxyConfig> parse_upstream_proxy_url(std::string_view text,
                                                          std::string *problem);

// `text` with the password of its userinfo (between the first ':' after "//" and the last '@'
// before the host) replaced by ***; unchanged when there is none.
std::string masked_proxy_url(std::string_view text);

} // namespace regcache::registry
