#include "agent/drivers/wireguard/wireguard_driver.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/drivers/wireguard/owned_peer_file.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {
namespace {

const logging::Logger Log("agent.wireguard");

}  // namespace

WireGuardDriver::WireGuardDriver(WireGuardOptions options, std::unique_ptr<WgBackend> backend,
                                 const Clock& clock)
    : options_(std::move(options)), clock_(clock), backend_(std::move(backend)) {}

WireGuardDriver::~WireGuardDriver() { Stop(); }

std::string WireGuardDriver::state_path() const {
  return OwnedPeerFilePath(options_.state_dir, options_.iface);
}

std::shared_ptr<WgBackend> WireGuardDriver::Backend() {
  absl::MutexLock lock(&mu_);
  return backend_;
}

absl::Status WireGuardDriver::Start(DriverHost& host) {
  host_ = &host;
  WARDEN_RETURN_IF_ERROR(LoadState());
  admitters_ =
      std::make_unique<WorkerPool>("wg-admit", options_.admit_threads, options_.admit_queue);
  {
    absl::MutexLock lock(&poll_mu_);
    absl::Status first = Poll(/*adopt=*/true);
    if (!first.ok()) {
      last_poll_error_ = std::string(first.message());
      Log()->warn("iface={} cannot be read yet: {}; polling every {}", options_.iface,
                  first.message(), absl::FormatDuration(options_.poll_interval));
    }
  }
  size_t owned = 0, live = 0;
  std::string kind = "none";
  {
    absl::MutexLock lock(&mu_);
    owned = owned_.size();
    for (const auto& [key, peer] : owned_) live += peer.session == SessionState::kLive ? 1 : 0;
    if (backend_) kind = backend_->kind();
  }
  Log()->info("iface={} backend={} owned_peers={} live_sessions={} poll={} stale={}",
              options_.iface, kind, owned, live, absl::FormatDuration(options_.poll_interval),
              absl::FormatDuration(options_.stale_after));
  if (options_.stale_after < absl::Seconds(130)) {
    Log()->warn(
        "iface={} stale={} is shorter than WireGuard's rekey (a busy peer handshakes "
        "every 120 s): live sessions will be closed as idle",
        options_.iface, absl::FormatDuration(options_.stale_after));
  }
  poller_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void WireGuardDriver::Stop() {
  if (stopped_.exchange(true)) return;
  stop_.Notify();
  if (poller_.joinable()) poller_.join();
  // Admissions in flight finish (their peers are withheld or opened); the
  // interface keeps its peers, so sessions outlive the agent.
  if (admitters_) admitters_->Shutdown();
}

void WireGuardDriver::Run() {
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    (void)PollOnce();
  }
}

absl::Status WireGuardDriver::PollOnce() {
  absl::MutexLock lock(&poll_mu_);
  absl::Status status = Poll(/*adopt=*/false);
  std::string error(status.message());
  if (error != last_poll_error_) {
    if (status.ok()) {
      Log()->info("iface={} readable again", options_.iface);
    } else {
      Log()->warn("iface={} cannot be read: {}; sessions stay as they were", options_.iface, error);
    }
    last_poll_error_ = std::move(error);
  }
  return status;
}

std::optional<WireGuardIdentity> WireGuardDriver::Identity() {
  absl::MutexLock lock(&mu_);
  return WireGuardIdentity{.iface = options_.iface,
                           .public_key = interface_key_ ? KeyToBase64(*interface_key_) : "",
                           .endpoint = options_.endpoint,
                           .listen_port = listen_port_};
}

absl::Status WireGuardDriver::Poll(bool adopt) {
  std::shared_ptr<WgBackend> backend = Backend();
  if (backend == nullptr) {
    absl::StatusOr<std::unique_ptr<WgBackend>> opened =
        OpenWgBackend(options_.iface, options_.uapi_dir);
    if (!opened.ok()) return opened.status();
    backend = std::move(*opened);
    absl::MutexLock lock(&mu_);
    backend_ = backend;
  }
  const absl::Time read_at = clock_.Now();
  absl::StatusOr<WgDevice> device = backend->GetDevice();
  if (!device.ok()) return device.status();
  ObserveAndAct(*device, read_at, adopt);
  return absl::OkStatus();
}

void WireGuardDriver::Observe(const WgDevice& device, absl::Time read_at) {
  absl::MutexLock lock(&poll_mu_);
  ObserveAndAct(device, read_at, /*adopt=*/false);
}

