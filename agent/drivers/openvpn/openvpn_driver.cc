#include "agent/drivers/openvpn/openvpn_driver.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/drivers/spec_options.h"
#include "common/backoff.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"

namespace warden::agent::openvpn {
namespace {

const logging::Logger Log("agent.openvpn");

constexpr size_t kMaxEarlyEvents = 10000;
constexpr size_t kMaxLabel = 120;

// What the control plane accepts as a label or address: printable, bounded.
std::string Printable(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (out.size() >= kMaxLabel) break;
    if (absl::ascii_isprint(static_cast<unsigned char>(c))) out.push_back(c);
  }
  return out;
}

std::optional<std::string> NonEmpty(const ClientEnv& env, absl::string_view key) {
  std::optional<std::string> value = env.Get(key);
  if (!value || value->empty() || *value == "UNDEF") return std::nullopt;
  return value;
}

// A certificate's common name says which device it is when it is not just
// the username; otherwise the client's platform and version do.
std::string DeviceLabel(const ClientEnv& env, const std::string& username) {
  if (auto cn = NonEmpty(env, "common_name"); cn && *cn != username) return Printable(*cn);
  std::string label = NonEmpty(env, "IV_PLAT").value_or("");
  if (auto gui = NonEmpty(env, "IV_GUI_VER")) {
    absl::StrAppend(&label, label.empty() ? "" : " ", *gui);
  } else if (auto version = NonEmpty(env, "IV_VER")) {
    absl::StrAppend(&label, label.empty() ? "" : " ", "openvpn ", *version);
  }
  return Printable(label);
}

std::string RemoteAddress(const ClientEnv& env) {
  std::string address =
      NonEmpty(env, "untrusted_ip").value_or(NonEmpty(env, "trusted_ip").value_or(""));
  if (address.empty()) return "";
  if (auto port = NonEmpty(env, "untrusted_port")) {
    address = absl::StrContains(address, ':') ? absl::StrCat("[", address, "]:", *port)
                                              : absl::StrCat(address, ":", *port);
  }
  return Printable(address);
}

int64_t EnvNumber(const ClientEnv& env, absl::string_view key) {
  int64_t value = 0;
  if (auto text = env.Get(key); !text || !absl::SimpleAtoi(*text, &value)) return 0;
  return value;
}

AdmitAnswer Refusal(std::string reason, std::string message) {
  AdmitAnswer answer;
  answer.deny_reason = std::move(reason);
  answer.message = std::move(message);
  return answer;
}

void LogIfRefused(absl::string_view what, absl::StatusOr<ManagementReply> reply) {
  if (!reply.ok()) {
    Log()->warn("{}: no answer: {}", what, reply.status().message());
  } else if (!reply->success) {
    Log()->warn("{}: OpenVPN answered ERROR: {}", what, reply->text);
  }
}

absl::StatusOr<int> SecondsOption(absl::string_view key, absl::string_view value, int min,
                                  int max) {
  int seconds = 0;
  if (!absl::SimpleAtoi(value, &seconds) || seconds < min || seconds > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("openvpn driver: ", key, " must be whole seconds in [", min, ", ", max, "]"));
  }
  return seconds;
}

// One key=value of the spec into `options`.
absl::Status ApplySpecOption(absl::string_view key, absl::string_view value,
                             OpenVpnOptions& options) {
  if (key == "mgmt") {
    options.management = std::string(value);
  } else if (key == "name") {
    const bool valid =
        !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ||
                 c == '.';
        });
    if (!valid) {
      return absl::InvalidArgumentError(
          "openvpn driver: name must be 1-64 of [A-Za-z0-9._-] (it is part of session keys)");
    }
    options.server_name = std::string(value);
  } else if (key == "password-file") {
    options.password_file = std::string(value);
  } else if (key == "bytecount") {
    auto seconds = SecondsOption(key, value, 0, 3600);
    if (!seconds.ok()) return seconds.status();
    options.bytecount_interval = absl::Seconds(*seconds);
  } else if (key == "kill") {
    if (value != "HALT" && value != "RESTART") {
      return absl::InvalidArgumentError("openvpn driver: kill must be HALT or RESTART");
    }
    options.kill_message = std::string(value);
  } else if (key == "deadline") {
    auto seconds = SecondsOption(key, value, 1, 600);
    if (!seconds.ok()) return seconds.status();
    options.decision_deadline = absl::Seconds(*seconds);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("openvpn driver: unknown option \"", key,
                     "\"; known: mgmt, name, password-file, bytecount, kill, deadline"));
  }
  return absl::OkStatus();
}

