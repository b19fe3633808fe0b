#pragma once

// UAPI replies for the parser tests, after the wireguard-go v0.0.20220316
// transcript in shared/recipes/RIGS.md section A. The private key is the
// RFC 7748 test vector (Alice), so the public key is known.

#include "absl/strings/string_view.h"

namespace warden::agent::wireguard::fixtures {

inline constexpr absl::string_view kRfc7748PrivateHex =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
inline constexpr absl::string_view kRfc7748PublicHex =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";

inline constexpr absl::string_view kWireguardGoGetReply =
    "private_key=77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a\n"
    "listen_port=51820\n"
    "public_key=5dfc07816931b897d90fda8c3ad58824773fc27056eaee3d68cf5d0a236b9d13\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "endpoint=10.99.0.2:51820\n"
    "last_handshake_time_sec=1795415224\n"
    "last_handshake_time_nsec=470385760\n"
    "tx_bytes=532\n"
    "rx_bytes=476\n"
    "persistent_keepalive_interval=0\n"
    "allowed_ip=10.99.1.2/32\n"
    "errno=0\n"
    "\n";

// Three peers, a fwmark, IPv6, a preshared key and a keepalive; no private key.
inline constexpr absl::string_view kThreePeerGetReply =
    "listen_port=51000\n"
    "fwmark=4660\n"
    "public_key=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
    "preshared_key=4242424242424242424242424242424242424242424242424242424242424242\n"
    "protocol_version=1\n"
    "last_handshake_time_sec=0\n"
    "last_handshake_time_nsec=0\n"
    "tx_bytes=0\n"
    "rx_bytes=0\n"
    "persistent_keepalive_interval=25\n"
    "allowed_ip=10.0.0.2/32\n"
    "allowed_ip=fd00::2/128\n"
    "public_key=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "endpoint=[2001:db8::7]:51820\n"
    "tx_bytes=1000\n"
    "rx_bytes=2000\n"
    "allowed_ip=10.0.0.3/32\n"
    "public_key=cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n"
    "errno=0\n"
    "\n";

}  // namespace warden::agent::wireguard::fixtures
