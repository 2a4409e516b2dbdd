#pragma once
// The Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` once per
// family, then one line per sample, `name{label="value",...} number`. Label values are escaped
// as the format says (backslash, double quote, line feed); names are the caller's literals.
// For /metrics, which is scraped every few seconds: it builds a string, never on a hit path.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace regcache::core {

class PrometheusText {
public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  enum class Type : uint8_t { Counter, Gauge, Histogram };

  // Starts a family; its samples follow.
  void family(std::string_view name, Type type, std::string_view help);
  void sample(std::string_view name, Labels labels, uint64_t value);
  void sample(std::string_view name, Labels labels, double value);
  // One histogram's series from per-bucket (not cumulative) counts: _bucket{le=...} for each
  // bound and +Inf, then _sum and _count. `counts` has bounds.size() + 1 entries (the last is
  // above every bound).
  void histogram(std::string_view name, Labels labels, const double *bounds, size_t bound_count,
                 const uint64_t *counts, double sum);

  const std::string &text() const { return text_; }

private:
  void series(std::string_view name, Labels labels, std::string_view extra_label_name,
              std::string_view extra_label_value);

  std::string text_;
};

// Escapes a label value into `out` (appended).
void append_label_value(std::string &out, std::string_view value);

} // namespace regcache::core
