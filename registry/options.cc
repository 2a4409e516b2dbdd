#include "registry/options.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "registry/name_grammar.h"

namespace regcache::registry {

namespace {

static_assert(std::is_same_v<unsigned, uint32_t>, "workers is parsed as a uint32_t option");

enum class ValueKind : uint8_t { Flag, Path, ListenAddress, Upstream, Count32, Count64 };

// One command-line option. Parsing and --help both walk the table below, so an option cannot
// be parsed without being documented, and its default is read from Config's initializers.
// Exactly one field pointer is set, the one matching `kind`. Later an environment layer can
// walk the same table (REGCACHE_<NAME>) and share apply_value.
struct OptionSpec {
  std::string_view name; // without the leading "--"
  ValueKind kind = ValueKind::Flag;
  std::string_view value_name; // shown in --help; empty for flags
  std::string_view help;
  bool Config::*flag_field = nullptr;
  bool flag_sets = true; // the value a flag stores
  std::string Config::*text_field = nullptr;
  UpstreamUrl Config::*upstream_field = nullptr;
  uint32_t Config::*count32_field = nullptr;
  uint64_t Config::*count64_field = nullptr;
  uint64_t count_min = 0;             // 1 where zero means nothing useful
  std::string_view default_text = {}; // for defaults Config cannot hold
};

constexpr OptionSpec flag_option(std::string_view name, bool Config::*field, bool sets,
                                 std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = ValueKind::Flag;
  spec.flag_field = field;
  spec.flag_sets = sets;
  spec.help = help;
  return spec;
}

constexpr OptionSpec text_option(std::string_view name, ValueKind kind, std::string_view value_name,
                                 std::string Config::*field, std::string_view help,
                                 std::string_view default_text = {}) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = kind;
  spec.value_name = value_name;
  spec.text_field = field;
  spec.help = help;
  spec.default_text = default_text;
  return spec;
}

constexpr OptionSpec upstream_option(std::string_view name, UpstreamUrl Config::*field,
                                     std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = ValueKind::Upstream;
  spec.value_name = "URL";
  spec.upstream_field = field;
  spec.help = help;
  return spec;
}

constexpr OptionSpec count32_option(std::string_view name, std::string_view value_name,
                                    uint32_t Config::*field, uint64_t min, std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = ValueKind::Count32;
  spec.value_name = value_name;
  spec.count32_field = field;
  spec.count_min = min;
  spec.help = help;
  return spec;
}

constexpr OptionSpec count64_option(std::string_view name, std::string_view value_name,
                                    uint64_t Config::*field, uint64_t min, std::string_view help) {
  OptionSpec spec;
  spec.name = name;
  spec.kind = ValueKind::Count64;
  spec.value_name = value_name;
  spec.count64_field = field;
  spec.count_min = min;
  spec.help = help;
  return spec;
}

// In --help order.
constexpr std::array kOptions = {
    text_option("listen", ValueKind::ListenAddress, "ADDR", &Config::listen_address,
                "address to listen on, IPv4:port or [IPv6]:port"),
    upstream_option("upstream", &Config::upstream, "upstream registry, http(s)://host[:port]"),
    text_option("cache-dir", ValueKind::Path, "DIR", &Config::cache_dir,
                "directory for cached blobs, manifests and tags",
                "/var/cache/regcache as root, else $XDG_CACHE_HOME/regcache or "
                "$HOME/.cache/regcache"),
    count32_option("workers", "N", &Config::workers, 0,
                   "worker threads, each with its own ring; 0: one per core"),
    flag_option("insecure-upstream", &Config::insecure_upstream, true,
                "do not verify the upstream's TLS certificate"),
    text_option("upstream-ca-file", ValueKind::Path, "FILE", &Config::upstream_ca_file,
                "PEM file of CAs to trust for the upstream", "the system trust store"),
    count32_option("header-timeout-ms", "MS", &Config::header_timeout_ms, 1,
                   "time a client has to send a request's headers"),
    count32_option("idle-timeout-ms", "MS", &Config::idle_timeout_ms, 1,
                   "time an idle client connection is kept open"),
    count32_option("upstream-connect-timeout-ms", "MS", &Config::upstream_connect_timeout_ms, 1,
                   "time to connect to the upstream (TCP and TLS)"),
    count32_option("upstream-read-timeout-ms", "MS", &Config::upstream_read_timeout_ms, 1,
                   "time the upstream may stay silent during a response"),
    count32_option("shutdown-grace-ms", "MS", &Config::shutdown_grace_ms, 0,
                   "time given to requests in progress on shutdown; 0: none"),
    count32_option("connections-max", "N", &Config::connections_max, 1,
                   "client connections per worker"),
    count32_option("upstream-connections-max", "N", &Config::upstream_connections_max, 0,
                   "idle pooled connections per upstream per worker; 0: no pooling"),
    count64_option("manifest-bytes-max", "BYTES", &Config::manifest_bytes_max, 1,
                   "largest manifest accepted from the upstream"),
    flag_option("no-access-log", &Config::access_log, false,
                "do not write one line per request to stdout"),
};

const OptionSpec *find_option(std::string_view name) {
  for (const OptionSpec &spec : kOptions) {
    if (spec.name == name)
      return &spec;
  }
  return nullptr;
}

std::string option_error(std::string_view option, std::string_view problem,
                         std::string_view value) {
  std::string message("--");
  message.append(option).append(": ").append(problem).append(" '").append(value).append("'");
  return message;
}

// Digits only: from_chars alone would accept a leading '-' for signed types and stop at the
// first non-digit, so "12abc" must be refused here.
bool parse_count(const OptionSpec &spec, std::string_view value, uint64_t max, uint64_t *out,
                 std::string *error) {
  if (value.empty() || value.find_first_not_of("0123456789") != std::string_view::npos) {
    *error = option_error(spec.name, "expected a whole number, got", value);
    return false;
  }
  uint64_t parsed = 0;
  const auto [end, status] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (status != std::errc{} || end != value.data() + value.size() || parsed > max) {
    *error =
        option_error(spec.name, "value out of range (max " + std::to_string(max) + "):", value);
    return false;
  }
  if (parsed < spec.count_min) {
    *error = option_error(spec.name, "must be at least " + std::to_string(spec.count_min) + ", got",
                          value);
    return false;
  }
  *out = parsed;
  return true;
}

// Stores one option's value into `config`; false with `error` set when the value is bad.
bool apply_value(const OptionSpec &spec, std::string_view value, Config &config,
                 std::string *error) {
  switch (spec.kind) {
  case ValueKind::Flag:
    assert(false && "flags take no value");
    return false;
  case ValueKind::Path:
    if (value.empty()) {
      *error = option_error(spec.name, "expected a path, got", value);
      return false;
    }
    config.*spec.text_field = std::string(value);
    return true;
  case ValueKind::ListenAddress:
    if (!parse_listen_address(value)) {
      *error =
          option_error(spec.name, "expected IPv4:port or [IPv6]:port (port 1-65535), got", value);
      return false;
    }
    config.*spec.text_field = std::string(value);
    return true;
  case ValueKind::Upstream: {
    std::string reason;
    std::optional<UpstreamUrl> upstream = parse_upstream_url(value, &reason);
    if (!upstream) {
      *error = "--" + std::string(spec.name) + ": " + reason;
      return false;
    }
    config.*spec.upstream_field = std::move(*upstream);
    return true;
  }
  case ValueKind::Count32: {
    uint64_t parsed = 0;
    if (!parse_count(spec, value, std::numeric_limits<uint32_t>::max(), &parsed, error)) {
      return false;
    }
    config.*spec.count32_field = static_cast<uint32_t>(parsed);
    return true;
  }
  case ValueKind::Count64: {
    uint64_t parsed = 0;
    if (!parse_count(spec, value, std::numeric_limits<uint64_t>::max(), &parsed, error)) {
      return false;
    }
    config.*spec.count64_field = parsed;
    return true;
  }
  }
  assert(false && "ValueKind out of range");
  return false;
}

std::string default_text(const OptionSpec &spec, const Config &defaults) {
  if (!spec.default_text.empty())
    return std::string(spec.default_text);
  switch (spec.kind) {
  case ValueKind::Flag:
    return defaults.*spec.flag_field == spec.flag_sets ? "on" : "off";
  case ValueKind::Path:
  case ValueKind::ListenAddress: {
    const std::string &text = defaults.*spec.text_field;
    return text.empty() ? "none" : text;
  }
  case ValueKind::Upstream:
    return (defaults.*spec.upstream_field).url();
  case ValueKind::Count32:
    return std::to_string(defaults.*spec.count32_field);
  case ValueKind::Count64:
    return std::to_string(defaults.*spec.count64_field);
  }
  assert(false && "ValueKind out of range");
  return {};
}

ParsedOptions run(Config config) {
  return {ParsedOptions::Outcome::Run, std::move(config), {}};
}

ParsedOptions error(std::string message) {
  return {ParsedOptions::Outcome::Error, Config{}, std::move(message)};
}

} // namespace

