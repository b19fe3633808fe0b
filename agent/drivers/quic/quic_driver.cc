#include "agent/drivers/quic/quic_driver.h"

#include <arpa/inet.h>
#include <gnutls/crypto.h>
#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/quic/ipv4.h"
#include "common/quic/tunnel_protocol.h"
#include "common/status_macros.h"

namespace warden::agent::quic {
namespace {

using warden::quic::CloseCode;
using warden::quic::Ipv4Header;
using warden::quic::PacketCheck;

constexpr int kUdpBatch = 64;      // datagrams per recvmmsg
constexpr int kTunBatch = 256;     // TUN packets per wake-up, so UDP is not starved
constexpr size_t kUdpSlot = 4096;  // above any QUIC packet a peer may send us
constexpr size_t kMaxPacket = 65535;
constexpr uint64_t kUsageSweepNs = NGTCP2_SECONDS;

const logging::Logger Log("agent.quic");

std::string FormatAddress(const sockaddr* address) {
  char host[INET6_ADDRSTRLEN] = {};
  char port[8] = {};
  const socklen_t length =
      address->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (getnameinfo(address, length, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return address->sa_family == AF_INET6 ? absl::StrCat("[", host, "]:", port)
                                        : absl::StrCat(host, ":", port);
}

absl::StatusOr<std::pair<std::string, std::string>> SplitHostPort(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quic-listen \"", listen, "\" is not host:port"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, listen.substr(colon + 1));
}

}  // namespace

QuicDriver::QuicDriver(QuicOptions options, metrics::Registry& metrics, const Clock& clock)
    : options_(std::move(options)),
      metrics_(metrics),
      clock_(clock),
      dropped_(metrics.AddCounter("warden_quic_dropped_packets_total",
                                  "Tunnel packets the QUIC endpoint dropped, by reason.",
                                  {"reason"})),
      connections_total_(metrics.AddCounter("warden_quic_connections_total",
                                            "QUIC tunnel connections by how their handshake ended.",
                                            {"result"})),
      retries_sent_(metrics
                        .AddCounter("warden_quic_retries_total",
                                    "Retry packets sent to validate a client's address.")
                        .With({})) {
  metrics.AddCounterFunc("warden_quic_packets_from_clients_total",
                         "IP packets received from clients and written to the TUN device.",
                         [this] { return static_cast<double>(packets_from_clients_.load()); });
  metrics.AddCounterFunc("warden_quic_packets_to_clients_total",
                         "IP packets read from the TUN device and sent to clients.",
                         [this] { return static_cast<double>(packets_to_clients_.load()); });
  metrics.AddCounterFunc("warden_quic_bytes_from_clients_total", "IP bytes from clients.",
                         [this] { return static_cast<double>(bytes_from_clients_.load()); });
  metrics.AddCounterFunc("warden_quic_bytes_to_clients_total", "IP bytes to clients.",
                         [this] { return static_cast<double>(bytes_to_clients_.load()); });
  metrics.AddGaugeFunc("warden_quic_connections", "QUIC tunnel connections now (admitted).",
                       [this] { return static_cast<double>(live_connections_.load()); });
  metrics.AddGaugeFunc("warden_quic_half_open_connections",
                       "QUIC connections now that are not admitted yet (handshake, hello, "
                       "admission).",
                       [this] { return static_cast<double>(census_.half_open()); });
}

QuicDriver::~QuicDriver() {
  Stop();
  for (int fd : {udp_fd_, epoll_fd_, task_fd_, timer_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

absl::Status QuicDriver::Start(DriverHost& host) {
  host_ = &host;
  auto credentials = warden::quic::TlsCredentials::ForServer(options_.cert_file, options_.key_file);
  if (!credentials.ok()) return credentials.status();
  credentials_ = *std::move(credentials);
  WARDEN_ASSIGN_OR_RETURN(const warden::quic::Ipv4Prefix prefix, ConfigureAddresses());
  WARDEN_RETURN_IF_ERROR(ConfigureLimits());
  auto tun = warden::quic::TunDevice::Open(options_.tun_name);
  if (!tun.ok()) return tun.status();
  tun_ = *std::move(tun);
  WARDEN_RETURN_IF_ERROR(tun_->Configure(pool_->gateway(), prefix.length, options_.mtu));
  WARDEN_RETURN_IF_ERROR(BindUdp());
  WARDEN_RETURN_IF_ERROR(StartLoop());
  Log()->info("QUIC tunnels on udp {} (port {}), tun {} gateway {} pool {} mtu {}", options_.listen,
              port_, tun_->name(), warden::quic::FormatIpv4(pool_->gateway()), options_.pool,
              options_.mtu);
  return absl::OkStatus();
}

absl::StatusOr<warden::quic::Ipv4Prefix> QuicDriver::ConfigureAddresses() {
  auto prefix = warden::quic::ParseIpv4Prefix(options_.pool);
  if (!prefix.ok()) return prefix.status();
  if (prefix->length < 8 || prefix->length > 30) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quic-pool ", options_.pool, " must be a /8 to /30"));
  }
  pool_ = std::make_unique<AddressPool>(*prefix);
  for (const std::string& route : options_.routes) {
    auto parsed = warden::quic::ParseIpv4Prefix(route);
    if (!parsed.ok()) return parsed.status();
    client_routes_.push_back(warden::quic::FormatIpv4Prefix(*parsed));
  }
  if (client_routes_.empty()) client_routes_.push_back(warden::quic::FormatIpv4Prefix(*prefix));
  if (options_.mtu < 576 || options_.mtu > 1408) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quic-mtu ", options_.mtu,
                     " is outside 576..1408 (a DATAGRAM must fit one 1452-byte UDP payload)"));
  }
  return *prefix;
}

absl::Status QuicDriver::ConfigureLimits() {
  connection_options_ = ServerConnectionOptions{
      .idle_timeout_ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.idle_timeout)),
      .keepalive_ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.keepalive))};
  limits_ = EndpointLimits{.max_connections = options_.max_connections,
                           .retry_threshold = options_.retry_threshold,
                           .max_per_address = options_.max_connections_per_address};
  if (options_.hello_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("--quic-hello-timeout-seconds must be positive");
  }
  hello_timeout_ns_ = static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.hello_timeout));
  auto tokens = RetryTokens::Create(
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.retry_token_lifetime)));
  if (!tokens.ok()) return tokens.status();
  retry_tokens_.emplace(*std::move(tokens));
  return absl::OkStatus();
}

