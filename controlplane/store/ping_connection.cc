#include "controlplane/store/ping_connection.h"

#include <poll.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace warden::control::store {

PingConnection::PingConnection(std::string connection_string)
    : connection_string_(std::move(connection_string)) {}

PingConnection::~PingConnection() { Drop(); }

void PingConnection::Drop() {
  if (connection_ != nullptr) PQfinish(connection_);
  connection_ = nullptr;
}

absl::Status PingConnection::Failure(absl::string_view what) const {
  const char* detail = connection_ == nullptr ? "" : PQerrorMessage(connection_);
  return absl::UnavailableError(absl::StrCat(
      "the database is unreachable: ", what,
      *detail == '\0' ? "" : absl::StrCat(": ", absl::StripTrailingAsciiWhitespace(detail))));
}

absl::Status PingConnection::Ping(absl::Duration timeout) {
  if (connection_ != nullptr && PQstatus(connection_) != CONNECTION_OK) Drop();
  absl::Status status = connection_ == nullptr ? Connect() : absl::OkStatus();
  if (status.ok()) status = RoundTrip(absl::Now() + timeout);
  if (!status.ok()) Drop();
  return status;
}

absl::Status PingConnection::AwaitSocket(bool writable, absl::Time deadline) {
  pollfd watched{.fd = PQsocket(connection_),
                 .events = static_cast<short>(writable ? POLLOUT : POLLIN),
                 .revents = 0};
  if (watched.fd < 0) return Failure("no socket");
  while (true) {
    const int64_t left_ms = absl::ToInt64Milliseconds(
        absl::Ceil(std::max(deadline - absl::Now(), absl::ZeroDuration()), absl::Milliseconds(1)));
    if (left_ms == 0) return absl::UnavailableError("the database did not answer in time");
    const int ready = ::poll(&watched, 1, static_cast<int>(left_ms));
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) return Failure("poll failed");
  }
}

absl::Status PingConnection::Connect() {
  connection_ = PQconnectdb(connection_string_.c_str());
  if (connection_ == nullptr) return absl::ResourceExhaustedError("libpq could not allocate");
  if (PQstatus(connection_) != CONNECTION_OK) return Failure("connect");
  return absl::OkStatus();
}

absl::Status PingConnection::RoundTrip(absl::Time deadline) {
  if (PQsetnonblocking(connection_, 1) != 0 || PQsendQuery(connection_, "SELECT 1") != 1) {
    return Failure("send");
  }
  for (int pending = PQflush(connection_); pending != 0; pending = PQflush(connection_)) {
    if (pending < 0) return Failure("send");
    if (absl::Status ready = AwaitSocket(/*writable=*/true, deadline); !ready.ok()) return ready;
  }
  while (PQisBusy(connection_) == 1) {
    if (absl::Status ready = AwaitSocket(/*writable=*/false, deadline); !ready.ok()) return ready;
    if (PQconsumeInput(connection_) != 1) return Failure("receive");
  }
  bool answered = false;
  while (PGresult* result = PQgetResult(connection_)) {
    answered = answered || PQresultStatus(result) == PGRES_TUPLES_OK;
    PQclear(result);
  }
  return answered ? absl::OkStatus() : Failure("SELECT 1");
}

}  // namespace warden::control::store
