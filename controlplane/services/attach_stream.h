#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/functional/function_ref.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/dispatcher.h"
#include "controlplane/services/node_authenticator.h"
#include "controlplane/services/write_queue.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::control::services {

struct AttachDependencies {
  WorkerPool& db_workers;
  NodeAuthenticator& nodes;
  dispatch::Dispatcher& dispatcher;
  absl::Duration heartbeat_interval;
};

// One agent's Attach stream. Reads one message at a time; the Hello is
// handled on a database worker (authenticate, attach, reconcile); each
// later report is applied by the dispatcher before the next is read, so
// that none is dropped and a slow database slows the agent down. Writes go through a
// bounded queue: an agent that stops reading is disconnected rather than
// buffered without end.
class AttachStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ControlMessage> {
 public:
  AttachStream(grpc::CallbackServerContext* ctx, AttachDependencies deps);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override { writes_.WriteDone(ok); }
  void OnCancel() override { writes_.FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override;

 private:
  class Channel;

  void HandleHello(v1::Hello hello);
  absl::Status Attach(const v1::Hello& hello);
  // What happens to reads after a message: they go on at once, or once the
  // report it carried is applied (one report of a stream at a time).
  enum class Next { kReadNow, kWhenApplied };
  // Non-OK: the message was malformed and the stream is to end.
  absl::StatusOr<Next> HandleMessage(const v1::AgentMessage& message);
  // Gives a report to the dispatcher with the continuation that reads on.
  Next HandOver(absl::FunctionRef<bool(dispatch::Dispatcher::Applied)> report);

  const AttachDependencies deps_;
  const std::string token_;
  const std::vector<std::string> certificate_names_;
  WriteQueue<v1::ControlMessage> writes_;
  std::shared_ptr<Channel> channel_;
  // Set by the Hello's worker before the next read starts; read only after.
  store::NodeIdentity node_;
  bool attached_ = false;
  v1::AgentMessage incoming_;
};

}  // namespace warden::control::services
