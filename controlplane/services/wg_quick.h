#pragma once

// A WireGuard client's configuration for one node, in the wg-quick(8) file
// format. Pure text: the device's addresses and the node's key and
// endpoint. The [Interface] has no private key (it never leaves the
// device): its line is a comment for the user to fill in.

#include <string>

#include "controlplane/model/device.h"

namespace warden::control::services {

// What a device routes through a node: everything, IPv4 and IPv6.
inline constexpr const char* kFullTunnelAllowedIps[] = {"0.0.0.0/0", "::/0"};

std::string RenderWgQuick(const model::Device& device, const model::NodePeer& node);

}  // namespace warden::control::services
