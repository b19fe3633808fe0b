#include "agent/drivers/wireguard/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {
namespace {

constexpr char kFamilyName[] = WG_GENL_NAME;
constexpr size_t kReceiveBufferBytes = 65536;  // the kernel sends at most 32 KiB per datagram

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed netlink reply: ", what));
}

// Netlink structures are read in place; this keeps them 4-byte aligned even
// when the caller's buffer is not.
class AlignedInput {
 public:
  AlignedInput(const uint8_t* buf, size_t len) {
    if (reinterpret_cast<uintptr_t>(buf) % alignof(nlmsghdr) == 0) {
      data_ = buf;
    } else {
      copy_.resize((len + sizeof(uint32_t) - 1) / sizeof(uint32_t));
      std::memcpy(copy_.data(), buf, len);
      data_ = reinterpret_cast<const uint8_t*>(copy_.data());
    }
  }
  const nlmsghdr* first() const { return reinterpret_cast<const nlmsghdr*>(data_); }

 private:
  const uint8_t* data_ = nullptr;
  std::vector<uint32_t> copy_;
};

// Calls `on_message(nlh, stop)` for each message of a datagram until it sets
// `stop`; bytes that do not make a whole message are an error.
template <typename OnMessage>
absl::Status ForEachMessage(const uint8_t* buf, size_t len, OnMessage on_message) {
  if (len == 0) return Malformed("empty datagram");
  if (len > static_cast<size_t>(INT_MAX)) return Malformed("datagram too large");
  AlignedInput input(buf, len);
  int remaining = static_cast<int>(len);
  const nlmsghdr* nlh = input.first();
  // libmnl 1.0.4's mnl_nlmsg_ok compares (int)nlmsg_len, so a length of 2^31
  // or more would pass it: compare unsigned as well.
  while (mnl_nlmsg_ok(nlh, remaining) && nlh->nlmsg_len <= static_cast<uint32_t>(remaining)) {
    bool stop = false;
    WARDEN_RETURN_IF_ERROR(on_message(nlh, stop));
    if (stop) return absl::OkStatus();
    nlh = mnl_nlmsg_next(const_cast<nlmsghdr*>(nlh), &remaining);
  }
  // A negative remainder is only the missing padding of the last message.
  if (remaining > 0) return Malformed("truncated message");
  return absl::OkStatus();
}

// Calls `on_attr(attr)` for each attribute in [start, start + len).
template <typename OnAttr>
absl::Status ForEachAttr(const void* start, size_t len, OnAttr on_attr) {
  if (len > static_cast<size_t>(INT_MAX)) return Malformed("attributes too long");
  const nlattr* attr = static_cast<const nlattr*>(start);
  int remaining = static_cast<int>(len);
  while (mnl_attr_ok(attr, remaining)) {
    WARDEN_RETURN_IF_ERROR(on_attr(attr));
    remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
    attr = mnl_attr_next(attr);
  }
  if (remaining > 0) return Malformed("truncated attribute");
  return absl::OkStatus();
}

absl::Status ForEachNested(const nlattr* nest, std::function<absl::Status(const nlattr*)> f) {
  return ForEachAttr(mnl_attr_get_payload(nest), mnl_attr_get_payload_len(nest), std::move(f));
}

template <typename T>
absl::Status GetFixed(const nlattr* attr, absl::string_view name, T& out) {
  if (mnl_attr_get_payload_len(attr) != sizeof(T)) {
    return Malformed(
        absl::StrCat(name, " has ", mnl_attr_get_payload_len(attr), " bytes, not ", sizeof(T)));
  }
  std::memcpy(&out, mnl_attr_get_payload(attr), sizeof(T));
  return absl::OkStatus();
}

int64_t ClampToInt64(uint64_t v) {
  return v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
             ? std::numeric_limits<int64_t>::max()
             : static_cast<int64_t>(v);
}

// The status for a negative errno from NLMSG_ERROR or NLMSG_DONE.
absl::Status KernelError(int error) {
  if (error >= 0 || error < -4095) {
    return Malformed(absl::StrCat("error code ", error));
  }
  return absl::ErrnoToStatus(-error, "wireguard netlink");
}

