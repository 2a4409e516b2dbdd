#include "registry/api/upstream_proxy_url.h"

#include "http/message_head.h"
#include "registry/api/base64.h"
#include "registry/api/upstream_url.h"

namespace regcache::registry {
namespace {

constexpr std::string_view kHttp = "http://";

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && http::iequals(text.substr(0, prefix.size()), prefix);
}

// Where the authority of `text` (after "scheme://") ends: the first '/', '?' or '#'.
size_t authority_end(std::string_view after_scheme) {
  const size_t end = after_scheme.find_first_of("/?#");
  return end == std::string_view::npos ? after_scheme.size() : end;
}

// RFC 3986 section 2.1; nullopt on a '%' not followed by two hex digits.
std::optional<std::string> percent_decoded(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 2 >= text.size())
      return std::nullopt;
    const int high = http::hex_digit_value(text[i + 1]);
    const int low = http::hex_digit_value(text[i + 2]);
    if (high < 0 || low < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

} // namespace

std::string masked_proxy_url(std::string_view text) {
  // The last '@' anywhere: a password with an unescaped '/' or '?' must be masked too, and
  // masking too much is harmless here.
  const size_t scheme_end = text.find("://");
  const size_t userinfo_begin = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos || at < userinfo_begin)
    return std::string(text);
  const size_t colon = text.find(':', userinfo_begin);
  if (colon == std::string_view::npos || colon > at)
    return std::string(text);
  std::string masked(text.substr(0, colon + 1));
  masked += "***";
  masked += text.substr(at);
  return masked;
}

std::optional<http::ProxyConfig> parse_upstream_proxy_url(std::string_view text,
                                                          std::string *problem) {
  const std::string shown = "'" + masked_proxy_url(text) + "'";
  if (starts_with_ignoring_case(text, "https://")) {
    *problem = "https:// proxies (TLS to the proxy) are not supported, got " + shown +
               "; use the proxy's http:// port (the upstream's TLS runs inside the tunnel)";
    return std::nullopt;
  }
  if (!starts_with_ignoring_case(text, kHttp)) {
    *problem = "expected http://[user:password@]host[:port], got " + shown;
    return std::nullopt;
  }
  std::string_view rest = text.substr(kHttp.size());
  // Userinfo ends at the last '@', as in masked_proxy_url (a password may hold a raw '/').
  const size_t at = rest.rfind('@');
  const std::string_view userinfo =
      at == std::string_view::npos ? std::string_view() : rest.substr(0, at);
  if (at != std::string_view::npos)
    rest.remove_prefix(at + 1);
  const size_t end = authority_end(rest);
  const std::string_view authority = rest.substr(0, end);
  const std::string_view after = rest.substr(end);
  if (!after.empty() && after != "/") {
    *problem = "expected no path, query or fragment in the proxy URL " + shown;
    return std::nullopt;
  }
  http::ProxyConfig proxy;
  std::string user;
  if (at != std::string_view::npos) {
    const size_t colon = userinfo.find(':');
    std::optional<std::string> decoded_user = percent_decoded(userinfo.substr(0, colon));
    std::optional<std::string> password =
        percent_decoded(colon == std::string_view::npos ? "" : userinfo.substr(colon + 1));
    if (!decoded_user || !password || decoded_user->empty()) {
      *problem = "the proxy URL's user or password is empty or has a bad %-escape in " + shown;
      return std::nullopt;
    }
    // RFC 7617 section 2: the user-id may not contain ':'.
    if (decoded_user->find(':') != std::string::npos) {
      *problem = "the proxy URL's user may not contain ':' in " + shown;
      return std::nullopt;
    }
    proxy.authorization = "Basic " + base64_encode(*decoded_user + ":" + *password);
    user = std::string(userinfo.substr(0, colon));
  }
  std::string host_problem;
  std::optional<UpstreamUrl> url =
      parse_upstream_url(std::string(kHttp) + std::string(authority), &host_problem);
  if (!url) {
    *problem = "bad proxy URL " + shown + ": " + host_problem;
    return std::nullopt;
  }
  proxy.host = url->host;
  proxy.port = url->port;
  proxy.display = std::string(kHttp);
  if (!user.empty())
    proxy.display += user + (proxy.authorization.empty() ? "" : ":***") + "@";
  proxy.display += url->authority();
  if (url->port == kHttpDefaultPort)
    proxy.display += ":80"; // the port is shown even when it is the default
  return proxy;
}

} // namespace regcache::registry
