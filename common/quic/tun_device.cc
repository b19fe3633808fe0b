#include "common/quic/tun_device.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <net/route.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace warden::quic {
namespace {

absl::Status Errno(absl::string_view what, const std::string& device) {
  const int error = errno;
  std::string message = absl::StrCat(what, " on ", device, ": ", std::strerror(error));
  if (error == EPERM || error == EACCES) {
    absl::StrAppend(&message, " (needs root or CAP_NET_ADMIN)");
    return absl::PermissionDeniedError(message);
  }
  return absl::InternalError(message);
}

void SetSockaddr(sockaddr* out, uint32_t address) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(address);
  std::memcpy(out, &in, sizeof in);
}

// ioctl(2) on a throwaway socket, the interface configuration API.
absl::Status InterfaceIoctl(unsigned long request, ifreq& ifr, absl::string_view what) {
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket", ifr.ifr_name);
  absl::Cleanup close_socket = [sock] { ::close(sock); };
  if (::ioctl(sock, request, &ifr) != 0) return Errno(what, ifr.ifr_name);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TunDevice>> TunDevice::Open(const std::string& name) {
  if (name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("TUN name \"", name, "\" is longer than ", IFNAMSIZ - 1, " characters"));
  }
  const int fd = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return Errno("open /dev/net/tun", name);
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd, TUNSETIFF, &ifr) != 0) {
    absl::Status status = Errno("TUNSETIFF", name);
    ::close(fd);
    return status;
  }
  return std::unique_ptr<TunDevice>(new TunDevice(fd, ifr.ifr_name));
}

TunDevice::~TunDevice() { ::close(fd_); }

absl::Status TunDevice::Configure(uint32_t address, int prefix_length, int mtu) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  SetSockaddr(&ifr.ifr_addr, address);
  if (absl::Status s = InterfaceIoctl(SIOCSIFADDR, ifr, "set address"); !s.ok()) return s;
  const Ipv4Prefix prefix{.network = 0, .length = prefix_length};
  SetSockaddr(&ifr.ifr_netmask, prefix.mask());
  if (absl::Status s = InterfaceIoctl(SIOCSIFNETMASK, ifr, "set netmask"); !s.ok()) return s;
  ifr.ifr_mtu = mtu;
  if (absl::Status s = InterfaceIoctl(SIOCSIFMTU, ifr, "set MTU"); !s.ok()) return s;
  if (absl::Status s = InterfaceIoctl(SIOCGIFFLAGS, ifr, "read flags"); !s.ok()) return s;
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  return InterfaceIoctl(SIOCSIFFLAGS, ifr, "bring up");
}

absl::Status TunDevice::AddRoute(const Ipv4Prefix& prefix) {
  rtentry route{};
  SetSockaddr(&route.rt_dst, prefix.network);
  SetSockaddr(&route.rt_genmask, prefix.mask());
  route.rt_flags = RTF_UP;
  std::string device = name_;
  route.rt_dev = device.data();
  const int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return Errno("socket", name_);
  absl::Cleanup close_socket = [sock] { ::close(sock); };
  if (::ioctl(sock, SIOCADDRT, &route) != 0 && errno != EEXIST) {
    return Errno(absl::StrCat("add route ", FormatIpv4Prefix(prefix)), name_);
  }
  return absl::OkStatus();
}

}  // namespace warden::quic
