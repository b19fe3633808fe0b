#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::model {

// A user's registered WireGuard key and the tunnel addresses it was given.
struct Device {
  std::string id;
  std::string user_id;
  std::string username;
  std::string public_key;  // standard base64 of 32 bytes
  std::string label;
  std::string address_v4;  // "10.66.0.2"
  std::string address_v6;  // "" without an IPv6 pool
  absl::Time created_at;
  std::optional<absl::Time> expires_at;  // its access ends then
};

struct DevicePage {
  std::vector<Device> devices;
  // Keyset position of the last device, set when more may follow.
  std::optional<std::pair<absl::Time, std::string>> last;
};

// A node's WireGuard interface, as its agent reported it at attach.
struct WireGuardInterface {
  std::string iface{};       // "wg0"
  std::string public_key{};  // standard base64; "" while the interface has no key
  std::string endpoint{};    // what users dial, "vpn1.example.net:51820"; "" when not set
  int listen_port = 0;
};

// A node a user's device may connect to: its interface's key and endpoint.
struct NodePeer {
  std::string node_name{};
  std::string public_key{};
  std::string endpoint{};
};

// A device as a WireGuard node configures it.
struct WireGuardPeer {
  std::string device_id;
  std::string public_key;
  std::vector<std::string> allowed_ips;  // "10.66.0.2/32", "fd66::2/128"
  std::string username;
};

}  // namespace warden::control::model
