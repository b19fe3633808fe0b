#include "agent/drivers/wireguard/uapi.h"

#include <errno.h>
#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {
namespace {

// Closes the descriptor it holds.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

void Wipe(std::string& s) {
  if (!s.empty()) sodium_memzero(s.data(), s.size());
  s.clear();
}

absl::Status LineError(int line_no, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("uapi reply line ", line_no, ": ", what));
}

// A decimal number in [min, max]: digits only, with a leading '-' when min < 0.
bool ParseInt(absl::string_view text, int64_t min, int64_t max, int64_t& out) {
  absl::string_view digits = text;
  if (!digits.empty() && digits.front() == '-' && min < 0) digits.remove_prefix(1);
  if (digits.empty() || digits.size() > 19 ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit)) {
    return false;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < min || value > max) return false;
  out = value;
  return true;
}

std::optional<Key> PublicKeyOf(const Key& private_key) {
  static const bool sodium_ready = sodium_init() >= 0;
  if (!sodium_ready || IsZeroKey(private_key)) return std::nullopt;
  Key public_key{};
  if (crypto_scalarmult_curve25519_base(public_key.data(), private_key.data()) != 0) {
    return std::nullopt;
  }
  return public_key;
}

absl::Status ErrnoReplyStatus(int64_t value) {
  int64_t magnitude = value < 0 ? -value : value;  // wireguard-go sends -EINVAL
  std::string message = absl::StrCat("wireguard device replied errno=", value);
  if (magnitude > 4095) return absl::UnknownError(message);
  return absl::ErrnoToStatus(static_cast<int>(magnitude), message);
}

// The lines of a reply, without the terminating blank line. Calls
// `on_line(line_no, key, value)` for each line other than errno.
template <typename OnLine>
absl::Status ParseReplyLines(absl::string_view reply, OnLine on_line) {
  int line_no = 0;
  bool saw_errno = false;
  int64_t errno_value = 0;
  size_t pos = 0;
  while (true) {
    size_t nl = reply.find('\n', pos);
    if (nl == absl::string_view::npos) {
      return absl::InvalidArgumentError("uapi reply ends without its blank line (truncated)");
    }
    absl::string_view line = reply.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) break;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos || eq == 0) return LineError(line_no, "expected key=value");
    absl::string_view key = line.substr(0, eq);
    absl::string_view value = line.substr(eq + 1);
    if (key == "errno") {
      if (!ParseInt(value, std::numeric_limits<int64_t>::min() + 1,
                    std::numeric_limits<int64_t>::max(), errno_value)) {
        return LineError(line_no, "errno is not a number");
      }
      saw_errno = true;
      continue;
    }
    WARDEN_RETURN_IF_ERROR(on_line(line_no, key, value));
  }
  if (!saw_errno) return absl::InvalidArgumentError("uapi reply has no errno line");
  if (errno_value != 0) return ErrnoReplyStatus(errno_value);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WgDevice> ParseUapiGet(absl::string_view reply) {
  WgDevice device;
  WgPeer* peer = nullptr;
  auto number = [](int line_no, absl::string_view value, int64_t max,
                   int64_t& out) -> absl::Status {
    if (!ParseInt(value, 0, max, out)) {
      return LineError(line_no, absl::StrCat("value must be a number from 0 to ", max));
    }
    return absl::OkStatus();
  };
  auto key_value = [](int line_no, absl::string_view value) -> absl::StatusOr<Key> {
    absl::StatusOr<Key> key = KeyFromHex(value);
    if (!key.ok()) return LineError(line_no, key.status().message());
    return key;
  };
  constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

  absl::Status status = ParseReplyLines(
      reply, [&](int line_no, absl::string_view key, absl::string_view value) -> absl::Status {
        int64_t n = 0;
        if (key == "public_key") {
          WARDEN_ASSIGN_OR_RETURN(Key public_key, key_value(line_no, value));
          peer = &device.peers.emplace_back();
          peer->public_key = public_key;
          return absl::OkStatus();
        }
        if (peer == nullptr) {
          if (key == "private_key") {
            WARDEN_ASSIGN_OR_RETURN(Key private_key, key_value(line_no, value));
            device.public_key = PublicKeyOf(private_key);
            sodium_memzero(private_key.data(), private_key.size());
          } else if (key == "listen_port") {
            WARDEN_RETURN_IF_ERROR(number(line_no, value, 65535, n));
            device.listen_port = static_cast<int>(n);
          } else if (key == "fwmark") {
            WARDEN_RETURN_IF_ERROR(number(line_no, value, 0xffffffff, n));
            device.fwmark = static_cast<uint32_t>(n);
          }
          return absl::OkStatus();
        }
        if (key == "preshared_key") {
          WARDEN_ASSIGN_OR_RETURN(Key psk, key_value(line_no, value));
          if (IsZeroKey(psk)) {
            peer->preshared_key.reset();
          } else {
            peer->preshared_key = psk;
          }
          sodium_memzero(psk.data(), psk.size());
        } else if (key == "endpoint") {
          peer->endpoint = std::string(value);
        } else if (key == "allowed_ip") {
          absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(value);
          if (!prefix.ok()) return LineError(line_no, prefix.status().message());
          peer->allowed_ips.push_back(FormatIpPrefix(*prefix));
        } else if (key == "last_handshake_time_sec") {
          WARDEN_RETURN_IF_ERROR(number(line_no, value, kMaxI64, peer->last_handshake_unix_sec));
        } else if (key == "last_handshake_time_nsec") {
          WARDEN_RETURN_IF_ERROR(number(line_no, value, kMaxI64, peer->last_handshake_nsec));
        } else if (key == "rx_bytes") {
          WARDEN_RETURN_IF_ERROR(number(line_no, value, kMaxI64, peer->rx_bytes));
        } else if (key == "tx_bytes") {
          WARDEN_RETURN_IF_ERROR(number(line_no, value, kMaxI64, peer->tx_bytes));
        } else if (key == "persistent_keepalive_interval") {
          WARDEN_RETURN_IF_ERROR(number(line_no, value, 65535, n));
          peer->persistent_keepalive = static_cast<int>(n);
        }
        return absl::OkStatus();
      });
  if (!status.ok()) return status;
  return device;
}