// What a CONNECT or REAUTH asks: the credentials from its environment.
AdmitQuery QueryFor(const ClientEvent& event) {
  AdmitQuery query;
  query.protocol = Protocol::kOpenVpn;
  query.username = event.env.Get("username").value_or("");
  std::string secret = event.env.Get("password").value_or("");
  // A VPN app that logged in with SessionService sends a connect ticket
  // where a password would go: it is redeemed as such, never hashed.
  if (absl::StartsWith(secret, kConnectTicketPrefix)) {
    query.connect_ticket = std::move(secret);
  } else {
    query.password = std::move(secret);
  }
  return query;
}

// The client list in a `status 3` reply. A partial list must not close the
// sessions it lacks: a refused or cut-off reply is an error.
absl::StatusOr<StatusReport> ReadStatusReply(const ManagementReply& reply) {
  if (!reply.success || reply.lines.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("status 3: ", reply.text));
  }
  if (reply.truncated) {
    return absl::ResourceExhaustedError("status 3 was cut off over the parser's limits");
  }
  return ParseStatus(reply.lines);
}

}  // namespace

absl::StatusOr<OpenVpnOptions> ParseOpenVpnSpec(absl::string_view spec) {
  OpenVpnOptions options;
  for (const auto& [key, value] : SplitSpecOptions(spec)) {
    WARDEN_RETURN_IF_ERROR(ApplySpecOption(key, value, options));
  }
  if (options.management.empty()) {
    return absl::InvalidArgumentError(
        "openvpn driver: mgmt=<unix:/path | host:port> (the --management address) is required");
  }
  return options;
}

OpenVpnDriver::OpenVpnDriver(OpenVpnOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

OpenVpnDriver::~OpenVpnDriver() { Stop(); }

absl::Status OpenVpnDriver::Start(DriverHost& host) {
  if (!options_.password_file.empty()) {
    std::ifstream in(options_.password_file);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read the management password file ", options_.password_file));
    }
    std::getline(in, password_);
    absl::StripTrailingAsciiWhitespace(&password_);
  }
  host_ = &host;
  // Admissions wait on the control plane; a few run at once, a burst queues.
  deciders_ = std::make_unique<WorkerPool>("ovpn-admit", 8, 4096);
  thread_ = std::thread([this] { Run(); });
  if (!first_inventory_.WaitForNotificationWithTimeout(absl::Seconds(5))) {
    Log()->warn("server={} no inventory from OpenVPN yet; starting with none",
                options_.server_name);
  }
  return absl::OkStatus();
}

void OpenVpnDriver::Stop() {
  if (stopping_.exchange(true)) return;
  stopped_.Notify();
  {
    absl::MutexLock lock(&mu_);
    if (connection_) connection_->Shutdown();
  }
  if (thread_.joinable()) thread_.join();
  if (deciders_) deciders_->Shutdown();
}

void OpenVpnDriver::Run() {
  Backoff backoff(absl::Milliseconds(200), options_.reconnect_cap);
  std::string last_error;
  while (!stopping_) {
    absl::StatusOr<std::unique_ptr<ManagementConnection>> connected =
        ManagementConnection::Connect(options_.management, absl::Seconds(3));
    if (!connected.ok()) {
      if (std::string error(connected.status().message()); error != last_error) {
        Log()->warn("server={} {}; retrying", options_.server_name, error);
        last_error = error;
      }
      if (!first_inventory_.HasBeenNotified()) first_inventory_.Notify();
      if (stopped_.WaitForNotificationWithTimeout(backoff.Next())) return;
      continue;
    }
    last_error.clear();
    backoff.Reset();
    std::shared_ptr<ManagementConnection> connection = *std::move(connected);
    Log()->info("server={} connected to OpenVPN management at {}", options_.server_name,
                options_.management);
    {
      absl::MutexLock lock(&mu_);
      connection_ = connection;
      server_pid_ = -1;
      inventory_read_ = false;
      held_ = false;
    }
    Serve(connection);
    connection->Shutdown();
    absl::MutexLock lock(&mu_);
    connection_.reset();
    // Decisions for this connection's CONNECTs can no longer be delivered;
    // OpenVPN refuses those clients when its hand-window runs out.
    pending_.clear();
  }
}

