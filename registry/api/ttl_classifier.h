#pragma once
// Which manifest TTL tier a tag falls into, decided the way docker-registry-proxy's nginx
// decided it, so that a user's existing MANIFEST_CACHE_*_REGEX selects the same tags.
//
// docker-registry-proxy (entrypoint.sh lines 115-149 at 7515d69, tag 0.7.0) pastes each regex
// verbatim after a fixed prefix and emits one nginx regex location per tier, in this order:
//     location ~ ^/v2/(.*)/manifests/${MANIFEST_CACHE_PRIMARY_REGEX}   { proxy_cache_valid ...; }
//     location ~ ^/v2/(.*)/manifests/${MANIFEST_CACHE_SECONDARY_REGEX} { proxy_cache_valid ...; }
//     location ~ ^/v2/(.*)/manifests/                                  { proxy_cache_valid ...; }
// nginx tries regex locations in configuration order and takes the first that matches
// (ngx_http_core_find_location), running pcre2_match on r->uri, the decoded path without the
// query (ngx_http_regex_exec(r, clcf->regex, &r->uri)). `~` is case-sensitive (`~*` would add
// PCRE2_CASELESS); nginx passes no other option, so no UTF and ASCII-only \d. The match is a
// search anchored only by the `^` of the prefix: nothing anchors the end, so the default
// "(stable|nightly|production|test)" takes every tag that STARTS with one of those words
// ("testing", "stable-alpine"), and a fragment with a top-level `|` ("stable|latest") lets its
// later alternatives match anywhere in the path, repository name included.
//
// This class reproduces exactly that: each tier's pattern is the text
//     "^/v2/(.*)/manifests/" + tier.regex
// compiled with no options, and it is matched against the subject
//     "/v2/" + name + "/manifests/" + reference
// which equals nginx's $uri for every request regcache serves: valid names and tags contain no
// '%', no "//" and no dot segments, so decoding and normalisation change nothing. Matching
// the tag alone would differ (anchoring, `|`, and a name that itself contains "/manifests/",
// where nginx's backtracking `(.*)` lets the fragment match inside the name).
//
// Digest references never reach the tiers: docker-registry-proxy's by-digest location
// (`^/v2/(.*)/manifests/sha256:(.*)`, 60 days) comes first, and for regcache a manifest named
// by digest is immutable. Callers classify tags only.
//
// Built once at startup; the compiled patterns are shared read-only by every thread. Each
// worker thread owns one MatchScratch (match data, JIT stack, subject buffer), so classifying
// allocates nothing.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/manifest_ttl_tiers.h"
#include "registry/api/name_grammar.h"

// PCRE2's 8-bit types, declared here so that users of this header need not include pcre2.h
// (and define PCRE2_CODE_UNIT_WIDTH).
struct pcre2_real_code_8;
struct pcre2_real_general_context_8;
struct pcre2_real_match_context_8;
struct pcre2_real_match_data_8;
struct pcre2_real_jit_stack_8;

namespace regcache::registry {

// The fixed part docker-registry-proxy puts in front of every tier regex.
inline constexpr std::string_view kManifestTierPatternPrefix = "^/v2/(.*)/manifests/";
inline constexpr std::string_view kManifestSubjectHead = "/v2/";
inline constexpr std::string_view kManifestSubjectMiddle = "/manifests/";
inline constexpr size_t kManifestSubjectBytesMax = kManifestSubjectHead.size() +
                                                   kRepositoryNameBytesMax +
                                                   kManifestSubjectMiddle.size() + kTagBytesMax;
static_assert(kManifestSubjectBytesMax == 398);

struct TtlDecision {
  static constexpr size_t kDefaultTier = static_cast<size_t>(-1);
  size_t tier_index = kDefaultTier; // into ManifestTtlSettings::tiers; kDefaultTier: none matched
  uint64_t ttl_ms = 0;
};

class TtlClassifier;

// Per-thread matching state. Not thread-safe; make one per worker with make_scratch().
class MatchScratch {
public:
  ~MatchScratch();
  MatchScratch(const MatchScratch &) = delete;
  MatchScratch &operator=(const MatchScratch &) = delete;

