#include "registry/api/oci_error.h"

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <string>
#include <vector>

namespace regcache::registry {
namespace {

std::string format(OciErrorCode code, std::string_view message, size_t out_bytes = 4096) {
  std::vector<char> out(out_bytes);
  const size_t written = format_oci_error(out, code, message);
  EXPECT_LE(written, out_bytes);
  return std::string(out.data(), written);
}

std::string document(std::string_view code, std::string_view json_message) {
  return std::string(R"({"errors":[{"code":")") + std::string(code) + R"(","message":")" +
         std::string(json_message) + R"(","detail":null}]})";
}

// Checks JSON string content (RFC 8259 section 7) that must also be well-formed UTF-8.
bool is_valid_json_string_content(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '"' || byte < 0x20)
      return false;
    if (byte == '\\') {
      if (i + 1 >= text.size())
        return false;
      const char escaped = text[i + 1];
      if (escaped == 'u') {
        if (i + 6 > text.size())
          return false;
        for (size_t k = i + 2; k < i + 6; ++k) {
          if (!std::isxdigit(static_cast<unsigned char>(text[k])))
            return false;
        }
        i += 6;
      } else if (std::string_view("\"\\/bfnrt").find(escaped) != std::string_view::npos) {
        i += 2;
      } else {
        return false;
      }
      continue;
    }
    size_t length = 1;
    if (byte >= 0xF0) {
      length = 4;
    } else if (byte >= 0xE0) {
      length = 3;
    } else if (byte >= 0xC0) {
      length = 2;
    } else if (byte >= 0x80) {
      return false;
    }
    if (i + length > text.size())
      return false;
    for (size_t k = i + 1; k < i + length; ++k) {
      if ((static_cast<unsigned char>(text[k]) & 0xC0) != 0x80)
        return false;
    }
    i += length;
  }
  return true;
}

void expect_complete_document(std::string_view output, std::string_view code) {
  const std::string head =
      std::string(R"({"errors":[{"code":")") + std::string(code) + R"(","message":")";
  const std::string_view tail = R"(","detail":null}]})";
  ASSERT_TRUE(output.starts_with(head)) << output;
  ASSERT_TRUE(output.ends_with(tail)) << output;
  ASSERT_GE(output.size(), head.size() + tail.size());
  const std::string_view content =
      output.substr(head.size(), output.size() - head.size() - tail.size());
  EXPECT_TRUE(is_valid_json_string_content(content)) << output;
}