void OpenVpnDriver::Serve(const std::shared_ptr<ManagementConnection>& connection) {
  while (!stopping_) {
    std::vector<MgmtMessage> messages;
    absl::Status read = connection->ReadSome(absl::Milliseconds(200), messages);
    for (MgmtMessage& message : messages) Handle(*connection, message);
    DenyOverdue();
    if (!read.ok()) {
      if (!stopping_) Log()->warn("server={} {}", options_.server_name, read.message());
      return;
    }
  }
}

void OpenVpnDriver::Handle(ManagementConnection& connection, MgmtMessage& message) {
  if (auto* event = std::get_if<ClientEvent>(&message)) {
    OnClientEvent(*event);
  } else if (auto* address = std::get_if<ClientAddress>(&message)) {
    absl::MutexLock lock(&mu_);
    if (auto it = clients_.find(address->cid); it != clients_.end() && address->primary) {
      it->second.tunnel_address = Printable(address->address);
    }
  } else if (auto* count = std::get_if<ByteCount>(&message)) {
    std::string key;
    {
      absl::MutexLock lock(&mu_);
      auto it = clients_.find(count->cid);
      if (it == clients_.end() || it->second.state != ClientState::kEstablished) return;
      it->second.rx_bytes = count->bytes_in;
      it->second.tx_bytes = count->bytes_out;
      key = it->second.key;
    }
    host_->Usage(key, count->bytes_in, count->bytes_out);
  } else if (std::holds_alternative<PasswordPrompt>(message)) {
    if (password_.empty()) {
      Log()->error("server={} OpenVPN management asks for a password; give password-file=",
                   options_.server_name);
      connection.Shutdown();
      return;
    }
    (void)connection.Send(PasswordCommand(password_), [](absl::StatusOr<ManagementReply> reply) {
      LogIfRefused("management password", std::move(reply));
    });
  } else if (auto* note = std::get_if<Notification>(&message)) {
    OnNotification(connection, *note);
  } else if (auto* error = std::get_if<ProtocolError>(&message)) {
    OnProtocolError(*error);
  }
}

void OpenVpnDriver::OnNotification(ManagementConnection& connection, const Notification& note) {
  if (note.kind == "INFO" && absl::StartsWith(note.text, "OpenVPN Management Interface")) {
    Greet(connection);
  } else if (note.kind == "HOLD") {
    // Started with --management-hold: it waits for us before it takes any
    // client, and lists its clients only once released.
    {
      absl::MutexLock lock(&mu_);
      held_ = true;
    }
    // Replies are handled while `connection` is being read, so it outlives this.
    (void)connection.Send("hold release\n",
                          [this, &connection](absl::StatusOr<ManagementReply> reply) {
                            const bool released = reply.ok() && reply->success;
                            LogIfRefused("hold release", std::move(reply));
                            if (!released) return;
                            {
                              absl::MutexLock lock(&mu_);
                              held_ = false;
                            }
                            ReadInventory(connection);
                          });
  } else if (note.kind == "FATAL") {
    Log()->error("server={} OpenVPN: {}", options_.server_name, note.text);
  } else {
    Log()->debug("server={} OpenVPN >{}: {}", options_.server_name, note.kind, note.text);
  }
}

void OpenVpnDriver::OnProtocolError(const ProtocolError& error) {
  Log()->warn("server={} unreadable management input: {}", options_.server_name, error.what);
  if (error.block_kind == ClientEventKind::kDisconnect && error.cid >= 0) {
    // The client is gone even if its byte counts could not be read.
    ClientEvent gone;
    gone.kind = ClientEventKind::kDisconnect;
    gone.cid = error.cid;
    OnClientEvent(gone);
    return;
  }
  const bool asks = error.block_kind == ClientEventKind::kConnect ||
                    error.block_kind == ClientEventKind::kReauth ||
                    error.block_kind == ClientEventKind::kCrResponse;
  if (!asks || error.cid < 0 || error.kid < 0) return;
  // A client whose request could not be read is refused, never left waiting.
  absl::MutexLock lock(&mu_);
  pending_.erase({error.cid, error.kid});
  if (auto it = clients_.find(error.cid);
      it != clients_.end() && it->second.state == ClientState::kAuthorizing) {
    clients_.erase(it);
  }
  SendDecisionLocked(error.cid, error.kid,
                     Refusal("MALFORMED", "the server could not read this login; try again"));
}