absl::Status QuicDriver::BindUdp() {
  auto host_port = SplitHostPort(options_.listen);
  if (!host_port.ok()) return host_port.status();
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rv = getaddrinfo(host_port->first.empty() ? nullptr : host_port->first.c_str(),
                           host_port->second.c_str(), &hints, &found);
      rv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quic-listen ", options_.listen, ": ", gai_strerror(rv)));
  }
  udp_fd_ = ::socket(found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int bound = udp_fd_ < 0 ? -1 : ::bind(udp_fd_, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (bound != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on UDP ", options_.listen, ": ", std::strerror(errno)));
  }
  const int buffer = 8 << 20;  // bursts of a fast tunnel outrun the default 208 KiB
  ::setsockopt(udp_fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  ::setsockopt(udp_fd_, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  local_address_length_ = sizeof local_address_;
  ::getsockname(udp_fd_, reinterpret_cast<sockaddr*>(&local_address_), &local_address_length_);
  port_ = ntohs(local_address_.ss_family == AF_INET6
                    ? reinterpret_cast<sockaddr_in6*>(&local_address_)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&local_address_)->sin_port);
  return absl::OkStatus();
}

absl::Status QuicDriver::StartLoop() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  task_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  for (int fd : {udp_fd_, tun_->fd(), task_fd_, timer_fd_}) {
    epoll_event event{.events = EPOLLIN, .data = {.fd = fd}};
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
      return absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(errno)));
    }
  }
  batch_ = std::make_unique<warden::quic::UdpBatch>(udp_fd_);
  udp_buffers_.resize(kUdpBatch * kUdpSlot);
  tun_buffer_.resize(kMaxPacket);
  host_calls_ =
      std::make_unique<WorkerPool>("quic-admit", options_.admit_threads, options_.admit_queue);
  loop_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void QuicDriver::Stop() {
  if (!loop_.joinable()) return;
  stopping_ = true;
  Post([] {});
  loop_.join();
  host_calls_->Shutdown();
}

void QuicDriver::Post(std::function<void()> task) {
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks_.push_back(std::move(task));
  }
  const uint64_t one = 1;
  (void)!::write(task_fd_, &one, sizeof one);
}

