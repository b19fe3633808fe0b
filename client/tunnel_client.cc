#include "client/tunnel_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::client {
namespace {

using quic::CloseCode;

constexpr size_t kUdpBuffer = 4096;
constexpr size_t kTunBuffer = 65535;
constexpr int kTunBatch = 256;

void Say(const std::string& line) {
  std::printf("warden-connect: %s\n", line.c_str());
  std::fflush(stdout);
}

absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(const std::string& server) {
  const size_t colon = server.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == server.size()) {
    return absl::InvalidArgumentError(absl::StrCat("--server \"", server, "\" is not host:port"));
  }
  std::string host = server.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, server.substr(colon + 1));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TunnelClient>> TunnelClient::Create(ClientOptions options) {
  std::unique_ptr<TunnelClient> client(new TunnelClient(std::move(options)));
  if (absl::Status started = client->Start(); !started.ok()) return started;
  return client;
}

TunnelClient::~TunnelClient() {
  for (int fd : {udp_fd_, epoll_fd_, signal_fd_, timer_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status TunnelClient::OpenSocket() {
  const int fd = ::socket(remote_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int buffer = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  // Bound but not connected: the local address is a wildcard and a port.
  sockaddr_storage any{};
  any.ss_family = remote_.ss_family;
  const socklen_t any_length =
      remote_.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&any), any_length) != 0) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(errno)));
  }
  local_length_ = sizeof local_;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local_), &local_length_);
  if (udp_fd_ >= 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, udp_fd_, nullptr);
    ::close(udp_fd_);
  }
  udp_fd_ = fd;
  epoll_event event{.events = EPOLLIN, .data = {.fd = udp_fd_}};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, udp_fd_, &event);
  if (batch_ == nullptr) {
    batch_ = std::make_unique<quic::UdpBatch>(udp_fd_);
  } else {
    batch_->set_fd(udp_fd_);
  }
  return absl::OkStatus();
}