ProcessEnvironment current_process_environment() {
  const char *xdg_cache_home = std::getenv("XDG_CACHE_HOME");
  const char *home = std::getenv("HOME");
  return {geteuid() == 0, xdg_cache_home != nullptr ? xdg_cache_home : "",
          home != nullptr ? home : ""};
}

std::string default_cache_dir(const ProcessEnvironment &environment) {
  if (environment.is_root)
    return "/var/cache/regcache";
  if (environment.xdg_cache_home.starts_with('/')) {
    return std::string(environment.xdg_cache_home) + "/regcache";
  }
  if (environment.home.starts_with('/'))
    return std::string(environment.home) + "/.cache/regcache";
  return {};
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  const std::optional<uint16_t> port = parse_port(text.substr(colon + 1));
  if (!port)
    return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    const std::string_view inner = host.substr(1, host.size() - 2);
    if (!is_valid_ipv6(inner))
      return std::nullopt;
    return ListenAddress{inner, *port, true};
  }
  // Binding needs an address; resolving a name here would be I/O.
  if (!is_valid_ipv4(host))
    return std::nullopt;
  return ListenAddress{host, *port, false};
}

ParsedOptions parse_options(std::span<const char *const> argv) {
  return parse_options(argv, current_process_environment());
}

ParsedOptions parse_options(std::span<const char *const> argv,
                            const ProcessEnvironment &environment) {
  Config config;
  config.cache_dir = default_cache_dir(environment);
  // Bounded by argc; an option taking the next argument advances the index twice.
  for (size_t index = 1; index < argv.size(); ++index) {
    assert(argv[index] != nullptr);
    const std::string_view argument = argv[index];
    if (argument == "-h" || argument == "--help") {
      return {ParsedOptions::Outcome::Help, std::move(config), help_text()};
    }
    if (argument == "-V" || argument == "--version") {
      return {ParsedOptions::Outcome::Version, std::move(config),
              "regcache " + std::string(kRegcacheVersion)};
    }
    if (!argument.starts_with("--") || argument == "--") {
      return error("unexpected argument '" + std::string(argument) + "' (see --help)");
    }
    const size_t equals = argument.find('=');
    const std::string_view name =
        argument.substr(2, equals == std::string_view::npos ? std::string_view::npos : equals - 2);
    const OptionSpec *spec = find_option(name);
    if (spec == nullptr) {
      return error("unknown option '--" + std::string(name) + "' (see --help)");
    }
    if (spec->kind == ValueKind::Flag) {
      if (equals != std::string_view::npos) {
        return error("--" + std::string(name) + " takes no value, got '" +
                     std::string(argument.substr(equals + 1)) + "'");
      }
      config.*spec->flag_field = spec->flag_sets;
      continue;
    }
    std::string_view value;
    if (equals != std::string_view::npos) {
      value = argument.substr(equals + 1);
    } else {
      // "--cache-dir --workers 2" is a forgotten value, not a directory named "--workers";
      // such a value can still be given as --cache-dir=--workers.
      if (index + 1 >= argv.size() || std::string_view(argv[index + 1]).starts_with("--")) {
        return error("--" + std::string(name) + ": missing value " + std::string(spec->value_name));
      }
      value = argv[++index];
    }
    std::string reason;
    if (!apply_value(*spec, value, config, &reason))
      return error(std::move(reason));
  }
  if (config.cache_dir.empty()) {
    return error("--cache-dir: no default (not root, and neither XDG_CACHE_HOME nor HOME is an "
                 "absolute path); give one");
  }
  return run(std::move(config));
}