void QuicDriver::RunTasks() {
  uint64_t count;
  (void)!::read(task_fd_, &count, sizeof count);
  std::vector<std::function<void()>> tasks;
  {
    absl::MutexLock lock(&tasks_mu_);
    tasks.swap(tasks_);
  }
  for (auto& task : tasks) task();
}

void QuicDriver::Run() {
  std::array<epoll_event, 8> events;
  while (!stopping_) {
    ArmTimer();
    const int n = ::epoll_wait(epoll_fd_, events.data(), events.size(), -1);
    if (n < 0 && errno != EINTR) {
      Log()->error("epoll_wait: {}", std::strerror(errno));
      break;
    }
    const uint64_t now = warden::quic::MonotonicNanos();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == udp_fd_) {
        ReadUdp(now);
      } else if (fd == tun_->fd()) {
        ReadTun(now);
      } else if (fd == task_fd_) {
        RunTasks();
      } else if (fd == timer_fd_) {
        uint64_t expirations;
        (void)!::read(timer_fd_, &expirations, sizeof expirations);
      }
    }
    HandleTimers(warden::quic::MonotonicNanos());
    for (ServerConnection* connection : std::set<ServerConnection*>(std::move(touched_))) {
      Service(*connection, now);
    }
    touched_.clear();
    batch_->Flush();
  }
  // Shutdown: every client hears why.
  const uint64_t now = warden::quic::MonotonicNanos();
  std::vector<ServerConnection*> open;
  for (auto& [key, connection] : connections_) {
    if (connection->closed_at == 0) open.push_back(connection.get());
  }
  for (ServerConnection* connection : open) {
    Close(*connection, CloseCode::kShutdown, "the node is shutting down", now);
  }
  batch_->Flush();
}

void QuicDriver::ArmTimer() {
  itimerspec spec{};
  if (!timers_.empty()) {
    const uint64_t deadline = std::max<uint64_t>(timers_.begin()->first, 1);
    spec.it_value.tv_sec = static_cast<time_t>(deadline / NGTCP2_SECONDS);
    spec.it_value.tv_nsec = static_cast<long>(deadline % NGTCP2_SECONDS);
  }
  ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void QuicDriver::UpdateTimer(ServerConnection& connection, uint64_t deadline) {
  if (connection.timer_key == deadline) return;
  if (connection.timer_key != UINT64_MAX) timers_.erase({connection.timer_key, &connection});
  connection.timer_key = deadline;
  if (deadline != UINT64_MAX) timers_.insert({deadline, &connection});
}

void QuicDriver::HandleTimers(uint64_t now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    ServerConnection* connection = timers_.begin()->second;
    UpdateTimer(*connection, UINT64_MAX);
    if (connection->closed_at != 0) {
      Forget(*connection);
      continue;
    }
    if (connection->stage() == ServerConnection::Stage::kHello &&
        now >= connection->hello_deadline) {
      Close(*connection, CloseCode::kProtocol,
            absl::StrCat("no hello within ", absl::FormatDuration(options_.hello_timeout),
                         " of the handshake"),
            now, "hello_timeout");
      continue;
    }
    if (int rv = connection->HandleExpiry(now); rv != 0) {
      Close(*connection, rv == NGTCP2_ERR_IDLE_CLOSE ? CloseCode::kIdle : CloseCode::kProtocol,
            rv == NGTCP2_ERR_IDLE_CLOSE ? "idle" : ngtcp2_strerror(rv), now);
      continue;
    }
    Touch(*connection);
  }
  if (now >= next_usage_sweep_) {
    next_usage_sweep_ = now + kUsageSweepNs;
    for (auto& [key, connection] : connections_) ReportUsage(*connection, now);
  }
}

