#include "agent/core/agent_core.h"

#include <set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/kill_reason.h"
#include "common/logging.h"
#include "common/secrets.h"

namespace warden::agent {
namespace {

const logging::Logger Log("agent.core");

v1::Protocol ToProto(Protocol protocol) {
  switch (protocol) {
    case Protocol::kWireGuard:
      return v1::WIREGUARD;
    case Protocol::kOpenVpn:
      return v1::OPENVPN;
    case Protocol::kQuic:
      return v1::QUIC;
  }
  return v1::PROTOCOL_UNSPECIFIED;
}

AdmitAnswer Deny(std::string reason, std::string message) {
  AdmitAnswer answer;
  answer.deny_reason = std::move(reason);
  answer.message = std::move(message);
  return answer;
}

PeerSpec ToPeerSpec(const v1::WireGuardPeer& peer) {
  PeerSpec spec;
  spec.device_id = peer.device_id();
  spec.public_key = peer.public_key();
  spec.allowed_ips.assign(peer.allowed_ips().begin(), peer.allowed_ips().end());
  spec.username = peer.username();
  return spec;
}

// The control plane could not answer (down, too slow, or too busy): the
// fail mode decides, never a denial in its name.
bool Unreachable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded ||
         status.code() == absl::StatusCode::kResourceExhausted;
}

// Whether the control plane may have admitted the connection although the
// call failed: the answer, not the admission, may be what was lost.
bool OutcomeUnknown(const absl::Status& status) {
  return Unreachable(status) || status.code() == absl::StatusCode::kCancelled ||
         status.code() == absl::StatusCode::kUnknown ||
         status.code() == absl::StatusCode::kInternal;
}

}  // namespace

AgentCore::AgentCore(CoreOptions options, std::vector<Driver*> drivers, const Clock& clock,
                     metrics::Registry& metrics)
    : options_(options),
      drivers_(std::move(drivers)),
      clock_(clock),
      usage_sequence_(clock),
      salt_(secrets::NewToken("")),
      admissions_(metrics.AddCounter(
          "warden_agent_admissions_total",
          "New connections by result (admitted, admitted_offline, denied) and deny reason.",
          {"result", "reason"})),
      admit_duration_(metrics
                          .AddHistogram("warden_agent_admit_duration_seconds",
                                        "Time a new connection waited for its answer.", {})
                          .With({})),
      operations_(metrics.AddCounter(
          "warden_agent_driver_operations_total",
          "Commands carried out on the drivers, by operation (kill_session, set_bandwidth, "
          "add_peer, remove_peer, drain) and result (ok, error).",
          {"operation", "result"})) {
  admissions_.With({"admitted", "none"});
  for (const char* operation :
       {"kill_session", "set_bandwidth", "add_peer", "remove_peer", "drain"}) {
    operations_.With({operation, "ok"});
    operations_.With({operation, "error"});
  }
}

bool AgentCore::draining() const {
  absl::MutexLock lock(&mu_);
  return draining_;
}

std::string AgentCore::Digest(const std::string& username, const std::string& password) const {
  return secrets::Sha256Hex(absl::StrCat(salt_, "\n", username, "\n", password));
}

AdmitAnswer AgentCore::Admit(const AdmitQuery& query) {
  const absl::Time start = clock_.Now();
  AdmitAnswer answer = AdmitOnce(query);
  admit_duration_.ObserveDuration(clock_.Now() - start);
  if (!answer.admitted) {
    admissions_.With({"denied", absl::AsciiStrToLower(answer.deny_reason)}).Increment();
  } else {
    admissions_.With({answer.session_id.empty() ? "admitted_offline" : "admitted", "none"})
        .Increment();
  }
  return answer;
}

