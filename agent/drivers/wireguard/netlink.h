#pragma once

// The kernel's WireGuard control protocol: generic netlink family
// "wireguard" (linux/wireguard.h), through libmnl.
//
// Reading a device is a dump (WG_CMD_GET_DEVICE with NLM_F_DUMP). The kernel
// splits a long peer list over several messages: the device attributes come
// only in the first, and a peer whose allowed IPs do not fit is continued at
// the start of the next message under the same public key. The dump ends
// with NLMSG_DONE, or with NLMSG_ERROR on failure (ENODEV: no such device).
//
// The Encode*/Decode* functions are pure (byte buffers in and out); the
// socket part is NetlinkBackend. Every decoder treats its input as untrusted:
// truncated or malformed buffers give an error status, never a crash.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "agent/drivers/wireguard/wg_types.h"

namespace warden::agent::wireguard {

// The most bytes one device read may take, over all messages of the dump.
inline constexpr size_t kMaxNetlinkDumpBytes = size_t{64} << 20;
inline constexpr absl::Duration kDefaultNetlinkTimeout = absl::Seconds(5);

// CTRL_CMD_GETFAMILY for "wireguard", with NLM_F_ACK.
std::vector<uint8_t> EncodeGetFamily(uint32_t seq);

// One datagram of the reply to EncodeGetFamily. Sets `family_id` when the
// family message is in it and `done` at the ACK. NOT_FOUND when the kernel
// has no such family (ENOENT).
absl::Status DecodeGetFamilyReply(const uint8_t* buf, size_t len, uint16_t& family_id, bool& done);

// WG_CMD_GET_DEVICE, NLM_F_REQUEST | NLM_F_DUMP, with WGDEVICE_A_IFNAME.
// `ifname` must pass ValidateInterfaceName.
std::vector<uint8_t> EncodeGetDevice(uint16_t family_id, const std::string& ifname, uint32_t seq);

// One datagram of the dump (one or more netlink messages), merged into
// `into`: device attributes when present, peers appended, and a peer whose
// public key equals the last peer's (a continuation) merged into it. Sets
// `done` at NLMSG_DONE. NLMSG_ERROR gives the errno's status (NOT_FOUND for
// ENODEV); a dump interrupted by a concurrent change (NLM_F_DUMP_INTR) gives
// ABORTED, and the read should be retried from scratch.
absl::Status DecodeGetDeviceMessage(const uint8_t* buf, size_t len, WgDevice& into, bool& done);

// WG_CMD_SET_DEVICE with NLM_F_ACK for one peer, following
// WgBackend::AddOrUpdatePeer (WGPEER_F_REPLACE_ALLOWEDIPS). INVALID_ARGUMENT
// when an allowed IP, the endpoint or the keepalive is not valid.
absl::StatusOr<std::vector<uint8_t>> EncodeSetPeer(uint16_t family_id, const std::string& ifname,
                                                   const WgPeer& peer, uint32_t seq);

// WG_CMD_SET_DEVICE with NLM_F_ACK removing one peer (WGPEER_F_REMOVE_ME).
std::vector<uint8_t> EncodeRemovePeer(uint16_t family_id, const std::string& ifname,
                                      const Key& public_key, uint32_t seq);

// One datagram of the reply to a request sent with NLM_F_ACK: `done` at an
// ACK (NLMSG_ERROR with error 0), the errno's status at an error.
absl::Status DecodeAck(const uint8_t* buf, size_t len, bool& done);

// The kernel's id for the "wireguard" family. FAILED_PRECONDITION when the
// kernel has none (module absent), UNAVAILABLE when netlink itself fails.
absl::StatusOr<uint16_t> ResolveWireGuardFamily(absl::Duration timeout = kDefaultNetlinkTimeout);

// WgBackend over generic netlink, in the network namespace of the thread that
// calls it. Opens one netlink socket per call.
class NetlinkBackend : public WgBackend {
 public:
  // Checks the name and that the kernel has the family; not that `iface`
  // exists (GetDevice says NOT_FOUND if it does not).
  static absl::StatusOr<std::unique_ptr<NetlinkBackend>> Open(
      const std::string& iface, absl::Duration timeout = kDefaultNetlinkTimeout);

  absl::StatusOr<WgDevice> GetDevice() override;
  absl::Status AddOrUpdatePeer(const WgPeer& peer) override;
  absl::Status RemovePeer(const Key& public_key) override;
  std::string kind() const override { return "netlink"; }

 private:
  NetlinkBackend(std::string iface, absl::Duration timeout)
      : iface_(std::move(iface)), timeout_(timeout) {}

  absl::Status SendAndAwaitAck(const std::vector<uint8_t>& request, uint32_t seq);

  std::string iface_;
  absl::Duration timeout_;
};

}  // namespace warden::agent::wireguard