// After the banner (and the password, when there is one): learn which
// OpenVPN process this is, ask for usage samples, read the inventory.
void OpenVpnDriver::Greet(ManagementConnection& connection) {
  if (options_.bytecount_interval > absl::ZeroDuration()) {
    (void)connection.Send(
        BytecountCommand(static_cast<int>(absl::ToInt64Seconds(options_.bytecount_interval))),
        [](absl::StatusOr<ManagementReply> reply) { LogIfRefused("bytecount", std::move(reply)); });
  }
  ReadInventory(connection);
}

void OpenVpnDriver::ReadInventory(ManagementConnection& connection) {
  auto pid = std::make_shared<int64_t>(-1);
  (void)connection.Send("pid\n", [pid](absl::StatusOr<ManagementReply> reply) {
    if (reply.ok() && reply->success) {
      absl::string_view text = reply->text;
      if (absl::ConsumePrefix(&text, "pid=")) (void)absl::SimpleAtoi(text, pid.get());
    }
  });
  (void)connection.Send(StatusCommand(), [this, pid](absl::StatusOr<ManagementReply> reply) {
    OnStatus(reply, *pid);
  });
}

void OpenVpnDriver::OnStatus(const absl::StatusOr<ManagementReply>& reply, int64_t pid) {
  if (!reply.ok()) return;  // the connection ended; the next one reads again
  absl::StatusOr<StatusReport> report = ReadStatusReply(*reply);
  if (!report.ok()) {
    absl::MutexLock lock(&mu_);
    if (held_) {
      // A held server has no clients yet; the list is read again on release.
      Log()->info("server={} OpenVPN waits for the hold release", options_.server_name);
      return;
    }
  }
  if (!report.ok()) {
    Log()->error("server={} cannot read OpenVPN's client list: {}", options_.server_name,
                 report.status().message());
  }
  if (pid < 0) {
    Log()->warn("server={} OpenVPN did not tell its pid; session keys assume one process",
                options_.server_name);
    pid = 0;
  }
  HostCalls calls;
  std::vector<ClientEvent> early;
  {
    absl::MutexLock lock(&mu_);
    if (last_server_pid_ >= 0 && pid != last_server_pid_) ForgetClientsLocked(pid, calls);
    server_pid_ = last_server_pid_ = pid;
    if (report.ok()) ReconcileClientsLocked(*report, pid, calls);
    inventory_read_ = true;
    early.swap(early_events_);
  }
  for (auto& call : calls) call();
  for (const ClientEvent& event : early) OnClientEvent(event);
  if (!first_inventory_.HasBeenNotified()) first_inventory_.Notify();
}

void OpenVpnDriver::ForgetClientsLocked(int64_t pid, HostCalls& calls) {
  Log()->warn("server={} OpenVPN restarted (pid {} -> {}); its {} clients are gone",
              options_.server_name, last_server_pid_, pid, clients_.size());
  for (auto& [cid, client] : clients_) {
    if (client.state == ClientState::kAuthorizing) continue;
    calls.push_back([this, key = client.key, rx = client.rx_bytes, tx = client.tx_bytes] {
      host_->Closed(key, "server restarted", rx, tx);
    });
  }
  clients_.clear();
  pending_.clear();
}

void OpenVpnDriver::ReconcileClientsLocked(const StatusReport& report, int64_t pid,
                                           HostCalls& calls) {
  std::map<int64_t, const StatusClient*> listed;
  for (const StatusClient& row : report.clients) listed[row.cid] = &row;
  // Established clients that vanished while nobody listened.
  for (auto it = clients_.begin(); it != clients_.end();) {
    Client& client = it->second;
    if (client.state == ClientState::kEstablished || client.state == ClientState::kKilled) {
      if (!listed.contains(it->first)) {
        calls.push_back([this, key = client.key, rx = client.rx_bytes, tx = client.tx_bytes,
                         reason = client.kill_reason.empty() ? "lost" : client.kill_reason] {
          host_->Closed(key, reason, rx, tx);
        });
        it = clients_.erase(it);
        continue;
      }
    }
    ++it;
  }
  // Clients connected before this agent was: carried from now on.
  for (const auto& [cid, row] : listed) {
    if (cid < 0) continue;
    Client& client = clients_[cid];
    if (client.key.empty()) {
      client.cid = cid;
      client.key = KeyFor(cid);
      client.username =
          row->username.empty() || row->username == "UNDEF" ? row->common_name : row->username;
      client.client_address = Printable(row->real_address);
      client.opened_at = absl::FromUnixSeconds(row->connected_since_unix);
      client.state = ClientState::kEstablished;
    }
    client.tunnel_address = Printable(row->virtual_address);
    client.rx_bytes = row->bytes_received;
    client.tx_bytes = row->bytes_sent;
  }
  Log()->info("server={} pid={} carries {} clients", options_.server_name, pid,
              report.clients.size());
}

