#pragma once
// Formatting into a fixed buffer, for log lines and error messages: they are bounded in size,
// allocate nothing, and a message cut at the buffer's end is still worth reading.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace regcache::core {

// The formatted text, cut to the buffer's size; a view into `buffer`.
template <size_t N, typename... Args>
std::string_view format_bounded(std::array<char, N> &buffer, fmt::format_string<Args...> format,
                                Args &&...args) {
  static_assert(N > 0);
  auto result = fmt::format_to_n(buffer.data(), N, format, std::forward<Args>(args)...);
  return std::string_view(buffer.data(), std::min(result.size, N));
}

// The same for a line: always ends with '\n', also when cut.
template <size_t N, typename... Args>
std::string_view format_line_bounded(std::array<char, N> &buffer,
                                     fmt::format_string<Args...> format, Args &&...args) {
  static_assert(N > 1);
  auto result = fmt::format_to_n(buffer.data(), N - 1, format, std::forward<Args>(args)...);
  size_t size = std::min(result.size, N - 1);
  buffer[size] = '\n';
  return std::string_view(buffer.data(), size + 1);
}

} // namespace regcache::core