absl::Status TunnelClient::Start() {
  if (!options_.pin_sha256.empty()) {
    options_.pin_sha256 = absl::AsciiStrToLower(options_.pin_sha256);
  }
  auto credentials = quic::TlsCredentials::ForClient(options_.ca_file);
  if (!credentials.ok()) return credentials.status();
  credentials_ = *std::move(credentials);

  auto tun = quic::TunDevice::Open(options_.tun_name);
  if (!tun.ok()) return tun.status();
  tun_ = *std::move(tun);

  auto host_port = SplitHostPort(options_.server);
  if (!host_port.ok()) return host_port.status();
  if (options_.server_name.empty()) options_.server_name = host_port->first;
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rv = getaddrinfo(host_port->first.c_str(), host_port->second.c_str(), &hints, &found);
      rv != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", options_.server, ": ", gai_strerror(rv)));
  }
  std::memcpy(&remote_, found->ai_addr, found->ai_addrlen);
  remote_length_ = found->ai_addrlen;
  freeaddrinfo(found);

  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (absl::Status s = OpenSocket(); !s.ok()) return s;

  ngtcp2_path path{
      .local = {.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_},
      .remote = {.addr = reinterpret_cast<sockaddr*>(&remote_), .addrlen = remote_length_},
      .user_data = nullptr};
  if (absl::Status s = StartClient(
          path, static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.idle_timeout)),
          static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.connect_timeout)), *credentials_,
          options_.server_name, /*verify_chain=*/options_.pin_sha256.empty(), quic::kTunnelAlpn);
      !s.ok()) {
    return s;
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  signal_fd_ = ::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  for (int fd : {tun_->fd(), signal_fd_, timer_fd_}) {
    epoll_event event{.events = EPOLLIN, .data = {.fd = fd}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  udp_buffer_.resize(kUdpBuffer);
  tun_buffer_.resize(kTunBuffer);
  Say(absl::StrCat("connecting to ", options_.server, " (tun ", tun_->name(), ")"));
  return absl::OkStatus();
}

int TunnelClient::OnHandshakeCompleted() {
  if (!options_.pin_sha256.empty()) {
    const std::string seen = quic::PeerCertificateSha256(tls());
    if (seen != options_.pin_sha256) {
      failure_ = absl::StrCat("the server's certificate (sha256 ", seen,
                              ") does not match --pin-sha256; nothing was sent");
      return 0;
    }
  }
  send_hello_ = true;
  return 0;
}

int TunnelClient::OnStreamData(int64_t, const uint8_t* data, size_t size) {
  if (live_) return 0;
  switch (welcome_.Add(absl::string_view(reinterpret_cast<const char*>(data), size))) {
    case quic::FrameReader::State::kNeedMore:
      return 0;
    case quic::FrameReader::State::kInvalid:
      failure_ = "the server's welcome is not one framed message";
      return 0;
    case quic::FrameReader::State::kComplete:
      break;
  }
  auto welcome = quic::ParseWelcome(welcome_.message());
  if (!welcome.ok()) {
    failure_ = std::string(welcome.status().message());
    return 0;
  }
  Welcome(*welcome);
  return 0;
}

void TunnelClient::Welcome(const v1::TunnelWelcome& welcome) {
  auto address = quic::ParseIpv4Interface(welcome.tunnel_address());
  if (!address.ok()) {
    failure_ = std::string(address.status().message());
    return;
  }
  if (absl::Status s =
          tun_->Configure(address->first, address->second.length, static_cast<int>(welcome.mtu()));
      !s.ok()) {
    failure_ = std::string(s.message());
    return;
  }
  uint32_t server_ip = 0;
  if (remote_.ss_family == AF_INET) {
    server_ip = ntohl(reinterpret_cast<const sockaddr_in*>(&remote_)->sin_addr.s_addr);
  }
  std::vector<std::string> routed;
  for (const std::string& text : welcome.routes()) {
    auto route = quic::ParseIpv4Prefix(text);
    if (!route.ok()) {
      Say(absl::StrCat("ignoring route ", text, ": ", route.status().message()));
      continue;
    }
    if (route->length <= address->second.length && route->network == address->second.network) {
      routed.push_back(text);  // the address itself routes its prefix
      continue;
    }
    if (server_ip != 0 && route->Contains(server_ip)) {
      // The tunnel's own packets would loop into it.
      Say(absl::StrCat("not routing ", text, ": it holds the server's address"));
      continue;
    }
    if (absl::Status s = tun_->AddRoute(*route); !s.ok()) {
      Say(absl::StrCat("cannot route ", text, ": ", s.message()));
      continue;
    }
    routed.push_back(text);
  }
  if (welcome.keepalive_seconds() > 0) {
    ngtcp2_conn_set_keep_alive_timeout(conn_,
                                       uint64_t{welcome.keepalive_seconds()} * NGTCP2_SECONDS);
  }
  tunnel_address_ = address->first;
  live_ = true;
  Say(absl::StrCat("connected: address ", welcome.tunnel_address(), " gateway ",
                   welcome.gateway_address(), " mtu ", welcome.mtu(), " routes ",
                   absl::StrJoin(routed, ","), " session ",
                   welcome.session_id().empty() ? "(offline)" : welcome.session_id(),
                   welcome.bandwidth_bytes_per_second() > 0
                       ? absl::StrCat(" limit ", welcome.bandwidth_bytes_per_second(), " B/s")
                       : std::string()));
}

int TunnelClient::OnDatagram(const uint8_t* data, size_t size) {
  quic::Ipv4Header header;
  if (!live_ || quic::InspectIpv4(data, size, header) != quic::PacketCheck::kOk ||
      header.destination != tunnel_address_) {
    ++dropped_;
    return 0;
  }
  if (::write(tun_->fd(), data, size) != static_cast<ssize_t>(size)) ++dropped_;
  return 0;
}

void TunnelClient::OnRetry() {
  // A busy agent validates addresses first; ngtcp2 answers with the token.
  Say("the server asked us to prove our address (Retry); answering");
}

void TunnelClient::Finish(int status, const std::string& message) {
  if (finished_) return;
  finished_ = true;
  exit_status_ = status;
  Say(message);
}

void TunnelClient::FinishAfterError(int error) {
  uint64_t code = 0;
  std::string reason;
  if (PeerClosedWithApplicationError(code, reason)) {
    Finish(quic::ExitStatusFor(code), quic::DescribeClose(code, reason));
    return;
  }
  ngtcp2_connection_close_error close;
  ngtcp2_conn_get_connection_close_error(conn_, &close);
  const absl::string_view close_reason(reinterpret_cast<const char*>(close.reason),
                                       close.reasonlen);
  if (error == NGTCP2_ERR_DRAINING &&
      close.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_TRANSPORT &&
      (close.error_code == NGTCP2_CONNECTION_REFUSED || close.error_code == NGTCP2_INVALID_TOKEN)) {
    // Turned away before any state was kept: busy, or too many from here.
    Finish(quic::kExitFailure, absl::StrCat("refused by the server before TLS: ", close_reason));
  } else if (error == NGTCP2_ERR_DRAINING) {
    Finish(quic::kExitFailure,
           absl::StrCat(
               "the server closed the connection (transport error ", close.error_code,
               close.reasonlen > 0
                   ? absl::StrCat(": ", absl::string_view(reinterpret_cast<char*>(close.reason),
                                                          close.reasonlen))
                   : std::string(),
               ")"));
  } else if (error == NGTCP2_ERR_IDLE_CLOSE) {
    Finish(quic::kExitFailure, "connection lost: nothing heard within the idle timeout");
  } else if (error == NGTCP2_ERR_HANDSHAKE_TIMEOUT) {
    Finish(quic::kExitFailure, absl::StrCat("no answer from ", options_.server));
  } else if (error == NGTCP2_ERR_CRYPTO) {
    Finish(quic::kExitFailure,
           absl::StrCat("TLS handshake failed: ",
                        gnutls_alert_get_name(static_cast<gnutls_alert_description_t>(
                            ngtcp2_conn_get_tls_alert(conn_)))));
  } else {
    Finish(quic::kExitFailure, absl::StrCat("connection failed: ", ngtcp2_strerror(error)));
  }
  CloseAfterError(error, *batch_, quic::MonotonicNanos());
}

void TunnelClient::ReadUdp(uint64_t now) {
  for (int i = 0; i < 64 && !finished_; ++i) {
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(udp_fd_, udp_buffer_.data(), udp_buffer_.size(), MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) return;
    ngtcp2_path path{
        .local = {.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_},
        .remote = {.addr = reinterpret_cast<sockaddr*>(&from), .addrlen = from_length},
        .user_data = nullptr};
    if (int rv = Read(path, udp_buffer_.data(), static_cast<size_t>(n), now); rv != 0) {
      FinishAfterError(rv);
      return;
    }
  }
}

void TunnelClient::ReadTun(uint64_t now) {
  for (int i = 0; i < kTunBatch; ++i) {
    const ssize_t n = ::read(tun_->fd(), tun_buffer_.data(), tun_buffer_.size());
    if (n <= 0) return;
    if (!live_) continue;  // nothing is routed here before the welcome
    if (!SendDatagram(tun_buffer_.data(), static_cast<size_t>(n), *batch_, now)) ++dropped_;
  }
}

void TunnelClient::Rebind() {
  if (absl::Status s = OpenSocket(); !s.ok()) {
    Say(absl::StrCat("cannot move to a new port: ", s.message()));
    return;
  }
  ngtcp2_addr local{.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_};
  ngtcp2_conn_set_local_addr(conn_, &local);
  Say(absl::StrCat("moved to local port ",
                   ntohs(reinterpret_cast<const sockaddr_in*>(&local_)->sin_port)));
}

void TunnelClient::ArmTimer() {
  itimerspec spec{};
  const uint64_t expiry = Expiry();
  if (expiry != UINT64_MAX) {
    const uint64_t at = std::max<uint64_t>(expiry, 1);
    spec.it_value.tv_sec = static_cast<time_t>(at / NGTCP2_SECONDS);
    spec.it_value.tv_nsec = static_cast<long>(at % NGTCP2_SECONDS);
  }
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void TunnelClient::OnSignal(uint64_t now) {
  signalfd_siginfo info{};
  if (::read(signal_fd_, &info, sizeof info) != sizeof info) return;
  if (info.ssi_signo == SIGUSR1) {
    Rebind();
    return;
  }
  CloseWithApplicationError(static_cast<uint64_t>(CloseCode::kNormal), "client disconnected",
                            *batch_, now);
  batch_->Flush();
  Finish(quic::kExitInterrupted, "disconnected (interrupted)");
}

bool TunnelClient::SendHello() {
  int64_t stream_id = -1;
  if (int rv = ngtcp2_conn_open_bidi_stream(conn_, &stream_id, nullptr); rv != 0) {
    Finish(quic::kExitFailure, absl::StrCat("cannot open the hello stream: ", ngtcp2_strerror(rv)));
    return false;
  }
  v1::TunnelHello hello;
  hello.set_connect_ticket(options_.connect_ticket);
  hello.set_username(options_.username);
  hello.set_password(options_.password);
  hello.set_device_label(options_.device_label);
  hello.set_client_version(options_.client_version);
  SendOnStream(stream_id, quic::Frame(hello));
  Say("TLS established; authenticating");
  return true;
}

int TunnelClient::Run() {
  std::array<epoll_event, 8> events;
  while (!finished_) {
    uint64_t now = quic::MonotonicNanos();
    if (int rv = Write(*batch_, now); rv != 0) {
      FinishAfterError(rv);
      break;
    }
    batch_->Flush();
    ArmTimer();
    const int n = ::epoll_wait(epoll_fd_, events.data(), events.size(), -1);
    now = quic::MonotonicNanos();
    for (int i = 0; i < n && !finished_; ++i) {
      const int fd = events[i].data.fd;
      if (fd == udp_fd_) {
        ReadUdp(now);
      } else if (fd == tun_->fd()) {
        ReadTun(now);
      } else if (fd == timer_fd_) {
        uint64_t expirations;
        (void)!::read(timer_fd_, &expirations, sizeof expirations);
        if (int rv = HandleExpiry(now); rv != 0) FinishAfterError(rv);
      } else if (fd == signal_fd_) {
        OnSignal(now);
      }
    }
    if (finished_) break;
    if (!failure_.empty()) {
      CloseWithApplicationError(static_cast<uint64_t>(CloseCode::kProtocol), failure_, *batch_,
                                now);
      batch_->Flush();
      Finish(quic::kExitFailure, failure_);
      break;
    }
    if (send_hello_) {
      send_hello_ = false;
      if (!SendHello()) break;
    }
  }
  batch_->Flush();
  return exit_status_;
}

}  // namespace warden::client