void WireGuardDriver::ObserveAndAct(const WgDevice& device, absl::Time read_at, bool adopt) {
  PeerActions actions;
  {
    absl::MutexLock lock(&mu_);
    interface_key_ = device.public_key;
    listen_port_ = device.listen_port;
    actions = ObservePeers(owned_, device,
                           Observation{.read_at = read_at,
                                       .poll = ++poll_count_,
                                       .adopt = adopt,
                                       .stale_after = options_.stale_after,
                                       .usage_interval = options_.usage_interval},
                           next_ticket_);
  }
  Tell(actions.reports);
  for (PeerActions::Admission& admission : actions.admissions) {
    Admit(std::move(admission.query), admission.ticket);
  }
  if (!actions.repairs.empty()) RepairInterface(actions.repairs, read_at);
}

void WireGuardDriver::Tell(const std::vector<SessionReport>& reports) {
  for (const SessionReport& report : reports) {
    switch (report.kind) {
      case SessionReport::Kind::kOpened:
        host_->Opened(report.session_key, report.tunnel_address);
        break;
      case SessionReport::Kind::kUsage:
        host_->Usage(report.session_key, report.rx, report.tx);
        break;
      case SessionReport::Kind::kClosed:
        Log()->info("iface={} key={} user={} closed: {} rx={} tx={}", options_.iface,
                    report.session_key, report.username, report.reason, report.rx, report.tx);
        host_->Closed(report.session_key, report.reason, report.rx, report.tx);
        break;
    }
  }
}

void WireGuardDriver::Admit(AdmitQuery query, uint64_t ticket) {
  Log()->info("iface={} key={} user={} handshake from={}; asking", options_.iface,
              query.session_key, query.username, query.client_address);
  std::string session_key = query.session_key;
  const bool queued = admitters_->TrySubmit([this, query = std::move(query), ticket] {
    const AdmitAnswer answer = host_->Admit(query);
    FinishAdmission(query, ticket, answer);
  });
  if (queued) return;
  // Overloaded: the handshake stays fresh, so the next poll asks again.
  Log()->warn("iface={} key={} admission queue full; retrying on the next poll", options_.iface,
              session_key);
  Key key{};
  if (!KeyOfSession(session_key, key)) return;
  absl::MutexLock lock(&mu_);
  if (auto it = owned_.find(key); it != owned_.end() && it->second.ticket == ticket) {
    it->second.session = SessionState::kNone;
    it->second.ticket = 0;
  }
}

void WireGuardDriver::FinishAdmission(const AdmitQuery& query, uint64_t ticket,
                                      const AdmitAnswer& answer) {
  Key key{};
  if (!KeyOfSession(query.session_key, key)) return;
  std::vector<SessionReport> reports;
  {
    absl::MutexLock ops(&ops_mu_);
    bool withhold = false;
    {
      absl::MutexLock lock(&mu_);
      withhold = SettleAdmissionLocked(key, query, ticket, answer, reports);
    }
    if (withhold) {
      std::shared_ptr<WgBackend> backend = Backend();
      absl::Status removed = backend != nullptr
                                 ? backend->RemovePeer(key)
                                 : absl::UnavailableError("the interface cannot be reached");
      if (!removed.ok()) {
        Log()->warn(
            "iface={} key={} refused, but removing its peer failed: {}; the next poll "
            "retries",
            options_.iface, query.session_key, removed.message());
      }
      (void)SaveState();
    }
  }
  Tell(reports);
}

bool WireGuardDriver::SettleAdmissionLocked(const Key& key, const AdmitQuery& query,
                                            uint64_t ticket, const AdmitAnswer& answer,
                                            std::vector<SessionReport>& reports) {
  auto it = owned_.find(key);
  const bool current = it != owned_.end() && it->second.session == SessionState::kAdmitting &&
                       it->second.ticket == ticket;
  if (!current) {
    // Killed, removed or gone from the interface while the control plane
    // answered: an admitted session ends at once.
    if (answer.admitted) {
      Log()->info("iface={} key={} admitted after its peer was taken off; closing it",
                  options_.iface, query.session_key);
      reports.push_back(ClosedReport(query.session_key, query.username,
                                     "peer removed while being admitted", 0, 0));
    }
    return false;
  }
  OwnedPeer& owned = it->second;
  owned.ticket = 0;
  if (answer.admitted) {
    owned.session = SessionState::kLive;
    owned.opened_at = clock_.Now();
    owned.usage_at = owned.opened_at;
    owned.rx = owned.tx = owned.usage_rx = owned.usage_tx = 0;
    Log()->info("iface={} key={} user={} admitted session={}", options_.iface, query.session_key,
                query.username, answer.session_id.empty() ? "(offline)" : answer.session_id);
    reports.push_back(OpenedReport(query.session_key, query.username, TunnelAddress(owned.spec)));
    return false;
  }
  owned.session = SessionState::kNone;
  owned.withheld = true;
  owned.changed_at = clock_.Now();
  Log()->info("iface={} key={} user={} refused: {} ({}); peer withheld until re-provisioned",
              options_.iface, query.session_key, query.username, answer.deny_reason,
              answer.message);
  return true;
}

