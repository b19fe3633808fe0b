#include "common/quic/ipv4.h"

#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::quic {

absl::StatusOr<uint32_t> ParseIpv4(absl::string_view text) {
  in_addr address{};
  const std::string copy(text);
  // inet_pton stops at a NUL; the whole text must be the address.
  if (text.find('\0') != absl::string_view::npos ||
      inet_pton(AF_INET, copy.c_str(), &address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not an IPv4 address"));
  }
  return ntohl(address.s_addr);
}

absl::StatusOr<std::pair<uint32_t, Ipv4Prefix>> ParseIpv4Interface(absl::string_view text) {
  const size_t slash = text.find('/');
  int length = 0;
  if (slash == absl::string_view::npos || !absl::SimpleAtoi(text.substr(slash + 1), &length) ||
      length < 0 || length > 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not an IPv4 prefix like 10.77.0.0/24"));
  }
  absl::StatusOr<uint32_t> address = ParseIpv4(text.substr(0, slash));
  if (!address.ok()) return address.status();
  Ipv4Prefix prefix{.network = 0, .length = length};
  prefix.network = *address & prefix.mask();
  return std::make_pair(*address, prefix);
}

absl::StatusOr<Ipv4Prefix> ParseIpv4Prefix(absl::string_view text) {
  auto parsed = ParseIpv4Interface(text);
  if (!parsed.ok()) return parsed.status();
  if (parsed->first != parsed->second.network) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" has host bits set; did you mean ", FormatIpv4Prefix(parsed->second), "?"));
  }
  return parsed->second;
}

std::string FormatIpv4(uint32_t address) {
  return absl::StrCat(address >> 24, ".", (address >> 16) & 0xff, ".", (address >> 8) & 0xff, ".",
                      address & 0xff);
}

std::string FormatIpv4Prefix(const Ipv4Prefix& prefix) {
  return absl::StrCat(FormatIpv4(prefix.network), "/", prefix.length);
}

PacketCheck InspectIpv4(const uint8_t* data, size_t size, Ipv4Header& header) {
  if (size < 20) return PacketCheck::kTooShort;
  if ((data[0] >> 4) != 4) return PacketCheck::kNotIpv4;
  const size_t header_length = size_t{data[0] & 0x0fu} * 4;
  const size_t total_length = (size_t{data[2]} << 8) | data[3];
  if (header_length < 20 || total_length != size || header_length > total_length) {
    return PacketCheck::kBadLength;
  }
  header.source = (uint32_t{data[12]} << 24) | (uint32_t{data[13]} << 16) |
                  (uint32_t{data[14]} << 8) | data[15];
  header.destination = (uint32_t{data[16]} << 24) | (uint32_t{data[17]} << 16) |
                       (uint32_t{data[18]} << 8) | data[19];
  return PacketCheck::kOk;
}

}  // namespace warden::quic
