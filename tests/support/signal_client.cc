#include "tests/support/signal_client.h"

#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace warden::testing {
namespace {

std::pair<std::string, std::string> NewKeyPair() {
  if (sodium_init() < 0) std::abort();
  std::string public_key(crypto_sign_PUBLICKEYBYTES, '\0');
  std::string secret_key(crypto_sign_SECRETKEYBYTES, '\0');
  crypto_sign_keypair(reinterpret_cast<unsigned char*>(public_key.data()),
                      reinterpret_cast<unsigned char*>(secret_key.data()));
  return {public_key, secret_key};
}

absl::Status StatusOfStream(const std::optional<grpc::Status>& status) {
  if (!status.has_value()) return absl::DeadlineExceededError("no answer in time");
  return absl::Status(static_cast<absl::StatusCode>(status->error_code()),
                      absl::StrCat("stream ended: ", status->error_message()));
}

}  // namespace

absl::Status StatusOfError(const v1::SignalError& error) {
  for (int code = 1; code <= 16; ++code) {
    if (absl::StatusCodeToString(static_cast<absl::StatusCode>(code)) == error.code()) {
      return absl::Status(static_cast<absl::StatusCode>(code), error.message());
    }
  }
  return absl::UnknownError(absl::StrCat(error.code(), ": ", error.message()));
}

SignalClient::SignalClient(std::shared_ptr<grpc::Channel> channel, const std::string& token)
    : stub_(v1::SignalService::NewStub(std::move(channel))) {
  std::tie(public_key_, secret_key_) = NewKeyPair();
  if (!token.empty()) context_.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  stream_ = stub_->Connect(&context_);
  reader_ = std::thread([this] { ReadLoop(); });
}

SignalClient::~SignalClient() {
  context_.TryCancel();
  if (reader_.joinable()) reader_.join();
}

void SignalClient::ReadLoop() {
  v1::SignalEvent event;
  while (stream_->Read(&event)) {
    absl::MutexLock lock(&mu_);
    (event.request_id() != 0 ? answers_ : events_).push_back(std::move(event));
    event.Clear();
  }
  grpc::Status status = stream_->Finish();
  absl::MutexLock lock(&mu_);
  read_done_ = true;
  status_ = std::move(status);
}

void SignalClient::Send(const v1::SignalRequest& request) {
  absl::MutexLock lock(&write_mu_);
  if (!writes_done_) stream_->Write(request);
}

absl::StatusOr<v1::SignalEvent> SignalClient::Call(v1::SignalRequest request) {
  uint64_t id;
  {
    absl::MutexLock lock(&write_mu_);
    id = next_id_++;
  }
  request.set_request_id(id);
  Send(request);
  absl::MutexLock lock(&mu_);
  const auto answered = [this, id] {
    mu_.AssertHeld();
    if (read_done_) return true;
    for (const v1::SignalEvent& event : answers_) {
      if (event.request_id() == id) return true;
    }
    return false;
  };
  mu_.AwaitWithTimeout(absl::Condition(&answered), absl::Seconds(15));
  for (auto it = answers_.begin(); it != answers_.end(); ++it) {
    if (it->request_id() != id) continue;
    v1::SignalEvent event = std::move(*it);
    answers_.erase(it);
    if (event.has_error()) return StatusOfError(event.error());
    return event;
  }
  return StatusOfStream(status_);
}

