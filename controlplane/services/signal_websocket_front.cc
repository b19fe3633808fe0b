#include "controlplane/services/signal_websocket_front.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.signal.ws");

constexpr size_t kBuffer = 16 * 1024;
// After the client's side is closed (or shut), how long civetweb gets to
// finish its side before the connection is cut.
constexpr absl::Duration kCloseGrace = absl::Seconds(5);

// The size of a frame header whose first `seen` bytes are `h` (0: not
// known yet).
size_t HeaderSize(const unsigned char* h, size_t seen) {
  if (seen < 2) return 0;
  const unsigned length = h[1] & 0x7F;
  const size_t extended = length == 126 ? 2 : length == 127 ? 8 : 0;
  return 2 + extended + ((h[1] & 0x80) ? 4 : 0);
}

uint64_t PayloadLength(const unsigned char* h) {
  const unsigned length = h[1] & 0x7F;
  if (length < 126) return length;
  uint64_t value = 0;
  const size_t bytes = length == 126 ? 2 : 8;
  for (size_t i = 0; i < bytes; ++i) value = (value << 8) | h[2 + i];
  return value;
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

std::string AddressOf(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
  } else {
    const auto& in4 = reinterpret_cast<const sockaddr_in&>(address);
    ::inet_ntop(AF_INET, &in4.sin_addr, text, sizeof text);
  }
  return text;
}

absl::StatusOr<int> Listen(const std::string& listen, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(listen, " is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  const std::string service = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve ", listen));
  }
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  const bool bound =
      fd >= 0 && ::bind(fd, found->ai_addr, found->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0;
  ::freeaddrinfo(found);
  if (!bound) {
    if (fd >= 0) ::close(fd);
    return absl::FailedPreconditionError(
        absl::StrCat("cannot serve WebSocket on ", listen, " (address in use or invalid?)"));
  }
  sockaddr_storage local{};
  socklen_t length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
  *port = ntohs(local.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(local).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(local).sin_port);
  return fd;
}

}  // namespace

std::optional<uint64_t> FrameGate::Feed(const char* data, size_t size, std::string* forward) {
  size_t at = 0;
  if (shut_) return std::nullopt;
  // The upgrade request goes as it is (civetweb bounds its size), up to
  // and including its blank line.
  static constexpr char kEnd[] = "\r\n\r\n";
  while (!upgraded_ && at < size) {
    const char c = data[at++];
    blank_line_ = c == kEnd[blank_line_] ? blank_line_ + 1 : (c == '\r' ? 1 : 0);
    upgraded_ = blank_line_ == 4;
  }
  forward->append(data, at);
  while (at < size) {
    if (payload_left_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(payload_left_, size - at));
      forward->append(data + at, take);
      at += take;
      payload_left_ -= take;
      continue;
    }
    header_[header_size_++] = static_cast<unsigned char>(data[at++]);
    const size_t needed = HeaderSize(header_, header_size_);
    if (needed == 0 || header_size_ < needed) continue;
    const uint64_t declared = PayloadLength(header_);
    if (declared > max_frame_bytes_) {
      shut_ = true;
      return declared;
    }
    forward->append(reinterpret_cast<const char*>(header_), header_size_);
    header_size_ = 0;
    payload_left_ = declared;
  }
  return std::nullopt;
}

struct WebSocketFrontDoor::Tls {
  gnutls_certificate_credentials_t credentials = nullptr;
  gnutls_priority_t priorities = nullptr;
  ~Tls() {
    if (priorities != nullptr) gnutls_priority_deinit(priorities);
    if (credentials != nullptr) gnutls_certificate_free_credentials(credentials);
  }
};

// One client connection. Its fds are closed only by its own thread; Drop
// only shuts them down (under mu_, while the link is registered).
struct WebSocketFrontDoor::Link {
  int client_fd = -1;
  int upstream_fd = -1;
  int upstream_port = 0;
  std::string address;
  gnutls_session_t tls = nullptr;

  // Reads from the client: >0 bytes, 0 end of stream, -1 error, -2 retry.
  ssize_t Read(char* buffer, size_t size) {
    if (tls == nullptr) {
      const ssize_t n = ::recv(client_fd, buffer, size, 0);
      if (n < 0) return errno == EINTR || errno == EAGAIN ? -2 : -1;
      return n;
    }
    const ssize_t n = gnutls_record_recv(tls, buffer, size);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) return -2;
    if (n == GNUTLS_E_PREMATURE_TERMINATION) return 0;
    return n < 0 ? -1 : n;
  }
  bool Write(const char* data, size_t size) {
    if (tls == nullptr) return WriteAll(client_fd, data, size);
    while (size > 0) {
      const ssize_t n = gnutls_record_send(tls, data, size);
      if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
      if (n <= 0) return false;
      data += n;
      size -= static_cast<size_t>(n);
    }
    return true;
  }
};