absl::Status ParseUapiSetReply(absl::string_view reply) {
  return ParseReplyLines(reply, [](int, absl::string_view, absl::string_view) {
    return absl::OkStatus();  // a set reply has nothing but errno
  });
}

absl::StatusOr<std::string> BuildUapiSet(const WgPeer& peer, UapiPeerOp op) {
  std::string out = absl::StrCat("set=1\npublic_key=", KeyToHex(peer.public_key), "\n");
  if (op == UapiPeerOp::kRemove) {
    absl::StrAppend(&out, "remove=true\n\n");
    return out;
  }
  WARDEN_RETURN_IF_ERROR(ValidatePeerSettings(peer));
  absl::StrAppend(&out, "preshared_key=", KeyToHex(peer.preshared_key.value_or(Key{})), "\n");
  if (!peer.endpoint.empty()) {
    absl::StatusOr<IpEndpoint> endpoint = ParseEndpoint(peer.endpoint);
    if (!endpoint.ok()) {
      Wipe(out);
      return endpoint.status();
    }
    absl::StrAppend(&out, "endpoint=", FormatEndpoint(*endpoint), "\n");
  }
  absl::StrAppend(&out, "persistent_keepalive_interval=", peer.persistent_keepalive, "\n",
                  "replace_allowed_ips=true\n");
  for (const std::string& allowed_ip : peer.allowed_ips) {
    absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(allowed_ip);
    if (!prefix.ok()) {
      Wipe(out);
      return prefix.status();
    }
    absl::StrAppend(&out, "allowed_ip=", FormatIpPrefix(*prefix), "\n");
  }
  out.push_back('\n');
  return out;
}

UapiReplyReader::~UapiReplyReader() { Wipe(buffer_); }

