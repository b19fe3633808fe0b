#include "tests/support/quic_probe.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::testing {
namespace {

// A non-blocking UDP socket on a free port, and the agent's address;
// `receive_buffer` bytes when not 0 (root may go past the system's cap).
absl::Status OpenSocket(const QuicProbe::Options& options, int receive_buffer, int& fd,
                        sockaddr_storage& local, socklen_t& local_length, sockaddr_storage& remote,
                        socklen_t& remote_length) {
  sockaddr_in agent{};
  agent.sin_family = AF_INET;
  agent.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &agent.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", options.host));
  }
  std::memcpy(&remote, &agent, sizeof agent);
  remote_length = sizeof agent;
  fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  if (receive_buffer > 0 &&
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  sockaddr_in any{};
  any.sin_family = AF_INET;
  ::bind(fd, reinterpret_cast<sockaddr*>(&any), sizeof any);
  local_length = sizeof local;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<QuicProbe>> QuicProbe::Create(Options options) {
  std::unique_ptr<QuicProbe> probe(new QuicProbe());
  probe->options_ = options;
  auto credentials = quic::TlsCredentials::ForClient(options.ca_file);
  if (!credentials.ok()) return credentials.status();
  probe->credentials_ = *std::move(credentials);
  if (absl::Status s = OpenSocket(options, /*receive_buffer=*/0, probe->fd_, probe->local_,
                                  probe->local_length_, probe->remote_, probe->remote_length_);
      !s.ok()) {
    return s;
  }
  probe->batch_ = std::make_unique<quic::UdpBatch>(probe->fd_);

  ngtcp2_path path{.local = {.addr = reinterpret_cast<sockaddr*>(&probe->local_),
                             .addrlen = probe->local_length_},
                   .remote = {.addr = reinterpret_cast<sockaddr*>(&probe->remote_),
                              .addrlen = probe->remote_length_},
                   .user_data = nullptr};
  if (absl::Status s =
          probe->StartClient(path, 10 * NGTCP2_SECONDS, 10 * NGTCP2_SECONDS, *probe->credentials_,
                             probe->options_.server_name,
                             /*verify_chain=*/true, probe->options_.alpn, probe->options_.token);
      !s.ok()) {
    return s;
  }
  return probe;
}

QuicProbe::~QuicProbe() {
  if (fd_ >= 0) ::close(fd_);
}

bool QuicProbe::Step(absl::Time deadline) {
  if (over_) return false;
  const uint64_t now = quic::MonotonicNanos();
  if (int rv = Write(*batch_, now); rv != 0) {
    error_ = rv;
    over_ = true;
    return false;
  }
  batch_->Flush();
  const uint64_t expiry = Expiry();
  int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
  if (expiry != UINT64_MAX) {
    const int64_t until_expiry = expiry > now ? static_cast<int64_t>((expiry - now) / 1000000) : 0;
    wait_ms = std::min(wait_ms, until_expiry);
  }
  pollfd readable{fd_, POLLIN, 0};
  ::poll(&readable, 1, static_cast<int>(std::max<int64_t>(wait_ms, 0)));
  uint8_t buffer[4096];
  while (true) {
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buffer, sizeof buffer, MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) break;
    arrivals_.push_back(absl::Now());
    ngtcp2_path path{
        .local = {.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_},
        .remote = {.addr = reinterpret_cast<sockaddr*>(&from), .addrlen = from_length},
        .user_data = nullptr};
    if (int rv = Read(path, buffer, static_cast<size_t>(n), quic::MonotonicNanos()); rv != 0) {
      error_ = rv;
      over_ = true;
      return false;
    }
  }
  const uint64_t later = quic::MonotonicNanos();
  if (Expiry() <= later) {
    if (int rv = HandleExpiry(later); rv != 0) {
      error_ = rv;
      over_ = true;
      return false;
    }
  }
  return true;
}

bool QuicProbe::Handshake(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!handshake_done_ && absl::Now() < deadline && Step(deadline)) {
  }
  return handshake_done_;
}

void QuicProbe::SendOnFirstStream(std::string bytes) {
  if (stream_id_ < 0) ngtcp2_conn_open_bidi_stream(conn_, &stream_id_, nullptr);
  SendOnStream(stream_id_, std::move(bytes));
}

void QuicProbe::SendRawDatagram(const std::string& bytes) {
  SendDatagram(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), *batch_,
               quic::MonotonicNanos());
  batch_->Flush();
}