std::string OpenVpnDriver::KeyFor(int64_t cid) const {
  return absl::StrCat("ovpn:", options_.server_name, ":", cid, "@", server_pid_);
}

OpenVpnDriver::Client* OpenVpnDriver::FindByKey(const std::string& key) {
  for (auto& [cid, client] : clients_) {
    if (client.key == key) return &client;
  }
  return nullptr;
}

void OpenVpnDriver::OnClientEvent(const ClientEvent& event) {
  {
    absl::MutexLock lock(&mu_);
    if (!inventory_read_) {
      // Keys need the server's pid, which the status reply brings.
      if (early_events_.size() >= kMaxEarlyEvents) early_events_.erase(early_events_.begin());
      early_events_.push_back(event);
      return;
    }
  }
  HostCalls calls;
  switch (event.kind) {
    case ClientEventKind::kConnect:
    case ClientEventKind::kReauth:
      OnConnect(event);
      return;
    case ClientEventKind::kEstablished:
      OnEstablished(event, calls);
      break;
    case ClientEventKind::kDisconnect:
      OnDisconnect(event, calls);
      break;
    default:
      Log()->debug("server={} {}", options_.server_name, Describe(event));
  }
  for (auto& call : calls) call();
}

void OpenVpnDriver::OnEstablished(const ClientEvent& event, HostCalls& calls) {
  absl::MutexLock lock(&mu_);
  Client& client = clients_[event.cid];
  if (client.key.empty()) {  // authorized by an earlier agent, or by nobody we know
    client.cid = event.cid;
    client.key = KeyFor(event.cid);
    client.username = event.env.Get("username").value_or(event.env.Get("common_name").value_or(""));
    client.client_address = RemoteAddress(event.env);
    client.device_label = DeviceLabel(event.env, client.username);
  }
  if (client.state != ClientState::kKilled) client.state = ClientState::kEstablished;
  if (auto tunnel = NonEmpty(event.env, "ifconfig_pool_remote_ip")) {
    client.tunnel_address = Printable(*tunnel);
  }
  const int64_t since = EnvNumber(event.env, "time_unix");
  client.opened_at = since > 0 ? absl::FromUnixSeconds(since) : clock_.Now();
  calls.push_back(
      [this, key = client.key, tunnel = client.tunnel_address] { host_->Opened(key, tunnel); });
}

void OpenVpnDriver::OnDisconnect(const ClientEvent& event, HostCalls& calls) {
  absl::MutexLock lock(&mu_);
  auto it = clients_.find(event.cid);
  if (it == clients_.end()) return;
  Client client = std::move(it->second);
  clients_.erase(it);
  for (auto p = pending_.begin(); p != pending_.end();) {
    p = p->first.first == event.cid ? pending_.erase(p) : std::next(p);
  }
  if (client.state == ClientState::kAuthorizing) return;  // Decide closes it if admitted
  const int64_t rx = EnvNumber(event.env, "bytes_received");
  const int64_t tx = EnvNumber(event.env, "bytes_sent");
  if (client.state == ClientState::kKilled) {
    Log()->info("server={} key={} gone {} ms after its kill was acknowledged", options_.server_name,
                client.key, absl::ToInt64Milliseconds(clock_.Now() - client.kill_acked_at));
  }
  calls.push_back([this, key = client.key, rx, tx,
                   reason = client.kill_reason.empty() ? "disconnected" : client.kill_reason] {
    host_->Closed(key, reason, rx, tx);
  });
}

