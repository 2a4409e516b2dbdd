#include "registry/serve/connections_per_client.h"

#include <netinet/in.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstring>

namespace regcache::registry {

ClientKey client_key_of(const sockaddr_storage &address) {
  ClientKey key{};
  if (address.ss_family == AF_INET6) {
    const auto &v6 = reinterpret_cast<const sockaddr_in6 &>(address);
    std::memcpy(key.data(), &v6.sin6_addr, key.size());
  } else if (address.ss_family == AF_INET) {
    const auto &v4 = reinterpret_cast<const sockaddr_in &>(address);
    key[10] = 0xff;
    key[11] = 0xff;
    std::memcpy(key.data() + 12, &v4.sin_addr, 4);
  }
  return key;
}

void ConnectionsPerClient::configure(uint32_t per_client_max, uint64_t connections_total_max) {
  assert(slots_.empty());
  per_client_max_ = per_client_max;
  if (per_client_max == 0)
    return;
  // Every connection has one address, so the table never holds more addresses than the
  // workers hold connections; twice that keeps linear probing short.
  uint64_t addresses = std::clamp<uint64_t>(connections_total_max, 1, kAddressesMax);
  slots_.resize(std::bit_ceil(addresses * 2));
}

size_t ConnectionsPerClient::home_of(const ClientKey &key) const {
  uint64_t high = 0;
  uint64_t low = 0;
  std::memcpy(&high, key.data(), 8);
  std::memcpy(&low, key.data() + 8, 8);
  // splitmix64's finalizer over both halves: clients choose their addresses only within
  // their own networks, so a simple well-mixed hash is enough.
  uint64_t h = high * 0x9e3779b97f4a7c15ull ^ low;
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return static_cast<size_t>(h) & (slots_.size() - 1);
}

size_t ConnectionsPerClient::find_locked(const ClientKey &key) const {
  const size_t mask = slots_.size() - 1;
  size_t index = home_of(key);
  for (size_t probe = 0; probe < slots_.size(); ++probe, index = (index + 1) & mask) {
    const Slot &slot = slots_[index];
    if (slot.connections == 0 || slot.key == key)
      return index;
  }
  return slots_.size();
}

void ConnectionsPerClient::erase_locked(size_t index) {
  // Backward-shift deletion: later entries of the probe run move up, so lookups need no
  // tombstones and the table never degrades.
  const size_t mask = slots_.size() - 1;
  size_t hole = index;
  size_t next = index;
  for (size_t step = 1; step < slots_.size(); ++step) { // the run ends at a free slot
    next = (next + 1) & mask;
    const Slot &candidate = slots_[next];
    if (candidate.connections == 0)
      break;
    size_t home = home_of(candidate.key);
    // The candidate stays when its home lies in (hole, next]: moving it before its home would
    // hide it from lookups.
    bool stays = ((next - home) & mask) < ((next - hole) & mask);
    if (!stays) {
      slots_[hole] = candidate;
      hole = next;
    }
  }
  slots_[hole] = Slot{};
}

ConnectionsPerClient::Admission ConnectionsPerClient::admit(const ClientKey &key) {
  assert(enabled());
  std::lock_guard lock(mutex_);
  size_t index = find_locked(key);
  assert(index < slots_.size()); // never more than half full
  Slot &slot = slots_[index];
  if (slot.connections == 0) {
    if (addresses_ >= slots_.size() / 2)
      return Admission::Uncounted;
    slot.key = key;
    addresses_++;
  } else if (slot.connections >= per_client_max_) {
    return Admission::Refused;
  }
  slot.connections++;
  return Admission::Counted;
}

void ConnectionsPerClient::release(const ClientKey &key) {
  std::lock_guard lock(mutex_);
  size_t index = find_locked(key);
  assert(index < slots_.size() && slots_[index].connections > 0);
  if (index >= slots_.size() || slots_[index].connections == 0)
    return;
  if (--slots_[index].connections == 0) {
    addresses_--;
    erase_locked(index);
  }
}

uint32_t ConnectionsPerClient::count(const ClientKey &key) const {
  if (!enabled())
    return 0;
  std::lock_guard lock(mutex_);
  size_t index = find_locked(key);
  return index < slots_.size() ? slots_[index].connections : 0;
}

} // namespace regcache::registry
