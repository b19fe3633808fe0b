#pragma once

// The agent's link to the control plane: one Attach stream, kept up with
// exponential backoff and jitter; unary Admit calls; an outgoing queue of
// session events that survives reconnects (usage samples may be shed, opens
// and closes never). It knows nothing of drivers: a LinkHandler supplies the
// inventory and carries out commands.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::agent {

class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  // The full inventory, for the Hello of each new stream.
  virtual std::vector<v1::InventorySession> Inventory() = 0;
  virtual void OnWelcome(const v1::Welcome& welcome) = 0;
  // Carries out a command (may block on a driver); idempotent.
  virtual v1::CommandResult Execute(const v1::Command& command) = 0;
  virtual void OnLinkState(bool up) = 0;
};

struct LinkOptions {
  std::string target;
  std::string credential;
  std::string agent_version;
  std::vector<std::string> drivers;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials;
  // Overrides the name checked in the control plane's certificate ("" = the target's host).
  std::string server_name;
  absl::Duration admit_timeout = absl::Seconds(5);
  absl::Duration backoff_initial = absl::Milliseconds(200);
  absl::Duration backoff_cap = absl::Seconds(30);
  // Until the Welcome says otherwise.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  size_t max_queued_usage = 10000;
};

class ControlLink {
 public:
  // Exports the link's state to `metrics` (link up, attaches, events queued
  // and dropped); the registry must not be exposed after the link is gone.
  ControlLink(LinkOptions options, LinkHandler& handler, metrics::Registry& metrics);
  ~ControlLink();

  void Start();
  void Stop();

  // Admit through the control plane, with the admit timeout. An RPC error
  // (UNAVAILABLE, DEADLINE_EXCEEDED) means the control plane could not be
  // asked: the caller applies its fail mode.
  absl::StatusOr<v1::AdmitResponse> Admit(const v1::AdmitRequest& request);

  void SendEvent(v1::SessionEvent event);

  bool up() const { return up_.load(); }
  int64_t attach_count() const { return attaches_.load(); }
  int64_t usage_dropped() const { return usage_dropped_.load(); }
  size_t queued_events() const;

 private:
  struct Stream;

  void Run();
  absl::Status RunStream();
  void RunWriter(Stream* stream);
  void RunExecutor(Stream* stream);

  const LinkOptions options_;
  LinkHandler& handler_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AgentService::Stub> stub_;

  mutable absl::Mutex mu_;
  // Events not yet written, oldest first; kept across reconnects.
  std::deque<v1::SessionEvent> events_ ABSL_GUARDED_BY(mu_);
  size_t queued_usage_ ABSL_GUARDED_BY(mu_) = 0;

  std::atomic<bool> up_{false};
  std::atomic<int64_t> attaches_{0};
  std::atomic<int64_t> usage_dropped_{0};
  absl::Notification stop_;
  std::thread thread_;
  // The live stream's context, so that Stop can cancel it.
  grpc::ClientContext* live_context_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace warden::agent
