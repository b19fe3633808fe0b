// libFuzzer target: the WireGuard netlink decoder on one datagram of a
// GET_DEVICE dump, as the kernel would send it.
//
// The decoder must give the same result from any alignment of the buffer; a
// device it decodes must decode the same again once written out as one dump
// message (by the unit tests' hand encoder, which does not share its code),
// and each of its peers must give a set request or a clean INVALID_ARGUMENT.

#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "agent/drivers/wireguard/netlink.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/wireguard/nl_fixture.h"

namespace warden::agent::wireguard {
namespace {

// Past this the re-encoded peers could overflow a 16-bit attribute length.
constexpr size_t kMaxRoundTripInput = 16 * 1024;

struct Decoded {
  absl::Status status;
  WgDevice device;
  bool done = false;
};

Decoded Decode(const uint8_t* buf, size_t len) {
  Decoded out;
  out.status = DecodeGetDeviceMessage(buf, len, out.device, out.done);
  return out;
}

// The sockaddr an endpoint string came from: "a.b.c.d:port" or
// "[v6%scope]:port", port 0 included (the decoder passes it through).
std::optional<std::vector<uint8_t>> EndpointSockaddr(absl::string_view text) {
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(text.substr(colon + 1), &port) ||
      port > 65535) {
    return std::nullopt;
  }
  absl::string_view host = text.substr(0, colon);
  if (host.size() < 2 || host.front() != '[') {
    std::array<uint8_t, 4> v4{};
    if (inet_pton(AF_INET, std::string(host).c_str(), v4.data()) != 1) return std::nullopt;
    return fixtures::SockaddrIn(v4, static_cast<uint16_t>(port));
  }
  host = host.substr(1, host.size() - 2);
  uint32_t scope = 0;
  if (const size_t percent = host.find('%'); percent != absl::string_view::npos) {
    if (!absl::SimpleAtoi(host.substr(percent + 1), &scope)) return std::nullopt;
    host = host.substr(0, percent);
  }
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), v6.data()) != 1) return std::nullopt;
  std::vector<uint8_t> sockaddr = fixtures::SockaddrIn6(v6, static_cast<uint16_t>(port));
  std::memcpy(sockaddr.data() + offsetof(sockaddr_in6, sin6_scope_id), &scope, sizeof(scope));
  return sockaddr;
}

// `device` as one dump message and NLMSG_DONE.
std::vector<uint8_t> EncodeDump(const WgDevice& device) {
  fixtures::NlWriter w;
  w.BeginMessage(fixtures::kFamilyId, NLM_F_MULTI);
  w.Genl(WG_CMD_GET_DEVICE);
  if (!device.name.empty()) w.AttrStr(WGDEVICE_A_IFNAME, device.name);
  if (device.public_key.has_value()) w.AttrKey(WGDEVICE_A_PUBLIC_KEY, *device.public_key);
  w.AttrU16(WGDEVICE_A_LISTEN_PORT, static_cast<uint16_t>(device.listen_port));
  w.AttrU32(WGDEVICE_A_FWMARK, device.fwmark);
  w.BeginNest(WGDEVICE_A_PEERS);
  for (const WgPeer& peer : device.peers) {
    w.BeginNest(0);
    w.AttrKey(WGPEER_A_PUBLIC_KEY, peer.public_key);
    w.AttrKey(WGPEER_A_PRESHARED_KEY, peer.preshared_key.value_or(Key{}));
    const int64_t handshake[2] = {peer.last_handshake_unix_sec, peer.last_handshake_nsec};
    w.Attr(WGPEER_A_LAST_HANDSHAKE_TIME, handshake, sizeof(handshake));
    w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
              static_cast<uint16_t>(peer.persistent_keepalive));
    w.AttrU64(WGPEER_A_RX_BYTES, static_cast<uint64_t>(peer.rx_bytes));
    w.AttrU64(WGPEER_A_TX_BYTES, static_cast<uint64_t>(peer.tx_bytes));
    if (!peer.endpoint.empty()) {
      std::optional<std::vector<uint8_t>> sockaddr = EndpointSockaddr(peer.endpoint);
      FUZZ_CHECK_MSG(sockaddr.has_value(), peer.endpoint);
      w.Attr(WGPEER_A_ENDPOINT, sockaddr->data(), sockaddr->size());
    }
    w.BeginNest(WGPEER_A_ALLOWEDIPS);
    for (const std::string& allowed_ip : peer.allowed_ips) {
      absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(allowed_ip);
      FUZZ_CHECK_MSG(prefix.ok(), allowed_ip);  // what the decoder formats parses back
      w.AllowedIp(static_cast<uint16_t>(prefix->family), prefix->address.data(),
                  prefix->family == AF_INET ? 4 : 16, prefix->prefix_len, true);
    }
    w.EndNest();
    w.EndNest();
  }
  w.EndNest();
  w.EndMessage();
  w.Done();
  return w.Take();
}

void CheckSetPeer(const WgPeer& peer) {
  absl::StatusOr<std::vector<uint8_t>> set =
      EncodeSetPeer(fixtures::kFamilyId, "wg0", peer, /*seq=*/1);
  if (!set.ok()) {
    FUZZ_CHECK_MSG(absl::IsInvalidArgument(set.status()), set.status().ToString());
    return;
  }
  uint32_t length = 0;
  FUZZ_CHECK(set->size() >= sizeof(nlmsghdr));
  std::memcpy(&length, set->data(), sizeof(length));
  FUZZ_CHECK(length == set->size());
}

}  // namespace
}  // namespace warden::agent::wireguard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace warden::agent::wireguard;
  const Decoded aligned = Decode(data, size);

  // The same bytes one past an aligned address.
  std::vector<uint8_t> shifted(size + 1);
  if (size > 0) std::memcpy(shifted.data() + 1, data, size);
  const Decoded misaligned = Decode(shifted.data() + 1, size);
  FUZZ_CHECK(aligned.status == misaligned.status);
  FUZZ_CHECK(aligned.device == misaligned.device && aligned.done == misaligned.done);

  uint16_t family_id = 0;
  bool done = false;
  DecodeGetFamilyReply(data, size, family_id, done).IgnoreError();
  done = false;
  DecodeAck(data, size, done).IgnoreError();

  if (!aligned.status.ok()) return 0;
  const WgDevice& device = aligned.device;
  size_t allowed_ips = 0;
  for (const WgPeer& peer : device.peers) allowed_ips += peer.allowed_ips.size();
  // A peer takes at least its key attribute, an allowed IP at least three.
  FUZZ_CHECK(device.peers.size() * 36 + allowed_ips * 24 <= size);

  if (size <= kMaxRoundTripInput) {
    const std::vector<uint8_t> dump = EncodeDump(device);
    const Decoded again = Decode(dump.data(), dump.size());
    FUZZ_CHECK_MSG(again.status.ok(), again.status.ToString());
    FUZZ_CHECK(again.done);
    FUZZ_CHECK(again.device == device);
  }
  for (const WgPeer& peer : device.peers) CheckSetPeer(peer);
  return 0;
}
