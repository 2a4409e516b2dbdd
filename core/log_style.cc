#include "core/log_style.h"

#include <unistd.h>

#include <array>
#include <cassert>
#include <cstring>

namespace regcache::core {
namespace {

LogStyle g_style; // written by set_log_style before threads start; read-only after

size_t append_raw(std::span<char> out, size_t at, std::string_view text) {
  size_t room = at < out.size() ? out.size() - at : 0;
  size_t take = text.size() < room ? text.size() : room;
  std::memcpy(out.data() + at, text.data(), take);
  return at + take;
}

} // namespace

void set_log_style(LogStyle style) {
  g_style = style;
}

const LogStyle &log_style() {
  return g_style;
}

timespec log_clock_now() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return now;
}

std::string_view format_log_time(std::span<char, kLogTimeChars> out, timespec when) {
  tm parts{};
  gmtime_r(&when.tv_sec, &parts);
  // Digits written by hand: fixed width, no locale, and nothing the compiler must prove fits.
  auto digits = [&](size_t at, unsigned value, size_t width) {
    for (size_t i = width; i > 0; --i) {
      out[at + i - 1] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  std::memcpy(out.data(), "0000-00-00T00:00:00.000Z", kLogTimeChars);
  digits(0, static_cast<unsigned>(parts.tm_year + 1900) % 10000, 4);
  digits(5, static_cast<unsigned>(parts.tm_mon + 1), 2);
  digits(8, static_cast<unsigned>(parts.tm_mday), 2);
  digits(11, static_cast<unsigned>(parts.tm_hour), 2);
  digits(14, static_cast<unsigned>(parts.tm_min), 2);
  digits(17, static_cast<unsigned>(parts.tm_sec), 2);
  digits(20, static_cast<unsigned>(when.tv_nsec / 1'000'000), 3);
  return std::string_view(out.data(), kLogTimeChars);
}

size_t append_json_text(std::span<char> out, size_t at, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    std::array<char, 6> escape;
    size_t length = 0;
    if (c == '"' || c == '\\') {
      escape = {'\\', c};
      length = 2;
    } else if (c == '\n') {
      escape = {'\\', 'n'};
      length = 2;
    } else if (c == '\t') {
      escape = {'\\', 't'};
      length = 2;
    } else if (byte < 0x20 || byte >= 0x7f) {
      escape = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xf]};
      length = 6;
    } else {
      escape[0] = c;
      length = 1;
    }
    if (at + length > out.size())
      break; // cut between characters, never inside an escape
    std::memcpy(out.data() + at, escape.data(), length);
    at += length;
  }
  return at;
}

std::string_view format_message_line(std::span<char> out, std::string_view text, timespec when) {
  assert(out.size() > kLogTimeChars + 32);
  std::span<char> body = out.first(out.size() - 1); // room for the '\n' is kept
  std::array<char, kLogTimeChars> time_text;
  size_t at = 0;
  if (g_style.format == LogFormat::Json) {
    at = append_raw(body, at, "{\"time\":\"");
    at = append_raw(body, at, format_log_time(time_text, when));
    at = append_raw(body, at, "\",\"msg\":\"");
    // The closing "} is kept room for, so a cut message is still a JSON object.
    at = append_json_text(body.first(body.size() - 2), at, text);
    at = append_raw(body, at, "\"}");
  } else {
    if (g_style.timestamps) {
      at = append_raw(body, at, format_log_time(time_text, when));
      at = append_raw(body, at, " ");
    }
    at = append_raw(body, at, "regcache: ");
    at = append_raw(body, at, text);
  }
  out[at] = '\n';
  return std::string_view(out.data(), at + 1);
}

void log_message(std::string_view text) {
  std::array<char, 2048> line;
  std::string_view formatted = format_message_line(line, text, log_clock_now());
  size_t offset = 0;
  while (offset < formatted.size()) { // bounded: each turn writes > 0 bytes or gives up
    ssize_t written = ::write(STDERR_FILENO, formatted.data() + offset, formatted.size() - offset);
    if (written <= 0)
      break;
    offset += static_cast<size_t>(written);
  }
}

} // namespace regcache::core