void OpenVpnDriver::OnConnect(const ClientEvent& event) {
  const bool reauth = event.kind == ClientEventKind::kReauth;
  AdmitQuery query = QueryFor(event);
  {
    absl::MutexLock lock(&mu_);
    if (query.username.empty()) {
      Log()->warn("server={} cid={} sent no username; refused (is auth-user-pass set?)",
                  options_.server_name, event.cid);
      SendDecisionLocked(event.cid, event.kid,
                         Refusal("BAD_CREDENTIALS", "this server needs a username and password"));
      return;
    }
    AwaitDecisionLocked(event, reauth, query);
  }
  Log()->info("server={} {} cid={} kid={} user={} from={}", options_.server_name,
              reauth ? "REAUTH" : "CONNECT", event.cid, event.kid, query.username,
              query.client_address);
  const int64_t cid = event.cid;
  const int64_t kid = event.kid;
  const bool queued = deciders_->TrySubmit([this, query, cid, kid]() mutable {
    const AdmitAnswer answer = host_->Admit(query);
    Decide(query, cid, kid, answer);
  });
  if (!queued) {
    Decide(query, cid, kid, Refusal("OVERLOADED", "the server is busy; try again in a moment"));
  }
}

void OpenVpnDriver::AwaitDecisionLocked(const ClientEvent& event, bool reauth, AdmitQuery& query) {
  Client& client = clients_[event.cid];
  if (client.key.empty() || !reauth) {
    client.cid = event.cid;
    client.key = KeyFor(event.cid);
    client.state = ClientState::kAuthorizing;
  }
  if (query.connect_ticket) {
    const std::string digest = secrets::Sha256Hex(*query.connect_ticket);
    if (reauth && client.state == ClientState::kAuthorized && !client.ticket_digest.empty() &&
        client.username == query.username &&
        secrets::ConstantTimeEquals(client.ticket_digest, digest)) {
      // A renegotiation of a live session, with the ticket it was admitted
      // with: the driver vouches for the user, and the control plane
      // confirms the session is still live (or refuses if it was killed).
      query.connect_ticket.reset();
    } else {
      client.ticket_digest = digest;
    }
  }
  client.username = query.username;
  client.device_label = DeviceLabel(event.env, query.username);
  client.client_address = RemoteAddress(event.env);
  query.session_key = client.key;
  query.device_label = client.device_label;
  query.client_address = client.client_address;
  pending_[{event.cid, event.kid}] = PendingDecision{event.cid, event.kid, reauth, client.key,
                                                     clock_.Now() + options_.decision_deadline};
}

void OpenVpnDriver::Decide(const AdmitQuery& query, int64_t cid, int64_t kid,
                           const AdmitAnswer& answer) {
  bool too_late = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find({cid, kid});
    if (it == pending_.end() || it->second.key != query.session_key) {
      // Refused on the deadline, or the client or the connection went away.
      Client* client = FindByKey(query.session_key);
      too_late =
          answer.admitted && (client == nullptr || client->state == ClientState::kAuthorizing);
      if (client != nullptr && client->state == ClientState::kAuthorizing) clients_.erase(cid);
    } else {
      const bool reauth = it->second.reauth;
      pending_.erase(it);
      auto client = clients_.find(cid);
      if (answer.admitted) {
        if (client != clients_.end() && client->second.state == ClientState::kAuthorizing) {
          client->second.state = ClientState::kAuthorized;
        }
      } else if (!reauth && client != clients_.end()) {
        clients_.erase(client);  // a refused CONNECT never sends DISCONNECT
      }
      if (!SendDecisionLocked(cid, kid, answer) && answer.admitted && !reauth) {
        too_late = true;
        clients_.erase(cid);
      }
    }
  }
  if (!answer.admitted) {
    Log()->info("server={} key={} user={} refused: {} ({})", options_.server_name,
                query.session_key, query.username, answer.deny_reason, answer.message);
  }
  if (too_late) {
    Log()->warn("server={} key={} admitted after the client was answered or gone; closing it",
                options_.server_name, query.session_key);
    host_->Closed(query.session_key, "admission answered too late", 0, 0);
  }
}