absl::Status UapiReplyReader::Append(absl::string_view bytes) {
  if (complete_) return absl::OkStatus();
  // The reply ends at the first '\n' that starts a line: at offset 0, or
  // right after another '\n'.
  size_t take = bytes.size();
  for (size_t i = 0; i < bytes.size();) {
    const void* hit = std::memchr(bytes.data() + i, '\n', bytes.size() - i);
    if (hit == nullptr) break;
    size_t nl = static_cast<const char*>(hit) - bytes.data();
    bool line_start = nl > 0 ? bytes[nl - 1] == '\n' : (buffer_.empty() || buffer_.back() == '\n');
    if (line_start) {
      take = nl + 1;
      complete_ = true;
      break;
    }
    i = nl + 1;
  }
  if (buffer_.size() + take > max_bytes_) {
    complete_ = false;
    return absl::ResourceExhaustedError(
        absl::StrCat("uapi reply is longer than ", max_bytes_, " bytes"));
  }
  buffer_.append(bytes.data(), take);
  return absl::OkStatus();
}

absl::StatusOr<std::string> UapiExchange(int fd, absl::string_view request, absl::Time deadline,
                                         size_t max_reply_bytes) {
  // Waits for `events` on fd; false on timeout.
  auto wait_for = [&](short events) -> absl::StatusOr<bool> {
    while (true) {
      absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      pollfd pfd{fd, events, 0};
      int ms = static_cast<int>(
          std::min<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))),
                            std::numeric_limits<int>::max()));
      int rc = poll(&pfd, 1, ms);
      if (rc > 0) return true;
      if (rc == 0) continue;  // re-check the deadline
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "uapi socket: poll");
    }
  };

  size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat("uapi socket: send: ", std::strerror(errno)));
    }
    WARDEN_ASSIGN_OR_RETURN(bool ready, wait_for(POLLOUT));
    if (!ready) return absl::DeadlineExceededError("uapi socket: timed out sending the request");
  }

  UapiReplyReader reader(max_reply_bytes);
  char chunk[16384];
  while (!reader.complete()) {
    ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n > 0) {
      absl::Status appended = reader.Append(absl::string_view(chunk, static_cast<size_t>(n)));
      sodium_memzero(chunk, sizeof(chunk));
      WARDEN_RETURN_IF_ERROR(appended);
      continue;
    }
    if (n == 0) {
      return absl::UnavailableError("uapi socket: closed by the device before the reply ended");
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      return absl::UnavailableError(absl::StrCat("uapi socket: recv: ", std::strerror(errno)));
    }
    WARDEN_ASSIGN_OR_RETURN(bool ready, wait_for(POLLIN));
    if (!ready) return absl::DeadlineExceededError("uapi socket: timed out waiting for the reply");
  }
  return std::string(reader.reply());
}

absl::StatusOr<std::string> UapiRequest(const std::string& socket_path, absl::string_view request,
                                        absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.empty() || socket_path.size() >= sizeof(addr.sun_path) ||
      socket_path.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("uapi socket path must be 1 to ", sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  ScopedFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return absl::ErrnoToStatus(errno, "uapi socket: socket");
  while (connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN) {  // the listener's backlog is full: try again shortly
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("uapi socket ", socket_path, ": timed out connecting"));
      }
      poll(nullptr, 0, 10);
      continue;
    }
    std::string message = absl::StrCat("uapi socket ", socket_path, ": ", std::strerror(err));
    if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
    return absl::UnavailableError(message);
  }
  return UapiExchange(fd.get(), request, deadline);
}

absl::StatusOr<WgDevice> UapiBackend::GetDevice() {
  WARDEN_ASSIGN_OR_RETURN(std::string reply, UapiRequest(socket_path_, kUapiGetRequest, timeout_));
  absl::StatusOr<WgDevice> device = ParseUapiGet(reply);
  Wipe(reply);
  if (!device.ok()) return device.status();
  device->name = iface_;
  return device;
}

absl::Status UapiBackend::Set(const WgPeer& peer, UapiPeerOp op) {
  WARDEN_ASSIGN_OR_RETURN(std::string request, BuildUapiSet(peer, op));
  absl::StatusOr<std::string> reply = UapiRequest(socket_path_, request, timeout_);
  Wipe(request);
  if (!reply.ok()) return reply.status();
  return ParseUapiSetReply(*reply);
}

absl::Status UapiBackend::AddOrUpdatePeer(const WgPeer& peer) {
  return Set(peer, UapiPeerOp::kAddOrUpdate);
}

absl::Status UapiBackend::RemovePeer(const Key& public_key) {
  WgPeer peer;
  peer.public_key = public_key;
  return Set(peer, UapiPeerOp::kRemove);
}

}  // namespace warden::agent::wireguard
