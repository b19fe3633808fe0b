#pragma once

// A Linux TUN device (layer 3, no packet info header), opened non-blocking,
// configured with one IPv4 address, an MTU and routes. Needs CAP_NET_ADMIN.
// The device disappears when the object closes its descriptor.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/quic/ipv4.h"

namespace warden::quic {

class TunDevice {
 public:
  // `name` "" lets the kernel choose (tun0, tun1...).
  static absl::StatusOr<std::unique_ptr<TunDevice>> Open(const std::string& name);
  ~TunDevice();

  TunDevice(const TunDevice&) = delete;
  TunDevice& operator=(const TunDevice&) = delete;

  // Sets `address`/`prefix_length` and `mtu` and brings the device up.
  absl::Status Configure(uint32_t address, int prefix_length, int mtu);
  // Routes `prefix` into the device.
  absl::Status AddRoute(const Ipv4Prefix& prefix);

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

 private:
  TunDevice(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}

  int fd_;
  std::string name_;
};

}  // namespace warden::quic
