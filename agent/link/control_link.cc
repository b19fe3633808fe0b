#include "agent/link/control_link.h"

#include "absl/strings/str_cat.h"
#include "agent/link/call_timeout.h"
#include "agent/link/command_queue.h"
#include "agent/link/control_endpoints.h"
#include "common/backoff.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace warden::agent {
namespace {

const logging::Logger Log("agent.link");

void Authorize(grpc::ClientContext& context, const std::string& credential) {
  context.AddMetadata("authorization", absl::StrCat("Bearer ", credential));
}

}  // namespace

struct ControlLink::Stream {
  explicit Stream(size_t max_unanswered) : commands(max_unanswered) {}

  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AgentMessage, v1::ControlMessage>> rw;
  absl::Duration heartbeat;
  std::atomic<int64_t> last_heard_us{0};
  CommandQueue commands;
  // Guarded by the link's mutex.
  std::deque<v1::AgentMessage> results;
  bool done = false;
};

ControlLink::ControlLink(LinkOptions options, LinkHandler& handler, metrics::Registry& metrics,
                         const Clock& clock)
    : options_(std::move(options)), handler_(handler), clock_(clock) {
  metrics.AddGaugeFunc("warden_agent_link_up",
                       "1 while the agent's stream to the control plane is attached.",
                       [this] { return up() ? 1.0 : 0.0; });
  metrics.AddCounterFunc("warden_agent_link_attaches_total",
                         "Streams to the control plane that reached Welcome (1 + reconnects).",
                         [this] { return static_cast<double>(attach_count()); });
  metrics.AddGaugeFunc("warden_agent_events_queued",
                       "Session events (opened, closed, usage) waiting to be sent.",
                       [this] { return static_cast<double>(queued_events()); });
  metrics.AddGaugeFunc("warden_agent_usage_reports_pending",
                       "Usage samples waiting to be sent (the next Hello's inventory carries "
                       "fresh totals of what a broken link left behind).",
                       [this] { return static_cast<double>(queued_usage()); });
  metrics.AddCounterFunc("warden_agent_usage_reports_sent_total",
                         "Usage samples written to the control plane's stream.",
                         [this] { return static_cast<double>(usage_sent_.load()); });
  metrics.AddCounterFunc("warden_agent_events_dropped_total",
                         "Usage samples shed because the queue was full (opens and closes are "
                         "never dropped).",
                         [this] { return static_cast<double>(usage_dropped()); });
  for (const std::string& target : options_.targets) {
    endpoints_.push_back(Endpoint{
        .target = target,
        .stub = v1::AgentService::NewStub(MakeControlChannel(
            target, options_.channel_credentials, options_.server_name, /*keepalive=*/true))});
  }
}

ControlLink::~ControlLink() { Stop(); }

void ControlLink::Start() {
  thread_ = std::thread([this] { Run(); });
}

void ControlLink::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (live_stream_ != nullptr) {
      live_stream_->context.TryCancel();
      live_stream_->commands.Close();  // the reader may wait for room
    }
  }
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<v1::AdmitResponse> ControlLink::Admit(const v1::AdmitRequest& request,
                                                     absl::Duration timeout) {
  // One budget for the whole call, measured on gRPC's clock (call_timeout.h).
  const gpr_timespec deadline =
      gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                   gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
  const size_t first = current_.load();
  grpc::Status status;
  for (size_t i = 0; i < endpoints_.size(); ++i) {
    grpc::ClientContext context;
    Authorize(context, options_.credential);
    context.set_deadline(deadline);
    v1::AdmitResponse response;
    status = endpoints_[(first + i) % endpoints_.size()].stub->Admit(&context, request, &response);
    if (status.ok()) return response;
    // A replica that cannot be reached (or is full) is not the control
    // plane's answer; another may give it. Admit is idempotent: asking
    // again for the same session gets the same decision.
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
        gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), deadline) >= 0) {
      break;
    }
  }
  return FromGrpcStatus(status);
}

size_t ControlLink::queued_events() const {
  absl::MutexLock lock(&mu_);
  return events_.size();
}

size_t ControlLink::queued_usage() const {
  absl::MutexLock lock(&mu_);
  return queued_usage_;
}

void ControlLink::SendEvent(v1::SessionEvent event) {
  absl::MutexLock lock(&mu_);
  if (event.has_usage()) {
    if (queued_usage_ >= options_.max_queued_usage) {
      usage_dropped_.fetch_add(1);
      return;
    }
    ++queued_usage_;
  }
  events_.push_back(std::move(event));
}