void QuicDriver::ReadUdp(uint64_t now) {
  std::array<mmsghdr, kUdpBatch> messages{};
  std::array<iovec, kUdpBatch> iovs;
  std::array<sockaddr_storage, kUdpBatch> sources;
  for (int round = 0; round < 16; ++round) {
    for (int i = 0; i < kUdpBatch; ++i) {
      iovs[i] = iovec{.iov_base = &udp_buffers_[i * kUdpSlot], .iov_len = kUdpSlot};
      messages[i].msg_hdr = msghdr{};
      messages[i].msg_hdr.msg_name = &sources[i];
      messages[i].msg_hdr.msg_namelen = sizeof sources[i];
      messages[i].msg_hdr.msg_iov = &iovs[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(udp_fd_, messages.data(), kUdpBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      const uint8_t* data = &udp_buffers_[i * kUdpSlot];
      const size_t size = messages[i].msg_len;
      ngtcp2_path path{.local = {.addr = reinterpret_cast<sockaddr*>(&local_address_),
                                 .addrlen = local_address_length_},
                       .remote = {.addr = reinterpret_cast<sockaddr*>(&sources[i]),
                                  .addrlen = messages[i].msg_hdr.msg_namelen},
                       .user_data = nullptr};
      ngtcp2_version_cid version_cid;
      const int decoded = ngtcp2_pkt_decode_version_cid(&version_cid, data, size, kServerCidLength);
      if (decoded == NGTCP2_ERR_VERSION_NEGOTIATION) {
        uint8_t* out = batch_->Next();
        const uint32_t versions[] = {NGTCP2_PROTO_VER_V1};
        uint8_t unused;
        gnutls_rnd(GNUTLS_RND_NONCE, &unused, 1);
        const ngtcp2_ssize written = ngtcp2_pkt_write_version_negotiation(
            out, warden::quic::kMaxUdpPayload, unused, version_cid.scid, version_cid.scidlen,
            version_cid.dcid, version_cid.dcidlen, versions, 1);
        if (written > 0) batch_->Commit(path.remote, static_cast<size_t>(written));
        continue;
      }
      if (decoded != 0) {
        Drop("not_quic");
        continue;
      }
      auto it = by_cid_.find(CidKey(version_cid.dcid, version_cid.dcidlen));
      if (it != by_cid_.end()) {
        Deliver(*it->second, path, data, size, now);
        continue;
      }
      ngtcp2_pkt_hd header;
      if (ngtcp2_accept(&header, data, size) != 0) {
        Drop("not_quic");
        continue;
      }
      Accept(header, path, data, size, now);
    }
    if (n < kUdpBatch) return;
  }
}

void QuicDriver::Accept(const ngtcp2_pkt_hd& header, const ngtcp2_path& path, const uint8_t* data,
                        size_t size, uint64_t now) {
  if (stopping_) return;
  std::string address = ClientAddressKey(path.remote.addr);
  const absl::string_view token(reinterpret_cast<const char*>(header.token.base), header.token.len);
  TokenCheck token_check = TokenCheck::kNone;
  std::optional<ngtcp2_cid> original_dcid;
  if (RetryTokens::LooksLikeRetryToken(token)) {
    original_dcid = retry_tokens_->Verify(token, path.remote, header.version, header.dcid, now);
    token_check = original_dcid.has_value() ? TokenCheck::kValid : TokenCheck::kInvalid;
  }
  const InitialVerdict verdict = DecideInitial(limits_, census_.Load(address), token_check);
  if (verdict == InitialVerdict::kRetry) {
    SendRetry(header, path, now);
    return;
  }
  if (verdict != InitialVerdict::kAccept) {
    RefuseStatelessly(header, path, verdict);
    return;
  }
  auto accepted = ServerConnection::Accept(*this, header, path, *credentials_, connection_options_,
                                           original_dcid ? &*original_dcid : nullptr, now);
  if (!accepted.ok()) {
    Log()->warn("cannot accept a QUIC connection: {}", accepted.status().message());
    return;
  }
  std::unique_ptr<ServerConnection> owned = *std::move(accepted);
  ServerConnection& connection = *owned;
  connection.client_address = FormatAddress(path.remote.addr);
  census_.Add(connection.census, std::move(address), token_check == TokenCheck::kValid);
  // Until the client learns ours, its Initial packets carry the id it chose.
  connection.routing_ids.push_back(CidKey(header.dcid.data, header.dcid.datalen));
  for (const std::string& id : connection.routing_ids) by_cid_[id] = &connection;
  connections_[connection.session_key()] = std::move(owned);
  Deliver(connection, path, data, size, now);
}

void QuicDriver::SendRetry(const ngtcp2_pkt_hd& header, const ngtcp2_path& path, uint64_t now) {
  ngtcp2_cid retry_scid;
  retry_scid.datalen = kServerCidLength;
  if (gnutls_rnd(GNUTLS_RND_NONCE, retry_scid.data, retry_scid.datalen) != 0) return;
  absl::StatusOr<std::string> token =
      retry_tokens_->Issue(path.remote, header.version, retry_scid, header.dcid, now);
  if (!token.ok()) {
    Log()->warn("cannot answer an Initial with a Retry: {}", token.status().message());
    return;
  }
  uint8_t* out = batch_->Next();
  const size_t n = WriteRetry(out, warden::quic::kMaxUdpPayload, header, retry_scid, *token);
  if (n == 0) {
    Log()->warn("cannot write a Retry packet");
    return;
  }
  batch_->Commit(path.remote, n);
  retries_sent_.Increment();
}

void QuicDriver::RefuseStatelessly(const ngtcp2_pkt_hd& header, const ngtcp2_path& path,
                                   InitialVerdict verdict) {
  connections_total_.With({InitialVerdictLabel(verdict)}).Increment();
  uint64_t error = NGTCP2_CONNECTION_REFUSED;
  absl::string_view reason;
  switch (verdict) {
    case InitialVerdict::kRefuseInvalidToken:
      error = NGTCP2_INVALID_TOKEN;
      reason = "the address validation token is not valid (expired?); connect again";
      break;
    case InitialVerdict::kRefuseAddressLimit:
      reason = "too many connections from this address";
      break;
    case InitialVerdict::kRefuseCapacity:
      reason = "this node is at its connection limit";
      break;
    case InitialVerdict::kAccept:
    case InitialVerdict::kRetry:
      Log()->error("RefuseStatelessly called for verdict {}", InitialVerdictLabel(verdict));
      return;
  }
  uint8_t* out = batch_->Next();
  const size_t n = WriteStatelessClose(out, warden::quic::kMaxUdpPayload, header, error, reason);
  if (n > 0) batch_->Commit(path.remote, n);
}

void QuicDriver::Deliver(ServerConnection& connection, const ngtcp2_path& path, const uint8_t* data,
                         size_t size, uint64_t now) {
  if (connection.closed_at != 0) {
    connection.RepeatClose(*batch_);
    return;
  }
  const int rv = connection.Read(path, data, size, now);
  if (rv != 0) {
    uint64_t code = 0;
    std::string reason;
    if (connection.PeerClosedWithApplicationError(code, reason)) {
      Close(connection, static_cast<CloseCode>(code),
            code == 0 ? "client disconnected" : absl::StrCat("client closed: ", reason), now);
    } else {
      Close(connection, CloseCode::kProtocol, ngtcp2_strerror(rv), now);
    }
    return;
  }
  if (auto& pending = connection.pending_close()) {
    Close(connection, pending->code, pending->reason, now, pending->result);
    return;
  }
  Touch(connection);
}

void QuicDriver::Service(ServerConnection& connection, uint64_t now) {
  if (connection.closed_at != 0) return;
  if (int rv = connection.Write(*batch_, now); rv != 0) {
    Close(connection, CloseCode::kProtocol, ngtcp2_strerror(rv), now);
    return;
  }
  uint64_t deadline = connection.Expiry();
  if (connection.stage() == ServerConnection::Stage::kHello) {
    deadline = std::min(deadline, connection.hello_deadline);
  }
  UpdateTimer(connection, deadline);
}

void QuicDriver::OnHandshakeCompleted(ServerConnection& connection) {
  // A completed handshake proves the address; an address that proved more
  // connections meanwhile (this one came in before its Retry) is at its
  // allowance.
  if (!MayProve(limits_, census_.Load(connection.census.address), connection.census.proven)) {
    connection.pending_close() = ServerConnection::PendingClose{
        .code = CloseCode::kUnavailable,
        .reason = "too many connections from this address",
        .result = InitialVerdictLabel(InitialVerdict::kRefuseAddressLimit)};
    return;
  }
  census_.Prove(connection.census);
  connection.hello_deadline = warden::quic::MonotonicNanos() + hello_timeout_ns_;
}

void QuicDriver::OnConnectionId(ServerConnection& connection, const ngtcp2_cid& cid, bool issued) {
  std::string key = CidKey(cid.data, cid.datalen);
  if (issued) {
    by_cid_[key] = &connection;
    connection.routing_ids.push_back(std::move(key));
  } else {
    auto it = by_cid_.find(key);
    if (it != by_cid_.end() && it->second == &connection) by_cid_.erase(it);
  }
}

void QuicDriver::OnHello(ServerConnection& connection, v1::TunnelHello hello) {
  AdmitQuery query{.protocol = Protocol::kQuic,
                   .session_key = connection.session_key(),
                   .username = hello.username(),
                   .password = std::nullopt,
                   .connect_ticket = std::nullopt,
                   .device_label = hello.device_label(),
                   .client_address = connection.client_address};
  if (!hello.connect_ticket().empty()) {
    query.connect_ticket = hello.connect_ticket();
  } else {
    query.password = hello.password();
  }
  connection.device_label = hello.device_label();
  const bool submitted = host_calls_->TrySubmit([this, query = std::move(query)]() mutable {
    AdmitAnswer answer = host_->Admit(query);
    Post([this, key = query.session_key, answer = std::move(answer)] {
      FinishAdmission(key, answer);
    });
  });
  if (!submitted) {
    connection.pending_close() = ServerConnection::PendingClose{
        .code = CloseCode::kUnavailable, .reason = "too many connections are being admitted"};
  }
}

void QuicDriver::FinishAdmission(const std::string& session_key, const AdmitAnswer& answer) {
  const uint64_t now = warden::quic::MonotonicNanos();
  ServerConnection* connection = ConnectionByKey(session_key);
  if (connection == nullptr || connection->closed_at != 0) {
    // The client left while it was being admitted: the session it got is over.
    if (answer.admitted) {
      host_calls_->TrySubmit([this, session_key] { host_->Closed(session_key, "lost", 0, 0); });
    }
    return;
  }
  if (!answer.admitted) {
    Refuse(*connection, answer, now);
    return;
  }
  std::optional<uint32_t> address = pool_->Acquire();
  if (!address) {
    connections_total_.With({"pool_exhausted"}).Increment();
    Log()->error("address pool {} is exhausted; refusing {}", options_.pool, session_key);
    connection->username = answer.username;
    connection->set_stage(ServerConnection::Stage::kLive);  // so that Close reports it
    Close(*connection, CloseCode::kUnavailable, "this node has no tunnel address left", now);
    return;
  }
  connections_total_.With({"admitted"}).Increment();
  census_.Settle(connection->census);
  connection->EnableKeepAlive();
  connection->username = answer.username;
  connection->tunnel_address = *address;
  connection->opened_at = clock_.Now();
  connection->usage_at = now;
  connection->budget = budgets_.Acquire(answer.username, answer.bandwidth_bytes_per_second,
                                        static_cast<int64_t>(now));
  by_address_[*address] = connection;
  connection->set_stage(ServerConnection::Stage::kLive);
  live_connections_.fetch_add(1);
  connection->SendOnStream(0, warden::quic::Frame(WelcomeFor(*address, answer)));
  Publish(*connection, answer.bandwidth_bytes_per_second);
  Touch(*connection);
  Service(*connection, now);
  batch_->Flush();
}

void QuicDriver::Refuse(ServerConnection& connection, const AdmitAnswer& answer, uint64_t now) {
  connections_total_.With({"denied"}).Increment();
  const CloseCode code =
      answer.deny_reason == "CONTROL_PLANE_UNREACHABLE" || answer.deny_reason == "ERROR"
          ? CloseCode::kUnavailable
          : CloseCode::kDenied;
  const std::string reason = answer.message.empty()
                                 ? answer.deny_reason
                                 : absl::StrCat(answer.deny_reason, ": ", answer.message);
  Log()->info("refused {} from {}: {}", connection.session_key(), connection.client_address,
              reason);
  Close(connection, code, reason, now);
}

v1::TunnelWelcome QuicDriver::WelcomeFor(uint32_t address, const AdmitAnswer& answer) const {
  v1::TunnelWelcome welcome;
  welcome.set_session_id(answer.session_id);
  welcome.set_tunnel_address(
      absl::StrCat(warden::quic::FormatIpv4(address), "/", pool_->prefix().length));
  welcome.set_gateway_address(warden::quic::FormatIpv4(pool_->gateway()));
  welcome.set_mtu(static_cast<uint32_t>(options_.mtu));
  for (const std::string& route : client_routes_) welcome.add_routes(route);
  welcome.set_bandwidth_bytes_per_second(answer.bandwidth_bytes_per_second);
  welcome.set_keepalive_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(options_.keepalive)));
  return welcome;
}

