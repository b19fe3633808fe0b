#include "agent/drivers/wireguard/wg_backend.h"

#include <sys/stat.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/drivers/wireguard/netlink.h"
#include "agent/drivers/wireguard/uapi.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {

absl::StatusOr<std::unique_ptr<WgBackend>> OpenWgBackend(const std::string& iface,
                                                         const std::string& uapi_dir) {
  WARDEN_RETURN_IF_ERROR(ValidateInterfaceName(iface));
  std::string socket_path = absl::StrCat(uapi_dir, "/", iface, ".sock");
  struct stat st {};
  std::string uapi_tried;
  if (stat(socket_path.c_str(), &st) != 0) {
    uapi_tried = absl::StrCat(socket_path, " does not exist");
  } else if (!S_ISSOCK(st.st_mode)) {
    uapi_tried = absl::StrCat(socket_path, " is not a socket");
  } else {
    return std::make_unique<UapiBackend>(iface, socket_path);
  }
  absl::StatusOr<std::unique_ptr<NetlinkBackend>> netlink = NetlinkBackend::Open(iface);
  if (netlink.ok()) return std::unique_ptr<WgBackend>(std::move(*netlink));
  return absl::FailedPreconditionError(
      absl::StrCat("no WireGuard control for ", iface, ": tried userspace UAPI (", uapi_tried,
                   ") and kernel netlink (", netlink.status().message(), ")"));
}

}  // namespace warden::agent::wireguard
