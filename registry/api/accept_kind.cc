#include "registry/api/accept_kind.h"

#include <cassert>

#include "http/message_head.h"

namespace regcache::registry {

namespace {

// Splits off the text up to the first `delimiter` outside a quoted-string (RFC 9110 section
// 5.6.4: a parameter value may be quoted and hold commas and semicolons).
std::string_view take_until_unquoted(std::string_view &rest, char delimiter) {
  bool in_quotes = false;
  for (size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (in_quotes && c == '\\') {
      ++i; // quoted-pair: the next byte is literal
    } else if (c == '"') {
      in_quotes = !in_quotes;
    } else if (c == delimiter && !in_quotes) {
      const std::string_view taken = rest.substr(0, i);
      rest.remove_prefix(i + 1);
      return taken;
    }
  }
  const std::string_view taken = rest;
  rest = {};
  return taken;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )  (RFC 9110 section 12.4.2).
// Only a well-formed zero excludes: a malformed weight is ignored rather than guessed at.
bool is_zero_qvalue(std::string_view value) {
  if (value.empty() || value[0] != '0')
    return false;
  if (value.size() == 1)
    return true;
  if (value[1] != '.' || value.size() > 5)
    return false;
  return value.find_first_not_of('0', 2) == std::string_view::npos;
}

// Parameters after the media range: "; q=0.5; foo=bar".
bool has_zero_weight(std::string_view parameters) {
  while (!parameters.empty()) { // bounded: each round removes one parameter
    const std::string_view parameter = take_until_unquoted(parameters, ';');
    const size_t equals = parameter.find('=');
    if (equals == std::string_view::npos)
      continue;
    if (http::iequals(http::trim_ows(parameter.substr(0, equals)), "q")) {
      return is_zero_qvalue(http::trim_ows(parameter.substr(equals + 1)));
    }
  }
  return false;
}

uint8_t media_range_bit(std::string_view media_range) {
  if (media_range == "*/*" || http::iequals(media_range, "application/*")) {
    return kAcceptAnyBit;
  }
  const std::optional<ManifestKind> kind = manifest_kind(media_range);
  return kind ? accept_bit(*kind) : 0;
}

constexpr std::array<char, kManifestKindCount + 1> kMaskLetters = {'d', 'l', 'o', 'i',
                                                                   'p', 'j', 'a'};
constexpr size_t kMaskCount = kAcceptMaskAll + 1;
constexpr size_t kMaskKeyBytesMax = kManifestKindCount + 1;

struct MaskKeyTable {
  std::array<std::array<char, kMaskKeyBytesMax>, kMaskCount> keys;
  std::array<uint8_t, kMaskCount> key_bytes;
};

constexpr MaskKeyTable make_mask_key_table() {
  MaskKeyTable table{};
  for (size_t mask = 0; mask < kMaskCount; ++mask) {
    uint8_t length = 0;
    for (size_t bit = 0; bit < kMaskLetters.size(); ++bit) {
      if ((mask >> bit) & 1u)
        table.keys[mask][length++] = kMaskLetters[bit];
    }
    table.key_bytes[mask] = length;
  }
  return table;
}

constexpr MaskKeyTable kMaskKeyTable = make_mask_key_table();

} // namespace

std::optional<ManifestKind> manifest_kind(std::string_view media_type) {
  const std::string_view essence = http::trim_ows(media_type.substr(0, media_type.find(';')));
  for (size_t kind = 0; kind < kManifestMediaTypes.size(); ++kind) {
    if (http::iequals(essence, kManifestMediaTypes[kind])) {
      return static_cast<ManifestKind>(kind);
    }
  }
  return std::nullopt;
}

uint8_t accept_mask(std::string_view accept_header_value) {
  uint8_t mask = 0;
  std::string_view rest = accept_header_value;
  while (!rest.empty()) { // bounded: each round removes one element
    std::string_view element = take_until_unquoted(rest, ',');
    const std::string_view media_range = http::trim_ows(take_until_unquoted(element, ';'));
    if (media_range.empty() || has_zero_weight(element))
      continue;
    mask |= media_range_bit(media_range);
  }
  assert(mask <= kAcceptMaskAll);
  return mask;
}

bool mask_accepts(uint8_t mask, std::string_view media_type) {
  if (mask & kAcceptAnyBit)
    return true;
  const std::optional<ManifestKind> kind = manifest_kind(media_type);
  return kind && (mask & accept_bit(*kind)) != 0;
}

bool stored_answer_serves(uint8_t stored_mask, std::string_view media_type, uint8_t client_mask) {
  if (stored_mask == client_mask)
    return true;
  // Only a client that names the type: distribution answers `*/*` alone with a schema1
  // conversion or a 404, never with the tag's own OCI or schema2 manifest.
  const std::optional<ManifestKind> kind = manifest_kind(media_type);
  if (!kind || (client_mask & accept_bit(*kind)) == 0)
    return false;
  if ((client_mask & ~stored_mask) == 0)
    return true; // the same rules over fewer choices give the same answer
  if (kind == ManifestKind::DockerManifestList || kind == ManifestKind::OciIndex)
    return true;
  constexpr uint8_t kConversionSources =
      accept_bit(ManifestKind::DockerManifestV2) | accept_bit(ManifestKind::DockerManifestList) |
      accept_bit(ManifestKind::OciManifest) | accept_bit(ManifestKind::OciIndex);
  return (stored_mask & kConversionSources) == kConversionSources;
}

std::string_view mask_key(uint8_t mask) {
  assert(mask <= kAcceptMaskAll);
  if (mask > kAcceptMaskAll)
    mask &= kAcceptMaskAll; // unknown bits: keep the key filename-safe
  if (mask == 0)
    return "none";
  return {kMaskKeyTable.keys[mask].data(), kMaskKeyTable.key_bytes[mask]};
}

} // namespace regcache::registry
