#include "agent/drivers/quic/connection_census.h"

#include <netinet/in.h>

#include <cstring>

namespace warden::agent::quic {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::string ClientAddressKey(const sockaddr* address) {
  if (address->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(address);
    return std::string(reinterpret_cast<const char*>(&v4->sin_addr), 4);
  }
  if (address->sa_family == AF_INET6) {
    const uint8_t* bytes = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr.s6_addr;
    if (std::memcmp(bytes, kV4MappedPrefix, sizeof kV4MappedPrefix) == 0) {
      return std::string(reinterpret_cast<const char*>(bytes + 12), 4);
    }
    return std::string(reinterpret_cast<const char*>(bytes), 8);
  }
  return std::string();
}

void ConnectionCensus::Add(Entry& entry, std::string address, bool proven) {
  if (entry.counted) return;
  entry =
      Entry{.address = std::move(address), .counted = true, .proven = proven, .half_open = true};
  Counts& counts = by_address_[entry.address];
  ++counts.all;
  if (proven) ++counts.proven;
  ++connections_;
  half_open_.fetch_add(1, std::memory_order_relaxed);
}

void ConnectionCensus::Prove(Entry& entry) {
  if (!entry.counted || entry.proven) return;
  entry.proven = true;
  ++by_address_[entry.address].proven;
}

void ConnectionCensus::Settle(Entry& entry) {
  if (!entry.counted || !entry.half_open) return;
  entry.half_open = false;
  half_open_.fetch_sub(1, std::memory_order_relaxed);
}

void ConnectionCensus::Remove(Entry& entry) {
  if (!entry.counted) return;
  Settle(entry);
  auto it = by_address_.find(entry.address);
  if (it != by_address_.end()) {
    --it->second.all;
    if (entry.proven) --it->second.proven;
    if (it->second.all == 0) by_address_.erase(it);
  }
  --connections_;
  entry.counted = false;
}

EndpointLoad ConnectionCensus::Load(const std::string& address) const {
  EndpointLoad load{.connections = connections_, .half_open = half_open()};
  auto it = by_address_.find(address);
  if (it != by_address_.end()) {
    load.from_address = it->second.all;
    load.proven_from_address = it->second.proven;
  }
  return load;
}

}  // namespace warden::agent::quic
