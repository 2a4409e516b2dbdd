#pragma once
// NO_PROXY: which upstream hosts are reached directly rather than through the upstream proxy.
// The usual meaning (curl's and Go's, where they agree): entries separated by commas; `*` alone
// matches every host; a host name matches itself and its subdomains, with or without a leading
// '.' (".corp.example" and "corp.example" both match "corp.example" and "a.corp.example"); an
// IP literal matches that address; a CIDR block matches the IP literals inside it. Ports in
// entries are ignored. Names are compared, never resolved: a CIDR entry does not match a host
// name that would resolve into it (neither curl nor Go resolve for NO_PROXY either).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace regcache::http {

class NoProxyList {
public:
  // Entries past this many are refused: the list is scanned on every new upstream connection.
  static constexpr size_t kEntriesMax = 256;

  // nullopt on an entry that is none of the forms above (a CIDR with a bad prefix length, a
  // name with a space); `problem` then names it. Empty entries are skipped.
  static std::optional<NoProxyList> parse(std::string_view text, std::string *problem);

  // `host` as an Endpoint holds it: a DNS name, an IPv4 literal or an [IPv6] literal.
  bool matches(std::string_view host) const;
  bool empty() const { return !all_ && names_.empty() && blocks_.empty(); }
  const std::string &text() const { return text_; }

private:
  struct Block {
    std::array<uint8_t, 16> address{}; // IPv4 in the first 4 bytes
    bool v6 = false;
    uint8_t prefix_bits = 0;
  };
  static bool block_contains(const Block &block, const Block &address);

  std::string text_;
  bool all_ = false;
  std::vector<std::string> names_; // lowercase, without a leading '.' or trailing '.'
  std::vector<Block> blocks_;      // IP literals are blocks of the full length
};

} // namespace regcache::http
