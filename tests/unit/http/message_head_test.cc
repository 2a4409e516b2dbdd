#include "http/message_head.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/unit/http/guarded_input.h"

namespace regcache::http {
namespace {

std::span<const char> bytes(std::string_view text) {
  return {text.data(), text.size()};
}

TEST(FindHeadEnd, ReturnsOffsetPastTheFirstCrlfCrlf) {
  EXPECT_EQ(find_head_end(bytes("GET / HTTP/1.1\r\n\r\nbody\r\n\r\n"), 0), 18u);
}

TEST(FindHeadEnd, ReturnsZeroWhenTheHeadHasNotEnded) {
  EXPECT_EQ(find_head_end(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0), 0u);
  EXPECT_EQ(find_head_end(bytes(""), 0), 0u);
  EXPECT_EQ(find_head_end(bytes("\r\n\r"), 0), 0u);
}

TEST(FindHeadEnd, FindsATerminatorSplitAcrossTheResumePoint) {
  const std::string_view input = "GET / HTTP/1.1\r\n\r\n";
  // The caller had scanned `seen` bytes without finding it, so it ends after them.
  for (size_t seen = 0; seen < input.size(); ++seen) {
    SCOPED_TRACE(seen);
    EXPECT_EQ(find_head_end(bytes(input), seen), input.size());
  }
}

TEST(FindHeadEnd, DoesNotRescanBytesBeforeTheResumePoint) {
  // A terminator wholly before scan_from - 3 was already reported; it is not looked at again.
  EXPECT_EQ(find_head_end(bytes("\r\n\r\nabcdef"), 10), 0u);
}

TEST(FindHeadEnd, ToleratesResumePointBeyondTheInput) {
  EXPECT_EQ(find_head_end(bytes("ab"), 100), 0u);
}

TEST(FindHeadEnd, NeverReadsPastTheInput) {
  testing::GuardedInput guarded(64);
  const std::string_view input = "GET / HTTP/1.1\r\nHost: a\r\n\r";
  for (size_t size = 0; size <= input.size(); ++size)
    EXPECT_EQ(find_head_end(guarded.place(input.substr(0, size)), 0), 0u);
}

TEST(Iequals, ComparesAsciiCaseInsensitively) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("Host", "Hosts"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("\xc3\xa9", "\xc3\x89")); // no locale, no UTF-8 case folding
}

TEST(HeaderValueHasToken, FindsTokenInCommaListIgnoringCaseAndWhitespace) {
  EXPECT_TRUE(header_value_has_token("Upgrade, Keep-Alive", "keep-alive"));
  EXPECT_TRUE(header_value_has_token(" close ", "close"));
  EXPECT_TRUE(header_value_has_token("a,\tclose\t,b", "close"));
}

TEST(HeaderValueHasToken, DoesNotMatchPartsOfElements) {
  EXPECT_FALSE(header_value_has_token("keep-alive-x", "keep-alive"));
  EXPECT_FALSE(header_value_has_token("closed, xclose", "close"));
  EXPECT_FALSE(header_value_has_token("", "close"));
}

} // namespace
} // namespace regcache::http