  // PCRE2 allocations made for this scratch since it was created (match data, interpreter
  // backtracking frames, JIT stack). Constant in steady state: the proof that classifying
  // does not allocate.
  uint64_t pcre2_allocations() const { return pcre2_allocations_; }
  // Matches that ended in a PCRE2 error (match or heap limit) rather than match/no match.
  uint64_t match_errors() const { return match_errors_; }

private:
  friend class TtlClassifier;
  MatchScratch() = default;
  static void *counting_malloc(size_t bytes, void *scratch);
  static void counting_free(void *block, void *scratch);

  const TtlClassifier *owner_ = nullptr;
  pcre2_real_general_context_8 *general_context_ = nullptr;
  pcre2_real_match_context_8 *match_context_ = nullptr;
  pcre2_real_match_data_8 *match_data_ = nullptr;
  pcre2_real_jit_stack_8 *jit_stack_ = nullptr;
  uint64_t pcre2_allocations_ = 0;
  uint64_t match_errors_ = 0;
  std::array<char, kManifestSubjectBytesMax> subject_{};
};

class TtlClassifier {
public:
  enum class JitMode : uint8_t {
    Auto, // JIT-compile every tier; a tier PCRE2 cannot JIT runs in the interpreter
    Off,  // interpreter only (tests compare both)
  };

  // Compiles every tier of an enabled policy; a disabled one compiles nothing (nginx never saw
  // those regexes either). On a regex that does not compile, returns null and sets *error to
  // "<origin>=<regex>: not a PCRE2 regex: <reason> at offset <n>", the offset counted within
  // the tier's regex.
  static std::unique_ptr<TtlClassifier> compile(const ManifestTtlSettings &settings,
                                                std::string *error,
                                                JitMode jit_mode = JitMode::Auto);
  ~TtlClassifier();
  TtlClassifier(const TtlClassifier &) = delete;
  TtlClassifier &operator=(const TtlClassifier &) = delete;

  // One per worker thread, made at startup; returns null only when out of memory.
  std::unique_ptr<MatchScratch> make_scratch() const;

  // The first tier whose pattern matches "/v2/<name>/manifests/<reference>", else the default
  // TTL; a disabled policy answers 0 (ask upstream every time) for every tag. `name` is the
  // repository as the client named it (at most 255 bytes) and `reference` a tag (at most 128);
  // longer input breaks the caller's validation and, without asserts, answers 0. A tier whose
  // match fails with a PCRE2 error (a pathological user regex hitting the match limit) is
  // skipped and counted in scratch.match_errors(): nginx would answer 500 there, and a cache
  // should not fail a pull over its own freshness policy.
  TtlDecision classify(std::string_view name, std::string_view reference,
                       MatchScratch &scratch) const;
  uint64_t ttl_ms(std::string_view name, std::string_view reference, MatchScratch &scratch) const {
    return classify(name, reference, scratch).ttl_ms;
  }

  bool enabled() const { return enabled_; }
  size_t tier_count() const { return tiers_.size(); }
  std::string_view tier_origin(size_t tier_index) const { return tiers_.at(tier_index).origin; }
  // True when every tier runs JIT-compiled code; false with JitMode::Off, or when PCRE2 was
  // built without JIT or could not get executable memory (then matching uses the interpreter,
  // with the same answers, more slowly).
  bool jit_active() const { return jit_active_; }

private:
  struct CodeFree {
    void operator()(pcre2_real_code_8 *code) const noexcept;
  };
  struct CompiledTier {
    std::unique_ptr<pcre2_real_code_8, CodeFree> code;
    uint64_t ttl_ms = 0;
    std::string origin;
  };
  TtlClassifier() = default;

  std::vector<CompiledTier> tiers_;
  uint64_t default_ttl_ms_ = 0;
  bool enabled_ = true;
  bool jit_active_ = false;
  bool any_tier_jit_ = false;
};

} // namespace regcache::registry
