#pragma once

// A signalling client for tests: one Connect stream with its own Ed25519
// key, a reader thread, and blocking helpers. Answers (events carrying a
// request id) and unsolicited events are kept apart.

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "warden/v1/signal.grpc.pb.h"

namespace warden::testing {

class SignalClient {
 public:
  // Opens the stream with `token` as bearer ("" = no header).
  SignalClient(std::shared_ptr<grpc::Channel> channel, const std::string& token);
  ~SignalClient();

  // Waits for the challenge, signs it (with a wrong key when `sign_wrong`),
  // and waits for the answer: OK when identified, else the stream's status.
  absl::Status Identify(bool sign_wrong = false);

  // Sends `request` with a fresh request id and waits for its answer: the
  // event, or the error it carried as a status.
  absl::StatusOr<v1::SignalEvent> Call(v1::SignalRequest request);
  void Send(const v1::SignalRequest& request);

  absl::StatusOr<v1::RoomState> CreateRoom(const std::string& name,
                                           const std::string& password = "", int max_clients = 0,
                                           int ttl_seconds = 0);
  absl::StatusOr<v1::RoomState> JoinRoom(const std::string& room_id,
                                         const std::string& password = "");
  absl::Status LeaveRoom(const std::string& room_id);
  absl::Status RenameRoom(const std::string& room_id, const std::string& name);
  absl::Status Kick(const std::string& room_id, const std::string& member);
  // The number of members the payload was sent to.
  absl::StatusOr<int> Relay(const std::string& room_id, const std::string& to,
                            const std::string& payload);

  // The next unsolicited event (request id 0) of the given kind, skipping
  // others; nullopt after `timeout`.
  std::optional<v1::SignalEvent> NextEvent(v1::SignalEvent::BodyCase kind,
                                           absl::Duration timeout = absl::Seconds(10));
  // Unsolicited events received so far, taken.
  std::vector<v1::SignalEvent> TakeEvents();

  // Waits for the server to end the stream; its status.
  std::optional<grpc::Status> WaitEnded(absl::Duration timeout = absl::Seconds(10));
  // Ends the client's side and waits for the status.
  grpc::Status Close();

  const std::string& public_key() const { return public_key_; }

 private:
  void ReadLoop();

  grpc::ClientContext context_;
  std::unique_ptr<v1::SignalService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SignalRequest, v1::SignalEvent>> stream_;
  std::string public_key_;
  std::string secret_key_;
  uint64_t next_id_ = 1;
  absl::Mutex write_mu_;
  absl::Mutex mu_;
  std::deque<v1::SignalEvent> answers_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::SignalEvent> events_ ABSL_GUARDED_BY(mu_);
  bool read_done_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> status_ ABSL_GUARDED_BY(mu_);
  bool writes_done_ = false;
  std::thread reader_;
};

// The status an error event carries.
absl::Status StatusOfError(const v1::SignalError& error);

}  // namespace warden::testing
