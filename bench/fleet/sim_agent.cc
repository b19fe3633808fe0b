#include "bench/fleet/sim_agent.h"

#include <grpcpp/grpcpp.h>

#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::bench {
namespace {

// A lost stream is opened again (to the next replica) after this long, as
// the real agent's first backoff step.
constexpr absl::Duration kReattachDelay = absl::Seconds(1);

}  // namespace

// The Attach stream. Owned by itself: deleted in OnDone, after the agent
// forgot it. Its write queue is guarded by the agent's mutex.
class SimAgent::Stream final
    : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControlMessage> {
 public:
  Stream(SimAgent& agent, v1::AgentMessage hello) : agent_(agent) {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", agent.credential_));
    current_ = std::move(hello);
    writing_ = true;
  }

  // Outside the agent's mutex: gRPC may react on this thread.
  void Start(v1::AgentService::Stub& stub) {
    stub.async()->Attach(&context_, this);
    StartWrite(&current_);
    StartRead(&in_);
    StartCall();
  }

  // Under the agent's mutex.
  void Send(v1::AgentMessage message) {
    if (broken_) return;
    queue_.push_back(std::move(message));
    if (!writing_) WriteNext();
  }
  void Cancel() { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    {
      absl::MutexLock lock(&agent_.mu_);
      agent_.OnMessage(this, in_);
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&agent_.mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;
      queue_.clear();
      return;
    }
    if (!queue_.empty()) WriteNext();
  }

  void OnDone(const grpc::Status&) override {
    agent_.OnStreamDone(this);
    delete this;
  }

 private:
  void WriteNext() {
    current_ = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  SimAgent& agent_;
  grpc::ClientContext context_;
  v1::ControlMessage in_;
  v1::AgentMessage current_;
  std::deque<v1::AgentMessage> queue_;
  bool writing_ = false;
  bool broken_ = false;
};

SimAgent::SimAgent(int index, std::string credential, int first_replica, Fleet& fleet)
    : index_(index), credential_(std::move(credential)), fleet_(fleet) {
  replica_ = first_replica;
  replica_seen_.store(first_replica);
  stubs_.resize(fleet.targets.size());
}

SimAgent::~SimAgent() = default;

int SimAgent::replica() const { return replica_seen_.load(); }

bool SimAgent::attached() const { return attached_seen_.load(); }

v1::AgentService::Stub& SimAgent::StubLocked(int replica) {
  std::unique_ptr<v1::AgentService::Stub>& stub = stubs_[replica];
  if (stub == nullptr) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    stub = v1::AgentService::NewStub(grpc::CreateCustomChannel(
        fleet_.targets[replica], grpc::InsecureChannelCredentials(), args));
  }
  return *stub;
}

v1::AgentService::Stub& SimAgent::stub() {
  absl::MutexLock lock(&mu_);
  return StubLocked(replica_);
}

void SimAgent::Attach() {
  Stream* stream = nullptr;
  v1::AgentService::Stub* stub = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || stream_ != nullptr) return;
    v1::AgentMessage message;
    v1::Hello* hello = message.mutable_hello();
    hello->set_agent_version("fleet-sim");
    hello->add_drivers("openvpn");
    for (const auto& [session_id, held] : held_) {
      v1::InventorySession* session = hello->add_inventory();
      session->set_session_id(session_id);
      session->set_protocol(v1::OPENVPN);
      session->set_session_key(held.session_key);
      session->set_username(held.username);
    }
    stream = new Stream(*this, std::move(message));
    stream_ = stream;
    reattach_at_ = absl::InfiniteFuture();
    stub = &StubLocked(replica_);
  }
  stream->Start(*stub);
}

void SimAgent::ReattachIfDue(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    if (stream_ != nullptr || stopping_ || reattach_at_ > now) return;
  }
  Attach();
}

void SimAgent::Heartbeat() {
  absl::MutexLock lock(&mu_);
  if (stream_ == nullptr || !welcomed_) return;
  v1::AgentMessage message;
  message.mutable_heartbeat()->mutable_sent_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  stream_->Send(std::move(message));
}

