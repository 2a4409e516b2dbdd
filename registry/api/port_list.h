#pragma once
// The ports a CONNECT tunnel may reach (--tunnel-ports): squid's SSL_ports, written as ports and
// ranges separated by commas ("443,5000-5999"), or "any". Pure: parsing and the membership test.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace regcache::registry {

struct PortList {
  // A bound on what an operator writes, so a lookup stays a short scan.
  static constexpr size_t kRangesMax = 64;

  bool given = false; // false: the default (443 and the configured upstreams' ports)
  bool any = false;
  std::vector<std::pair<uint16_t, uint16_t>> ranges; // inclusive [first, last], first <= last

  bool contains(uint16_t port) const;
  friend bool operator==(const PortList &, const PortList &) = default;
};

// "any", or ports (1-65535) and ranges "A-B" (A <= B) separated by commas, spaces around the
// parts allowed. Nullopt with `problem` set (a phrase quoting the bad part) otherwise.
std::optional<PortList> parse_port_list(std::string_view text, std::string *problem);

} // namespace regcache::registry
