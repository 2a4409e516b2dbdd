#pragma once
// How log lines look: regcache's plain lines, or one JSON object per line for log shippers
// (--log-format json), and whether plain lines carry a timestamp (they do when written to a
// --log-file; journald and container runtimes stamp stderr themselves). Chosen once by main()
// before any thread starts and read-only afterwards, so every thread reads it without a lock.
#include <cstdint>
#include <ctime>
#include <span>
#include <string_view>

namespace regcache::core {

enum class LogFormat : uint8_t { Text, Json };

struct LogStyle {
  LogFormat format = LogFormat::Text;
  bool timestamps = false; // plain lines only: JSON records always carry "time"
};

void set_log_style(LogStyle style); // before any thread that logs starts
const LogStyle &log_style();

// RFC 3339 UTC with milliseconds ("2026-12-02T06:50:01.123Z"): 24 characters.
inline constexpr size_t kLogTimeChars = 24;
std::string_view format_log_time(std::span<char, kLogTimeChars> out, timespec when);
timespec log_clock_now(); // CLOCK_REALTIME

// `text` as the characters of a JSON string (no quotes), appended at out[at...]; returns the new
// end, cut at out's end without splitting an escape. Control characters, quotes and backslashes
// are escaped, and so is every byte >= 0x80 (as \u00XX): a request target is bytes, not UTF-8,
// and a shipper must never get invalid UTF-8.
size_t append_json_text(std::span<char> out, size_t at, std::string_view text);

// A daemon message (`text` has no "regcache: " prefix and no newline) as one line in the chosen
// style: "regcache: text\n", with a timestamp first when asked, or
// {"time":"...","msg":"text"}\n. Cut to out's size, always ending in '\n'.
std::string_view format_message_line(std::span<char> out, std::string_view text, timespec when);

// For the threads that are not workers (main, the evictor, the scrubber): the message formatted
// and written to stderr with one write(2), so lines from several threads never interleave.
void log_message(std::string_view text);

} // namespace regcache::core
