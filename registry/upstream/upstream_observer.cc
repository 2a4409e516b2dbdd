#include "registry/upstream/upstream_observer.h"

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "core/unix_time.h"
#include "http/ratelimit_header.h"
#include "registry/config/credentials.h"

namespace regcache::registry {
namespace {

// observed_as: the slot + 1 in the low 24 bits (0 means "not observed"), the purpose above.
constexpr uint32_t kSlotBits = 24;
constexpr uint32_t kSlotMask = (uint32_t{1} << kSlotBits) - 1;

TokenResult token_result(const http::ExchangeReport &report) {
  if (report.rc < 0)
    return TokenResult::Error;
  const uint16_t status = report.fields->status;
  if (status >= 200 && status < 300)
    return TokenResult::Ok;
  if (status == 401 || status == 403)
    return TokenResult::Denied;
  return TokenResult::Failed;
}

// The by_status index of `status`; kObservedStatuses when it has none.
size_t status_index(uint16_t status) {
  if (status < kObservedStatusFirst)
    return kObservedStatuses;
  return std::min<size_t>(size_t{status} - kObservedStatusFirst, kObservedStatuses);
}

std::string_view without_query(std::string_view target) {
  return target.substr(0, target.find('?'));
}

} // namespace

std::string_view token_result_label(TokenResult result) {
  switch (result) {
  case TokenResult::Ok:
    return "ok";
  case TokenResult::Denied:
    return "denied";
  case TokenResult::Failed:
    return "failed";
  case TokenResult::Error:
    return "error";
  }
  return "error";
}

std::vector<uint32_t> ObservedHosts::assign(const Config &config) {
  std::vector<uint32_t> slots;
  slots.reserve(config.upstreams.size());
  size_t assigned = count();
  for (const UpstreamConfig &upstream : config.upstreams) {
    size_t slot = 0;
    while (slot < assigned && hosts_[slot] != upstream.host)
      ++slot;
    if (slot == assigned) {
      if (assigned == kObservedHostsMax) {
        slots.push_back(kUnconfiguredSlot);
        continue;
      }
      hosts_[assigned] = upstream.host; // before the count that shows it (release)
      count_.store(++assigned, std::memory_order_release);
    }
    slots.push_back(static_cast<uint32_t>(slot));
  }
  return slots;
}

std::string_view ObservedHosts::label(size_t slot) const {
  return slot < count() ? std::string_view(hosts_[slot]) : kUnconfiguredUpstreamLabel;
}

size_t observed_slot(const Config &config, std::span<const uint32_t> slots,
                     const UpstreamConfig *upstream) {
  const UpstreamConfig *first = config.upstreams.data();
  if (upstream == nullptr || upstream < first || upstream >= first + config.upstreams.size())
    return kUnconfiguredSlot;
  const auto index = static_cast<size_t>(upstream - first);
  return index < slots.size() ? slots[index] : kUnconfiguredSlot;
}

uint32_t observed_as(size_t slot, ObservedAs purpose) {
  assert(slot < kSlotMask);
  return static_cast<uint32_t>(slot + 1) | (static_cast<uint32_t>(purpose) << kSlotBits);
}

uint32_t observed_as(const Config &config, std::span<const uint32_t> slots,
                     const UpstreamChoice &upstream, ObservedAs purpose) {
  return observed_as(observed_slot(config, slots, upstream.config), purpose);
}

std::string credential_label(const Config &config, const UpstreamConfig &upstream) {
  const HostCredentials *credentials =
      find_credentials(config.credentials, upstream.url.authority());
  if (credentials == nullptr)
    credentials = find_credentials(config.credentials, upstream.host);
  if (credentials == nullptr && upstream.url.host == kDockerHubUrl.host)
    credentials = find_credentials(config.credentials, kDockerHubCredentialsHost);
  return credentials == nullptr || credentials->username.empty() ? std::string("anonymous")
                                                                 : credentials->username;
}

uint64_t UpstreamSlotTotals::requests() const {
  uint64_t sum = no_answer;
  for (uint64_t count : by_status)
    sum += count;
  return sum;
}

uint64_t UpstreamSlotTotals::status_count(uint16_t status) const {
  const size_t index = status_index(status);
  return index < kObservedStatuses ? by_status[index] : 0;
}

uint64_t UpstreamSlotTotals::server_errors() const {
  uint64_t sum = 0;
  for (uint16_t status = 500; status < 600; ++status)
    sum += status_count(status);
  return sum;
}

UpstreamObserver::UpstreamObserver(const ObservedHosts &hosts, RecentUpstreamErrors &recent)
    : hosts_(hosts), recent_(recent), slots_(std::make_unique<Slot[]>(kObservedSlots)) {}

void UpstreamObserver::on_exchange(const http::ExchangeReport &report) {
  const size_t slot_index = (report.request.observed_as & kSlotMask) - 1;
  if (slot_index >= kObservedSlots)
    return; // not a tag of ours
  const auto purpose = static_cast<ObservedAs>(report.request.observed_as >> kSlotBits);
  // -EBUSY: regcache's own bound (upstream connections per worker), not the upstream's doing.
  if (report.rc == -EBUSY)
    return;
  Slot &slot = slots_[slot_index];
  const int64_t now_ms = core::unix_now_ms();
  const bool answered = report.rc == 0 && report.fields != nullptr;
  if (purpose == ObservedAs::Token) {
    bump(slot.tokens[static_cast<size_t>(token_result(report))]);
  } else {
    const uint16_t status = answered ? report.fields->status : 0;
    const size_t index = status_index(status);
    if (answered && index < kObservedStatuses)
      bump(slot.by_status[index]);
    else
      bump(slot.no_answer);
    // Reachable: it answered, and not with a server error (a 401 or 404 is a working
    // registry; a 503 is not).
    const bool up = answered && status < 500;
    slot.contact.store(now_ms * 2 + (up ? 1 : 0), std::memory_order_relaxed);
  }
  if (answered)
    note_ratelimit(slot, *report.fields, now_ms);
  if (!answered || report.fields->status == 429 || report.fields->status >= 500)
    remember_failure(report, slot_index, now_ms);
}

void UpstreamObserver::note_ratelimit(Slot &slot, const http::ResponseFields &fields,
                                      int64_t now_ms) {
  if (fields.ratelimit_limit.empty() && fields.ratelimit_remaining.empty())
    return; // the common case: most registries send neither
  const std::optional<http::RateLimitValue> limit =
      http::parse_ratelimit_header(fields.ratelimit_limit);
  const std::optional<http::RateLimitValue> remaining =
      http::parse_ratelimit_header(fields.ratelimit_remaining);
  if (!limit && !remaining)
    return; // garbage is ignored, never shown as a quota
  RateLimitCell &cell = slot.ratelimit;
  const uint32_t sequence = cell.sequence.load(std::memory_order_relaxed);
  cell.sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  // A header that is absent or unreadable keeps the value the last answer gave.
  if (limit)
    cell.limit.store(limit->count, std::memory_order_relaxed);
  if (remaining)
    cell.remaining.store(remaining->count, std::memory_order_relaxed);
  const uint64_t window_s = limit && limit->window_s != 0 ? limit->window_s
                            : remaining                   ? remaining->window_s
                                                          : 0;
  if (window_s != 0)
    cell.window_s.store(window_s, std::memory_order_relaxed);
  cell.seen_unix_ms.store(now_ms, std::memory_order_relaxed);
  cell.sequence.store(sequence + 2, std::memory_order_release);
}

std::optional<RateLimit> UpstreamObserver::read_ratelimit(const Slot &slot) const {
  const RateLimitCell &cell = slot.ratelimit;
  // Bounded: the writer holds the count odd only for a few stores; a reader that keeps losing
  // the race reports nothing this time rather than spin.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const uint32_t before = cell.sequence.load(std::memory_order_acquire);
    if (before % 2 != 0)
      continue;
    RateLimit value;
    value.limit = cell.limit.load(std::memory_order_relaxed);
    value.remaining = cell.remaining.load(std::memory_order_relaxed);
    value.window_s = cell.window_s.load(std::memory_order_relaxed);
    value.seen_unix_ms = cell.seen_unix_ms.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (cell.sequence.load(std::memory_order_relaxed) != before)
      continue;
    if (value.seen_unix_ms == 0)
      return std::nullopt;
    return value;
  }
  return std::nullopt;
}

