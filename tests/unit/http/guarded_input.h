// Test support for the http/ parsers: input placed flush against an unreadable page, so any read
// past the end crashes (the picohttpparser test technique), and a driver that runs a parse whole,
// against the guard page, and on every prefix of the input.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "http/message_head.h"

namespace regcache::http::testing {

class GuardedInput {
public:
  explicit GuardedInput(size_t capacity_bytes) {
    page_bytes_ = size_t(sysconf(_SC_PAGESIZE));
    readable_bytes_ = (capacity_bytes / page_bytes_ + 1) * page_bytes_;
    void *mapping = mmap(nullptr, readable_bytes_ + page_bytes_, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
      std::abort();
    base_ = static_cast<char *>(mapping);
    if (mprotect(base_ + readable_bytes_, page_bytes_, PROT_NONE) != 0)
      std::abort();
  }
  ~GuardedInput() { munmap(base_, readable_bytes_ + page_bytes_); }
  GuardedInput(const GuardedInput &) = delete;
  GuardedInput &operator=(const GuardedInput &) = delete;

  // Copies `bytes` so that their last byte is the last readable one.
  std::span<const char> place(std::string_view bytes) {
    if (bytes.size() > readable_bytes_)
      std::abort();
    char *start = base_ + readable_bytes_ - bytes.size();
    if (!bytes.empty())
      std::memcpy(start, bytes.data(), bytes.size());
    return {start, bytes.size()};
  }

private:
  size_t page_bytes_ = 0;
  size_t readable_bytes_ = 0;
  char *base_ = nullptr;
};

inline bool view_is_inside(std::span<const char> input, std::string_view view) {
  if (view.empty())
    return true;
  return view.data() >= input.data() && view.data() + view.size() <= input.data() + input.size();
}

// Runs parse(std::span<const char>, HeadScan *) -> Outcome on the input whole (ordinary memory),
// whole against the guard page, and on every prefix against the guard page, each from scratch
// (a null HeadScan). Prefixes must be Incomplete until the outcome settles; from then on every
// longer prefix gives the whole input's outcome, and a Complete one settles exactly at
// `consumed` bytes. Then once more byte by byte against the guard page resuming one HeadScan,
// as a server receiving the head in one-byte pieces does: the first outcome that is not
// Incomplete must be the whole input's, at the same prefix. Returns the whole input's outcome;
// `resumed_scanned_bytes`, when given, gets the bytes the resumed run looked at in all.
template <typename Parse>
auto parse_whole_guarded_and_bytewise(std::string_view input, Parse parse,
                                      uint64_t *resumed_scanned_bytes = nullptr) {
  const std::string copy(input);
  const auto whole = parse(std::span<const char>(copy.data(), copy.size()), nullptr);
  GuardedInput guarded(input.size());
  EXPECT_EQ(parse(guarded.place(input), nullptr), whole) << "input flush against a guard page";
  bool settled = false;
  size_t settled_at_bytes = input.size() + 1;
  // Bounded: one parse per prefix length.
  for (size_t prefix_bytes = 0; prefix_bytes <= input.size(); ++prefix_bytes) {
    const auto partial = parse(guarded.place(input.substr(0, prefix_bytes)), nullptr);
    if (!settled && partial.kind == ParseResult::Kind::Incomplete)
      continue;
    EXPECT_EQ(partial, whole) << "fed byte by byte, after " << prefix_bytes << " bytes";
    if (!settled && whole.kind == ParseResult::Kind::Complete) {
      EXPECT_EQ(prefix_bytes, whole.consumed) << "complete before the head ended";
    }
    if (!settled)
      settled_at_bytes = prefix_bytes;
    settled = true;
  }
  HeadScan scan;
  // Bounded: one parse per prefix length, until the first settled outcome.
  for (size_t prefix_bytes = 0; prefix_bytes <= input.size(); ++prefix_bytes) {
    const auto partial = parse(guarded.place(input.substr(0, prefix_bytes)), &scan);
    if (partial.kind == ParseResult::Kind::Incomplete) {
      EXPECT_LE(scan.checked_bytes, prefix_bytes);
      continue;
    }
    EXPECT_EQ(partial, whole) << "resumed byte by byte, after " << prefix_bytes << " bytes";
    EXPECT_EQ(prefix_bytes, settled_at_bytes) << "resumed, settled at another length";
    break;
  }
  if (resumed_scanned_bytes != nullptr)
    *resumed_scanned_bytes = scan.scanned_bytes;
  return whole;
}

inline const char *kind_name(ParseResult::Kind kind) {
  switch (kind) {
  case ParseResult::Kind::Complete:
    return "Complete";
  case ParseResult::Kind::Incomplete:
    return "Incomplete";
  case ParseResult::Kind::Error:
    return "Error";
  }
  return "?";
}

inline const char *framing_name(BodyFraming framing) {
  switch (framing) {
  case BodyFraming::None:
    return "None";
  case BodyFraming::ContentLength:
    return "ContentLength";
  case BodyFraming::Chunked:
    return "Chunked";
  case BodyFraming::UntilClose:
    return "UntilClose";
  }
  return "?";
}

} // namespace regcache::http::testing