void QuicDriver::Publish(const ServerConnection& connection, int64_t bytes_per_second) {
  const std::string& session_key = connection.session_key();
  const std::string tunnel_address = warden::quic::FormatIpv4(connection.tunnel_address);
  {
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_[session_key] = DriverSession{.session_key = session_key,
                                           .username = connection.username,
                                           .protocol = Protocol::kQuic,
                                           .device_label = connection.device_label,
                                           .client_address = connection.client_address,
                                           .tunnel_address = tunnel_address,
                                           .opened_at = connection.opened_at,
                                           .rx_bytes = 0,
                                           .tx_bytes = 0};
  }
  Log()->info("admitted {} user={} from {} address {} limit={} B/s", session_key,
              connection.username, connection.client_address, tunnel_address, bytes_per_second);
  host_calls_->TrySubmit(
      [this, session_key, tunnel_address] { host_->Opened(session_key, tunnel_address); });
}

void QuicDriver::OnClientPacket(ServerConnection& connection, const uint8_t* data, size_t size) {
  Ipv4Header header;
  if (warden::quic::InspectIpv4(data, size, header) != PacketCheck::kOk) {
    ++connection.dropped_malformed;
    Drop("malformed");
    return;
  }
  if (header.source != connection.tunnel_address) {
    Drop("spoofed_source");
    return;
  }
  if (!connection.budget->TryTake(static_cast<int64_t>(size),
                                  static_cast<int64_t>(warden::quic::MonotonicNanos()))) {
    ++connection.dropped_over_budget;
    Drop("over_budget");
    return;
  }
  if (::write(tun_->fd(), data, size) != static_cast<ssize_t>(size)) {
    Drop("tun_full");
    return;
  }
  connection.delivered_rx += size;
  packets_from_clients_.fetch_add(1, std::memory_order_relaxed);
  bytes_from_clients_.fetch_add(size, std::memory_order_relaxed);
}