// NLMSG_ERROR: OK with `ack` set for error 0, else the error's status.
absl::Status DecodeErrorMessage(const nlmsghdr* nlh, bool& ack) {
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(int)) return Malformed("short NLMSG_ERROR");
  int error = 0;
  std::memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
  if (error == 0) {
    ack = true;
    return absl::OkStatus();
  }
  return KernelError(error);
}

// The attributes after the genetlink header of a message.
absl::Status ForEachGenlAttr(const nlmsghdr* nlh, uint8_t expected_cmd,
                             const std::function<absl::Status(const nlattr*)>& f) {
  size_t payload_len = mnl_nlmsg_get_payload_len(nlh);
  if (payload_len < GENL_HDRLEN) return Malformed("message shorter than its genetlink header");
  genlmsghdr genl;
  std::memcpy(&genl, mnl_nlmsg_get_payload(nlh), sizeof(genl));
  if (genl.cmd != expected_cmd) {
    return Malformed(absl::StrCat("genetlink command ", genl.cmd, ", expected ", expected_cmd));
  }
  return ForEachAttr(static_cast<const uint8_t*>(mnl_nlmsg_get_payload(nlh)) + GENL_HDRLEN,
                     payload_len - GENL_HDRLEN, f);
}

absl::Status DecodeEndpoint(const nlattr* attr, std::string& out) {
  size_t len = mnl_attr_get_payload_len(attr);
  const void* payload = mnl_attr_get_payload(attr);
  sa_family_t family = 0;
  if (len >= sizeof(family)) std::memcpy(&family, payload, sizeof(family));
  if (family == AF_INET && len == sizeof(sockaddr_in)) {
    sockaddr_in sin;
    std::memcpy(&sin, payload, sizeof(sin));
    IpEndpoint endpoint;
    endpoint.family = AF_INET;
    std::memcpy(endpoint.address.data(), &sin.sin_addr, 4);
    endpoint.port = ntohs(sin.sin_port);
    out = FormatEndpoint(endpoint);
    return absl::OkStatus();
  }
  if (family == AF_INET6 && len == sizeof(sockaddr_in6)) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, payload, sizeof(sin6));
    char host[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
    out = absl::StrCat("[", host);
    if (sin6.sin6_scope_id != 0) absl::StrAppend(&out, "%", sin6.sin6_scope_id);
    absl::StrAppend(&out, "]:", ntohs(sin6.sin6_port));
    return absl::OkStatus();
  }
  return Malformed(absl::StrCat("endpoint of family ", family, " and ", len, " bytes"));
}

absl::Status DecodeAllowedIp(const nlattr* nest, std::string& out) {
  uint16_t family = 0;
  uint8_t cidr = 0;
  const nlattr* address = nullptr;
  bool has_family = false, has_cidr = false;
  WARDEN_RETURN_IF_ERROR(ForEachNested(nest, [&](const nlattr* attr) -> absl::Status {
    switch (mnl_attr_get_type(attr)) {
      case WGALLOWEDIP_A_FAMILY:
        has_family = true;
        return GetFixed(attr, "allowed IP family", family);
      case WGALLOWEDIP_A_IPADDR:
        address = attr;
        return absl::OkStatus();
      case WGALLOWEDIP_A_CIDR_MASK:
        has_cidr = true;
        return GetFixed(attr, "allowed IP prefix length", cidr);
      default:
        return absl::OkStatus();
    }
  }));
  if (!has_family || !has_cidr || address == nullptr) {
    return Malformed("allowed IP without family, address or prefix length");
  }
  IpPrefix prefix;
  size_t address_len = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
  if (address_len == 0 || mnl_attr_get_payload_len(address) != address_len ||
      cidr > address_len * 8) {
    return Malformed(absl::StrCat("allowed IP of family ", family, " with ",
                                  mnl_attr_get_payload_len(address), " address bytes and /", cidr));
  }
  prefix.family = family;
  std::memcpy(prefix.address.data(), mnl_attr_get_payload(address), address_len);
  prefix.prefix_len = cidr;
  out = FormatIpPrefix(prefix);
  return absl::OkStatus();
}