AdmitAnswer AgentCore::AdmitOnce(const AdmitQuery& query) {
  if (draining()) {
    return Deny("NODE_DRAINING",
                "this server is draining for maintenance; connect to another server");
  }
  v1::AdmitRequest request;
  request.set_protocol(ToProto(query.protocol));
  request.set_session_key(query.session_key);
  request.set_device_label(query.device_label);
  request.set_client_address(query.client_address);
  // 32 random bytes in hex: names this attempt if it has to be abandoned.
  request.set_attempt_id(secrets::NewToken(""));
  if (query.connect_ticket) {
    request.set_connect_ticket(*query.connect_ticket);
    request.set_claimed_username(query.username);
  } else if (query.password) {
    request.mutable_password()->set_username(query.username);
    request.mutable_password()->set_password(*query.password);
  } else {
    request.mutable_asserted_user()->set_username(query.username);
  }
  bool may_ask = false;
  // Measured on the clock the mutex waits on: this is transport timing, not
  // a decision the injected clock should steer.
  const absl::Time waiting_since = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto hello_settled = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return !hello_pending_; };
    may_ask = mu_.AwaitWithTimeout(absl::Condition(&hello_settled), options_.admit_timeout);
    if (may_ask) ++admissions_asked_;
  }
  const absl::Duration budget_left = options_.admit_timeout - (absl::Now() - waiting_since);
  if (!may_ask) {
    return AdmitOffline(query,
                        absl::UnavailableError("the link to the control plane is re-attaching"));
  }
  // Counted until its outcome is recorded in sessions_ (an inventory waits
  // for that); destroyed after any lock taken below.
  absl::Cleanup answered = [this] {
    absl::MutexLock lock(&mu_);
    --admissions_asked_;
  };
  absl::StatusOr<v1::AdmitResponse> response = client_->Admit(request, budget_left);
  if (!response.ok()) {
    AdmitAnswer answer;
    if (Unreachable(response.status())) {
      answer = AdmitOffline(query, response.status());
    } else {
      Log()->error("admission of key={} failed: {}", query.session_key,
                   response.status().message());
      answer = Deny("ERROR", "the service could not check this login; try again later");
    }
    if (!answer.admitted && OutcomeUnknown(response.status())) {
      ReportAbandoned(query.session_key, request.attempt_id(), response.status());
    }
    return answer;
  }
  if (response->has_denied()) {
    return Deny(v1::DenyReason_Name(response->denied().reason()), response->denied().message());
  }
  const v1::Admitted& admitted = response->admitted();
  AdmitAnswer answer;
  answer.admitted = true;
  answer.session_id = admitted.session_id();
  answer.username = admitted.username();
  answer.bandwidth_bytes_per_second = admitted.bandwidth_bytes_per_second();
  absl::MutexLock lock(&mu_);
  sessions_[query.session_key] = Entry{.session_id = admitted.session_id(),
                                       .user_id = admitted.user_id(),
                                       .username = admitted.username(),
                                       .protocol = query.protocol,
                                       .since_last_inventory = true};
  // A ticket is single-use: it cannot vouch for a login while the control
  // plane is away, so it leaves no trace for fail-open.
  if (query.connect_ticket) return answer;
  recent_[admitted.username()] = RecentAdmission{
      .at = clock_.Now(),
      .password_digest = query.password ? Digest(admitted.username(), *query.password) : ""};
  return answer;
}

AdmitAnswer AgentCore::AdmitOffline(const AdmitQuery& query, const absl::Status& why) {
  if (options_.fail_mode == FailMode::kOpen && !query.connect_ticket) {
    absl::MutexLock lock(&mu_);
    auto it = recent_.find(query.username);
    const bool recent =
        it != recent_.end() && clock_.Now() - it->second.at <= options_.fail_open_window;
    const bool same_secret = recent && (query.password ? it->second.password_digest ==
                                                             Digest(query.username, *query.password)
                                                       : it->second.password_digest.empty());
    if (recent && same_secret) {
      sessions_[query.session_key] =
          Entry{.session_id = "", .user_id = "", .username = query.username};
      Log()->warn("control plane unreachable ({}); admitted user={} key={} offline (fail-open)",
                  why.message(), query.username, query.session_key);
      AdmitAnswer answer;
      answer.admitted = true;
      answer.username = query.username;
      return answer;
    }
  }
  Log()->warn("control plane unreachable ({}); refused key={} (fail-{})", why.message(),
              query.session_key,
              options_.fail_mode == FailMode::kOpen ? "open: not recent" : "closed");
  return Deny("CONTROL_PLANE_UNREACHABLE",
              "the service cannot check logins right now; try again in a moment");
}

void AgentCore::ReportAbandoned(const std::string& session_key, const std::string& attempt_id,
                                const absl::Status& why) {
  v1::SessionEvent event;
  v1::SessionClosed* closed = event.mutable_closed();
  closed->set_session_key(session_key);
  closed->set_abandoned_attempt_id(attempt_id);
  closed->set_reason(absl::StrCat("admission abandoned: ",
                                  absl::AsciiStrToLower(absl::StatusCodeToString(why.code()))));
  client_->SendEvent(std::move(event));
}

void AgentCore::Opened(const std::string& session_key, const std::string& tunnel_address) {
  v1::SessionEvent event;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_key);
    if (it != sessions_.end()) event.mutable_opened()->set_session_id(it->second.session_id);
  }
  event.mutable_opened()->set_session_key(session_key);
  event.mutable_opened()->set_tunnel_address(tunnel_address);
  client_->SendEvent(std::move(event));
}

