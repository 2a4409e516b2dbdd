// Manifest TTL classification with docker-registry-proxy's default tiers, over a mix of
// references shaped like real pulls. Reports tags per second on one core
// (items_per_second) and the PCRE2 allocations made while timing (should be 0).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/api/ttl_classifier.h"
#include "registry/config/manifest_ttl_env.h"

namespace regcache::registry {
namespace {

struct Reference {
  std::string_view name;
  std::string_view tag;
};

// Versioned tags dominate real pulls, then floating tags; a few long names.
const std::vector<Reference> kMix = {
    {"library/nginx", "1.25.3"},
    {"library/nginx", "1.25.3-alpine"},
    {"library/alpine", "3.19"},
    {"library/alpine", "latest"},
    {"library/python", "3.12.1-slim-bookworm"},
    {"library/node", "20"},
    {"library/node", "v20.11.0-alpine3.19"},
    {"library/postgres", "16.1"},
    {"library/redis", "7.2.4"},
    {"library/busybox", "latest"},
    {"bitnami/kafka", "3.6.1-debian-11-r0"},
    {"grafana/grafana", "10.2.3"},
    {"myorg/backend-service", "stable"},
    {"myorg/backend-service", "nightly-20240101"},
    {"myorg/frontend", "main"},
    {"myorg/frontend", "sha-3f2a9c1"},
    {"kube-state-metrics/kube-state-metrics", "v2.10.1"},
    {"ingress-nginx/controller", "v1.9.5"},
    {"org/team/project/component/service", "production"},
    {"library/ubuntu", "jammy-20240111"},
};

std::unique_ptr<TtlClassifier> default_classifier(TtlClassifier::JitMode jit_mode) {
  ManifestTtlSettings settings;
  std::string error;
  if (!load_manifest_ttl_env([](std::string_view) { return std::optional<std::string_view>(); },
                             settings, &error)) {
    return nullptr;
  }
  return TtlClassifier::compile(settings, &error, jit_mode);
}

void classify_mix(benchmark::State &state, TtlClassifier::JitMode jit_mode) {
  const std::unique_ptr<TtlClassifier> classifier = default_classifier(jit_mode);
  if (classifier == nullptr) {
    state.SkipWithError("could not build the classifier");
    return;
  }
  const std::unique_ptr<MatchScratch> scratch = classifier->make_scratch();
  const uint64_t allocations_before = scratch->pcre2_allocations();
  uint64_t ttl_sum_ms = 0;
  for (auto _ : state) {
    for (const Reference &reference : kMix) {
      ttl_sum_ms += classifier->ttl_ms(reference.name, reference.tag, *scratch);
    }
  }
  benchmark::DoNotOptimize(ttl_sum_ms);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kMix.size()));
  state.counters["jit"] = classifier->jit_active() ? 1 : 0;
  state.counters["pcre2_allocs"] =
      static_cast<double>(scratch->pcre2_allocations() - allocations_before);
}

void BM_TtlClassifyJit(benchmark::State &state) {
  classify_mix(state, TtlClassifier::JitMode::Auto);
}
void BM_TtlClassifyInterpreter(benchmark::State &state) {
  classify_mix(state, TtlClassifier::JitMode::Off);
}
BENCHMARK(BM_TtlClassifyJit);
BENCHMARK(BM_TtlClassifyInterpreter);

} // namespace
} // namespace regcache::registry

BENCHMARK_MAIN();