// One peer of a dump, and which of its fields the message carried (a
// continued peer carries only its key and more allowed IPs).
struct DecodedPeer {
  WgPeer peer;
  bool has_key = false, has_psk = false, has_endpoint = false, has_handshake = false,
       has_rx = false, has_tx = false, has_keepalive = false;
};

absl::Status DecodePeer(const nlattr* nest, DecodedPeer& out) {
  WgPeer& peer = out.peer;
  return ForEachNested(nest, [&](const nlattr* attr) -> absl::Status {
    switch (mnl_attr_get_type(attr)) {
      case WGPEER_A_PUBLIC_KEY:
        out.has_key = true;
        return GetFixed(attr, "peer public key", peer.public_key);
      case WGPEER_A_PRESHARED_KEY: {
        Key psk{};
        WARDEN_RETURN_IF_ERROR(GetFixed(attr, "peer preshared key", psk));
        out.has_psk = true;
        if (IsZeroKey(psk)) {
          peer.preshared_key.reset();
        } else {
          peer.preshared_key = psk;
        }
        sodium_memzero(psk.data(), psk.size());
        return absl::OkStatus();
      }
      case WGPEER_A_ENDPOINT:
        out.has_endpoint = true;
        return DecodeEndpoint(attr, peer.endpoint);
      case WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL: {
        uint16_t interval = 0;
        WARDEN_RETURN_IF_ERROR(GetFixed(attr, "peer keepalive", interval));
        out.has_keepalive = true;
        peer.persistent_keepalive = interval;
        return absl::OkStatus();
      }
      case WGPEER_A_LAST_HANDSHAKE_TIME: {
        int64_t time[2] = {0, 0};  // struct __kernel_timespec
        WARDEN_RETURN_IF_ERROR(GetFixed(attr, "peer last handshake", time));
        out.has_handshake = true;
        peer.last_handshake_unix_sec = time[0];
        peer.last_handshake_nsec = time[1];
        return absl::OkStatus();
      }
      case WGPEER_A_RX_BYTES:
      case WGPEER_A_TX_BYTES: {
        uint64_t bytes = 0;
        WARDEN_RETURN_IF_ERROR(GetFixed(attr, "peer byte counter", bytes));
        if (mnl_attr_get_type(attr) == WGPEER_A_RX_BYTES) {
          out.has_rx = true;
          peer.rx_bytes = ClampToInt64(bytes);
        } else {
          out.has_tx = true;
          peer.tx_bytes = ClampToInt64(bytes);
        }
        return absl::OkStatus();
      }
      case WGPEER_A_ALLOWEDIPS:
        return ForEachNested(attr, [&](const nlattr* ip) -> absl::Status {
          std::string text;
          WARDEN_RETURN_IF_ERROR(DecodeAllowedIp(ip, text));
          peer.allowed_ips.push_back(std::move(text));
          return absl::OkStatus();
        });
      default:  // flags, protocol version, and attributes newer than this code
        return absl::OkStatus();
    }
  });
}

void MergePeer(DecodedPeer&& decoded, WgDevice& into) {
  WgPeer& in = decoded.peer;
  if (into.peers.empty() || into.peers.back().public_key != in.public_key) {
    into.peers.push_back(std::move(in));
    return;
  }
  WgPeer& peer = into.peers.back();  // the kernel continued this peer
  if (decoded.has_psk) peer.preshared_key = in.preshared_key;
  if (decoded.has_endpoint) peer.endpoint = std::move(in.endpoint);
  if (decoded.has_handshake) {
    peer.last_handshake_unix_sec = in.last_handshake_unix_sec;
    peer.last_handshake_nsec = in.last_handshake_nsec;
  }
  if (decoded.has_rx) peer.rx_bytes = in.rx_bytes;
  if (decoded.has_tx) peer.tx_bytes = in.tx_bytes;
  if (decoded.has_keepalive) peer.persistent_keepalive = in.persistent_keepalive;
  for (std::string& ip : in.allowed_ips) peer.allowed_ips.push_back(std::move(ip));
}

