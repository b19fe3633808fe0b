#include "tests/support/quic_probe.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::testing {

absl::StatusOr<std::unique_ptr<QuicProbe>> QuicProbe::Create(Options options) {
  std::unique_ptr<QuicProbe> probe(new QuicProbe());
  probe->options_ = options;
  auto credentials = quic::TlsCredentials::ForClient(options.ca_file);
  if (!credentials.ok()) return credentials.status();
  probe->credentials_ = *std::move(credentials);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(options.port));
  if (inet_pton(AF_INET, options.host.c_str(), &remote.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("not an IPv4 address: ", options.host));
  }
  std::memcpy(&probe->remote_, &remote, sizeof remote);
  probe->remote_length_ = sizeof remote;
  probe->fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  ::bind(probe->fd_, reinterpret_cast<sockaddr*>(&any), sizeof any);
  probe->local_length_ = sizeof probe->local_;
  ::getsockname(probe->fd_, reinterpret_cast<sockaddr*>(&probe->local_), &probe->local_length_);
  probe->batch_ = std::make_unique<quic::UdpBatch>(probe->fd_);

  ngtcp2_path path{.local = {.addr = reinterpret_cast<sockaddr*>(&probe->local_),
                             .addrlen = probe->local_length_},
                   .remote = {.addr = reinterpret_cast<sockaddr*>(&probe->remote_),
                              .addrlen = probe->remote_length_},
                   .user_data = nullptr};
  if (absl::Status s = probe->StartClient(path, 10 * NGTCP2_SECONDS, 10 * NGTCP2_SECONDS,
                                          *probe->credentials_, probe->options_.server_name,
                                          /*verify_chain=*/true, probe->options_.alpn);
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

}  // namespace warden::testing