bool SimAgent::ReportUsage() {
  absl::MutexLock lock(&mu_);
  if (stream_ == nullptr || !welcomed_ || held_.empty()) return false;
  auto& [session_id, held] = *held_.begin();
  held.rx_bytes += 1 << 20;
  held.tx_bytes += 4 << 20;
  usage_sequence_ = std::max(usage_sequence_ + 1, absl::ToUnixMicros(absl::Now()));
  v1::AgentMessage message;
  v1::SessionUsage* usage = message.mutable_event()->mutable_usage();
  usage->set_session_id(session_id);
  usage->set_session_key(held.session_key);
  usage->set_rx_bytes(held.rx_bytes);
  usage->set_tx_bytes(held.tx_bytes);
  usage->set_sequence(usage_sequence_);
  stream_->Send(std::move(message));
  return true;
}

bool SimAgent::Hold(const std::string& session_id, const std::string& session_key,
                    const std::string& username, int user) {
  absl::MutexLock lock(&mu_);
  if (killed_unheld_.erase(session_id) > 0) return false;
  held_[session_id] = Held{.session_key = session_key, .username = username};
  fleet_.live.Add(LiveSession{.agent = index_, .user = user, .session_id = session_id});
  return true;
}

bool SimAgent::Drop(const std::string& session_id) {
  absl::MutexLock lock(&mu_);
  return held_.erase(session_id) > 0;
}

size_t SimAgent::held() const {
  absl::MutexLock lock(&mu_);
  return held_.size();
}

void SimAgent::Stop() {
  absl::MutexLock lock(&mu_);
  stopping_ = true;
  if (stream_ != nullptr) stream_->Cancel();
}

bool SimAgent::stopped() const {
  absl::MutexLock lock(&mu_);
  return stream_ == nullptr;
}

void SimAgent::OnMessage(Stream* stream, const v1::ControlMessage& message) {
  if (stream != stream_) return;
  if (message.has_welcome()) {
    if (welcomed_) return;
    welcomed_ = true;
    attached_seen_.store(true);
    fleet_.attached.fetch_add(1);
    fleet_.welcomes.fetch_add(1);
    fleet_.closed_as_lost.fetch_add(message.welcome().closed_as_lost());
    if (message.welcome().heartbeat_seconds() > 0) {
      fleet_.heartbeat_seconds.store(message.welcome().heartbeat_seconds());
    }
    return;
  }
  if (!message.has_command()) return;  // a heartbeat
  const v1::Command& command = message.command();
  v1::AgentMessage result;
  result.mutable_result()->set_command_id(command.id());
  result.mutable_result()->set_ok(true);
  if (command.kind() != v1::KILL_SESSION) {
    fleet_.other_commands.fetch_add(1);
    stream_->Send(std::move(result));
    return;
  }
  fleet_.admin_kills.Received(command.session_id(), absl::Now());
  fleet_.kills_received.fetch_add(1);
  auto it = held_.find(command.session_id());
  if (it == held_.end()) {
    // Gone already (a disconnect raced the kill), or not yet carried (the
    // Admit that created it has not answered): killing it is success.
    fleet_.kills_of_unknown.fetch_add(1);
    killed_unheld_.insert(command.session_id());
    stream_->Send(std::move(result));
    return;
  }
  // As a driver does: the tunnel is gone, the answer goes back, and the
  // end of the session is reported with its last byte counts.
  v1::AgentMessage closed;
  v1::SessionClosed* body = closed.mutable_event()->mutable_closed();
  body->set_session_id(it->first);
  body->set_session_key(it->second.session_key);
  body->set_reason("killed");
  body->set_rx_bytes(it->second.rx_bytes);
  body->set_tx_bytes(it->second.tx_bytes);
  usage_sequence_ = std::max(usage_sequence_ + 1, absl::ToUnixMicros(absl::Now()));
  body->set_usage_sequence(usage_sequence_);
  fleet_.live.Remove(it->first);
  held_.erase(it);
  stream_->Send(std::move(result));
  stream_->Send(std::move(closed));
}

void SimAgent::OnStreamDone(Stream* stream) {
  absl::MutexLock lock(&mu_);
  if (stream != stream_) return;
  stream_ = nullptr;
  if (welcomed_) fleet_.attached.fetch_sub(1);
  welcomed_ = false;
  attached_seen_.store(false);
  if (stopping_) return;
  fleet_.streams_ended.fetch_add(1);
  replica_ = (replica_ + 1) % static_cast<int>(stubs_.size());
  replica_seen_.store(replica_);
  reattach_at_ = absl::Now() + kReattachDelay;
}

}  // namespace warden::bench