absl::Status DecodeDeviceAttr(const nlattr* attr, WgDevice& into) {
  switch (mnl_attr_get_type(attr)) {
    case WGDEVICE_A_IFNAME: {
      const char* name = static_cast<const char*>(mnl_attr_get_payload(attr));
      into.name.assign(name, strnlen(name, mnl_attr_get_payload_len(attr)));
      return absl::OkStatus();
    }
    case WGDEVICE_A_PUBLIC_KEY: {
      Key key{};
      WARDEN_RETURN_IF_ERROR(GetFixed(attr, "device public key", key));
      if (IsZeroKey(key)) {
        into.public_key.reset();
      } else {
        into.public_key = key;
      }
      return absl::OkStatus();
    }
    case WGDEVICE_A_LISTEN_PORT: {
      uint16_t port = 0;
      WARDEN_RETURN_IF_ERROR(GetFixed(attr, "listen port", port));
      into.listen_port = port;
      return absl::OkStatus();
    }
    case WGDEVICE_A_FWMARK:
      return GetFixed(attr, "fwmark", into.fwmark);
    case WGDEVICE_A_PEERS:
      return ForEachNested(attr, [&](const nlattr* nest) -> absl::Status {
        DecodedPeer decoded;
        WARDEN_RETURN_IF_ERROR(DecodePeer(nest, decoded));
        if (!decoded.has_key) return Malformed("peer without a public key");
        MergePeer(std::move(decoded), into);
        return absl::OkStatus();
      });
    default:  // ifindex, private key (never kept), flags, newer attributes
      return absl::OkStatus();
  }
}

// A request buffer with its netlink and genetlink headers; attributes are
// added with the libmnl *_check functions against `capacity`.
class RequestBuilder {
 public:
  RequestBuilder(size_t capacity, uint16_t type, uint16_t flags, uint32_t seq, uint8_t cmd,
                 uint8_t version)
      : buffer_(capacity) {
    nlh_ = mnl_nlmsg_put_header(buffer_.data());
    nlh_->nlmsg_type = type;
    nlh_->nlmsg_flags = flags;
    nlh_->nlmsg_seq = seq;
    auto* genl = static_cast<genlmsghdr*>(mnl_nlmsg_put_extra_header(nlh_, sizeof(genlmsghdr)));
    genl->cmd = cmd;
    genl->version = version;
  }

  nlmsghdr* nlh() { return nlh_; }
  size_t capacity() const { return buffer_.size(); }
  void Check(bool ok) { ok_ = ok_ && ok; }
  nlattr* NestStart(uint16_t type) {
    nlattr* nest = mnl_attr_nest_start_check(nlh_, buffer_.size(), type);
    Check(nest != nullptr);
    return nest;
  }
  void NestEnd(nlattr* nest) {
    if (nest != nullptr) mnl_attr_nest_end(nlh_, nest);
  }
  bool ok() const { return ok_; }

  std::vector<uint8_t> Finish() && {
    buffer_.resize(nlh_->nlmsg_len);
    return std::move(buffer_);
  }

 private:
  std::vector<uint8_t> buffer_;  // operator new memory: suitably aligned
  nlmsghdr* nlh_ = nullptr;
  bool ok_ = true;
};

uint32_t NextSeq() {
  static std::atomic<uint32_t> seq{static_cast<uint32_t>(std::time(nullptr))};
  return ++seq;
}

