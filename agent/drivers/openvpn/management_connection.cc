#include "agent/drivers/openvpn/management_connection.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace warden::agent::openvpn {
namespace {

absl::Status ErrnoStatus(absl::string_view what, int error) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(error)));
}

int ToMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d) + 1, 60'000));
}

// Connects `fd` to `addr` within `timeout`, leaving the socket blocking.
absl::Status ConnectWithin(int fd, const sockaddr* addr, socklen_t len, absl::Duration timeout,
                           const std::string& address) {
  const int flags = fcntl(fd, F_GETFL, 0);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (connect(fd, addr, len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) {
      return ErrnoStatus(absl::StrCat("connect to OpenVPN management ", address), errno);
    }
    pollfd pfd{fd, POLLOUT, 0};
    const int ready = poll(&pfd, 1, ToMillis(timeout));
    if (ready <= 0) {
      return absl::UnavailableError(
          absl::StrCat("connect to OpenVPN management ", address, ": timed out"));
    }
    int error = 0;
    socklen_t error_len = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &error_len);
    if (error != 0)
      return ErrnoStatus(absl::StrCat("connect to OpenVPN management ", address), error);
  }
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  // A write never hangs the driver for long if OpenVPN stops reading.
  timeval send_timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  return absl::OkStatus();
}

absl::StatusOr<int> ConnectUnix(const std::string& path, absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return absl::InvalidArgumentError(absl::StrCat("management socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", errno);
  absl::Status connected =
      ConnectWithin(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr, timeout, path);
  if (!connected.ok()) {
    close(fd);
    return connected;
  }
  return fd;
}

absl::StatusOr<int> ConnectTcp(const std::string& address, absl::Duration timeout) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("management address \"", address, "\" is neither unix:/path nor host:port"));
  }
  std::string host = address.substr(0, colon);
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]"))
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  absl::Status last = absl::UnavailableError(absl::StrCat("no address for ", host));
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    last = ConnectWithin(fd, ai->ai_addr, ai->ai_addrlen, timeout, address);
    if (last.ok()) return fd;
    close(fd);
  }
  return last;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ManagementConnection>> ManagementConnection::Connect(
    const std::string& address, absl::Duration timeout) {
  absl::StatusOr<int> fd = absl::StartsWith(address, "unix:")
                               ? ConnectUnix(address.substr(5), timeout)
                           : absl::StartsWith(address, "/") ? ConnectUnix(address, timeout)
                                                            : ConnectTcp(address, timeout);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<ManagementConnection>(new ManagementConnection(*fd));
}

ManagementConnection::~ManagementConnection() {
  FailQueued(absl::UnavailableError("the management connection closed"));
  close(fd_);
}

void ManagementConnection::Shutdown() {
  {
    absl::MutexLock lock(&write_mu_);
    closed_ = true;
  }
  shutdown(fd_, SHUT_RDWR);
}

absl::Status ManagementConnection::Send(absl::string_view command, ReplyCallback on_reply) {
  absl::MutexLock lock(&write_mu_);
  if (closed_) return absl::UnavailableError("the management connection is closed");
  size_t written = 0;
  while (written < command.size()) {
    const ssize_t n = send(fd_, command.data() + written, command.size() - written, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      shutdown(fd_, SHUT_RDWR);
      return ErrnoStatus("write to OpenVPN management", n < 0 ? errno : EPIPE);
    }
    written += static_cast<size_t>(n);
  }
  // Queued under the same lock as the write, so queue order is wire order.
  waiting_.push_back(std::move(on_reply));
  return absl::OkStatus();
}

absl::StatusOr<ManagementReply> ManagementConnection::Call(absl::string_view command,
                                                           absl::Duration timeout) {
  struct Outcome {
    absl::Notification done;
    absl::StatusOr<ManagementReply> reply = absl::UnavailableError("no reply");
  };
  auto outcome = std::make_shared<Outcome>();
  absl::Status sent = Send(command, [outcome](absl::StatusOr<ManagementReply> reply) mutable {
    outcome->reply = std::move(reply);
    outcome->done.Notify();
  });
  if (!sent.ok()) return sent;
  if (!outcome->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("OpenVPN management did not answer within ", absl::FormatDuration(timeout)));
  }
  return outcome->reply;
}

void ManagementConnection::Answer(absl::StatusOr<ManagementReply> reply) {
  ReplyCallback callback;
  {
    absl::MutexLock lock(&write_mu_);
    if (waiting_.empty()) return;  // an answer nobody asked for: nothing to route it to
    callback = std::move(waiting_.front());
    waiting_.pop_front();
  }
  std::move(callback)(std::move(reply));
}

void ManagementConnection::FailQueued(const absl::Status& why) {
  std::deque<ReplyCallback> waiting;
  {
    absl::MutexLock lock(&write_mu_);
    closed_ = true;
    waiting.swap(waiting_);
  }
  for (ReplyCallback& callback : waiting) std::move(callback)(why);
}

absl::Status ManagementConnection::ReadSome(absl::Duration timeout, std::vector<MgmtMessage>& out) {
  pollfd pfd{fd_, POLLIN, 0};
  const int ready = poll(&pfd, 1, ToMillis(timeout));
  if (ready < 0 && errno != EINTR) return ErrnoStatus("poll", errno);
  if (ready <= 0) return absl::OkStatus();
  char buffer[16384];
  const ssize_t n = read(fd_, buffer, sizeof buffer);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return absl::OkStatus();
  if (n <= 0) {
    absl::Status ended = n == 0 ? absl::UnavailableError("OpenVPN closed the management connection")
                                : ErrnoStatus("read from OpenVPN management", errno);
    FailQueued(ended);
    return ended;
  }
  std::vector<MgmtMessage> messages;
  parser_.Feed(absl::string_view(buffer, static_cast<size_t>(n)), messages);
  for (MgmtMessage& message : messages) {
    if (auto* reply = std::get_if<CommandReply>(&message)) {
      Answer(ManagementReply{reply->success, std::move(reply->text), {}, false});
    } else if (auto* block = std::get_if<MultilineReply>(&message)) {
      Answer(ManagementReply{true, "", std::move(block->lines), block->truncated});
    } else {
      out.push_back(std::move(message));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::agent::openvpn