void WireGuardDriver::RepairInterface(const std::vector<PeerActions::PeerRepair>& repairs,
                                      absl::Time read_at) {
  std::shared_ptr<WgBackend> backend = Backend();
  if (backend == nullptr) return;
  absl::MutexLock ops(&ops_mu_);
  int added = 0, removed = 0, failed = 0;
  std::string first_error;
  for (const auto& [key, what] : repairs) {
    using Repair = PeerActions::Repair;
    PeerSpec spec;
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      if (it == owned_.end()) continue;
      OwnedPeer& owned = it->second;
      if (owned.changed_at > read_at) continue;  // changed since the read
      if (what == Repair::kRemove && !owned.withheld) continue;
      if (what == Repair::kAdd) {
        if (owned.withheld || owned.present) continue;
        spec = owned.spec;
        const absl::Time now = clock_.Now();
        owned.added_at = now;
        owned.changed_at = now;
        owned.rx_counted = owned.tx_counted = 0;
      }
    }
    absl::Status done =
        what == Repair::kAdd ? ApplyPeer(backend.get(), key, spec) : backend->RemovePeer(key);
    if (!done.ok()) {
      if (first_error.empty()) first_error = std::string(done.message());
      ++failed;
    } else {
      ++(what == Repair::kAdd ? added : removed);
    }
  }
  if (added + removed + failed > 0) {
    Log()->warn(
        "iface={} repaired the interface: put back {} owned peers it lacked, took off {} "
        "withheld ones; {} failed{}{}",
        options_.iface, added, removed, failed, failed > 0 ? ": " : "", first_error);
  }
}

absl::Status WireGuardDriver::ApplyPeer(WgBackend* backend, const Key& key, const PeerSpec& spec) {
  if (backend == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("WireGuard interface ", options_.iface,
                     " cannot be reached; the peer is recorded and added once it can be"));
  }
  WgPeer peer;
  peer.public_key = key;
  peer.allowed_ips = spec.allowed_ips;
  return backend->AddOrUpdatePeer(peer);
}

std::vector<DriverSession> WireGuardDriver::Inventory() {
  absl::MutexLock lock(&mu_);
  std::vector<DriverSession> sessions;
  for (const auto& [key, owned] : owned_) {
    if (owned.session != SessionState::kLive) continue;
    DriverSession session;
    session.session_key = SessionKeyFor(key);
    session.username = owned.spec.username;
    session.protocol = Protocol::kWireGuard;
    session.device_label = DeviceLabel(owned.spec);
    session.client_address = owned.endpoint;
    session.tunnel_address = TunnelAddress(owned.spec);
    session.opened_at = owned.opened_at;
    session.rx_bytes = owned.rx;
    session.tx_bytes = owned.tx;
    sessions.push_back(std::move(session));
  }
  return sessions;
}

bool WireGuardDriver::Carries(const std::string& session_key) {
  Key key{};
  if (!KeyOfSession(session_key, key)) return false;
  absl::MutexLock lock(&mu_);
  return owned_.contains(key);
}

absl::Status WireGuardDriver::Kill(const std::string& session_key, const std::string& reason) {
  Key key{};
  if (!KeyOfSession(session_key, key)) return absl::OkStatus();
  std::optional<SessionReport> closed;
  absl::Status status;
  {
    absl::MutexLock ops(&ops_mu_);
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      // Not ours, or no session: already gone.
      if (it == owned_.end() || it->second.session == SessionState::kNone) {
        return absl::OkStatus();
      }
      closed = EndSession(key, it->second, reason.empty() ? "killed" : reason);
      it->second.withheld = true;
      it->second.changed_at = clock_.Now();
    }
    std::shared_ptr<WgBackend> backend = Backend();
    status = backend != nullptr
                 ? backend->RemovePeer(key)
                 : absl::UnavailableError(
                       absl::StrCat("WireGuard interface ", options_.iface, " cannot be reached"));
    if (!status.ok()) {
      status = absl::Status(status.code(),
                            absl::StrCat("removing the peer: ", status.message(),
                                         "; it is withheld and removed on the next poll"));
    }
    (void)SaveState();
  }
  Log()->info("iface={} key={} killed ({}); peer withheld until re-provisioned", options_.iface,
              session_key, reason);
  if (closed) Tell({*closed});
  return status;
}