TEST(OciErrorTest, CodeNamesMatchTheSpecSpelling) {
  const std::array<std::pair<OciErrorCode, std::string_view>, kOciErrorCodeCount> expected = {{
      {OciErrorCode::BlobUnknown, "BLOB_UNKNOWN"},
      {OciErrorCode::BlobUploadInvalid, "BLOB_UPLOAD_INVALID"},
      {OciErrorCode::BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN"},
      {OciErrorCode::DigestInvalid, "DIGEST_INVALID"},
      {OciErrorCode::ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN"},
      {OciErrorCode::ManifestInvalid, "MANIFEST_INVALID"},
      {OciErrorCode::ManifestUnknown, "MANIFEST_UNKNOWN"},
      {OciErrorCode::NameInvalid, "NAME_INVALID"},
      {OciErrorCode::NameUnknown, "NAME_UNKNOWN"},
      {OciErrorCode::SizeInvalid, "SIZE_INVALID"},
      {OciErrorCode::Unauthorized, "UNAUTHORIZED"},
      {OciErrorCode::Denied, "DENIED"},
      {OciErrorCode::Unsupported, "UNSUPPORTED"},
      {OciErrorCode::TooManyRequests, "TOOMANYREQUESTS"},
      {OciErrorCode::TagInvalid, "TAG_INVALID"},
      {OciErrorCode::UpstreamUnavailable, "UPSTREAM_UNAVAILABLE"},
  }};
  for (const auto &[code, name] : expected)
    EXPECT_EQ(code_name(code), name);
}

TEST(OciErrorTest, FormatsDocumentWithCodeMessageAndNullDetail) {
  EXPECT_EQ(format(OciErrorCode::NameInvalid, "invalid repository name"),
            document("NAME_INVALID", "invalid repository name"));
}

TEST(OciErrorTest, FormatsEmptyMessage) {
  EXPECT_EQ(format(OciErrorCode::Denied, ""), document("DENIED", ""));
}

TEST(OciErrorTest, EscapesQuotesAndBackslashes) {
  EXPECT_EQ(format(OciErrorCode::TagInvalid, R"(tag "a\b")"),
            document("TAG_INVALID", R"(tag \"a\\b\")"));
}

TEST(OciErrorTest, EscapesControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(format(OciErrorCode::NameInvalid, std::string_view("a\n\t\x01\x1f\0b", 7)),
            document("NAME_INVALID", R"(a\u000a\u0009\u0001\u001f\u0000b)"));
}

TEST(OciErrorTest, KeepsDeleteAndSlashLiteral) {
  EXPECT_EQ(format(OciErrorCode::NameInvalid, "a/b\x7f"), document("NAME_INVALID", "a/b\x7f"));
}

TEST(OciErrorTest, KeepsWellFormedUtf8) {
  const std::string_view message = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80";
  EXPECT_EQ(format(OciErrorCode::NameInvalid, message), document("NAME_INVALID", message));
}

TEST(OciErrorTest, ReplacesMalformedUtf8WithReplacementCharacter) {
  const std::array<std::pair<std::string_view, std::string_view>, 6> cases = {{
      {"\xff", R"(\ufffd)"},
      {"\xc0\xaf", R"(\ufffd\ufffd)"},                     // overlong '/'
      {"\xed\xa0\x80", R"(\ufffd\ufffd\ufffd)"},           // UTF-16 surrogate
      {"\xe2\x82", R"(\ufffd\ufffd)"},                     // cut short
      {"\xf4\x90\x80\x80", R"(\ufffd\ufffd\ufffd\ufffd)"}, // above U+10FFFF
      {"a\x80z", R"(a\ufffdz)"},                           // stray continuation byte
  }};
  for (const auto &[input, escaped] : cases) {
    EXPECT_EQ(format(OciErrorCode::NameInvalid, input), document("NAME_INVALID", escaped));
  }
}

TEST(OciErrorTest, BytesNeededMatchesBytesWritten) {
  const std::string_view message = "a\"b\\c\n\xc3\xa9\xff";
  const size_t needed = oci_error_bytes(OciErrorCode::BlobUnknown, message);
  EXPECT_EQ(format(OciErrorCode::BlobUnknown, message, needed).size(), needed);
  EXPECT_EQ(format(OciErrorCode::BlobUnknown, message, needed),
            format(OciErrorCode::BlobUnknown, message));
}

TEST(OciErrorTest, WritesNothingWhenEvenAnEmptyMessageDoesNotFit) {
  const size_t skeleton_bytes = oci_error_bytes(OciErrorCode::NameInvalid, "");
  std::vector<char> out(skeleton_bytes - 1, 'x');
  EXPECT_EQ(format_oci_error(out, OciErrorCode::NameInvalid, "message"), 0u);
}

TEST(OciErrorTest, TruncatedOutputIsAlwaysACompleteDocument) {
  const std::string_view message = "quote\" back\\ nl\n caf\xc3\xa9 \xf0\x9f\x98\x80 bad\xff end";
  const size_t skeleton_bytes = oci_error_bytes(OciErrorCode::ManifestUnknown, "");
  const size_t full_bytes = oci_error_bytes(OciErrorCode::ManifestUnknown, message);
  for (size_t out_bytes = skeleton_bytes; out_bytes <= full_bytes; ++out_bytes) {
    const std::string output = format(OciErrorCode::ManifestUnknown, message, out_bytes);
    SCOPED_TRACE("out_bytes " + std::to_string(out_bytes));
    EXPECT_LE(output.size(), out_bytes);
    expect_complete_document(output, "MANIFEST_UNKNOWN");
  }
}

TEST(OciErrorTest, TruncationDoesNotSplitAnEscapeSequence) {
  const size_t skeleton_bytes = oci_error_bytes(OciErrorCode::NameInvalid, "");
  // Room for "a" and five of the six bytes of "\u000a".
  EXPECT_EQ(format(OciErrorCode::NameInvalid, "a\nb", skeleton_bytes + 6),
            document("NAME_INVALID", "a"));
}

TEST(OciErrorTest, TruncationDoesNotSplitAMultibyteCharacter) {
  const size_t skeleton_bytes = oci_error_bytes(OciErrorCode::NameInvalid, "");
  // Room for "a" and three of the four bytes of the emoji.
  EXPECT_EQ(format(OciErrorCode::NameInvalid, "a\xf0\x9f\x98\x80", skeleton_bytes + 4),
            document("NAME_INVALID", "a"));
}

TEST(OciErrorTest, NeverWritesPastTheOutputSpan) {
  std::vector<char> storage(200, '#');
  const std::span<char> out(storage.data(), 100);
  const size_t written = format_oci_error(out, OciErrorCode::NameInvalid, std::string(500, '"'));
  EXPECT_LE(written, 100u);
  for (size_t i = 100; i < storage.size(); ++i)
    ASSERT_EQ(storage[i], '#') << "byte " << i;
}

} // namespace
} // namespace regcache::registry