void ControlLink::Run() {
  Backoff backoff(options_.backoff_initial, options_.backoff_cap);
  // Where the current round of attempts began: every other replica is tried
  // at once, and only a whole round that failed earns the growing backoff.
  size_t round_start = current_.load();
  while (!stop_.HasBeenNotified()) {
    const int64_t attaches_before = attaches_.load();
    absl::Status ended = RunStream();
    if (stop_.HasBeenNotified()) break;
    if (attaches_.load() != attaches_before) {  // it was up: start over
      backoff.Reset();
      round_start = current_.load();
    }
    const size_t next = (current_.load() + 1) % endpoints_.size();
    current_.store(next);
    absl::Duration delay = next == round_start ? backoff.Next() : options_.backoff_initial;
    if (ended.code() == absl::StatusCode::kAborted) {
      // Another agent attached with this node's credential (a cloned
      // machine?). Taking the node back at once would make the two take
      // turns forever: the newest keeps it, this one waits long.
      Log()->error("another agent attached as this node; waiting before trying again");
      delay = options_.backoff_cap;
    }
    Log()->warn("link down: {} (code {}); trying {} in {}", ended.message(),
                static_cast<int>(ended.code()), endpoints_[next].target,
                absl::FormatDuration(delay));
    if (stop_.WaitForNotificationWithTimeout(delay)) break;
  }
}

absl::Status ControlLink::RunStream() {
  auto stream = std::make_unique<Stream>(options_.max_unanswered_commands);
  Authorize(stream->context, options_.credential);
  {
    absl::MutexLock lock(&mu_);
    if (stop_.HasBeenNotified()) return absl::CancelledError("stopping");
    live_stream_ = stream.get();
  }
  auto forget_stream = [this] {
    absl::MutexLock lock(&mu_);
    live_stream_ = nullptr;
  };
  stream->rw = endpoints_[current_.load()].stub->Attach(&stream->context);
  absl::StatusOr<v1::Welcome> welcome = Greet(*stream);
  handler_.HelloSettled();
  if (!welcome.ok()) {
    forget_stream();
    return welcome.status();
  }
  handler_.OnWelcome(*welcome);
  attaches_.fetch_add(1);
  up_.store(true);
  handler_.OnLinkState(true);
  Log()->info("attached node={} epoch={} adopted={} lost={} control={}", welcome->node_name(),
              welcome->attach_epoch(), welcome->adopted_size(), welcome->closed_as_lost(),
              endpoints_[current_.load()].target);

  std::thread writer([this, s = stream.get()] { RunWriter(s); });
  std::thread executor([this, s = stream.get()] { RunExecutor(s); });
  if (!ReadCommands(*stream)) {
    // The call may still be open on the server's side (a failed write does
    // not end it there), and Finish would wait for its status for ever:
    // end it here.
    Log()->info("the stream's commands were closed here; cancelling the call");
    stream->context.TryCancel();
  }
  stream->commands.Close();
  {
    absl::MutexLock lock(&mu_);
    stream->done = true;
  }
  // No cancel here: it would hide the server's status (e.g. ABORTED when
  // another agent took the node) behind CANCELLED. Reads have ended, so
  // writes fail promptly and the writer returns.
  writer.join();
  executor.join();
  up_.store(false);
  handler_.OnLinkState(false);
  grpc::Status status = stream->rw->Finish();
  forget_stream();
  return status.ok() ? absl::UnavailableError("the control plane ended the stream")
                     : FromGrpcStatus(status);
}