int QuicProbe::OnStreamData(int64_t, const uint8_t* data, size_t size) {
  welcome_.Add(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

QuicProbe::Outcome QuicProbe::RunUntilClosed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline && Step(deadline)) {
  }
  Outcome outcome;
  outcome.handshake_done = handshake_done_;
  outcome.closed = over_;
  outcome.retried = retried_;
  ngtcp2_connection_close_error error;
  ngtcp2_conn_get_connection_close_error(conn_, &error);
  outcome.application = error.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION;
  outcome.code = error.error_code;
  outcome.reason.assign(reinterpret_cast<const char*>(error.reason), error.reasonlen);
  if (over_ && outcome.reason.empty() && error_ != NGTCP2_ERR_DRAINING) {
    outcome.reason = ngtcp2_strerror(error_);
  }
  return outcome;
}

absl::StatusOr<v1::TunnelWelcome> QuicProbe::AwaitWelcome(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (welcome_.state() == quic::FrameReader::State::kNeedMore && absl::Now() < deadline &&
         Step(deadline)) {
  }
  if (welcome_.state() != quic::FrameReader::State::kComplete) {
    return absl::DeadlineExceededError(
        absl::StrCat("no welcome (connection ", over_ ? "closed" : "open", ")"));
  }
  return quic::ParseWelcome(welcome_.message());
}

class QuicCrowd::Member final : public quic::QuicSession {
 public:
  explicit Member(QuicCrowd& crowd) : crowd_(crowd) {}

  absl::Status Start(const ngtcp2_path& path) {
    const uint64_t patience = static_cast<uint64_t>(absl::ToInt64Nanoseconds(crowd_.patience_));
    if (absl::Status s =
            StartClient(path, patience, patience, *crowd_.credentials_, crowd_.options_.server_name,
                        /*verify_chain=*/true, crowd_.options_.alpn);
        !s.ok()) {
      return s;
    }
    std::vector<ngtcp2_cid> ids(ngtcp2_conn_get_num_scid(conn_));
    ngtcp2_conn_get_scid(conn_, ids.data());
    for (const ngtcp2_cid& id : ids) OnConnectionIdIssued(id);
    return absl::OkStatus();
  }

  bool handshake_done = false;
  bool confirmed = false;
  bool retried = false;
  bool over = false;
  bool dirty = true;  // has something to write
  int error = 0;

 private:
  int OnHandshakeCompleted() override {
    handshake_done = true;
    return 0;
  }
  int OnStreamData(int64_t, const uint8_t*, size_t) override { return 0; }
  int OnDatagram(const uint8_t*, size_t) override { return 0; }
  void OnRetry() override { retried = true; }
  void OnHandshakeConfirmed() override { confirmed = true; }
  void OnConnectionIdIssued(const ngtcp2_cid& cid) override {
    crowd_.Route(std::string(reinterpret_cast<const char*>(cid.data), cid.datalen), this);
  }

  QuicCrowd& crowd_;
};

absl::StatusOr<std::unique_ptr<QuicCrowd>> QuicCrowd::Create(QuicProbe::Options options,
                                                             absl::Duration patience) {
  std::unique_ptr<QuicCrowd> crowd(new QuicCrowd());
  crowd->options_ = options;
  crowd->patience_ = patience;
  auto credentials = quic::TlsCredentials::ForClient(options.ca_file);
  if (!credentials.ok()) return credentials.status();
  crowd->credentials_ = *std::move(credentials);
  // Thousands of handshakes answer at once.
  if (absl::Status s = OpenSocket(options, /*receive_buffer=*/16 << 20, crowd->fd_, crowd->local_,
                                  crowd->local_length_, crowd->remote_, crowd->remote_length_);
      !s.ok()) {
    return s;
  }
  crowd->batch_ = std::make_unique<quic::UdpBatch>(crowd->fd_);
  return crowd;
}

QuicCrowd::~QuicCrowd() {
  members_.clear();
  if (fd_ >= 0) ::close(fd_);
}

int QuicCrowd::local_port() const {
  return ntohs(reinterpret_cast<const sockaddr_in*>(&local_)->sin_port);
}

