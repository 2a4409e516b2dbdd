#include "core/log_style.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace regcache::core {
namespace {

// 2026-12-02T06:50:01.123Z
constexpr timespec kWhen{1796194201, 123'456'789};

// Restores the process's style after each test: it is process-wide.
class LogStyleTest : public ::testing::Test {
protected:
  void TearDown() override { set_log_style({}); }
};

std::string json_text(std::string_view text, size_t room = 256) {
  std::string out(room, '\0');
  size_t end = append_json_text(std::span<char>(out.data(), out.size()), 0, text);
  out.resize(end);
  return out;
}

TEST_F(LogStyleTest, FormatsTheTimeAsRfc3339UtcWithMilliseconds) {
  std::array<char, kLogTimeChars> out;
  EXPECT_EQ(format_log_time(out, kWhen), "2026-12-02T06:50:01.123Z");
  EXPECT_EQ(format_log_time(out, timespec{0, 0}), "1970-01-01T00:00:00.000Z");
}

TEST_F(LogStyleTest, EscapesQuotesBackslashesAndControlCharactersInJsonText) {
  EXPECT_EQ(json_text("a\"b\\c"), "a\\\"b\\\\c");
  EXPECT_EQ(json_text("line\nnext\ttab"), "line\\nnext\\ttab");
  EXPECT_EQ(json_text(std::string_view("\x01\x1f\x7f", 3)), "\\u0001\\u001f\\u007f");
}

TEST_F(LogStyleTest, EscapesEveryByteAbove0x7fSoTheRecordIsAlwaysValidUtf8) {
  EXPECT_EQ(json_text("\xff\xc3("), "\\u00ff\\u00c3(");
}

TEST_F(LogStyleTest, CutsJsonTextBetweenCharactersNeverInsideAnEscape) {
  // Room for "ab" and 3 of the 6 characters of \u0001: the escape is left out whole.
  EXPECT_EQ(json_text("ab\x01z", 5), "ab");
  EXPECT_EQ(json_text("ab\"", 3), "ab");
}

TEST_F(LogStyleTest, PlainMessagesAreRegcachesLineWithoutATimestampByDefault) {
  std::array<char, 256> out;
  EXPECT_EQ(format_message_line(out, "index: 3 blobs", kWhen), "regcache: index: 3 blobs\n");
}

TEST_F(LogStyleTest, PlainMessagesStartWithTheTimeWhenTimestampsAreOn) {
  set_log_style({.format = LogFormat::Text, .timestamps = true});
  std::array<char, 256> out;
  EXPECT_EQ(format_message_line(out, "ready", kWhen), "2026-12-02T06:50:01.123Z regcache: ready\n");
}

TEST_F(LogStyleTest, JsonMessagesAreOneObjectWithTimeAndEscapedMessage) {
  set_log_style({.format = LogFormat::Json});
  std::array<char, 256> out;
  EXPECT_EQ(format_message_line(out, "bad \"x\"", kWhen),
            "{\"time\":\"2026-12-02T06:50:01.123Z\",\"msg\":\"bad \\\"x\\\"\"}\n");
}

TEST_F(LogStyleTest, ACutJsonMessageIsStillAClosedObjectEndingInANewline) {
  set_log_style({.format = LogFormat::Json});
  std::array<char, 80> out;
  std::string_view line = format_message_line(out, std::string(500, 'x'), kWhen);
  EXPECT_EQ(line.size(), out.size());
  EXPECT_EQ(line.substr(line.size() - 3), "\"}\n");
  EXPECT_EQ(line.substr(0, 9), "{\"time\":\"");
}

TEST_F(LogStyleTest, ACutPlainMessageStillEndsInANewline) {
  std::array<char, 64> out;
  std::string_view line = format_message_line(out, std::string(500, 'y'), kWhen);
  EXPECT_EQ(line.size(), out.size());
  EXPECT_EQ(line.back(), '\n');
}

} // namespace
} // namespace regcache::core
