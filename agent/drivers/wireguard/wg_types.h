#pragma once

// The WireGuard device and peer as the agent sees them, whichever control
// protocol (userspace UAPI or kernel generic netlink) read them, and the small
// value helpers both protocols share: keys, allowed-IP prefixes, endpoints.
//
// Keys are public keys or preshared keys. A preshared key is a secret: never
// log it. A device's private key is never stored here.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::agent::wireguard {

// A Curve25519 public key or a preshared key: always 32 bytes.
using Key = std::array<uint8_t, 32>;

struct WgPeer {
  Key public_key{};
  // Absent when the peer has no preshared key (the protocols send all zeros).
  std::optional<Key> preshared_key{};
  // "203.0.113.7:51820" or "[2001:db8::1]:51820"; empty when not known.
  std::string endpoint{};
  // "10.0.0.2/32", "fd00::2/128".
  std::vector<std::string> allowed_ips{};
  int64_t last_handshake_unix_sec = 0, last_handshake_nsec = 0, rx_bytes = 0, tx_bytes = 0;
  int persistent_keepalive = 0;  // seconds; 0 = off

  friend bool operator==(const WgPeer&, const WgPeer&) = default;
};

struct WgDevice {
  std::string name{};
  std::optional<Key> public_key{};  // absent when the device has no private key
  int listen_port = 0;
  uint32_t fwmark = 0;
  std::vector<WgPeer> peers{};

  friend bool operator==(const WgDevice&, const WgDevice&) = default;
};

// The most allowed IPs one peer may be given through WgBackend (one netlink
// message must hold them all).
inline constexpr size_t kMaxAllowedIpsPerPeer = 1024;

// Checks what AddOrUpdatePeer sends beyond the key: persistent_keepalive in
// 0..65535, at most kMaxAllowedIpsPerPeer allowed IPs. The allowed IPs and
// endpoint themselves are checked where they are parsed.
absl::Status ValidatePeerSettings(const WgPeer& peer);

// Standard base64 with padding (the form `wg` prints): 44 characters.
std::string KeyToBase64(const Key& key);
// Accepts only canonical standard base64 that decodes to exactly 32 bytes.
absl::StatusOr<Key> KeyFromBase64(absl::string_view text);

// 64 lowercase hex digits (the form UAPI uses).
std::string KeyToHex(const Key& key);
// Exactly 64 hex digits, either case.
absl::StatusOr<Key> KeyFromHex(absl::string_view text);

// True when every byte of `key` is zero (how both protocols say "no key").
bool IsZeroKey(const Key& key);

// An interface name the kernel would accept and that is safe in a path:
// 1 to 15 bytes, no '/', no whitespace or control bytes, not "." or "..".
absl::Status ValidateInterfaceName(absl::string_view name);

// An allowed-IP prefix, "10.0.0.2/32" or "fd00::/64".
struct IpPrefix {
  int family = 0;                     // AF_INET or AF_INET6
  std::array<uint8_t, 16> address{};  // the first 4 bytes for AF_INET
  uint8_t prefix_len = 0;

  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;
};

// Requires an IP literal and an explicit "/len" within the family's range.
absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text);
std::string FormatIpPrefix(const IpPrefix& prefix);

// A peer endpoint, "203.0.113.7:51820" or "[2001:db8::1]:51820".
struct IpEndpoint {
  int family = 0;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> address{};
  uint16_t port = 0;

  friend bool operator==(const IpEndpoint&, const IpEndpoint&) = default;
};

// Requires an IP literal (no host names, no IPv6 zone) and a port 1-65535.
absl::StatusOr<IpEndpoint> ParseEndpoint(absl::string_view text);
std::string FormatEndpoint(const IpEndpoint& endpoint);

}  // namespace warden::agent::wireguard