absl::StatusOr<v1::Welcome> ControlLink::Greet(Stream& stream) {
  v1::AgentMessage hello_message;
  v1::Hello* hello = hello_message.mutable_hello();
  hello->set_agent_version(options_.agent_version);
  for (const std::string& driver : options_.drivers) hello->add_drivers(driver);
  for (v1::InventorySession& session : handler_.Inventory()) {
    *hello->add_inventory() = std::move(session);
  }
  for (v1::WireGuardInterface& wg : handler_.WireGuardInterfaces()) {
    *hello->add_wireguard_interfaces() = std::move(wg);
  }
  // Closes that happened while away travel in the Hello, before the
  // reconcile could call those sessions lost; the fresh inventory makes the
  // queued opens and usage samples moot.
  std::deque<v1::SessionEvent> queued;
  {
    absl::MutexLock lock(&mu_);
    queued.swap(events_);
    queued_usage_ = 0;
  }
  for (const v1::SessionEvent& event : queued) {
    if (event.has_closed()) *hello->add_closed_while_away() = event.closed();
  }
  auto restore_closes = [&] {
    absl::MutexLock lock(&mu_);
    for (auto it = queued.rbegin(); it != queued.rend(); ++it) {
      if (it->has_closed()) events_.push_front(*it);
    }
  };

  v1::ControlMessage first;
  if (!stream.rw->Write(hello_message) || !stream.rw->Read(&first)) {
    restore_closes();
    grpc::Status status = stream.rw->Finish();
    return status.ok() ? absl::UnavailableError("the control plane closed the stream")
                       : FromGrpcStatus(status);
  }
  if (!first.has_welcome()) {
    restore_closes();
    stream.context.TryCancel();
    stream.rw->Finish();
    return absl::InternalError("the control plane did not answer Hello with Welcome");
  }
  const v1::Welcome& welcome = first.welcome();
  stream.heartbeat = welcome.heartbeat_seconds() > 0 ? absl::Seconds(welcome.heartbeat_seconds())
                                                     : options_.heartbeat_interval;
  stream.last_heard_us.store(absl::ToUnixMicros(clock_.Now()));
  return welcome;
}

bool ControlLink::ReadCommands(Stream& stream) {
  v1::ControlMessage message;
  while (stream.rw->Read(&message)) {
    stream.last_heard_us.store(absl::ToUnixMicros(clock_.Now()));
    if (!message.has_command()) continue;
    if (!stream.commands.Push(message.command())) return false;  // closed: stopping or silent
    // Time spent waiting for room was the agent's, not the control plane's silence.
    stream.last_heard_us.store(absl::ToUnixMicros(clock_.Now()));
  }
  return true;
}

bool ControlLink::NextToWrite(Stream& stream, v1::AgentMessage& message,
                              std::optional<v1::SessionEvent>& event) {
  absl::MutexLock lock(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stream.done || !stream.results.empty() || !events_.empty();
  };
  mu_.AwaitWithTimeout(absl::Condition(&ready), stream.heartbeat / 2);
  if (stream.done) return false;
  if (!stream.results.empty()) {
    message = std::move(stream.results.front());
    stream.results.pop_front();
  } else if (!events_.empty()) {
    event = std::move(events_.front());
    events_.pop_front();
    if (event->has_usage()) --queued_usage_;
    *message.mutable_event() = *event;
  }
  return true;
}

void ControlLink::Requeue(v1::SessionEvent event) {
  absl::MutexLock lock(&mu_);
  if (event.has_usage()) ++queued_usage_;
  events_.push_front(std::move(event));
}

void ControlLink::RunWriter(Stream* stream) {
  absl::Time last_write = clock_.Now();
  while (true) {
    v1::AgentMessage message;
    std::optional<v1::SessionEvent> event;
    if (!NextToWrite(*stream, message, event)) return;
    const absl::Time now = clock_.Now();
    // A reader held back by a full command queue hears nothing, through no
    // silence of the control plane's.
    if (!stream->commands.full() &&
        absl::FromUnixMicros(stream->last_heard_us.load()) + 3 * stream->heartbeat < now) {
      Log()->warn("no word from the control plane for three heartbeats; reconnecting");
      stream->context.TryCancel();
      stream->commands.Close();
      if (event) Requeue(*std::move(event));
      return;
    }
    if (message.body_case() == v1::AgentMessage::BODY_NOT_SET) {
      if (now - last_write < stream->heartbeat) continue;
      message.mutable_heartbeat()->mutable_sent_at()->set_seconds(absl::ToUnixSeconds(now));
    }
    if (!stream->rw->Write(message)) {
      if (event) Requeue(*std::move(event));  // not delivered: it goes out on the next stream
      // The stream is broken: a reader held back by a full queue would wait
      // for answers that can no longer be written.
      stream->commands.Close();
      return;
    }
    if (message.has_result()) stream->commands.Answered();
    if (event && event->has_usage()) usage_sent_.fetch_add(1);
    last_write = clock_.Now();
  }
}

void ControlLink::RunExecutor(Stream* stream) {
  while (std::optional<v1::Command> command = stream->commands.Next()) {
    v1::AgentMessage result;
    *result.mutable_result() = handler_.Execute(*command);
    absl::MutexLock lock(&mu_);
    stream->results.push_back(std::move(result));
  }
}

}  // namespace warden::agent
