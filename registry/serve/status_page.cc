#include "registry/serve/status_page.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <iterator>
#include <utility>

#include "registry/api/byte_size.h"

namespace regcache::registry {
namespace {

// Inline, so the page needs nothing but itself (an offline machine, a strict CSP).
constexpr std::string_view kStyle =
    R"(body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;background:#fff}th,td{padding:.25em .7em;border:1px solid #ddd;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}.bad{color:#b00020;font-weight:600}
.good{color:#1b7f3b;font-weight:600}.big{font-size:1.6em;font-weight:600}
.bar{display:inline-block;width:12em;height:.8em;background:#e4e4e4;vertical-align:middle}
.bar span{display:block;height:100%;background:#3b74c4}
.cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #ddd;padding:.6em 1em}
)";

using Out = std::back_insert_iterator<std::string>;

// A number for people, with the exact value in data-value.
void number(std::string &out, std::string_view key, uint64_t value, std::string_view shown,
            std::string_view css_class = "n") {
  fmt::format_to(Out(out), R"(<td class="{}" data-key="{}" data-value="{}">{}</td>)", css_class,
                 html_escape(key), value, html_escape(shown));
}

void text_cell(std::string &out, std::string_view key, std::string_view text) {
  fmt::format_to(Out(out), R"(<td data-key="{}">{}</td>)", html_escape(key), html_escape(text));
}

std::string percent(uint64_t part, uint64_t whole, std::string_view when_none = "no requests") {
  if (whole == 0)
    return std::string(when_none);
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

// The ratio's exact form: answered and lookups are both on the page, so this is for reading.
void ratio_cell(std::string &out, std::string_view key, uint64_t part, uint64_t whole) {
  std::string exact =
      whole == 0 ? std::string("")
                 : fmt::format("{:.6f}", static_cast<double>(part) / static_cast<double>(whole));
  fmt::format_to(Out(out), R"(<td class="n" data-key="{}" data-value="{}">{}</td>)",
                 html_escape(key), exact, percent(part, whole));
}

std::string format_time(int64_t unix_s) {
  std::time_t seconds = static_cast<std::time_t>(unix_s);
  std::tm utc{};
  if (::gmtime_r(&seconds, &utc) == nullptr)
    return "?";
  std::array<char, 32> text{};
  size_t length = std::strftime(text.data(), text.size(), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return std::string(text.data(), length);
}

std::string format_duration(uint64_t seconds) {
  if (seconds < 3600)
    return fmt::format("{}m {}s", seconds / 60, seconds % 60);
  if (seconds < 86400)
    return fmt::format("{}h {}m", seconds / 3600, seconds % 3600 / 60);
  return fmt::format("{}d {}h", seconds / 86400, seconds % 86400 / 3600);
}

void bar(std::string &out, uint64_t part, uint64_t whole) {
  double share = whole == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(whole);
  share = share > 1.0 ? 1.0 : share;
  fmt::format_to(Out(out), R"(<span class="bar"><span style="width:{:.1f}%"></span></span>)",
                 100.0 * share);
}

void render_traffic(std::string &out, const StatusPageView &view) {
  out += "<h2>Cache effect</h2>\n<table><tr><th></th><th>requests</th><th>cache lookups</th>"
         "<th>answered from cache</th><th>hit ratio</th><th>bytes saved</th></tr>\n";
  out += "<tr><th>since start</th>";
  number(out, "total.requests", view.requests, fmt::format("{}", view.requests));
  number(out, "total.lookups", view.lookups, fmt::format("{}", view.lookups));
  number(out, "total.answered", view.answered, fmt::format("{}", view.answered));
  ratio_cell(out, "total.hit_ratio", view.answered, view.lookups);
  number(out, "total.cache_bytes", view.cache_bytes, format_byte_size(view.cache_bytes));
  out += "</tr>\n";
  for (const DayTraffic &day : view.days) {
    std::string date = format_day(day.day);
    std::string prefix = "day." + date + ".";
    fmt::format_to(Out(out), R"(<tr data-day="{}"><th>{}</th>)", date, date);
    number(out, prefix + "requests", day.requests, fmt::format("{}", day.requests));
    number(out, prefix + "lookups", day.lookups, fmt::format("{}", day.lookups));
    number(out, prefix + "answered", day.answered, fmt::format("{}", day.answered));
    ratio_cell(out, prefix + "hit_ratio", day.answered, day.lookups);
    number(out, prefix + "cache_bytes", day.cache_bytes, format_byte_size(day.cache_bytes));
    out += "</tr>\n";
  }
  out += "</table>\n<p class=\"muted\">Lookups are manifest and blob requests that reached the "
         "cache; bytes saved are body bytes sent from the cache's own copy. Days are UTC.</p>\n";
}

void render_disk(std::string &out, const StatusPageView &view) {
  out += "<h2>Disk</h2>\n<table>\n<tr><th>content</th>";
  number(out, "disk.content_bytes", view.cache_content_bytes,
         format_byte_size(view.cache_content_bytes));
  out += "<td>";
  if (view.cache_max_bytes > 0) {
    bar(out, view.cache_content_bytes, view.cache_max_bytes);
    fmt::format_to(Out(out), " {} of the cap",
                   percent(view.cache_content_bytes, view.cache_max_bytes));
  }
  out += "</td></tr>\n<tr><th>cap (--cache-max-size)</th>";
  if (view.cache_max_bytes > 0)
    number(out, "disk.max_bytes", view.cache_max_bytes, format_byte_size(view.cache_max_bytes));
  else
    number(out, "disk.max_bytes", 0, "none");
  out += "<td></td></tr>\n<tr><th>kept free (--min-free)</th>";
  number(out, "disk.min_free_bytes", view.min_free_bytes, format_byte_size(view.min_free_bytes));
  out += "<td></td></tr>\n<tr><th>free on the file system</th>";
  number(out, "disk.fs_free_bytes", view.fs_free_bytes, format_byte_size(view.fs_free_bytes));
  const uint64_t fs_used_bytes =
      view.fs_total_bytes - std::min(view.fs_free_bytes, view.fs_total_bytes);
  out += "<td>";
  bar(out, fs_used_bytes, view.fs_total_bytes);
  fmt::format_to(Out(out), " {} used of {}</td></tr>\n<tr><th>entries</th>",
                 percent(fs_used_bytes, view.fs_total_bytes, "?"),
                 format_byte_size(view.fs_total_bytes));
  number(out, "disk.entries", view.cache_entries, fmt::format("{}", view.cache_entries));
  out += "<td class=\"muted\">blobs and manifests</td></tr>\n</table>\n";
}

void render_images(std::string &out, const StatusPageView &view) {
  out += "<h2>Most pulled images</h2>\n";
  if (view.most_pulled.empty()) {
    out += "<p class=\"muted\">No manifest pulled by tag yet.</p>\n";
  } else {
    out += "<table><tr><th>image</th><th>pulls</th></tr>\n";
    for (size_t i = 0; i < view.most_pulled.size(); ++i) {
      const RankedImage &image = view.most_pulled[i];
      out += "<tr>";
      text_cell(out, fmt::format("pulled.{}.name", i), image.name);
      std::string shown =
          image.pulls_overcount == 0
              ? fmt::format("{}", image.pulls)
              : fmt::format("{} (at least {})", image.pulls, image.pulls - image.pulls_overcount);
      number(out, fmt::format("pulled.{}.pulls", i), image.pulls, shown);
      out += "</tr>\n";
    }
    out += "</table>\n";
  }
  out += "<h2>Largest images</h2>\n";
  if (view.largest.empty()) {
    out += "<p class=\"muted\">No image manifest fetched since start.</p>\n";
    return;
  }
  out += "<table><tr><th>image</th><th>size</th></tr>\n";
  for (size_t i = 0; i < view.largest.size(); ++i) {
    const RankedImage &image = view.largest[i];
    out += "<tr>";
    text_cell(out, fmt::format("largest.{}.name", i), image.name);
    number(out, fmt::format("largest.{}.bytes", i), image.image_bytes,
           format_byte_size(image.image_bytes));
    out += "</tr>\n";
  }
  out += "</table>\n<p class=\"muted\">Sizes are the config and layers an image manifest "
         "declares, noted when it comes from the upstream.</p>\n";
}

void render_downloads(std::string &out, const StatusPageView &view) {
  out += "<h2>Downloads in flight</h2>\n<p>";
  fmt::format_to(Out(out), R"(<span data-key="downloads.running" data-value="{}">{}</span>)",
                 view.downloads_running, view.downloads_running);
  out += " running</p>\n";
  if (view.downloads.empty())
    return;
  out += "<table><tr><th>digest</th><th>repository</th><th>received</th><th>size</th>"
         "<th>progress</th><th>clients</th></tr>\n";
  for (size_t i = 0; i < view.downloads.size(); ++i) {
    const DownloadRow &row = view.downloads[i];
    std::string prefix = fmt::format("download.{}.", i);
    out += "<tr>";
    text_cell(out, prefix + "digest", row.digest);
    text_cell(out, prefix + "repository", row.repository);
    number(out, prefix + "written_bytes", row.written_bytes, format_byte_size(row.written_bytes));
    if (row.total_bytes) {
      number(out, prefix + "total_bytes", *row.total_bytes, format_byte_size(*row.total_bytes));
      out += "<td>";
      bar(out, row.written_bytes, *row.total_bytes);
      fmt::format_to(Out(out), " {}", percent(row.written_bytes, *row.total_bytes));
    } else {
      out += "<td class=\"muted\">unknown</td><td>";
    }
    if (row.passing_through)
      out += " <span class=\"muted\">(passing through, not cached)</span>";
    out += "</td>";
    number(out, prefix + "readers", row.readers, fmt::format("{}", row.readers));
    out += "</tr>\n";
  }
  out += "</table>\n";
}

void render_upstreams(std::string &out, const StatusPageView &view) {
  out += "<h2>Upstreams</h2>\n<table><tr><th>host</th><th>health</th><th>last check</th>"
         "<th>requests</th><th>errors</th><th>429s</th><th>quota left</th></tr>\n";
  for (size_t i = 0; i < view.upstreams.size(); ++i) {
    const UpstreamRow &row = view.upstreams[i];
    std::string prefix = fmt::format("upstream.{}.", i);
    out += "<tr>";
    text_cell(out, prefix + "host", row.host);
    if (!row.up)
      out += "<td class=\"muted\">not checked yet</td>";
    else if (*row.up)
      fmt::format_to(Out(out), R"(<td class="good" data-key="{}up" data-value="1">up</td>)",
                     prefix);
    else
      fmt::format_to(Out(out), R"(<td class="bad" data-key="{}up" data-value="0">down</td>)",
                     prefix);
    if (row.last_check_unix_s)
      fmt::format_to(Out(out), "<td>{}</td>", format_time(*row.last_check_unix_s));
    else
      out += "<td class=\"muted\">never</td>";
    const std::pair<const char *, const std::optional<uint64_t> *> counts[] = {
        {"requests", &row.requests},
        {"errors", &row.errors},
        {"too_many_requests", &row.too_many_requests}};
    for (const auto &[name, value] : counts) {
      if (*value)
        number(out, prefix + name, **value, fmt::format("{}", **value));
      else
        out += "<td class=\"muted\">-</td>";
    }
    if (row.ratelimit) {
      const RateLimitRow &limit = *row.ratelimit;
      fmt::format_to(
          Out(out),
          R"(<td data-key="{}ratelimit_remaining" data-value="{}">{} of {} per {}{}{}</td>)",
          prefix, limit.remaining, limit.remaining, limit.limit, format_duration(limit.window_s),
          limit.credential.empty() ? "" : ", ", html_escape(limit.credential));
    } else {
      out += "<td class=\"muted\">not reported</td>";
    }
    out += "</tr>\n";
  }
  out += "</table>\n<h2>Recent upstream errors</h2>\n";
  if (view.recent_errors.empty()) {
    out += "<p class=\"muted\">None recorded.</p>\n";
    return;
  }
  out += "<table><tr><th>time</th><th>upstream</th><th>request</th><th>answer</th></tr>\n";
  for (const RecentErrorRow &row : view.recent_errors) {
    fmt::format_to(Out(out), "<tr><td>{}</td><td>{}</td><td>{} {}</td>", format_time(row.unix_s),
                   html_escape(row.upstream), html_escape(row.method), html_escape(row.path));
    if (row.status)
      fmt::format_to(Out(out),
                     R"(<td class="{}">{}</td></tr>)"
                     "\n",
                     *row.status == 429 ? "bad" : "", *row.status);
    else
      fmt::format_to(Out(out), "<td class=\"bad\">{}</td></tr>\n", html_escape(row.error));
  }
  out += "</table>\n";
}

} // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      out += c;
    }
  }
  return out;
}

std::string format_day(int64_t day) {
  const std::chrono::year_month_day date{std::chrono::sys_days{std::chrono::days{day}}};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(date.year()),
                     static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
}

std::string render_status_page(const StatusPageView &view) {
  std::string out;
  out.reserve(16 * 1024);
  out += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
         "<meta http-equiv=\"refresh\" content=\"10\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>regcache status</title>\n<style>";
  out += kStyle;
  out += "</style></head>\n<body>\n<h1>regcache status</h1>\n";
  fmt::format_to(Out(out),
                 "<p class=\"muted\">regcache {} &middot; {} &middot; up {} &middot; refreshes "
                 "every 10 s</p>\n",
                 html_escape(view.version), format_time(view.now_unix_s),
                 format_duration(view.uptime_s));
  fmt::format_to(Out(out),
                 "<div class=\"cards\"><div class=\"card\">hit ratio<br><span class=\"big\">{}"
                 "</span></div><div class=\"card\">bytes saved<br><span class=\"big\">{}</span>"
                 "</div><div class=\"card\">downloads in flight<br><span class=\"big\">{}</span>"
                 "</div></div>\n",
                 percent(view.answered, view.lookups), format_byte_size(view.cache_bytes),
                 view.downloads_running);
  render_traffic(out, view);
  render_disk(out, view);
  render_images(out, view);
  render_downloads(out, view);
  render_upstreams(out, view);
  out += "</body></html>\n";
  return out;
}

} // namespace regcache::registry