absl::Status WireGuardDriver::SetBandwidth(const std::string& username, int64_t bytes_per_second) {
  (void)bytes_per_second;
  return absl::UnimplementedError(
      absl::StrCat("the WireGuard driver cannot shape traffic; the limit for ", username,
                   " is recorded by the control plane but not enforced on ", options_.iface));
}

absl::Status WireGuardDriver::AddPeer(const PeerSpec& peer) {
  Key key{};
  PeerSpec spec;
  WARDEN_RETURN_IF_ERROR(ValidateSpec(peer, key, spec));
  absl::MutexLock ops(&ops_mu_);
  bool apply = false, save = false;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_.Now();
    auto [it, inserted] = owned_.try_emplace(key);
    OwnedPeer& owned = it->second;
    apply =
        inserted || owned.withheld || !owned.present || owned.spec.allowed_ips != spec.allowed_ips;
    save = inserted || owned.withheld || !SameSpec(owned.spec, spec);
    if (inserted || owned.withheld) {
      owned.added_at = now;  // older handshakes are not this peer's
      owned.rx_counted = owned.tx_counted = 0;
    }
    owned.withheld = false;
    owned.spec = spec;
    if (apply) owned.changed_at = now;
  }
  absl::Status status = apply ? ApplyPeer(Backend().get(), key, spec) : absl::OkStatus();
  if (save) {
    if (absl::Status saved = SaveState(); !saved.ok() && status.ok()) status = saved;
  }
  Log()->info("iface={} peer {} user={} device={} provisioned{}", options_.iface, spec.public_key,
              spec.username, spec.device_id,
              status.ok() ? "" : absl::StrCat(": ", status.message()));
  return status;
}

absl::Status WireGuardDriver::RemovePeer(const std::string& public_key) {
  absl::StatusOr<Key> parsed = KeyFromBase64(public_key);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("peer public_key: ", parsed.status().message()));
  }
  const Key key = *parsed;
  std::optional<SessionReport> closed;
  absl::Status status;
  {
    absl::MutexLock ops(&ops_mu_);
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      if (it == owned_.end()) return absl::OkStatus();  // not ours, or gone already
      closed = EndSession(key, it->second, "device removed");
      owned_.erase(it);
    }
    std::shared_ptr<WgBackend> backend = Backend();
    status = backend != nullptr
                 ? backend->RemovePeer(key)
                 : absl::UnavailableError(
                       absl::StrCat("WireGuard interface ", options_.iface, " cannot be reached"));
    if (absl::Status saved = SaveState(); !saved.ok() && status.ok()) status = saved;
  }
  Log()->info("iface={} peer {} removed{}", options_.iface, public_key,
              status.ok() ? "" : absl::StrCat(": ", status.message()));
  if (closed) Tell({*closed});
  return status;
}

WireGuardDriver::PeerSet WireGuardDriver::ValidatePeerSet(const std::vector<PeerSpec>& peers) {
  PeerSet set;
  set.wanted.reserve(peers.size());
  for (const PeerSpec& peer : peers) {
    Key key{};
    PeerSpec spec;
    if (absl::Status valid = ValidateSpec(peer, key, spec); !valid.ok()) {
      if (set.invalid++ == 0) set.first_invalid = std::string(valid.message());
      if (!IsZeroKey(key)) set.refused.insert(key);
      continue;
    }
    set.wanted[key] = std::move(spec);
  }
  return set;
}

WireGuardDriver::PeerChanges WireGuardDriver::AdoptPeerSetLocked(
    const PeerSet& set, std::vector<SessionReport>& closes) {
  PeerChanges changes;
  const absl::Time now = clock_.Now();
  for (const auto& [key, spec] : set.wanted) {
    auto [it, inserted] = owned_.try_emplace(key);
    OwnedPeer& owned = it->second;
    const bool apply =
        inserted || owned.withheld || !owned.present || owned.spec.allowed_ips != spec.allowed_ips;
    changes.save = changes.save || inserted || owned.withheld || !SameSpec(owned.spec, spec);
    if (inserted || owned.withheld) {
      owned.added_at = now;
      owned.rx_counted = owned.tx_counted = 0;
    }
    owned.withheld = false;
    owned.spec = spec;
    if (apply) {
      owned.changed_at = now;
      changes.apply.emplace_back(key, &spec);
    }
  }
  // Owned peers the control plane no longer wants. A peer that is not owned
  // is never in owned_, so foreign peers stay.
  for (auto it = owned_.begin(); it != owned_.end();) {
    if (set.wanted.contains(it->first) || set.refused.contains(it->first)) {
      ++it;
      continue;
    }
    if (auto closed = EndSession(it->first, it->second, "device removed")) {
      closes.push_back(*std::move(closed));
    }
    changes.remove.push_back(it->first);
    owned_.erase(it++);
    changes.save = true;
  }
  return changes;
}

