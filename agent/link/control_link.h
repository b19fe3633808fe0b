#pragma once

// The agent's link to the control plane: one Attach stream, kept up with
// exponential backoff and jitter; unary Admit calls; an outgoing queue of
// session events that survives reconnects (usage samples may be shed, opens
// and closes never). It knows nothing of drivers: a LinkHandler supplies the
// inventory and carries out commands, at most max_unanswered_commands at a
// time (command_queue.h says what happens beyond).
//
// Threads, per stream: the Run thread reads (and waits on the command
// queue), a writer sends results, events and heartbeats, an executor calls
// the handler. The link's mutex guards the event queue and the results.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/core/control_client.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::agent {

struct LinkOptions {
  // warden-control's replicas (control_endpoints.h); tried in turn.
  std::vector<std::string> targets;
  std::string credential;
  std::string agent_version;
  std::vector<std::string> drivers;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  // Overrides the name checked in the control plane's certificate ("" = the target's host).
  std::string server_name;
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_cap = absl::Seconds(30);
  // Until the Welcome says otherwise.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  size_t max_queued_usage = 10000;
  // Commands read and not yet answered; beyond this the link stops reading.
  size_t max_unanswered_commands = 1024;
};

class ControlLink final : public ControlClient {
 public:
  // Exports the link's state to `metrics` (link up, attaches, events queued
  // and dropped); the registry must not be exposed after the link is gone.
  // `clock` times the heartbeats.
  ControlLink(LinkOptions options, LinkHandler& handler, metrics::Registry& metrics,
              const Clock& clock = RealClock::Get());
  ~ControlLink() override;

  void Start();
  void Stop();

  // Admit through the control plane, within `timeout` for all replicas tried. An RPC error
  // (UNAVAILABLE, DEADLINE_EXCEEDED) means the control plane could not be
  // asked: the caller applies its fail mode.
  absl::StatusOr<v1::AdmitResponse> Admit(const v1::AdmitRequest& request,
                                          absl::Duration timeout) override;

  void SendEvent(v1::SessionEvent event) override;

  bool up() const { return up_.load(); }
  int64_t attach_count() const { return attaches_.load(); }
  int64_t usage_dropped() const { return usage_dropped_.load(); }
  size_t queued_events() const;
  size_t queued_usage() const;

 private:
  struct Stream;

  void Run();
  absl::Status RunStream();
  // Says Hello (with the inventory and the closes queued while away) and
  // reads the Welcome. On failure the closes are queued again.
  absl::StatusOr<v1::Welcome> Greet(Stream& stream);
  // Queues the commands read until the stream ends or the queue is closed;
  // whether the stream ended (false: the queue was closed here, and the
  // call may still be open).
  bool ReadCommands(Stream& stream);
  // The next message for the writer to send, waiting up to half a heartbeat
  // (BODY_NOT_SET when there is none); an event taken is also in `event`.
  // False once the stream is done.
  bool NextToWrite(Stream& stream, v1::AgentMessage& message,
                   std::optional<v1::SessionEvent>& event);
  // An event that could not be written goes out on the next stream, first.
  void Requeue(v1::SessionEvent event);
  void RunWriter(Stream* stream);
  void RunExecutor(Stream* stream);

  const LinkOptions options_;
  LinkHandler& handler_;
  const Clock& clock_;
  struct Endpoint {
    std::string target;
    std::unique_ptr<v1::AgentService::Stub> stub;
  };
  std::vector<Endpoint> endpoints_;
  // The endpoint the stream is on (or being tried); Admit uses it too.
  std::atomic<size_t> current_{0};

  mutable absl::Mutex mu_;
  // Events not yet written, oldest first; kept across reconnects.
  std::deque<v1::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  size_t queued_usage_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<bool> up_{false};
  std::atomic<int64_t> attaches_{0};
  std::atomic<int64_t> usage_dropped_{0};
  std::atomic<int64_t> usage_sent_{0};
  absl::Notification stop_;
  std::thread thread_;
  // The live stream, so that Stop can cancel it and wake its reader.
  Stream* live_stream_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace warden::agent
