#pragma once

// The endpoint's connections counted the way DecideInitial needs them: how
// many there are, how many are half-open (not admitted and not closed yet),
// and per client address how many there are and how many proved the address
// (a valid Retry token, or a completed handshake).
//
// Each connection carries its Entry: the census changes an entry and the
// counts together, so a transition counts once however often it is reported
// (a connection closed while being admitted, a close repeated).
//
// One writer, the endpoint's loop; half_open() may be read from any thread
// (the metrics scrape).

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "agent/drivers/quic/initial_policy.h"

namespace warden::agent::quic {

// The key clients share an allowance under: an IPv4 address, or the /64 of
// an IPv6 one (a subscriber's usual delegation). IPv4-mapped IPv6 addresses
// count as IPv4.
std::string ClientAddressKey(const sockaddr* address);

class ConnectionCensus {
 public:
  struct Entry {
    std::string address;
    bool counted = false;
    bool proven = false;
    bool half_open = false;
  };

  // A new connection from `address` (a ClientAddressKey): half-open.
  void Add(Entry& entry, std::string address, bool proven);
  // It proved its address (the handshake completed).
  void Prove(Entry& entry);
  // It was admitted or closed: no longer half-open.
  void Settle(Entry& entry);
  // It is gone.
  void Remove(Entry& entry);

  EndpointLoad Load(const std::string& address) const;
  size_t connections() const { return connections_; }
  size_t half_open() const { return half_open_.load(std::memory_order_relaxed); }
  // Addresses with at least one connection.
  size_t addresses() const { return by_address_.size(); }

 private:
  struct Counts {
    size_t all = 0;
    size_t proven = 0;
  };
  absl::flat_hash_map<std::string, Counts> by_address_;
  size_t connections_ = 0;
  std::atomic<size_t> half_open_{0};
};

}  // namespace warden::agent::quic
