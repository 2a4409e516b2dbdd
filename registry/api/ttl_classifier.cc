#include "registry/api/ttl_classifier.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>

namespace regcache::registry {
namespace {

// The JIT stack grows within these bounds; 32 KiB is what JIT uses on the machine stack when
// none is assigned, and the default tiers never need more. The upper bound keeps a
// pathological user regex from taking more than half a megabyte per worker.
constexpr size_t kJitStackBytesMin = 32 * 1024;
constexpr size_t kJitStackBytesMax = 512 * 1024;

// The shortest subject a tier can be asked about; matching it once makes the interpreter
// allocate its backtracking frames in make_scratch() rather than on the first request.
constexpr std::string_view kWarmUpSubject = "/v2/a/manifests/a";

char *append(char *out, std::string_view text) {
  return std::copy(text.begin(), text.end(), out);
}

std::string pcre2_error_text(int error_code) {
  std::array<PCRE2_UCHAR, 256> buffer{};
  const int length = pcre2_get_error_message(error_code, buffer.data(), buffer.size());
  if (length < 0) {
    return "PCRE2 error " + std::to_string(error_code);
  }
  return std::string(reinterpret_cast<const char *>(buffer.data()), static_cast<size_t>(length));
}

} // namespace

void *MatchScratch::counting_malloc(size_t bytes, void *scratch) {
  ++static_cast<MatchScratch *>(scratch)->pcre2_allocations_;
  return std::malloc(bytes);
}

void MatchScratch::counting_free(void *block, void * /*scratch*/) {
  std::free(block);
}

MatchScratch::~MatchScratch() {
  pcre2_match_data_free(match_data_);
  pcre2_match_context_free(match_context_);
  pcre2_jit_stack_free(jit_stack_);
  pcre2_general_context_free(general_context_); // last: the others were allocated through it
}

void TtlClassifier::CodeFree::operator()(pcre2_code *code) const noexcept {
  pcre2_code_free(code);
}

TtlClassifier::~TtlClassifier() = default;

std::unique_ptr<TtlClassifier> TtlClassifier::compile(const ManifestTtlSettings &settings,
                                                      std::string *error, JitMode jit_mode) {
  std::unique_ptr<TtlClassifier> classifier(new TtlClassifier());
  classifier->enabled_ = settings.enabled;
  classifier->default_ttl_ms_ = settings.default_ttl_ms;
  if (!settings.enabled) {
    return classifier;
  }

  uint32_t jit_built_in = 0;
  const bool jit_wanted = jit_mode == JitMode::Auto &&
                          pcre2_config(PCRE2_CONFIG_JIT, &jit_built_in) >= 0 && jit_built_in == 1;
  bool every_tier_jit = jit_wanted;
  std::string pattern;
  classifier->tiers_.reserve(settings.tiers.size());
  for (const ManifestTtlTier &tier : settings.tiers) {
    // The same pattern text nginx compiled: prefix and fragment pasted together, no group
    // around the fragment, no options (`location ~`). See the header comment.
    pattern.assign(kManifestTierPatternPrefix);
    pattern.append(tier.regex);
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code *code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     0, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
      if (error != nullptr) {
        const size_t offset_in_regex = error_offset > kManifestTierPatternPrefix.size()
                                           ? error_offset - kManifestTierPatternPrefix.size()
                                           : 0;
        *error = tier.origin + "=" + tier.regex +
                 ": not a PCRE2 regex: " + pcre2_error_text(error_code) + " at offset " +
                 std::to_string(offset_in_regex);
      }
      return nullptr;
    }
    CompiledTier compiled;
    compiled.code.reset(code);
    compiled.ttl_ms = tier.ttl_ms;
    compiled.origin = tier.origin;
    // pcre2_jit_compile fails when PCRE2 lacks JIT for this CPU or the system refuses
    // executable memory (SELinux, PaX); pcre2_match then interprets the same code.
    const bool tier_jit = jit_wanted && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    every_tier_jit = every_tier_jit && tier_jit;
    classifier->any_tier_jit_ = classifier->any_tier_jit_ || tier_jit;
    classifier->tiers_.push_back(std::move(compiled));
  }
  classifier->jit_active_ = every_tier_jit;
  return classifier;
}

std::unique_ptr<MatchScratch> TtlClassifier::make_scratch() const {
  std::unique_ptr<MatchScratch> scratch(new MatchScratch());
  scratch->owner_ = this;
  // Every PCRE2 allocation for this scratch goes through the counting allocator, with the
  // scratch (which never moves: it lives behind this unique_ptr) as its memory_data.
  scratch->general_context_ = pcre2_general_context_create(
      &MatchScratch::counting_malloc, &MatchScratch::counting_free, scratch.get());
  if (scratch->general_context_ == nullptr) {
    return nullptr;
  }
  scratch->match_context_ = pcre2_match_context_create(scratch->general_context_);
  // One ovector pair: only "matched or not" is read, and a match whose captures do not fit
  // still returns 0 (not an error), so no tier needs more.
  scratch->match_data_ = pcre2_match_data_create(1, scratch->general_context_);
  if (scratch->match_context_ == nullptr || scratch->match_data_ == nullptr) {
    return nullptr;
  }
  if (any_tier_jit_) {
    scratch->jit_stack_ =
        pcre2_jit_stack_create(kJitStackBytesMin, kJitStackBytesMax, scratch->general_context_);
    if (scratch->jit_stack_ == nullptr) {
      return nullptr;
    }
    pcre2_jit_stack_assign(scratch->match_context_, nullptr, scratch->jit_stack_);
  }
  for (const CompiledTier &tier : tiers_) {
    const int result =
        pcre2_match(tier.code.get(), reinterpret_cast<PCRE2_SPTR>(kWarmUpSubject.data()),
                    kWarmUpSubject.size(), 0, 0, scratch->match_data_, scratch->match_context_);
    (void)result; // matched or not, the frames are allocated
  }
  return scratch;
}

TtlDecision TtlClassifier::classify(std::string_view name, std::string_view reference,
                                    MatchScratch &scratch) const {
  assert(scratch.owner_ == this);
  assert(name.size() <= kRepositoryNameBytesMax);
  assert(reference.size() <= kTagBytesMax);
  assert(reference.find(':') == std::string_view::npos); // a digest: callers classify tags only
  if (!enabled_) {
    return TtlDecision{TtlDecision::kDefaultTier, 0};
  }
  if (name.size() > kRepositoryNameBytesMax || reference.size() > kTagBytesMax) {
    return TtlDecision{TtlDecision::kDefaultTier, 0};
  }

  // nginx's $uri for this request; see the header comment.
  char *const subject = scratch.subject_.data();
  char *end = append(subject, kManifestSubjectHead);
  end = append(end, name);
  end = append(end, kManifestSubjectMiddle);
  end = append(end, reference);
  const auto subject_bytes = static_cast<size_t>(end - subject);
  assert(subject_bytes <= scratch.subject_.size());

  for (size_t tier_index = 0; tier_index < tiers_.size(); ++tier_index) {
    const CompiledTier &tier = tiers_[tier_index];
    const int result =
        pcre2_match(tier.code.get(), reinterpret_cast<PCRE2_SPTR>(subject), subject_bytes, 0, 0,
                    scratch.match_data_, scratch.match_context_);
    if (result >= 0) {
      return TtlDecision{tier_index, tier.ttl_ms};
    }
    if (result != PCRE2_ERROR_NOMATCH) {
      ++scratch.match_errors_;
    }
  }
  return TtlDecision{TtlDecision::kDefaultTier, default_ttl_ms_};
}

} // namespace regcache::registry
