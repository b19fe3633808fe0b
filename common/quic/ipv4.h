#pragma once

// IPv4 addresses, prefixes and packet headers, as the tunnel's two ends need
// them: the pool hands out host addresses, and every packet's header is
// checked before it is forwarded. Addresses are host-order integers.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::quic {

struct Ipv4Prefix {
  uint32_t network = 0;  // host bits zero
  int length = 0;        // 0..32

  uint32_t mask() const { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }
  bool Contains(uint32_t address) const { return (address & mask()) == network; }
};

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text);
// "10.77.0.0/24"; host bits set are an error (a likely typo).
absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text);
// "10.77.0.2/24" (an address and its prefix length) → address, prefix.
absl::StatusOr<std::pair<uint32_t, Ipv4Prefix>> ParseIpv4Interface(absl::string_view text);
std::string FormatIpv4(uint32_t address);
std::string FormatIpv4Prefix(const Ipv4Prefix& prefix);

struct Ipv4Header {
  uint32_t source = 0;
  uint32_t destination = 0;
};

enum class PacketCheck { kOk, kTooShort, kNotIpv4, kBadLength };

// Checks that `data` is one whole IPv4 packet: version 4, a header length of
// at least 20 bytes, a total length equal to `size`.
PacketCheck InspectIpv4(const uint8_t* data, size_t size, Ipv4Header& header);

}  // namespace warden::quic