absl::Status QuicCrowd::Open(int count) {
  ngtcp2_path path{
      .local = {.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_},
      .remote = {.addr = reinterpret_cast<sockaddr*>(&remote_), .addrlen = remote_length_},
      .user_data = nullptr};
  for (int i = 0; i < count; ++i) {
    auto member = std::make_unique<Member>(*this);
    if (absl::Status s = member->Start(path); !s.ok()) return s;
    members_.push_back(std::move(member));
  }
  return absl::OkStatus();
}

void QuicCrowd::Settle(Member& member, int error) {
  member.over = true;
  member.error = error;
}

bool QuicCrowd::ReadAll(uint64_t now) {
  uint8_t buffer[4096];
  bool any = false;
  while (true) {
    sockaddr_storage from{};
    socklen_t from_length = sizeof from;
    const ssize_t n = ::recvfrom(fd_, buffer, sizeof buffer, MSG_DONTWAIT,
                                 reinterpret_cast<sockaddr*>(&from), &from_length);
    if (n < 0) return any;
    any = true;
    ngtcp2_version_cid ids;
    // The crowd's own ids are 16 bytes (QuicSession::StartClient).
    if (ngtcp2_pkt_decode_version_cid(&ids, buffer, static_cast<size_t>(n), 16) != 0) continue;
    auto it = by_cid_.find(std::string(reinterpret_cast<const char*>(ids.dcid), ids.dcidlen));
    if (it == by_cid_.end() || it->second->over) continue;
    Member& member = *it->second;
    ngtcp2_path path{
        .local = {.addr = reinterpret_cast<sockaddr*>(&local_), .addrlen = local_length_},
        .remote = {.addr = reinterpret_cast<sockaddr*>(&from), .addrlen = from_length},
        .user_data = nullptr};
    if (int rv = member.Read(path, buffer, static_cast<size_t>(n), now); rv != 0) {
      Settle(member, rv);
      continue;
    }
    member.dirty = true;
  }
}

void QuicCrowd::Run(absl::Duration timeout, const std::function<bool(const Tally&)>& done) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    const uint64_t now = quic::MonotonicNanos();
    uint64_t next = UINT64_MAX;
    for (auto& member : members_) {
      if (member->over) continue;
      if (member->Expiry() <= now) {
        if (int rv = member->HandleExpiry(now); rv != 0) {
          Settle(*member, rv);
          continue;
        }
        member->dirty = true;
      }
      if (member->dirty) {
        member->dirty = false;
        if (int rv = member->Write(*batch_, now); rv != 0) {
          Settle(*member, rv);
          continue;
        }
      }
      next = std::min(next, member->Expiry());
    }
    batch_->Flush();
    if ((done && done(tally())) || absl::Now() >= deadline) return;
    int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (next != UINT64_MAX) {
      const uint64_t later = quic::MonotonicNanos();
      wait_ms = std::min<int64_t>(
          wait_ms, next > later ? static_cast<int64_t>((next - later) / 1000000) + 1 : 0);
    }
    pollfd readable{fd_, POLLIN, 0};
    ::poll(&readable, 1, static_cast<int>(std::max<int64_t>(wait_ms, 0)));
    ReadAll(quic::MonotonicNanos());
  }
}

QuicCrowd::Tally QuicCrowd::tally() const {
  Tally tally;
  for (const auto& member : members_) {
    ++tally.started;
    if (member->retried) ++tally.retried;
    if (member->handshake_done) ++tally.handshakes;
    if (!member->over) {
      ++tally.open;
      if (member->confirmed) ++tally.idle;
      continue;
    }
    if (member->error == NGTCP2_ERR_HANDSHAKE_TIMEOUT || member->error == NGTCP2_ERR_IDLE_CLOSE) {
      ++tally.timed_out;
      continue;
    }
    ngtcp2_connection_close_error error;
    ngtcp2_conn_get_connection_close_error(member->conn(), &error);
    if (member->error != NGTCP2_ERR_DRAINING) {
      ++tally.other;
    } else if (error.type == NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) {
      ++tally.closed_by_code[error.error_code];
      tally.sample_reason[error.error_code].assign(reinterpret_cast<const char*>(error.reason),
                                                   error.reasonlen);
    } else if (!member->handshake_done && (error.error_code == NGTCP2_CONNECTION_REFUSED ||
                                           error.error_code == NGTCP2_INVALID_TOKEN)) {
      ++tally.refused;
    } else {
      ++tally.other;
    }
  }
  return tally;
}

}  // namespace warden::testing