void AgentCore::Closed(const std::string& session_key, const std::string& reason, int64_t rx_bytes,
                       int64_t tx_bytes) {
  v1::SessionEvent event;
  v1::SessionClosed* closed = event.mutable_closed();
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_key);
    if (it != sessions_.end()) {
      closed->set_session_id(it->second.session_id);
      sessions_.erase(it);
    }
  }
  closed->set_session_key(session_key);
  closed->set_reason(reason);
  closed->set_rx_bytes(rx_bytes);
  closed->set_tx_bytes(tx_bytes);
  closed->set_usage_sequence(usage_sequence_.Next());
  client_->SendEvent(std::move(event));
}

void AgentCore::Usage(const std::string& session_key, int64_t rx_bytes, int64_t tx_bytes) {
  v1::SessionEvent event;
  v1::SessionUsage* usage = event.mutable_usage();
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(session_key);
    if (it != sessions_.end()) usage->set_session_id(it->second.session_id);
  }
  usage->set_session_key(session_key);
  usage->set_rx_bytes(rx_bytes);
  usage->set_tx_bytes(tx_bytes);
  usage->set_sequence(usage_sequence_.Next());
  client_->SendEvent(std::move(event));
}

std::vector<v1::WireGuardInterface> AgentCore::WireGuardInterfaces() {
  std::vector<v1::WireGuardInterface> interfaces;
  for (Driver* driver : drivers_) {
    std::optional<WireGuardIdentity> identity = driver->Identity();
    if (!identity) continue;
    v1::WireGuardInterface& wg = interfaces.emplace_back();
    wg.set_interface(identity->iface);
    wg.set_public_key(identity->public_key);
    wg.set_endpoint(identity->endpoint);
    wg.set_listen_port(identity->listen_port);
  }
  return interfaces;
}

std::vector<v1::InventorySession> AgentCore::Inventory() {
  {
    absl::MutexLock lock(&mu_);
    hello_pending_ = true;
    // Each is bounded by the admit timeout.
    auto none_asked = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return admissions_asked_ == 0; };
    mu_.Await(absl::Condition(&none_asked));
  }
  std::vector<v1::InventorySession> inventory;
  std::set<std::string> listed;
  for (Driver* driver : drivers_) {
    for (const DriverSession& session : driver->Inventory()) {
      listed.insert(session.session_key);
      v1::InventorySession item;
      item.set_protocol(ToProto(session.protocol));
      item.set_session_key(session.session_key);
      item.set_username(session.username);
      item.set_device_label(session.device_label);
      item.set_client_address(session.client_address);
      item.set_tunnel_address(session.tunnel_address);
      item.mutable_opened_at()->set_seconds(absl::ToUnixSeconds(session.opened_at));
      item.set_rx_bytes(session.rx_bytes);
      item.set_tx_bytes(session.tx_bytes);
      item.set_usage_sequence(usage_sequence_.Next());
      {
        absl::MutexLock lock(&mu_);
        auto it = sessions_.find(session.session_key);
        if (it != sessions_.end()) item.set_session_id(it->second.session_id);
      }
      inventory.push_back(std::move(item));
    }
  }
  absl::MutexLock lock(&mu_);
  for (auto& [key, entry] : sessions_) {
    if (entry.since_last_inventory && !entry.session_id.empty() && !listed.contains(key)) {
      v1::InventorySession& item = inventory.emplace_back();
      item.set_protocol(ToProto(entry.protocol));
      item.set_session_key(key);
      item.set_username(entry.username);
      item.set_session_id(entry.session_id);
      item.set_usage_sequence(usage_sequence_.Next());
    }
    entry.since_last_inventory = false;
  }
  return inventory;
}

void AgentCore::HelloSettled() {
  absl::MutexLock lock(&mu_);
  hello_pending_ = false;
}

void AgentCore::OnWelcome(const v1::Welcome& welcome) {
  {
    absl::MutexLock lock(&mu_);
    draining_ = welcome.draining();
    for (const v1::AdoptedSession& adopted : welcome.adopted()) {
      sessions_[adopted.session_key()].session_id = adopted.session_id();
    }
  }
  // The full set of provisioned peers comes only here, from a control plane
  // that answers: nothing is removed while it is away.
  std::vector<PeerSpec> peers;
  for (Driver* driver : drivers_) {
    if (!driver->CarriesPeers()) continue;
    if (peers.empty() && welcome.wireguard_peers_size() > 0) {
      peers.reserve(welcome.wireguard_peers_size());
      for (const v1::WireGuardPeer& peer : welcome.wireguard_peers()) {
        peers.push_back(ToPeerSpec(peer));
      }
    }
    if (absl::Status set = driver->SetPeers(peers); !set.ok()) {
      Log()->error("driver {}: provisioning {} peers: {}", driver->name(), peers.size(),
                   set.message());
    }
  }
}