WebSocketFrontDoor::WebSocketFrontDoor(FrontDoorOptions options, Hooks hooks)
    : options_(std::move(options)), hooks_(std::move(hooks)) {}

absl::StatusOr<std::unique_ptr<WebSocketFrontDoor>> WebSocketFrontDoor::Start(
    FrontDoorOptions options, Hooks hooks) {
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return absl::InvalidArgumentError(
        "give both --signal-ws-tls-cert and --signal-ws-tls-key, or neither");
  }
  std::unique_ptr<WebSocketFrontDoor> door(new WebSocketFrontDoor(options, std::move(hooks)));
  if (!options.tls_cert.empty()) {
    door->tls_ = std::make_unique<Tls>();
    int rc = gnutls_certificate_allocate_credentials(&door->tls_->credentials);
    if (rc == GNUTLS_E_SUCCESS) {
      rc = gnutls_certificate_set_x509_key_file(door->tls_->credentials, options.tls_cert.c_str(),
                                                options.tls_key.c_str(), GNUTLS_X509_FMT_PEM);
    }
    if (rc != GNUTLS_E_SUCCESS) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot load --signal-ws-tls-cert ", options.tls_cert,
                       " and --signal-ws-tls-key: ", gnutls_strerror(rc)));
    }
    // TLS 1.2 and 1.3 only.
    rc = gnutls_priority_init2(&door->tls_->priorities, "-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
                               nullptr, GNUTLS_PRIORITY_INIT_DEF_APPEND);
    if (rc != GNUTLS_E_SUCCESS) {
      return absl::InternalError(absl::StrCat("TLS priorities: ", gnutls_strerror(rc)));
    }
  }
  absl::StatusOr<int> fd = Listen(options.listen, &door->port_);
  if (!fd.ok()) return fd.status();
  door->listen_fd_ = *fd;
  door->wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  door->acceptor_ = std::thread([raw = door.get()] { raw->AcceptLoop(); });
  return door;
}

WebSocketFrontDoor::~WebSocketFrontDoor() {
  stopping_.store(true);
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [port, link] : links_) {
      ::shutdown(link->client_fd, SHUT_RDWR);
      ::shutdown(link->upstream_fd, SHUT_RDWR);
    }
    threads.swap(threads_);
  }
  for (auto& [thread, finished] : threads) thread.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void WebSocketFrontDoor::Drop(int upstream_port) {
  absl::MutexLock lock(&mu_);
  auto link = links_.find(upstream_port);
  if (link == links_.end()) return;
  ::shutdown(link->second->client_fd, SHUT_RDWR);
  ::shutdown(link->second->upstream_fd, SHUT_RDWR);
}

void WebSocketFrontDoor::Reap() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->second->load()) {
      it->first.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void WebSocketFrontDoor::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN) != 0) continue;
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const std::string address = AddressOf(peer);
    absl::MutexLock lock(&mu_);
    Reap();
    if (connections_ >= options_.max_connections) {
      ::close(fd);
      if (hooks_.refused) hooks_.refused("too_many_connections");
      continue;
    }
    ++connections_;
    int& from_address = per_address_[address];
    const bool over = from_address >= options_.max_connections_per_address;
    if (!over) ++from_address;
    auto finished = std::make_shared<std::atomic<bool>>(false);
    threads_.emplace_back(std::thread([this, fd, address, over, finished] {
                            Serve(fd, address, over);
                            finished->store(true);
                          }),
                          finished);
  }
}