absl::Status SignalClient::Identify(bool sign_wrong) {
  std::optional<v1::SignalEvent> challenge = NextEvent(v1::SignalEvent::kChallenge);
  if (!challenge) {
    absl::MutexLock lock(&mu_);
    return StatusOfStream(status_);
  }
  const std::string message =
      absl::StrCat(challenge->challenge().context(), challenge->challenge().nonce());
  std::string signer = secret_key_;
  if (sign_wrong) signer = NewKeyPair().second;
  std::string signature(crypto_sign_BYTES, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       reinterpret_cast<const unsigned char*>(signer.data()));
  v1::SignalRequest request;
  request.mutable_identify()->set_public_key(public_key_);
  request.mutable_identify()->set_signature(signature);
  absl::StatusOr<v1::SignalEvent> answer = Call(request);
  if (!answer.ok()) return answer.status();
  if (!answer->has_identified() || answer->identified().member() != public_key_) {
    return absl::InternalError("identify was not answered with this key");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RoomState> SignalClient::CreateRoom(const std::string& name,
                                                       const std::string& password, int max_clients,
                                                       int ttl_seconds) {
  v1::SignalRequest request;
  request.mutable_create_room()->set_name(name);
  request.mutable_create_room()->set_password(password);
  request.mutable_create_room()->set_max_clients(max_clients);
  request.mutable_create_room()->set_ttl_seconds(ttl_seconds);
  absl::StatusOr<v1::SignalEvent> answer = Call(request);
  if (!answer.ok()) return answer.status();
  return answer->room();
}

absl::StatusOr<v1::RoomState> SignalClient::JoinRoom(const std::string& room_id,
                                                     const std::string& password) {
  v1::SignalRequest request;
  request.mutable_join_room()->set_room_id(room_id);
  request.mutable_join_room()->set_password(password);
  absl::StatusOr<v1::SignalEvent> answer = Call(request);
  if (!answer.ok()) return answer.status();
  return answer->room();
}

absl::Status SignalClient::LeaveRoom(const std::string& room_id) {
  v1::SignalRequest request;
  request.mutable_leave_room()->set_room_id(room_id);
  return Call(request).status();
}

absl::Status SignalClient::RenameRoom(const std::string& room_id, const std::string& name) {
  v1::SignalRequest request;
  request.mutable_rename_room()->set_room_id(room_id);
  request.mutable_rename_room()->set_name(name);
  return Call(request).status();
}

absl::Status SignalClient::Kick(const std::string& room_id, const std::string& member) {
  v1::SignalRequest request;
  request.mutable_kick()->set_room_id(room_id);
  request.mutable_kick()->set_member(member);
  return Call(request).status();
}

absl::StatusOr<int> SignalClient::Relay(const std::string& room_id, const std::string& to,
                                        const std::string& payload) {
  v1::SignalRequest request;
  request.mutable_relay()->set_room_id(room_id);
  request.mutable_relay()->set_to(to);
  request.mutable_relay()->set_payload(payload);
  absl::StatusOr<v1::SignalEvent> answer = Call(request);
  if (!answer.ok()) return answer.status();
  return answer->ack().delivered();
}

std::optional<v1::SignalEvent> SignalClient::NextEvent(v1::SignalEvent::BodyCase kind,
                                                       absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto found = [this, kind] {
    mu_.AssertHeld();
    for (const v1::SignalEvent& event : events_) {
      if (event.body_case() == kind) return true;
    }
    return read_done_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
  for (auto it = events_.begin(); it != events_.end(); ++it) {
    if (it->body_case() != kind) continue;
    v1::SignalEvent event = std::move(*it);
    events_.erase(it);
    return event;
  }
  return std::nullopt;
}

std::vector<v1::SignalEvent> SignalClient::TakeEvents() {
  absl::MutexLock lock(&mu_);
  std::vector<v1::SignalEvent> taken(events_.begin(), events_.end());
  events_.clear();
  return taken;
}

std::optional<grpc::Status> SignalClient::WaitEnded(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const auto ended = [this] {
    mu_.AssertHeld();
    return status_.has_value();
  };
  mu_.AwaitWithTimeout(absl::Condition(&ended), timeout);
  return status_;
}

grpc::Status SignalClient::Close() {
  {
    absl::MutexLock lock(&write_mu_);
    if (!writes_done_) stream_->WritesDone();
    writes_done_ = true;
  }
  std::optional<grpc::Status> status = WaitEnded();
  return status.value_or(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream did not end"));
}

}  // namespace warden::testing
