#pragma once

// The cross-platform userspace API (UAPI) of WireGuard, as spoken by
// wireguard-go and boringtun on /var/run/wireguard/<iface>.sock:
//
//   request:  "get=1\n\n"                       reply: key=value lines, then
//             "set=1\n" key=value lines "\n"           "errno=N\n\n"
//
// Keys are lowercase hex. In a get reply the device's keys come first
// (private_key, listen_port, fwmark); each "public_key=" line starts a peer,
// and the lines after it (preshared_key, endpoint, allowed_ip, ...) belong to
// it. A get reply carries the device's PRIVATE key: the parser keeps only the
// public key derived from it, and nothing here logs a reply.
//
// The parser and builder are pure; UapiReplyReader assembles a reply from
// socket reads; UapiExchange / UapiRequest / UapiBackend do the I/O.

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "agent/drivers/wireguard/wg_types.h"

namespace warden::agent::wireguard {

// The largest reply accepted, blank line included (about 150k peers).
inline constexpr size_t kMaxUapiReplyBytes = size_t{64} << 20;
inline constexpr absl::Duration kDefaultUapiTimeout = absl::Seconds(5);

inline constexpr absl::string_view kUapiGetRequest = "get=1\n\n";

// Parses a complete get reply, through its terminating blank line. Unknown
// keys are ignored. A nonzero "errno=N" gives an error status naming N (and
// the absl code that errno maps to); a missing blank line or errno line, a
// line without '=', bad hex or an out-of-range number gives INVALID_ARGUMENT
// naming the line. `name` of the result is left empty.
absl::StatusOr<WgDevice> ParseUapiGet(absl::string_view reply);

// Checks the reply to a set request ("errno=0\n\n").
absl::Status ParseUapiSetReply(absl::string_view reply);

enum class UapiPeerOp { kAddOrUpdate, kRemove };

// The set request for one peer, blank line included. kAddOrUpdate follows
// WgBackend::AddOrUpdatePeer; kRemove uses only `peer.public_key`. Fails with
// INVALID_ARGUMENT when an allowed IP, the endpoint or the keepalive is not
// valid; values are re-formatted from their parsed form, so nothing from the
// caller reaches the socket verbatim.
absl::StatusOr<std::string> BuildUapiSet(const WgPeer& peer, UapiPeerOp op);

// Accumulates the bytes of one reply as they arrive, in pieces of any size,
// until the blank line that ends it.
class UapiReplyReader {
 public:
  explicit UapiReplyReader(size_t max_bytes = kMaxUapiReplyBytes) : max_bytes_(max_bytes) {}
  ~UapiReplyReader();  // wipes the buffer: a get reply holds the private key

  UapiReplyReader(const UapiReplyReader&) = delete;
  UapiReplyReader& operator=(const UapiReplyReader&) = delete;

  // Adds received bytes. Bytes after the end of the reply are dropped.
  // RESOURCE_EXHAUSTED once the reply would exceed `max_bytes` unfinished.
  absl::Status Append(absl::string_view bytes);

  // True once the terminating blank line has arrived.
  bool complete() const { return complete_; }

  // The reply so far; once complete, the whole reply through its blank line.
  absl::string_view reply() const { return buffer_; }

 private:
  size_t max_bytes_;
  std::string buffer_;
  bool complete_ = false;
};

// Writes `request` to the connected stream socket `fd` and reads one reply,
// waiting at most until `deadline`. EINTR-safe; works on blocking and
// non-blocking sockets. DEADLINE_EXCEEDED on timeout, UNAVAILABLE when the
// peer closes before the reply ends.
absl::StatusOr<std::string> UapiExchange(int fd, absl::string_view request, absl::Time deadline,
                                         size_t max_reply_bytes = kMaxUapiReplyBytes);

// Connects to the unix socket `socket_path`, makes one exchange and closes.
// UNAVAILABLE when nothing listens there.
absl::StatusOr<std::string> UapiRequest(const std::string& socket_path, absl::string_view request,
                                        absl::Duration timeout);

// WgBackend over a UAPI socket; connects once per call.
class UapiBackend : public WgBackend {
 public:
  UapiBackend(std::string iface, std::string socket_path,
              absl::Duration timeout = kDefaultUapiTimeout)
      : iface_(std::move(iface)), socket_path_(std::move(socket_path)), timeout_(timeout) {}

  absl::StatusOr<WgDevice> GetDevice() override;
  absl::Status AddOrUpdatePeer(const WgPeer& peer) override;
  absl::Status RemovePeer(const Key& public_key) override;
  std::string kind() const override { return "uapi"; }

  const std::string& socket_path() const { return socket_path_; }

 private:
  absl::Status Set(const WgPeer& peer, UapiPeerOp op);

  std::string iface_;
  std::string socket_path_;
  absl::Duration timeout_;
};

}  // namespace warden::agent::wireguard