// One netlink socket for one request: opened, bound, closed on destruction.
class MnlSocket {
 public:
  static absl::StatusOr<std::unique_ptr<MnlSocket>> Open() {
    mnl_socket* nl = mnl_socket_open2(NETLINK_GENERIC, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (nl == nullptr) {
      return absl::UnavailableError(absl::StrCat("generic netlink socket: ", std::strerror(errno)));
    }
    auto socket = std::unique_ptr<MnlSocket>(new MnlSocket(nl));
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
      return absl::UnavailableError(
          absl::StrCat("generic netlink socket: bind: ", std::strerror(errno)));
    }
    int one = 1;  // errors need not echo the whole request back
    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
    return socket;
  }
  ~MnlSocket() { mnl_socket_close(nl_); }
  MnlSocket(const MnlSocket&) = delete;
  MnlSocket& operator=(const MnlSocket&) = delete;

  uint32_t portid() const { return mnl_socket_get_portid(nl_); }

  absl::Status Send(const std::vector<uint8_t>& request) {
    while (true) {
      ssize_t n = mnl_socket_sendto(nl_, request.data(), request.size());
      if (n == static_cast<ssize_t>(request.size())) return absl::OkStatus();
      if (n < 0 && errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("generic netlink: send: ", n < 0 ? std::strerror(errno) : "short write"));
    }
  }

  // One datagram into `buffer` (which must be kReceiveBufferBytes long).
  absl::StatusOr<size_t> Receive(uint8_t* buffer, absl::Time deadline) {
    while (true) {
      ssize_t n = mnl_socket_recvfrom(nl_, buffer, kReceiveBufferBytes);
      if (n >= 0) return static_cast<size_t>(n);
      int err = errno;
      if (err == EINTR) continue;
      if (err != EAGAIN && err != EWOULDBLOCK) {
        return absl::UnavailableError(
            absl::StrCat("generic netlink: receive: ", std::strerror(err)));
      }
      while (true) {
        absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError("generic netlink: timed out waiting for the kernel");
        }
        pollfd pfd{mnl_socket_get_fd(nl_), POLLIN, 0};
        int ms = static_cast<int>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), INT_MAX));
        int rc = poll(&pfd, 1, ms);
        if (rc > 0) break;
        if (rc < 0 && errno != EINTR) {
          return absl::UnavailableError(
              absl::StrCat("generic netlink: poll: ", std::strerror(errno)));
        }
      }
    }
  }

 private:
  explicit MnlSocket(mnl_socket* nl) : nl_(nl) {}
  mnl_socket* nl_;
};

// Every message of a reply must answer our request.
absl::Status CheckAddressedToUs(const uint8_t* buf, size_t len, uint32_t seq, uint32_t portid) {
  return ForEachMessage(buf, len, [&](const nlmsghdr* nlh, bool&) -> absl::Status {
    if (!mnl_nlmsg_seq_ok(nlh, seq) || !mnl_nlmsg_portid_ok(nlh, portid)) {
      return absl::UnavailableError(absl::StrCat("generic netlink: reply with sequence ",
                                                 nlh->nlmsg_seq, ", expected ", seq));
    }
    return absl::OkStatus();
  });
}

using DatagramDecoder = std::function<absl::Status(const uint8_t*, size_t, bool&)>;

// Sends `request` on a fresh socket and feeds each reply datagram to
// `decode` until it says done.
absl::Status Transact(const std::vector<uint8_t>& request, uint32_t seq, absl::Duration timeout,
                      const DatagramDecoder& decode) {
  absl::Time deadline = absl::Now() + timeout;
  WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<MnlSocket> socket, MnlSocket::Open());
  WARDEN_RETURN_IF_ERROR(socket->Send(request));
  std::vector<uint8_t> buffer(kReceiveBufferBytes);
  size_t total = 0;
  bool done = false;
  while (!done) {
    WARDEN_ASSIGN_OR_RETURN(size_t n, socket->Receive(buffer.data(), deadline));
    total += n;
    if (total > kMaxNetlinkDumpBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("generic netlink: reply longer than ", kMaxNetlinkDumpBytes, " bytes"));
    }
    WARDEN_RETURN_IF_ERROR(CheckAddressedToUs(buffer.data(), n, seq, socket->portid()));
    absl::Status decoded = decode(buffer.data(), n, done);
    sodium_memzero(buffer.data(), n);  // a device dump carries the private key
    WARDEN_RETURN_IF_ERROR(decoded);
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<uint8_t> EncodeGetFamily(uint32_t seq) {
  RequestBuilder b(256, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, CTRL_CMD_GETFAMILY, 1);
  b.Check(mnl_attr_put_strz_check(b.nlh(), b.capacity(), CTRL_ATTR_FAMILY_NAME, kFamilyName));
  return std::move(b).Finish();
}