void QuicDriver::ReadTun(uint64_t now) {
  for (int i = 0; i < kTunBatch; ++i) {
    const ssize_t n = ::read(tun_->fd(), tun_buffer_.data(), tun_buffer_.size());
    if (n <= 0) return;
    const size_t size = static_cast<size_t>(n);
    Ipv4Header header;
    if (warden::quic::InspectIpv4(tun_buffer_.data(), size, header) != PacketCheck::kOk) {
      Drop("not_ipv4");
      continue;
    }
    auto it = by_address_.find(header.destination);
    if (it == by_address_.end()) {
      Drop("no_route");
      continue;
    }
    ServerConnection& connection = *it->second;
    if (!connection.budget->TryTake(static_cast<int64_t>(size), static_cast<int64_t>(now))) {
      ++connection.dropped_over_budget;
      Drop("over_budget");
      continue;
    }
    if (!connection.SendDatagram(tun_buffer_.data(), size, *batch_, now)) {
      Drop(size > connection.max_datagram_payload() ? "oversized" : "congestion");
      continue;
    }
    packets_to_clients_.fetch_add(1, std::memory_order_relaxed);
    bytes_to_clients_.fetch_add(size, std::memory_order_relaxed);
    Touch(connection);
  }
}

void QuicDriver::Drop(const char* reason) { dropped_.With({reason}).Increment(); }

