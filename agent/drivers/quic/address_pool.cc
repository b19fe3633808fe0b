#include "agent/drivers/quic/address_pool.h"

namespace warden::agent::quic {

AddressPool::AddressPool(warden::quic::Ipv4Prefix prefix)
    : prefix_(prefix),
      first_(prefix.network + 2),
      // network, gateway and broadcast are not for clients
      used_((size_t{1} << (32 - prefix.length)) - 3, false),
      available_(used_.size()) {}

std::optional<uint32_t> AddressPool::Acquire() {
  if (available_ == 0) return std::nullopt;
  while (used_[next_]) next_ = (next_ + 1) % used_.size();
  used_[next_] = true;
  --available_;
  const uint32_t address = first_ + static_cast<uint32_t>(next_);
  next_ = (next_ + 1) % used_.size();
  return address;
}

void AddressPool::Release(uint32_t address) {
  if (address < first_ || address - first_ >= used_.size()) return;
  const size_t index = address - first_;
  if (!used_[index]) return;
  used_[index] = false;
  ++available_;
}

}  // namespace warden::agent::quic