bool OpenVpnDriver::SendDecisionLocked(int64_t cid, int64_t kid, const AdmitAnswer& answer) {
  if (!connection_) return false;
  const std::string command = answer.admitted
                                  ? ClientAuthCommand(cid, kid)
                                  : ClientDenyCommand(cid, kid, answer.deny_reason, answer.message);
  const std::string what = absl::StrCat(answer.admitted ? "client-auth " : "client-deny ", cid);
  absl::Status sent = connection_->Send(command, [what](absl::StatusOr<ManagementReply> reply) {
    LogIfRefused(what, std::move(reply));
  });
  if (!sent.ok()) {
    Log()->warn("server={} {}: {}", options_.server_name, what, sent.message());
    return false;
  }
  return true;
}

void OpenVpnDriver::DenyOverdue() {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.due > now) {
      ++it;
      continue;
    }
    const PendingDecision overdue = it->second;
    it = pending_.erase(it);
    Log()->warn("server={} key={} no decision within {}; refusing", options_.server_name,
                overdue.key, absl::FormatDuration(options_.decision_deadline));
    if (!overdue.reauth) {
      if (auto client = clients_.find(overdue.cid);
          client != clients_.end() && client->second.state == ClientState::kAuthorizing) {
        clients_.erase(client);
      }
    }
    SendDecisionLocked(
        overdue.cid, overdue.kid,
        Refusal("TIMEOUT", "the service could not check this login in time; try again"));
  }
}

std::vector<DriverSession> OpenVpnDriver::Inventory() {
  absl::MutexLock lock(&mu_);
  std::vector<DriverSession> sessions;
  for (const auto& [cid, client] : clients_) {
    if (client.state != ClientState::kAuthorized && client.state != ClientState::kEstablished) {
      continue;
    }
    DriverSession session;
    session.session_key = client.key;
    session.username = client.username;
    session.protocol = Protocol::kOpenVpn;
    session.device_label = client.device_label;
    session.client_address = client.client_address;
    session.tunnel_address = client.tunnel_address;
    session.opened_at = client.opened_at;
    session.rx_bytes = client.rx_bytes;
    session.tx_bytes = client.tx_bytes;
    sessions.push_back(std::move(session));
  }
  return sessions;
}

bool OpenVpnDriver::Carries(const std::string& session_key) {
  absl::MutexLock lock(&mu_);
  return FindByKey(session_key) != nullptr;
}

absl::Status OpenVpnDriver::Kill(const std::string& session_key, const std::string& reason) {
  std::shared_ptr<ManagementConnection> connection;
  int64_t cid = -1;
  {
    absl::MutexLock lock(&mu_);
    Client* client = FindByKey(session_key);
    if (client == nullptr || client->state == ClientState::kKilled) return absl::OkStatus();
    if (!connection_) {
      return absl::UnavailableError("not connected to OpenVPN's management interface");
    }
    connection = connection_;
    cid = client->cid;
  }
  const absl::Time sent_at = clock_.Now();
  absl::StatusOr<ManagementReply> reply = connection->Call(
      ClientKillCommand(cid, KillMessage(options_.kill_message, reason)), options_.command_timeout);
  if (!reply.ok()) return reply.status();
  HostCalls calls;
  {
    absl::MutexLock lock(&mu_);
    Client* client = FindByKey(session_key);
    if (client == nullptr) return absl::OkStatus();  // DISCONNECT came first
    if (reply->success) {
      // The seat is free from now; DISCONNECT follows some seconds later.
      client->state = ClientState::kKilled;
      client->kill_reason = reason;
      client->kill_acked_at = clock_.Now();
      Log()->info("server={} key={} killed ({}) acknowledged in {} ms", options_.server_name,
                  session_key, reason, absl::ToInt64Milliseconds(client->kill_acked_at - sent_at));
    } else {
      // OpenVPN no longer knows the client: it is gone already.
      calls.push_back([this, key = client->key, reason, rx = client->rx_bytes,
                       tx = client->tx_bytes] { host_->Closed(key, reason, rx, tx); });
      clients_.erase(client->cid);
    }
  }
  for (auto& call : calls) call();
  return absl::OkStatus();
}

absl::Status OpenVpnDriver::SetBandwidth(const std::string& username, int64_t bytes_per_second) {
  (void)bytes_per_second;
  return absl::UnimplementedError(
      absl::StrCat("the OpenVPN driver cannot shape traffic; the limit for ", username,
                   " is recorded by the control plane but not enforced by this server"));
}

}  // namespace warden::agent::openvpn
