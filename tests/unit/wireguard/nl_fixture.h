#pragma once

// Hand-encoded netlink messages for the WireGuard codec tests, written
// without libmnl so that the fixtures do not share the code under test.
// Little-endian, as on the hosts Warden runs on.

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace warden::agent::wireguard::fixtures {

class NlWriter {
 public:
  // Starts a message; EndMessage() fills in its length.
  void BeginMessage(uint16_t type, uint16_t flags, uint32_t seq = 0, uint32_t portid = 0) {
    Pad();
    message_start_ = bytes_.size();
    U32(0);
    U16(type);
    U16(flags);
    U32(seq);
    U32(portid);
  }
  void EndMessage() {
    Patch32(message_start_, static_cast<uint32_t>(bytes_.size() - message_start_));
  }

  void Genl(uint8_t cmd, uint8_t version = 1) {
    bytes_.push_back(cmd);
    bytes_.push_back(version);
    U16(0);
  }

  void Attr(uint16_t type, const void* data, size_t len) {
    Pad();
    U16(static_cast<uint16_t>(4 + len));
    U16(type);
    const auto* p = static_cast<const uint8_t*>(data);
    bytes_.insert(bytes_.end(), p, p + len);
    Pad();
  }
  void AttrU8(uint16_t type, uint8_t v) { Attr(type, &v, 1); }
  void AttrU16(uint16_t type, uint16_t v) { Attr(type, &v, 2); }
  void AttrU32(uint16_t type, uint32_t v) { Attr(type, &v, 4); }
  void AttrU64(uint16_t type, uint64_t v) { Attr(type, &v, 8); }
  void AttrStr(uint16_t type, const std::string& s) { Attr(type, s.c_str(), s.size() + 1); }
  void AttrKey(uint16_t type, const std::array<uint8_t, 32>& k) { Attr(type, k.data(), 32); }

  // Nests may be open inside one another; End closes the innermost.
  void BeginNest(uint16_t type) {
    Pad();
    nests_.push_back(bytes_.size());
    U16(0);
    U16(static_cast<uint16_t>(type | NLA_F_NESTED));
  }
  void EndNest() {
    size_t start = nests_.back();
    nests_.pop_back();
    uint16_t len = static_cast<uint16_t>(bytes_.size() - start);
    std::memcpy(&bytes_[start], &len, 2);
  }

  // One allowed IP. The kernel's dump writes CIDR_MASK, FAMILY, IPADDR (as
  // here by default); `wg` and Warden's encoder write FAMILY, IPADDR, CIDR_MASK.
  void AllowedIp4(const std::array<uint8_t, 4>& addr, uint8_t cidr, bool kernel_order = true) {
    AllowedIp(AF_INET, addr.data(), 4, cidr, kernel_order);
  }
  void AllowedIp6(const std::array<uint8_t, 16>& addr, uint8_t cidr, bool kernel_order = true) {
    AllowedIp(AF_INET6, addr.data(), 16, cidr, kernel_order);
  }
  void AllowedIp(uint16_t family, const uint8_t* addr, size_t len, uint8_t cidr,
                 bool kernel_order) {
    BeginNest(0);
    if (kernel_order) AttrU8(WGALLOWEDIP_A_CIDR_MASK, cidr);
    AttrU16(WGALLOWEDIP_A_FAMILY, family);
    Attr(WGALLOWEDIP_A_IPADDR, addr, len);
    if (!kernel_order) AttrU8(WGALLOWEDIP_A_CIDR_MASK, cidr);
    EndNest();
  }

  void Done(uint32_t seq = 0, int32_t error = 0) {
    BeginMessage(NLMSG_DONE, NLM_F_MULTI, seq);
    U32(static_cast<uint32_t>(error));
    EndMessage();
  }
  void Error(int32_t error, uint32_t seq = 0) {
    BeginMessage(NLMSG_ERROR, 0, seq);
    U32(static_cast<uint32_t>(error));
    // The echoed request header (capped).
    U32(20);
    U16(0x1c);
    U16(NLM_F_REQUEST);
    U32(seq);
    U32(0);
    EndMessage();
  }

  const std::vector<uint8_t>& bytes() const { return bytes_; }
  std::vector<uint8_t> Take() {
    std::vector<uint8_t> out;
    out.swap(bytes_);
    return out;
  }

 private:
  void U16(uint16_t v) { Append(&v, 2); }
  void U32(uint32_t v) { Append(&v, 4); }
  void Append(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
  }
  void Patch32(size_t at, uint32_t v) { std::memcpy(&bytes_[at], &v, 4); }
  void Pad() {
    while (bytes_.size() % 4 != 0) bytes_.push_back(0);
  }

  std::vector<uint8_t> bytes_;
  size_t message_start_ = 0;
  std::vector<size_t> nests_;
};

inline std::array<uint8_t, 32> FilledKey(uint8_t v) {
  std::array<uint8_t, 32> k{};
  k.fill(v);
  return k;
}

inline std::vector<uint8_t> SockaddrIn(const std::array<uint8_t, 4>& addr, uint16_t port) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  std::memcpy(&sin.sin_addr, addr.data(), 4);
  std::vector<uint8_t> out(sizeof(sin));
  std::memcpy(out.data(), &sin, sizeof(sin));
  return out;
}