absl::Status DecodeGetFamilyReply(const uint8_t* buf, size_t len, uint16_t& family_id, bool& done) {
  return ForEachMessage(buf, len, [&](const nlmsghdr* nlh, bool& stop) -> absl::Status {
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      WARDEN_RETURN_IF_ERROR(DecodeErrorMessage(nlh, done));
      stop = done;
      return absl::OkStatus();
    }
    if (nlh->nlmsg_type == NLMSG_DONE) {
      done = stop = true;
      return absl::OkStatus();
    }
    if (nlh->nlmsg_type != GENL_ID_CTRL) return absl::OkStatus();
    return ForEachGenlAttr(nlh, CTRL_CMD_NEWFAMILY, [&](const nlattr* attr) -> absl::Status {
      if (mnl_attr_get_type(attr) != CTRL_ATTR_FAMILY_ID) return absl::OkStatus();
      return GetFixed(attr, "family id", family_id);
    });
  });
}

std::vector<uint8_t> EncodeGetDevice(uint16_t family_id, const std::string& ifname, uint32_t seq) {
  RequestBuilder b(64 + ifname.size(), family_id, NLM_F_REQUEST | NLM_F_DUMP, seq,
                   WG_CMD_GET_DEVICE, WG_GENL_VERSION);
  b.Check(mnl_attr_put_strz_check(b.nlh(), b.capacity(), WGDEVICE_A_IFNAME, ifname.c_str()));
  return std::move(b).Finish();
}

absl::Status DecodeGetDeviceMessage(const uint8_t* buf, size_t len, WgDevice& into, bool& done) {
  return ForEachMessage(buf, len, [&](const nlmsghdr* nlh, bool& stop) -> absl::Status {
    switch (nlh->nlmsg_type) {
      case NLMSG_NOOP:
        return absl::OkStatus();
      case NLMSG_DONE: {
        // A dump that failed part-way reports its errno here.
        int error = 0;
        if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(error)) {
          std::memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
        }
        if (error != 0) return KernelError(error);
        done = stop = true;
        return absl::OkStatus();
      }
      case NLMSG_ERROR:
        WARDEN_RETURN_IF_ERROR(DecodeErrorMessage(nlh, done));
        stop = done;
        return absl::OkStatus();
      case NLMSG_OVERRUN:
        return absl::UnavailableError("generic netlink: overrun");
      default:
        break;
    }
    if (nlh->nlmsg_type < NLMSG_MIN_TYPE) return absl::OkStatus();
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) {
      return absl::AbortedError("the device changed during the dump; read it again");
    }
    return ForEachGenlAttr(nlh, WG_CMD_GET_DEVICE,
                           [&](const nlattr* attr) { return DecodeDeviceAttr(attr, into); });
  });
}