void WireGuardDriver::ApplyPeerChanges(const PeerChanges& changes, ChangeCount& count) {
  std::shared_ptr<WgBackend> backend = Backend();
  auto counted = [&](const absl::Status& status, int& ok_count) {
    if (status.ok()) {
      ++ok_count;
    } else if (count.failed++ == 0) {
      count.first_failure = std::string(status.message());
    }
  };
  for (const auto& [key, spec] : changes.apply) {
    counted(ApplyPeer(backend.get(), key, *spec), count.applied);
  }
  for (const Key& key : changes.remove) {
    counted(backend != nullptr ? backend->RemovePeer(key)
                               : absl::UnavailableError("the interface cannot be reached"),
            count.removed);
  }
  if (changes.save) {
    if (absl::Status saved = SaveState(); !saved.ok()) counted(saved, count.applied);
  }
}

absl::Status WireGuardDriver::SetPeers(const std::vector<PeerSpec>& peers) {
  const PeerSet set = ValidatePeerSet(peers);
  std::vector<SessionReport> closes;
  ChangeCount count;
  {
    absl::MutexLock ops(&ops_mu_);
    PeerChanges changes;
    {
      absl::MutexLock lock(&mu_);
      changes = AdoptPeerSetLocked(set, closes);
    }
    ApplyPeerChanges(changes, count);
  }
  Log()->info(
      "iface={} full peer set: {} wanted, {} added or updated, {} removed, {} failed, "
      "{} invalid",
      options_.iface, set.wanted.size(), count.applied, count.removed, count.failed, set.invalid);
  Tell(closes);
  if (set.invalid == 0 && count.failed == 0) return absl::OkStatus();
  std::string message;
  if (set.invalid > 0) {
    absl::StrAppend(&message, set.invalid, " peers refused (first: ", set.first_invalid, ")");
  }
  if (count.failed > 0) {
    absl::StrAppend(&message, message.empty() ? "" : "; ", count.failed,
                    " changes to the interface failed (first: ", count.first_failure,
                    "); they are retried by the poller");
  }
  return set.invalid > 0 ? absl::InvalidArgumentError(message) : absl::UnavailableError(message);
}

std::vector<WireGuardDriver::OwnedPeerView> WireGuardDriver::OwnedPeers() const {
  absl::MutexLock lock(&mu_);
  std::vector<OwnedPeerView> views;
  views.reserve(owned_.size());
  for (const auto& [key, owned] : owned_) {
    OwnedPeerView& view = views.emplace_back();
    view.spec = owned.spec;
    view.withheld = owned.withheld;
    view.live = owned.session == SessionState::kLive;
  }
  return views;
}

absl::Status WireGuardDriver::LoadState() {
  const std::string path = state_path();
  if (path.empty()) return absl::OkStatus();
  WARDEN_ASSIGN_OR_RETURN(std::vector<StoredPeer> stored, ReadOwnedPeerFile(path));
  size_t withheld = 0;
  absl::MutexLock lock(&mu_);
  for (StoredPeer& peer : stored) {
    OwnedPeer& owned = owned_[peer.key];
    owned.spec = std::move(peer.spec);
    owned.withheld = peer.withheld;
    withheld += peer.withheld ? 1 : 0;
  }
  Log()->info("iface={} state {}: {} owned peers, {} withheld", options_.iface, path, stored.size(),
              withheld);
  return absl::OkStatus();
}

absl::Status WireGuardDriver::SaveState() {
  const std::string path = state_path();
  if (path.empty()) return absl::OkStatus();
  std::vector<StoredPeer> peers;
  {
    absl::MutexLock lock(&mu_);
    peers.reserve(owned_.size());
    for (const auto& [key, owned] : owned_) {
      peers.push_back(StoredPeer{.key = key, .spec = owned.spec, .withheld = owned.withheld});
    }
  }
  absl::Status written = WriteOwnedPeerFile(path, options_.state_dir, options_.iface, peers);
  if (!written.ok()) {
    Log()->error("iface={} the owned peers are not recorded: {}", options_.iface,
                 written.message());
  }
  return written;
}

}  // namespace warden::agent::wireguard
