#include "registry/api/port_list.h"

#include <algorithm>

#include "core/socket_address.h"

namespace regcache::registry {
namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

} // namespace

bool PortList::contains(uint16_t port) const {
  if (any)
    return true;
  return std::any_of(ranges.begin(), ranges.end(), [port](const auto &range) {
    return range.first <= port && port <= range.second;
  });
}

std::optional<PortList> parse_port_list(std::string_view text, std::string *problem) {
  PortList list;
  list.given = true;
  if (trimmed(text) == "any") {
    list.any = true;
    return list;
  }
  // Bounded by the text: every round consumes one part and its comma.
  while (true) {
    const size_t comma = text.find(',');
    const std::string_view part = trimmed(text.substr(0, comma));
    const size_t dash = part.find('-');
    std::optional<uint16_t> first = core::parse_port_number(trimmed(part.substr(0, dash)));
    std::optional<uint16_t> last = dash == std::string_view::npos
                                       ? first
                                       : core::parse_port_number(trimmed(part.substr(dash + 1)));
    if (!first || !last || *first > *last) {
      *problem = "expected any, or ports (1-65535) and ranges A-B separated by commas, got '" +
                 std::string(part) + "'";
      return std::nullopt;
    }
    if (list.ranges.size() >= PortList::kRangesMax) {
      *problem = "more than " + std::to_string(PortList::kRangesMax) + " ports and ranges";
      return std::nullopt;
    }
    list.ranges.emplace_back(*first, *last);
    if (comma == std::string_view::npos)
      return list;
    text.remove_prefix(comma + 1);
  }
}

} // namespace regcache::registry