void UpstreamObserver::remember_failure(const http::ExchangeReport &report, size_t slot,
                                        int64_t now_ms) {
  RecentUpstreamError entry;
  entry.unix_ms = now_ms;
  if (slot < hosts_.count())
    entry.upstream = hosts_.label(slot);
  else if (static_cast<ObservedAs>(report.request.observed_as >> kSlotBits) == ObservedAs::Registry)
    entry.upstream = report.endpoint.authority;
  else
    entry.upstream = kUnconfiguredUpstreamLabel;
  entry.sent_to = report.endpoint.authority;
  entry.method = report.request.method;
  // The query may hold a token request's scope and service; never credentials in the path.
  entry.path = without_query(report.request.target);
  if (report.rc == 0 && report.fields != nullptr)
    entry.status = report.fields->status;
  else
    entry.error = report.error;
  recent_.add(std::move(entry));
}

void UpstreamObserver::add_to(size_t slot_index, UpstreamSlotTotals &totals) const {
  assert(slot_index < kObservedSlots);
  const Slot &slot = slots_[slot_index];
  for (size_t i = 0; i < kObservedStatuses; ++i)
    totals.by_status[i] += slot.by_status[i].load(std::memory_order_relaxed);
  totals.no_answer += slot.no_answer.load(std::memory_order_relaxed);
  for (size_t i = 0; i < kTokenResults; ++i)
    totals.tokens[i] += slot.tokens[i].load(std::memory_order_relaxed);
  const int64_t contact = slot.contact.load(std::memory_order_relaxed);
  if (contact != 0 && contact / 2 >= totals.contact_unix_ms) {
    totals.contact_unix_ms = contact / 2;
    totals.up = contact % 2 == 1;
  }
  std::optional<RateLimit> ratelimit = read_ratelimit(slot);
  if (ratelimit && (!totals.ratelimit || ratelimit->seen_unix_ms > totals.ratelimit->seen_unix_ms))
    totals.ratelimit = std::move(ratelimit);
}

int64_t UpstreamObserver::contact_unix_ms(size_t slot) const {
  assert(slot < kObservedSlots);
  return slots_[slot].contact.load(std::memory_order_relaxed) / 2;
}

UpstreamObservers::UpstreamObservers(unsigned workers) {
  observers_.reserve(workers);
  for (unsigned i = 0; i < workers; ++i)
    observers_.push_back(std::make_unique<UpstreamObserver>(hosts_, recent_));
}

UpstreamSlotTotals UpstreamObservers::totals(size_t slot) const {
  UpstreamSlotTotals totals;
  for (const auto &observer : observers_)
    observer->add_to(slot, totals);
  return totals;
}

int64_t UpstreamObservers::contact_unix_ms(size_t slot) const {
  int64_t newest = 0;
  for (const auto &observer : observers_)
    newest = std::max(newest, observer->contact_unix_ms(slot));
  return newest;
}

} // namespace regcache::registry