void AgentCore::OnLinkState(bool up) { Log()->info("control link {}", up ? "up" : "down"); }

Driver* AgentCore::DriverCarrying(const std::string& session_key) {
  for (Driver* driver : drivers_) {
    if (driver->Carries(session_key)) return driver;
  }
  return nullptr;
}

absl::Status AgentCore::Kill(const v1::Command& command) {
  std::string key = command.session_key();
  {
    absl::MutexLock lock(&mu_);
    if (!command.session_id().empty()) {
      for (const auto& [session_key, entry] : sessions_) {
        if (entry.session_id == command.session_id()) key = session_key;
      }
      // The key now belongs to a newer session: the one to kill is gone.
      auto it = sessions_.find(key);
      if (it != sessions_.end() && !it->second.session_id.empty() &&
          it->second.session_id != command.session_id()) {
        return absl::OkStatus();
      }
    }
  }
  if (key.empty()) return absl::OkStatus();
  Driver* driver = DriverCarrying(key);
  if (driver == nullptr) return absl::OkStatus();  // already gone: success
  // Drivers pass "<code>: <sentence>" on to the user where the protocol can.
  return driver->Kill(key, JoinKillReason(command.reason_code(), command.reason()));
}

absl::Status AgentCore::ChangePeer(const v1::Command& command) {
  const bool add = command.kind() == v1::ADD_PEER;
  if (command.peer().public_key().empty()) {
    return absl::InvalidArgumentError("peer.public_key is required");
  }
  const PeerSpec spec = ToPeerSpec(command.peer());
  std::string errors;
  absl::StatusCode code = absl::StatusCode::kOk;
  int carriers = 0;
  for (Driver* driver : drivers_) {
    if (!driver->CarriesPeers()) continue;
    ++carriers;
    absl::Status changed = add ? driver->AddPeer(spec) : driver->RemovePeer(spec.public_key);
    if (!changed.ok()) {
      if (code == absl::StatusCode::kOk) code = changed.code();
      absl::StrAppend(&errors, errors.empty() ? "" : "; ", "driver ", driver->name(), ": ",
                      changed.message());
    }
  }
  if (carriers == 0) {
    return absl::FailedPreconditionError("this agent has no driver that carries peers");
  }
  if (!errors.empty()) return absl::Status(code, errors);
  return absl::OkStatus();
}

absl::Status AgentCore::SetBandwidth(const v1::Command& command) {
  std::string username;
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, entry] : sessions_) {
      if (entry.user_id == command.user_id()) {
        username = entry.username;
        keys.push_back(key);
      }
    }
  }
  for (Driver* driver : drivers_) {
    bool carries = false;
    for (const std::string& key : keys) carries = carries || driver->Carries(key);
    if (!carries) continue;
    absl::Status set = driver->SetBandwidth(username, command.bandwidth_bytes_per_second());
    if (!set.ok()) {
      return absl::Status(set.code(), absl::StrCat("driver ", driver->name(), ": ", set.message()));
    }
  }
  return absl::OkStatus();
}

v1::CommandResult AgentCore::Execute(const v1::Command& command) {
  absl::Status status;
  switch (command.kind()) {
    case v1::KILL_SESSION:
      status = Kill(command);
      break;
    case v1::SET_BANDWIDTH:
      status = SetBandwidth(command);
      break;
    case v1::ADD_PEER:
    case v1::REMOVE_PEER:
      status = ChangePeer(command);
      break;
    case v1::DRAIN: {
      absl::MutexLock lock(&mu_);
      draining_ = command.draining();
      break;
    }
    default:
      status = absl::InvalidArgumentError(
          absl::StrCat("unknown command kind ", static_cast<int>(command.kind())));
  }
  Log()->info("command id={} kind={} ok={} {}", command.id(), v1::CommandKind_Name(command.kind()),
              status.ok(), status.message());
  operations_
      .With({absl::AsciiStrToLower(v1::CommandKind_Name(command.kind())),
             status.ok() ? "ok" : "error"})
      .Increment();
  v1::CommandResult result;
  result.set_command_id(command.id());
  result.set_ok(status.ok());
  if (!status.ok()) result.set_error(std::string(status.message()));
  return result;
}

}  // namespace warden::agent
