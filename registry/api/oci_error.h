#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace regcache::registry {

// The error codes of the OCI distribution spec ("Error Codes" table), plus TAG_INVALID (which
// distribution/distribution sends for malformed tags) and regcache's own UPSTREAM_UNAVAILABLE
// (sent with 502/504 when the upstream registry cannot be reached or does not answer in time).
enum class OciErrorCode : uint8_t {
  BlobUnknown,
  BlobUploadInvalid,
  BlobUploadUnknown,
  DigestInvalid,
  ManifestBlobUnknown,
  ManifestInvalid,
  ManifestUnknown,
  NameInvalid,
  NameUnknown,
  SizeInvalid,
  Unauthorized,
  Denied,
  Unsupported,
  TooManyRequests,
  TagInvalid,
  UpstreamUnavailable,
};
inline constexpr size_t kOciErrorCodeCount = 16;

// The code as it appears on the wire, e.g. "NAME_INVALID".
std::string_view code_name(OciErrorCode code);

// Writes {"errors":[{"code":"<CODE>","message":"<message>","detail":null}]} into `out` and
// returns the bytes written. The message is escaped as a JSON string (quotes, backslash and
// control characters; invalid UTF-8 becomes U+FFFD). When `out` is too small the message is cut
// at a character boundary, so the output is always a complete JSON document; when even an empty
// message does not fit, nothing is written and 0 is returned.
size_t format_oci_error(std::span<char> out, OciErrorCode code, std::string_view message);

// Appends `text` as a JSON string, quotes included, escaped as format_oci_error escapes the
// message (the control endpoints' JSON uses it too).
void append_json_string(std::string &out, std::string_view text);

// The exact number of bytes format_oci_error needs to write `message` untruncated.
size_t oci_error_bytes(OciErrorCode code, std::string_view message);

} // namespace regcache::registry