void WebSocketFrontDoor::Serve(int client_fd, std::string address, bool over_address_cap) {
  Link link{.client_fd = client_fd, .address = std::move(address)};
  const int yes = 1;
  ::setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  bool ok = true;
  bool handshaken = tls_ == nullptr;
  if (tls_ != nullptr) {
    gnutls_init(&link.tls, GNUTLS_SERVER);
    gnutls_priority_set(link.tls, tls_->priorities);
    gnutls_credentials_set(link.tls, GNUTLS_CRD_CERTIFICATE, tls_->credentials);
    gnutls_certificate_server_set_request(link.tls, GNUTLS_CERT_IGNORE);
    gnutls_transport_set_int(link.tls, client_fd);
    gnutls_handshake_set_timeout(
        link.tls, static_cast<unsigned>(absl::ToInt64Milliseconds(options_.tls_handshake_timeout)));
    int rc;
    do {
      rc = gnutls_handshake(link.tls);
    } while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
    if (rc < 0) {
      Log()->info("TLS handshake with {} failed: {}", link.address, gnutls_strerror(rc));
      ok = false;
    }
    handshaken = ok;
  }
  if (ok && over_address_cap) {
    if (hooks_.refused) hooks_.refused("too_many_from_address");
    // Read the request first: closing a socket with unread bytes resets the
    // connection, and the client would not see the answer.
    std::string request;
    char buffer[1024];
    const absl::Time give_up = absl::Now() + absl::Seconds(1);
    while (request.find("\r\n\r\n") == std::string::npos && request.size() < kBuffer &&
           absl::Now() < give_up) {
      pollfd fd{client_fd, POLLIN, 0};
      const bool pending = link.tls != nullptr && gnutls_record_check_pending(link.tls) > 0;
      if (!pending && ::poll(&fd, 1, 100) <= 0) continue;
      const ssize_t n = link.Read(buffer, sizeof buffer);
      if (n == 0 || n == -1) break;
      if (n > 0) request.append(buffer, static_cast<size_t>(n));
    }
    const std::string body = absl::StrCat("too many WebSocket connections from ", link.address,
                                          " (at most ", options_.max_connections_per_address,
                                          "; --signal-ws-max-connections-per-address)\n");
    const std::string response =
        absl::StrCat("HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n",
                     "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
    link.Write(response.data(), response.size());
    ok = false;
  }
  if (ok) {
    link.upstream_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in upstream{};
    upstream.sin_family = AF_INET;
    upstream.sin_port = htons(static_cast<uint16_t>(options_.upstream_port));
    upstream.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = link.upstream_fd >= 0 &&
         ::connect(link.upstream_fd, reinterpret_cast<sockaddr*>(&upstream), sizeof upstream) == 0;
    if (ok) {
      ::setsockopt(link.upstream_fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      sockaddr_in local{};
      socklen_t length = sizeof local;
      ::getsockname(link.upstream_fd, reinterpret_cast<sockaddr*>(&local), &length);
      link.upstream_port = ntohs(local.sin_port);
    }
  }
  if (ok) {
    {
      absl::MutexLock lock(&mu_);
      links_[link.upstream_port] = &link;
    }
    if (!stopping_.load()) Pump(link);
    absl::MutexLock lock(&mu_);
    links_.erase(link.upstream_port);
  }
  if (link.tls != nullptr) {
    if (handshaken) gnutls_bye(link.tls, GNUTLS_SHUT_WR);
    gnutls_deinit(link.tls);
  }
  ::shutdown(client_fd, SHUT_RDWR);
  if (link.upstream_fd >= 0) ::close(link.upstream_fd);
  ::close(client_fd);
  absl::MutexLock lock(&mu_);
  --connections_;
  if (!over_address_cap) {
    auto count = per_address_.find(link.address);
    if (count != per_address_.end() && --count->second <= 0) per_address_.erase(count);
  }
}

void WebSocketFrontDoor::Pump(Link& link) {
  FrameGate gate(options_.max_frame_bytes);
  std::string forward;
  char buffer[kBuffer];
  bool client_open = true;
  absl::Time cut_at = absl::InfiniteFuture();
  while (!stopping_.load() && absl::Now() < cut_at) {
    const bool pending = link.tls != nullptr && gnutls_record_check_pending(link.tls) > 0;
    pollfd fds[2] = {{client_open ? link.client_fd : -1, POLLIN, 0}, {link.upstream_fd, POLLIN, 0}};
    if (!pending && ::poll(fds, 2, 250) < 0 && errno != EINTR) break;
    if (client_open && (pending || (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0)) {
      const ssize_t n = link.Read(buffer, sizeof buffer);
      if (n == 0 || n == -1) {
        // The client is gone: civetweb hears end of stream and ends its side.
        ::shutdown(link.upstream_fd, SHUT_WR);
        client_open = false;
        cut_at = absl::Now() + kCloseGrace;
      } else if (n > 0) {
        forward.clear();
        const std::optional<uint64_t> oversized =
            gate.Feed(buffer, static_cast<size_t>(n), &forward);
        if (!forward.empty() && !WriteAll(link.upstream_fd, forward.data(), forward.size())) break;
        if (oversized) {
          Log()->info("{} declared a {}-byte frame (limit {}); ending its connection", link.address,
                      *oversized, options_.max_frame_bytes);
          if (hooks_.oversized_frame) hooks_.oversized_frame(link.upstream_port, *oversized);
          ::shutdown(link.upstream_fd, SHUT_WR);
          client_open = false;
          cut_at = absl::Now() + kCloseGrace;
        }
      }
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      const ssize_t n = ::recv(link.upstream_fd, buffer, sizeof buffer, 0);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0 || !link.Write(buffer, static_cast<size_t>(n))) break;
    }
  }
  ::shutdown(link.upstream_fd, SHUT_RDWR);
}

}  // namespace warden::control::services