void QuicDriver::Close(ServerConnection& connection, CloseCode code, const std::string& reason,
                       uint64_t now, absl::string_view result) {
  if (connection.closed_at != 0) return;
  connection.CloseWithApplicationError(static_cast<uint64_t>(code), reason, *batch_, now);
  connection.closed_at = now;
  census_.Settle(connection.census);
  // Keep answering with the close for three PTOs, then forget the connection.
  UpdateTimer(connection, now + 3 * ngtcp2_conn_get_pto(connection.conn()));
  if (connection.stage() != ServerConnection::Stage::kLive) {
    if (connection.stage() != ServerConnection::Stage::kAdmitting) {
      connections_total_.With({result}).Increment();
    }
    Log()->debug("closed {} before admission: {}", connection.session_key(), reason);
    return;
  }
  if (connection.tunnel_address != 0) {
    by_address_.erase(connection.tunnel_address);
    pool_->Release(connection.tunnel_address);
    budgets_.Release(connection.username);
    live_connections_.fetch_sub(1);
  }
  const auto& counters = connection.counters();
  const int64_t rx = static_cast<int64_t>(connection.delivered_rx);
  const int64_t tx = static_cast<int64_t>(counters.bytes_sent);
  {
    absl::MutexLock lock(&snapshot_mu_);
    snapshot_.erase(connection.session_key());
  }
  Log()->info("closed {} user={}: {} (rx={} tx={} over_budget={} malformed={})",
              connection.session_key(), connection.username, reason, rx, tx,
              connection.dropped_over_budget, connection.dropped_malformed);
  const std::string close_reason = code == CloseCode::kKilled || code == CloseCode::kEvicted
                                       ? reason
                                   : code == CloseCode::kNormal   ? "disconnected"
                                   : code == CloseCode::kIdle     ? "idle"
                                   : code == CloseCode::kShutdown ? "node shutdown"
                                                                  : reason;
  host_calls_->TrySubmit([this, key = connection.session_key(), close_reason, rx, tx] {
    host_->Closed(key, close_reason, rx, tx);
  });
}

