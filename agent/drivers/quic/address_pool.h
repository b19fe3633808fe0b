#pragma once

// The node's tunnel addresses: the first host of the prefix is the agent's
// own (the gateway), the rest go to clients. Addresses are handed out in
// turn from a cursor that goes round the pool, so that a freed address
// usually waits a whole round before it is handed out again (packets still
// in flight to an old client rarely reach a new one).

#include <cstdint>
#include <optional>
#include <vector>

#include "common/quic/ipv4.h"

namespace warden::agent::quic {

class AddressPool {
 public:
  // `prefix` of length 8..30 (a /30 has one client address).
  explicit AddressPool(warden::quic::Ipv4Prefix prefix);

  uint32_t gateway() const { return prefix_.network + 1; }
  const warden::quic::Ipv4Prefix& prefix() const { return prefix_; }

  std::optional<uint32_t> Acquire();
  void Release(uint32_t address);
  size_t available() const { return available_; }

 private:
  warden::quic::Ipv4Prefix prefix_;
  uint32_t first_;  // first client address
  std::vector<bool> used_;
  size_t next_ = 0;
  size_t available_;
};

}  // namespace warden::agent::quic