absl::StatusOr<std::vector<uint8_t>> EncodeSetPeer(uint16_t family_id, const std::string& ifname,
                                                   const WgPeer& peer, uint32_t seq) {
  WARDEN_RETURN_IF_ERROR(ValidatePeerSettings(peer));
  std::vector<IpPrefix> prefixes;
  prefixes.reserve(peer.allowed_ips.size());
  for (const std::string& allowed_ip : peer.allowed_ips) {
    WARDEN_ASSIGN_OR_RETURN(IpPrefix prefix, ParseIpPrefix(allowed_ip));
    prefixes.push_back(prefix);
  }
  std::optional<IpEndpoint> endpoint;
  if (!peer.endpoint.empty()) {
    WARDEN_ASSIGN_OR_RETURN(endpoint, ParseEndpoint(peer.endpoint));
  }

  RequestBuilder b(256 + ifname.size() + 48 * prefixes.size(), family_id, NLM_F_REQUEST | NLM_F_ACK,
                   seq, WG_CMD_SET_DEVICE, WG_GENL_VERSION);
  nlmsghdr* nlh = b.nlh();
  size_t cap = b.capacity();
  b.Check(mnl_attr_put_strz_check(nlh, cap, WGDEVICE_A_IFNAME, ifname.c_str()));
  nlattr* peers = b.NestStart(WGDEVICE_A_PEERS);
  nlattr* peer_nest = b.NestStart(0);
  b.Check(mnl_attr_put_check(nlh, cap, WGPEER_A_PUBLIC_KEY, peer.public_key.size(),
                             peer.public_key.data()));
  b.Check(mnl_attr_put_u32_check(nlh, cap, WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS));
  Key psk = peer.preshared_key.value_or(Key{});
  b.Check(mnl_attr_put_check(nlh, cap, WGPEER_A_PRESHARED_KEY, psk.size(), psk.data()));
  sodium_memzero(psk.data(), psk.size());
  if (endpoint.has_value()) {
    if (endpoint->family == AF_INET) {
      sockaddr_in sin{};
      sin.sin_family = AF_INET;
      sin.sin_port = htons(endpoint->port);
      std::memcpy(&sin.sin_addr, endpoint->address.data(), 4);
      b.Check(mnl_attr_put_check(nlh, cap, WGPEER_A_ENDPOINT, sizeof(sin), &sin));
    } else {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      sin6.sin6_port = htons(endpoint->port);
      std::memcpy(&sin6.sin6_addr, endpoint->address.data(), 16);
      b.Check(mnl_attr_put_check(nlh, cap, WGPEER_A_ENDPOINT, sizeof(sin6), &sin6));
    }
  }
  b.Check(mnl_attr_put_u16_check(nlh, cap, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL,
                                 static_cast<uint16_t>(peer.persistent_keepalive)));
  if (!prefixes.empty()) {
    nlattr* ips = b.NestStart(WGPEER_A_ALLOWEDIPS);
    for (const IpPrefix& prefix : prefixes) {
      nlattr* ip = b.NestStart(0);
      b.Check(mnl_attr_put_u16_check(nlh, cap, WGALLOWEDIP_A_FAMILY,
                                     static_cast<uint16_t>(prefix.family)));
      b.Check(mnl_attr_put_check(nlh, cap, WGALLOWEDIP_A_IPADDR, prefix.family == AF_INET ? 4 : 16,
                                 prefix.address.data()));
      b.Check(mnl_attr_put_u8_check(nlh, cap, WGALLOWEDIP_A_CIDR_MASK, prefix.prefix_len));
      b.NestEnd(ip);
    }
    b.NestEnd(ips);
  }
  b.NestEnd(peer_nest);
  b.NestEnd(peers);
  if (!b.ok()) return absl::InternalError("netlink set request does not fit its buffer");
  return std::move(b).Finish();
}

std::vector<uint8_t> EncodeRemovePeer(uint16_t family_id, const std::string& ifname,
                                      const Key& public_key, uint32_t seq) {
  RequestBuilder b(128 + ifname.size(), family_id, NLM_F_REQUEST | NLM_F_ACK, seq,
                   WG_CMD_SET_DEVICE, WG_GENL_VERSION);
  nlmsghdr* nlh = b.nlh();
  size_t cap = b.capacity();
  b.Check(mnl_attr_put_strz_check(nlh, cap, WGDEVICE_A_IFNAME, ifname.c_str()));
  nlattr* peers = b.NestStart(WGDEVICE_A_PEERS);
  nlattr* peer_nest = b.NestStart(0);
  b.Check(mnl_attr_put_check(nlh, cap, WGPEER_A_PUBLIC_KEY, public_key.size(), public_key.data()));
  b.Check(mnl_attr_put_u32_check(nlh, cap, WGPEER_A_FLAGS, WGPEER_F_REMOVE_ME));
  b.NestEnd(peer_nest);
  b.NestEnd(peers);
  return std::move(b).Finish();
}