namespace {

// Greedy word wrap with a hanging indent; "(default:" stays with the word after it.
void append_wrapped(std::string &text, std::string_view words, size_t indent, size_t width) {
  size_t column = indent;
  bool line_empty = true;
  while (!words.empty()) { // bounded: each round removes one word
    size_t word_end = words.find(' ');
    if (words.substr(0, word_end) == "(default:" && word_end != std::string_view::npos) {
      word_end = words.find(' ', word_end + 1);
    }
    const std::string_view word = words.substr(0, word_end);
    words.remove_prefix(word_end == std::string_view::npos ? words.size() : word_end + 1);
    if (word.empty())
      continue;
    if (!line_empty && column + 1 + word.size() > width) {
      text.append("\n").append(indent, ' ');
      column = indent;
      line_empty = true;
    }
    if (!line_empty) {
      text.push_back(' ');
      ++column;
    }
    text.append(word);
    column += word.size();
    line_empty = false;
  }
  text.append("\n");
}

} // namespace

std::string help_text() {
  const Config defaults;
  constexpr size_t kIndent = 2;
  constexpr size_t kGap = 2;
  constexpr size_t kWidth = 80;
  auto usage_of = [](const OptionSpec &spec) {
    std::string usage("--");
    usage.append(spec.name);
    if (!spec.value_name.empty())
      usage.append(" ").append(spec.value_name);
    return usage;
  };
  size_t usage_width = std::string_view("-V, --version").size();
  for (const OptionSpec &spec : kOptions)
    usage_width = std::max(usage_width, usage_of(spec).size());
  const size_t help_column = kIndent + usage_width + kGap;

  std::string text =
      "Usage: regcache [options]\n"
      "A caching pull-through proxy for container registries (OCI distribution API).\n"
      "Options take their value as --option VALUE or --option=VALUE; durations are in\n"
      "milliseconds.\n\n"
      "Options:\n";
  auto append_option = [&](std::string_view usage, std::string_view help) {
    text.append(kIndent, ' ').append(usage);
    text.append(help_column - kIndent - usage.size(), ' ');
    append_wrapped(text, help, help_column, kWidth);
  };
  for (const OptionSpec &spec : kOptions) {
    append_option(usage_of(spec),
                  std::string(spec.help) + " (default: " + default_text(spec, defaults) + ")");
  }
  append_option("-h, --help", "show this help and exit");
  append_option("-V, --version", "show the version and exit");
  return text;
}

} // namespace regcache::registry