void QuicDriver::Forget(ServerConnection& connection) {
  for (const std::string& id : connection.routing_ids) {
    auto it = by_cid_.find(id);
    if (it != by_cid_.end() && it->second == &connection) by_cid_.erase(it);
  }
  touched_.erase(&connection);
  UpdateTimer(connection, UINT64_MAX);
  census_.Remove(connection.census);
  connections_.erase(connection.session_key());
}

void QuicDriver::ReportUsage(ServerConnection& connection, uint64_t now) {
  if (connection.closed_at != 0 || connection.stage() != ServerConnection::Stage::kLive) return;
  const auto& counters = connection.counters();
  const int64_t rx = static_cast<int64_t>(connection.delivered_rx);
  const int64_t tx = static_cast<int64_t>(counters.bytes_sent);
  {
    absl::MutexLock lock(&snapshot_mu_);
    auto it = snapshot_.find(connection.session_key());
    if (it != snapshot_.end()) {
      it->second.rx_bytes = rx;
      it->second.tx_bytes = tx;
    }
  }
  const uint64_t interval =
      static_cast<uint64_t>(absl::ToInt64Nanoseconds(options_.usage_interval));
  if (now - connection.usage_at < interval ||
      (rx == connection.reported_rx && tx == connection.reported_tx)) {
    return;
  }
  connection.usage_at = now;
  connection.reported_rx = rx;
  connection.reported_tx = tx;
  host_calls_->TrySubmit(
      [this, key = connection.session_key(), rx, tx] { host_->Usage(key, rx, tx); });
}

ServerConnection* QuicDriver::ConnectionByKey(const std::string& session_key) {
  auto it = connections_.find(session_key);
  return it == connections_.end() ? nullptr : it->second.get();
}

std::vector<DriverSession> QuicDriver::Inventory() {
  absl::MutexLock lock(&snapshot_mu_);
  std::vector<DriverSession> sessions;
  sessions.reserve(snapshot_.size());
  for (const auto& [key, session] : snapshot_) sessions.push_back(session);
  return sessions;
}

bool QuicDriver::Carries(const std::string& session_key) {
  absl::MutexLock lock(&snapshot_mu_);
  return snapshot_.contains(session_key);
}

absl::Status QuicDriver::Kill(const std::string& session_key, const std::string& reason) {
  Post([this, session_key, reason] {
    ServerConnection* connection = ConnectionByKey(session_key);
    if (connection == nullptr || connection->closed_at != 0) return;
    Close(*connection, warden::quic::CloseCodeForKill(reason), reason,
          warden::quic::MonotonicNanos());
    batch_->Flush();
  });
  return absl::OkStatus();
}

absl::Status QuicDriver::SetBandwidth(const std::string& username, int64_t bytes_per_second) {
  Post([this, username, bytes_per_second] {
    if (budgets_.SetRate(username, bytes_per_second)) {
      Log()->info("bandwidth of user={} is now {} B/s", username, bytes_per_second);
    }
  });
  return absl::OkStatus();
}

}  // namespace warden::agent::quic