absl::Status DecodeAck(const uint8_t* buf, size_t len, bool& done) {
  return ForEachMessage(buf, len, [&](const nlmsghdr* nlh, bool& stop) -> absl::Status {
    if (nlh->nlmsg_type != NLMSG_ERROR) return absl::OkStatus();
    WARDEN_RETURN_IF_ERROR(DecodeErrorMessage(nlh, done));
    stop = done;
    return absl::OkStatus();
  });
}

absl::StatusOr<uint16_t> ResolveWireGuardFamily(absl::Duration timeout) {
  uint32_t seq = NextSeq();
  uint16_t family_id = 0;
  absl::Status status =
      Transact(EncodeGetFamily(seq), seq, timeout, [&](const uint8_t* buf, size_t len, bool& done) {
        return DecodeGetFamilyReply(buf, len, family_id, done);
      });
  if (absl::IsNotFound(status)) {
    return absl::FailedPreconditionError(
        "the kernel has no \"wireguard\" generic netlink family (wireguard module not loaded)");
  }
  if (!status.ok()) return status;
  if (family_id == 0) return Malformed("family reply without CTRL_ATTR_FAMILY_ID");
  return family_id;
}

absl::StatusOr<std::unique_ptr<NetlinkBackend>> NetlinkBackend::Open(const std::string& iface,
                                                                     absl::Duration timeout) {
  WARDEN_RETURN_IF_ERROR(ValidateInterfaceName(iface));
  WARDEN_RETURN_IF_ERROR(ResolveWireGuardFamily(timeout).status());
  return std::unique_ptr<NetlinkBackend>(new NetlinkBackend(iface, timeout));
}

absl::StatusOr<WgDevice> NetlinkBackend::GetDevice() {
  constexpr int kAttempts = 3;  // a dump races with concurrent peer changes
  for (int attempt = 1;; ++attempt) {
    // Resolved per call: the id changes if the module is reloaded.
    WARDEN_ASSIGN_OR_RETURN(uint16_t family_id, ResolveWireGuardFamily(timeout_));
    uint32_t seq = NextSeq();
    WgDevice device;
    absl::Status status = Transact(EncodeGetDevice(family_id, iface_, seq), seq, timeout_,
                                   [&](const uint8_t* buf, size_t len, bool& done) {
                                     return DecodeGetDeviceMessage(buf, len, device, done);
                                   });
    if (absl::IsAborted(status) && attempt < kAttempts) continue;
    if (absl::IsNotFound(status)) {
      return absl::NotFoundError(absl::StrCat("no WireGuard interface named ", iface_));
    }
    if (!status.ok()) return status;
    if (device.name.empty()) device.name = iface_;
    return device;
  }
}

absl::Status NetlinkBackend::SendAndAwaitAck(const std::vector<uint8_t>& request, uint32_t seq) {
  absl::Status status = Transact(request, seq, timeout_, DecodeAck);
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(absl::StrCat("no WireGuard interface named ", iface_));
  }
  return status;
}

absl::Status NetlinkBackend::AddOrUpdatePeer(const WgPeer& peer) {
  WARDEN_ASSIGN_OR_RETURN(uint16_t family_id, ResolveWireGuardFamily(timeout_));
  uint32_t seq = NextSeq();
  WARDEN_ASSIGN_OR_RETURN(std::vector<uint8_t> request,
                          EncodeSetPeer(family_id, iface_, peer, seq));
  absl::Status status = SendAndAwaitAck(request, seq);
  sodium_memzero(request.data(), request.size());  // holds the preshared key
  return status;
}

absl::Status NetlinkBackend::RemovePeer(const Key& public_key) {
  WARDEN_ASSIGN_OR_RETURN(uint16_t family_id, ResolveWireGuardFamily(timeout_));
  uint32_t seq = NextSeq();
  return SendAndAwaitAck(EncodeRemovePeer(family_id, iface_, public_key, seq), seq);
}

}  // namespace warden::agent::wireguard
