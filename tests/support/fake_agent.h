#pragma once

// An agent on a raw Attach stream, for in-process tests of the control
// plane: says Hello, keeps the Welcome, collects the commands that follow and
// acknowledges them when told.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/support/wait.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::testing {

class FakeAgent {
 public:
  FakeAgent(v1::AgentService::Stub& stub, const std::string& credential,
            const std::vector<std::string>& drivers,
            const std::vector<v1::InventorySession>& inventory = {},
            const std::vector<v1::WireGuardInterface>& wireguard_interfaces = {}) {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", credential));
    context_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    stream_ = stub.Attach(&context_);
    v1::AgentMessage hello;
    hello.mutable_hello()->set_agent_version("test");
    for (const std::string& driver : drivers) hello.mutable_hello()->add_drivers(driver);
    for (const v1::InventorySession& session : inventory) {
      *hello.mutable_hello()->add_inventory() = session;
    }
    for (const v1::WireGuardInterface& wg : wireguard_interfaces) {
      *hello.mutable_hello()->add_wireguard_interfaces() = wg;
    }
    stream_->Write(hello);
    v1::ControlMessage message;
    while (stream_->Read(&message)) {
      if (message.has_welcome()) {
        welcome_ = message.welcome();
        welcomed_ = true;
        break;
      }
    }
    reader_ = std::thread([this] {
      v1::ControlMessage incoming;
      while (stream_->Read(&incoming)) {
        absl::MutexLock lock(&mu_);
        if (incoming.has_heartbeat()) ++heartbeats_;
        if (incoming.has_command()) commands_.push_back(incoming.command());
      }
    });
  }

  ~FakeAgent() {
    context_.TryCancel();
    reader_.join();
    (void)stream_->Finish();
  }

  bool welcomed() const { return welcomed_; }
  // The commands received so far, in order.
  std::vector<v1::Command> commands() {
    absl::MutexLock lock(&mu_);
    return commands_;
  }
  // Heartbeats the control plane sent so far.
  int heartbeats() {
    absl::MutexLock lock(&mu_);
    return heartbeats_;
  }
  const v1::Welcome& welcome() const { return welcome_; }

  // The first command received so far that matches, waiting up to 10 s.
  std::optional<v1::Command> WaitForCommand(const std::function<bool(const v1::Command&)>& match) {
    std::optional<v1::Command> found;
    WaitFor([&] {
      absl::MutexLock lock(&mu_);
      for (const v1::Command& command : commands_) {
        if (match(command)) {
          found = command;
          return true;
        }
      }
      return false;
    });
    return found;
  }

  // How many commands received so far match.
  int CountCommands(const std::function<bool(const v1::Command&)>& match) {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count_if(commands_.begin(), commands_.end(), match));
  }

  std::optional<v1::Command> WaitForPeerCommand(v1::CommandKind kind,
                                                const std::string& public_key) {
    return WaitForCommand([&](const v1::Command& command) {
      return command.kind() == kind && command.peer().public_key() == public_key;
    });
  }

  // Any message on the stream (a session event, ...); false once it ended.
  bool Send(const v1::AgentMessage& message) {
    absl::MutexLock lock(&write_mu_);
    return stream_->Write(message);
  }

  // A usage sample of a session's counters (totals) with its sequence.
  bool SendUsage(const std::string& session_id, int64_t rx, int64_t tx, int64_t sequence,
                 const std::string& session_key = "") {
    v1::AgentMessage message;
    v1::SessionUsage* usage = message.mutable_event()->mutable_usage();
    usage->set_session_id(session_id);
    usage->set_session_key(session_key);
    usage->set_rx_bytes(rx);
    usage->set_tx_bytes(tx);
    usage->set_sequence(sequence);
    return Send(message);
  }

  void Ack(int64_t command_id) { Answer(command_id, /*ok=*/true, ""); }
  void Fail(int64_t command_id, const std::string& error) {
    Answer(command_id, /*ok=*/false, error);
  }
  // An answer with words of the agent's own (`error` is its text either way).
  void Answer(int64_t command_id, bool ok, const std::string& error) {
    v1::AgentMessage result;
    result.mutable_result()->set_command_id(command_id);
    result.mutable_result()->set_ok(ok);
    result.mutable_result()->set_error(error);
    Send(result);
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControlMessage>> stream_;
  v1::Welcome welcome_;
  bool welcomed_ = false;
  std::thread reader_;
  absl::Mutex mu_;
  std::vector<v1::Command> commands_ ABSL_GUARDED_BY(mu_);
  int heartbeats_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Mutex write_mu_;  // one writer at a time on the stream
};

}  // namespace warden::testing