inline std::vector<uint8_t> SockaddrIn6(const std::array<uint8_t, 16>& addr, uint16_t port) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(port);
  std::memcpy(&sin6.sin6_addr, addr.data(), 16);
  std::vector<uint8_t> out(sizeof(sin6));
  std::memcpy(out.data(), &sin6, sizeof(sin6));
  return out;
}

inline constexpr uint16_t kFamilyId = 0x1c;

// A GET_DEVICE dump of device "wg0" in three datagrams, laid out as the
// kernel (drivers/net/wireguard/netlink.c) does it, attribute order included: the device attributes
// only in the first message; peer B's allowed IPs do not fit the first message and B is continued
// (same public key, allowed IPs only) at the start of the second; NLMSG_DONE alone in the third.
//   A = 0xaa..: no psk, 10.99.0.2:51820, handshake 1795415224.470385760,
//               rx 476, tx 532, keepalive 0, allowed 10.99.1.2/32
//   B = 0xbb..: psk 0x42.., [fd00::1]:51821, keepalive 25,
//               allowed 10.0.0.2/32, fd00::2/128 | 10.0.0.3/32
//   C = 0xcc..: nothing but its key
inline std::vector<std::vector<uint8_t>> SplitDumpFixture(uint32_t seq = 7) {
  const std::array<uint8_t, 16> fd00_1 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::array<uint8_t, 16> fd00_2 = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::vector<std::vector<uint8_t>> datagrams;
  NlWriter w;

  w.BeginMessage(kFamilyId, NLM_F_MULTI, seq);
  w.Genl(WG_CMD_GET_DEVICE);
  w.AttrU16(WGDEVICE_A_LISTEN_PORT, 51820);
  w.AttrU32(WGDEVICE_A_FWMARK, 0x51);
  w.AttrU32(WGDEVICE_A_IFINDEX, 7);
  w.AttrStr(WGDEVICE_A_IFNAME, "wg0");
  w.AttrKey(WGDEVICE_A_PRIVATE_KEY, FilledKey(0x11));
  w.AttrKey(WGDEVICE_A_PUBLIC_KEY, FilledKey(0x22));
  w.BeginNest(WGDEVICE_A_PEERS);
  {
    w.BeginNest(0);
    w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xaa));
    w.AttrKey(WGPEER_A_PRESHARED_KEY, FilledKey(0));
    int64_t ts[2] = {1795415224, 470385760};
    w.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, ts, sizeof(ts));
    w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 0);
    w.AttrU64(WGPEER_A_TX_BYTES, 532);
    w.AttrU64(WGPEER_A_RX_BYTES, 476);
    w.AttrU32(WGPEER_A_PROTOCOL_VERSION, 1);
    std::vector<uint8_t> ep = SockaddrIn({10, 99, 0, 2}, 51820);
    w.Attr(WGPEER_A_ENDPOINT, ep.data(), ep.size());
    w.BeginNest(WGPEER_A_ALLOWEDIPS);
    w.AllowedIp4({10, 99, 1, 2}, 32);
    w.EndNest();
    w.EndNest();
  }
  {
    w.BeginNest(0);
    w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xbb));
    w.AttrKey(WGPEER_A_PRESHARED_KEY, FilledKey(0x42));
    int64_t ts[2] = {0, 0};
    w.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, ts, sizeof(ts));
    w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
    w.AttrU64(WGPEER_A_TX_BYTES, 0);
    w.AttrU64(WGPEER_A_RX_BYTES, 0);
    w.AttrU32(WGPEER_A_PROTOCOL_VERSION, 1);
    std::vector<uint8_t> ep = SockaddrIn6(fd00_1, 51821);
    w.Attr(WGPEER_A_ENDPOINT, ep.data(), ep.size());
    w.BeginNest(WGPEER_A_ALLOWEDIPS);
    w.AllowedIp4({10, 0, 0, 2}, 32);
    w.AllowedIp6(fd00_2, 128);
    w.EndNest();
    w.EndNest();
  }
  w.EndNest();
  w.EndMessage();
  datagrams.push_back(w.Take());

  w.BeginMessage(kFamilyId, NLM_F_MULTI, seq);
  w.Genl(WG_CMD_GET_DEVICE);
  w.BeginNest(WGDEVICE_A_PEERS);
  w.BeginNest(0);
  w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xbb));
  w.BeginNest(WGPEER_A_ALLOWEDIPS);
  w.AllowedIp4({10, 0, 0, 3}, 32);
  w.EndNest();
  w.EndNest();
  w.BeginNest(0);
  w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xcc));
  w.EndNest();
  w.EndNest();
  w.EndMessage();
  datagrams.push_back(w.Take());

  w.Done(seq);
  datagrams.push_back(w.Take());
  return datagrams;
}

}  // namespace warden::agent::wireguard::fixtures
