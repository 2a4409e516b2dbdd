#include "core/prometheus_text.h"

#include <fmt/format.h>

#include <cmath>

namespace regcache::core {
namespace {

std::string_view type_name(PrometheusText::Type type) {
  switch (type) {
  case PrometheusText::Type::Counter:
    return "counter";
  case PrometheusText::Type::Gauge:
    return "gauge";
  case PrometheusText::Type::Histogram:
    return "histogram";
  }
  return "untyped";
}

// Go's strconv 'g' style is what Prometheus writes; shortest round-trip text is accepted too.
void append_number(std::string &out, double value) {
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else if (std::isnan(value)) {
    out += "NaN";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", value);
  }
}

} // namespace

void append_label_value(std::string &out, std::string_view value) {
  for (char c : value) {
    switch (c) {
    case '\\':
      out += "\\\\";
      break;
    case '"':
      out += "\\\"";
      break;
    case '\n':
      out += "\\n";
      break;
    default:
      out += c;
    }
  }
}

void PrometheusText::family(std::string_view name, Type type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  // HELP text escapes only backslash and line feed.
  for (char c : help) {
    if (c == '\\')
      text_ += "\\\\";
    else if (c == '\n')
      text_ += "\\n";
    else
      text_ += c;
  }
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void PrometheusText::series(std::string_view name, Labels labels, std::string_view extra_label_name,
                            std::string_view extra_label_value) {
  text_ += name;
  if (labels.size() == 0 && extra_label_name.empty())
    return;
  text_ += '{';
  bool first = true;
  for (const auto &[label, value] : labels) {
    if (!first)
      text_ += ',';
    first = false;
    text_ += label;
    text_ += "=\"";
    append_label_value(text_, value);
    text_ += '"';
  }
  if (!extra_label_name.empty()) {
    if (!first)
      text_ += ',';
    text_ += extra_label_name;
    text_ += "=\"";
    text_ += extra_label_value;
    text_ += '"';
  }
  text_ += '}';
}

void PrometheusText::sample(std::string_view name, Labels labels, uint64_t value) {
  series(name, labels, {}, {});
  fmt::format_to(std::back_inserter(text_), " {}\n", value);
}

void PrometheusText::sample(std::string_view name, Labels labels, double value) {
  series(name, labels, {}, {});
  text_ += ' ';
  append_number(text_, value);
  text_ += '\n';
}

void PrometheusText::histogram(std::string_view name, Labels labels, const double *bounds,
                               size_t bound_count, const uint64_t *counts, double sum) {
  std::string bucket_name(name);
  bucket_name += "_bucket";
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i <= bound_count; ++i) {
    cumulative += counts[i];
    le.clear();
    append_number(le, i < bound_count ? bounds[i] : INFINITY);
    series(bucket_name, labels, "le", le);
    fmt::format_to(std::back_inserter(text_), " {}\n", cumulative);
  }
  series(std::string(name) + "_sum", labels, {}, {});
  text_ += ' ';
  append_number(text_, sum);
  text_ += '\n';
  series(std::string(name) + "_count", labels, {}, {});
  fmt::format_to(std::back_inserter(text_), " {}\n", cumulative);
}

} // namespace regcache::core
