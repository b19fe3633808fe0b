#include "controlplane/services/wg_quick.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::control::services {

std::string RenderWgQuick(const model::Device& device, const model::NodePeer& node) {
  std::string addresses = absl::StrCat(device.address_v4, "/32");
  if (!device.address_v6.empty()) absl::StrAppend(&addresses, ", ", device.address_v6, "/128");
  return absl::StrCat("# Warden: device \"", device.label, "\" (", device.id, ") on node ",
                      node.node_name, "\n", "[Interface]\n",
                      "# PrivateKey = <this device's private key: Warden never sees it>\n",
                      "Address = ", addresses, "\n", "\n", "[Peer]\n",
                      "PublicKey = ", node.public_key, "\n", "Endpoint = ", node.endpoint, "\n",
                      "AllowedIPs = ", absl::StrJoin(kFullTunnelAllowedIps, ", "), "\n",
                      // Keeps NAT mappings open so that the node can reach the device.
                      "PersistentKeepalive = 25\n");
}

}  // namespace warden::control::services
