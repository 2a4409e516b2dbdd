#pragma once
// Connections open from each client address, counted across all workers, for
// --connections-per-client-max. Shared by the workers (a connection's address decides nothing
// about which worker the kernel gives it to), so a mutex guards it; it is taken once when a
// connection opens and once when it closes. The table is allocated when the limit is configured,
// sized for every connection the workers can hold, so counting never allocates.
#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

#include <sys/socket.h>

namespace regcache::registry {

// An IPv6 address, or an IPv4 one mapped into IPv6 (::ffff:a.b.c.d), so both families count
// alike. A whole IPv6 address, not its /64: on an office LAN every machine shares the /64.
using ClientKey = std::array<uint8_t, 16>;
ClientKey client_key_of(const sockaddr_storage &address);

class ConnectionsPerClient {
public:
  enum class Admission : uint8_t {
    Counted,   // under the limit; release() when the connection closes
    Uncounted, // the table is full (tens of thousands of addresses): admitted, not counted
    Refused,   // the address is at the limit
  };

  ConnectionsPerClient() = default;
  ConnectionsPerClient(const ConnectionsPerClient &) = delete;
  ConnectionsPerClient &operator=(const ConnectionsPerClient &) = delete;

  // Before the workers start. `per_client_max` 0 turns counting off (and allocates nothing).
  void configure(uint32_t per_client_max, uint64_t connections_total_max);
  bool enabled() const { return per_client_max_ != 0; }
  uint32_t per_client_max() const { return per_client_max_; }

  Admission admit(const ClientKey &key);
  void release(const ClientKey &key); // only after Admission::Counted
  uint32_t count(const ClientKey &key) const;

  // Distinct addresses tracked at most; past it, new addresses are admitted uncounted (so many
  // distinct clients means no single one holds many connections).
  static constexpr uint64_t kAddressesMax = 65536;

private:
  struct Slot {
    ClientKey key{};
    uint32_t connections = 0; // 0: the slot is free
  };
  size_t home_of(const ClientKey &key) const;
  // The slot holding `key`, else the free slot where it would go; capacity() if neither.
  size_t find_locked(const ClientKey &key) const;
  void erase_locked(size_t index);

  uint32_t per_client_max_ = 0;
  size_t addresses_ = 0;
  std::vector<Slot> slots_; // open addressing, linear probing; a power of two, half full at most
  mutable std::mutex mutex_;
};

} // namespace regcache::registry
