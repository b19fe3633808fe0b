#include "agent/drivers/wireguard/wireguard_driver.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {
namespace {

const logging::Logger Log("agent.wireguard");

constexpr absl::string_view kSessionPrefix = "wg:";
constexpr int kStateVersion = 1;
constexpr size_t kMaxLabel = 128;  // what the control plane accepts as a device label

absl::StatusOr<int64_t> NumberOption(absl::string_view key, absl::string_view value, int64_t min,
                                     int64_t max) {
  int64_t number = 0;
  if (value.empty() || !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(value, &number) || number < min || number > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wireguard driver: ", key, " must be a whole number in [", min, ", ", max, "]"));
  }
  return number;
}

absl::Time HandshakeTime(const WgPeer& peer) {
  if (peer.last_handshake_unix_sec == 0 && peer.last_handshake_nsec == 0) {
    return absl::InfinitePast();  // never
  }
  return absl::FromUnixSeconds(peer.last_handshake_unix_sec) +
         absl::Nanoseconds(peer.last_handshake_nsec);
}

// The client's address inside the tunnel: its first allowed IP, without the prefix.
std::string TunnelAddress(const PeerSpec& spec) {
  if (spec.allowed_ips.empty()) return "";
  const std::string& first = spec.allowed_ips.front();
  return first.substr(0, first.find('/'));
}

std::string DeviceLabel(const PeerSpec& spec) {
  return spec.device_id.substr(0, std::min(spec.device_id.size(), kMaxLabel));
}

// Checks a peer from the control plane; `normalized` gets its allowed IPs in
// canonical form, so that equal sets compare equal.
absl::Status ValidateSpec(const PeerSpec& spec, Key& key, PeerSpec& normalized) {
  absl::StatusOr<Key> parsed = KeyFromBase64(spec.public_key);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "peer public_key \"", spec.public_key.substr(0, 60), "\": ", parsed.status().message()));
  }
  key = *parsed;
  if (spec.username.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer ", spec.public_key, ": username is required (whom it is admitted as)"));
  }
  if (spec.allowed_ips.size() > kMaxAllowedIpsPerPeer) {
    return absl::InvalidArgumentError(absl::StrCat("peer ", spec.public_key, ": at most ",
                                                   kMaxAllowedIpsPerPeer, " allowed IPs"));
  }
  normalized.device_id = spec.device_id;
  normalized.public_key = spec.public_key;
  normalized.username = spec.username;
  normalized.allowed_ips.clear();
  for (size_t i = 0; i < spec.allowed_ips.size(); ++i) {
    absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(spec.allowed_ips[i]);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("peer ", spec.public_key, " allowed_ips[", i,
                                                     "]: ", prefix.status().message()));
    }
    normalized.allowed_ips.push_back(FormatIpPrefix(*prefix));
  }
  return absl::OkStatus();
}

bool SameSpec(const PeerSpec& a, const PeerSpec& b) {
  return a.device_id == b.device_id && a.public_key == b.public_key && a.username == b.username &&
         a.allowed_ips == b.allowed_ips;
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", tmp));
  ::fchmod(fd, 0600);
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", tmp));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  // The rename itself survives a crash once the directory is synced.
  const std::string dir =
      path.substr(0, path.rfind('/') == std::string::npos ? 1 : path.rfind('/'));
  const int dir_fd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<WireGuardOptions> ParseWireGuardSpec(absl::string_view spec) {
  WireGuardOptions options;
  for (absl::string_view part : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    const absl::string_view key = absl::StripAsciiWhitespace(kv.first);
    const absl::string_view value = absl::StripAsciiWhitespace(kv.second);
    if (key == "iface") {
      if (absl::Status valid = ValidateInterfaceName(value); !valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("wireguard driver: iface: ", valid.message()));
      }
      options.iface = std::string(value);
    } else if (key == "poll") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 1, 60));
      options.poll_interval = absl::Seconds(seconds);
    } else if (key == "poll-ms") {
      WARDEN_ASSIGN_OR_RETURN(int64_t ms, NumberOption(key, value, 10, 60000));
      options.poll_interval = absl::Milliseconds(ms);
    } else if (key == "stale") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 5, 86400));
      options.stale_after = absl::Seconds(seconds);
    } else if (key == "usage") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 1, 3600));
      options.usage_interval = absl::Seconds(seconds);
    } else if (key == "uapi-dir") {
      if (!absl::StartsWith(value, "/")) {
        return absl::InvalidArgumentError("wireguard driver: uapi-dir must be an absolute path");
      }
      options.uapi_dir = std::string(value);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("wireguard driver: unknown option \"", key,
                       "\"; known: iface, poll, poll-ms, stale, usage, uapi-dir"));
    }
  }
  if (options.iface.empty()) {
    return absl::InvalidArgumentError(
        "wireguard driver: iface=<interface> (the WireGuard interface to control) is required");
  }
  if (options.stale_after <= options.poll_interval) {
    return absl::InvalidArgumentError("wireguard driver: stale must be longer than the poll");
  }
  return options;
}

std::string SessionKeyFor(const Key& public_key) {
  return absl::StrCat(kSessionPrefix, KeyToBase64(public_key));
}

bool KeyOfSession(absl::string_view session_key, Key& public_key) {
  if (!absl::ConsumePrefix(&session_key, kSessionPrefix)) return false;
  absl::StatusOr<Key> key = KeyFromBase64(session_key);
  if (!key.ok()) return false;
  public_key = *key;
  return true;
}

WireGuardDriver::WireGuardDriver(WireGuardOptions options, std::unique_ptr<WgBackend> backend,
                                 const Clock& clock)
    : options_(std::move(options)), clock_(clock), backend_(std::move(backend)) {}

WireGuardDriver::~WireGuardDriver() { Stop(); }

std::string WireGuardDriver::state_path() const {
  if (options_.state_dir.empty()) return "";
  return absl::StrCat(options_.state_dir, "/wireguard-", options_.iface, ".json");
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
  std::vector<AdmitQuery> admissions;
  std::vector<uint64_t> tickets;
  std::vector<std::pair<Key, Repair>> repairs;
  HostCalls calls;
  {
    absl::MutexLock lock(&mu_);
    ObserveLocked(device, read_at, adopt, admissions, tickets, repairs, calls);
  }
  for (auto& call : calls) call();
  for (size_t i = 0; i < admissions.size(); ++i) Admit(std::move(admissions[i]), tickets[i]);
  if (!repairs.empty()) RepairInterface(repairs, read_at);
}

void WireGuardDriver::ObserveLocked(const WgDevice& device, absl::Time read_at, bool adopt,
                                    std::vector<AdmitQuery>& admissions,
                                    std::vector<uint64_t>& tickets,
                                    std::vector<std::pair<Key, Repair>>& repairs,
                                    HostCalls& calls) {
  const uint64_t poll = ++poll_count_;
  for (const WgPeer& peer : device.peers) {
    auto it = owned_.find(peer.public_key);
    if (it == owned_.end()) continue;  // not ours: never touched
    Owned& owned = it->second;
    owned.seen_poll = poll;
    owned.present = true;
    if (owned.withheld) {
      if (owned.changed_at <= read_at) repairs.emplace_back(it->first, Repair::kRemove);
      continue;
    }
    if (peer.rx_bytes < owned.rx_counted || peer.tx_bytes < owned.tx_counted) {
      owned.rx_counted = owned.tx_counted = 0;  // the peer was re-created under us
    }
    const absl::Time handshake = HandshakeTime(peer);
    const bool fresh = handshake >= owned.added_at && read_at - handshake < options_.stale_after;
    switch (owned.session) {
      case SessionState::kNone: {
        if (!fresh) break;
        owned.endpoint = peer.endpoint;
        if (adopt) {  // admitted before this agent started: the reconcile decides
          owned.session = SessionState::kLive;
          owned.opened_at = read_at;
          owned.rx = peer.rx_bytes - owned.rx_counted;
          owned.tx = peer.tx_bytes - owned.tx_counted;
          owned.usage_at = read_at;
          owned.usage_rx = owned.rx;
          owned.usage_tx = owned.tx;
          break;
        }
        owned.session = SessionState::kAdmitting;
        owned.ticket = ++next_ticket_;
        AdmitQuery& query = admissions.emplace_back();
        query.protocol = Protocol::kWireGuard;
        query.session_key = SessionKeyFor(it->first);
        query.username = owned.spec.username;
        query.device_label = DeviceLabel(owned.spec);
        query.client_address = peer.endpoint;
        tickets.push_back(owned.ticket);
        break;
      }
      case SessionState::kAdmitting:
        break;
      case SessionState::kLive: {
        owned.rx = peer.rx_bytes - owned.rx_counted;
        owned.tx = peer.tx_bytes - owned.tx_counted;
        if (!fresh) {
          if (auto call = EndSessionLocked(it->first, owned, "idle")) calls.push_back(call);
          break;
        }
        if (!peer.endpoint.empty() && peer.endpoint != owned.endpoint) {
          owned.endpoint = peer.endpoint;  // roamed
        }
        if (read_at - owned.usage_at >= options_.usage_interval &&
            (owned.rx != owned.usage_rx || owned.tx != owned.usage_tx)) {
          owned.usage_at = read_at;
          owned.usage_rx = owned.rx;
          owned.usage_tx = owned.tx;
          calls.push_back([this, key = SessionKeyFor(it->first), rx = owned.rx, tx = owned.tx] {
            host_->Usage(key, rx, tx);
          });
        }
        break;
      }
    }
  }
  // Owned peers the interface lacks: put back (wireguard-go restarted, or
  // someone removed them), unless the driver changed them after this read.
  for (auto& [key, owned] : owned_) {
    if (owned.seen_poll == poll) continue;
    owned.present = false;
    if (owned.withheld) continue;
    if (auto call = EndSessionLocked(key, owned, "peer gone from the interface")) {
      calls.push_back(call);
    }
    if (owned.changed_at <= read_at) repairs.emplace_back(key, Repair::kAdd);
  }
}

std::function<void()> WireGuardDriver::EndSessionLocked(const Key& key, Owned& owned,
                                                        const std::string& reason) {
  const SessionState was = owned.session;
  owned.session = SessionState::kNone;
  owned.ticket = 0;  // an admission in flight now finds nothing to open
  if (was != SessionState::kLive) return nullptr;
  owned.rx_counted += owned.rx;
  owned.tx_counted += owned.tx;
  std::string session_key = SessionKeyFor(key);
  Log()->info("iface={} key={} user={} closed: {} rx={} tx={}", options_.iface, session_key,
              owned.spec.username, reason, owned.rx, owned.tx);
  std::function<void()> call = [this, session_key = std::move(session_key), reason, rx = owned.rx,
                                tx = owned.tx] { host_->Closed(session_key, reason, rx, tx); };
  owned.rx = owned.tx = 0;
  return call;
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
  HostCalls calls;
  {
    absl::MutexLock ops(&ops_mu_);
    bool withhold = false;
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      const bool current = it != owned_.end() && it->second.session == SessionState::kAdmitting &&
                           it->second.ticket == ticket;
      if (!current) {
        // Killed, removed or gone from the interface while the control plane
        // answered: an admitted session ends at once.
        if (answer.admitted) {
          Log()->info("iface={} key={} admitted after its peer was taken off; closing it",
                      options_.iface, query.session_key);
          calls.push_back([this, session_key = query.session_key] {
            host_->Closed(session_key, "peer removed while being admitted", 0, 0);
          });
        }
      } else if (answer.admitted) {
        Owned& owned = it->second;
        owned.session = SessionState::kLive;
        owned.ticket = 0;
        owned.opened_at = clock_.Now();
        owned.usage_at = owned.opened_at;
        owned.rx = owned.tx = owned.usage_rx = owned.usage_tx = 0;
        Log()->info("iface={} key={} user={} admitted session={}", options_.iface,
                    query.session_key, query.username,
                    answer.session_id.empty() ? "(offline)" : answer.session_id);
        calls.push_back(
            [this, session_key = query.session_key, tunnel = TunnelAddress(owned.spec)] {
              host_->Opened(session_key, tunnel);
            });
      } else {
        Owned& owned = it->second;
        owned.session = SessionState::kNone;
        owned.ticket = 0;
        owned.withheld = true;
        owned.changed_at = clock_.Now();
        withhold = true;
        Log()->info("iface={} key={} user={} refused: {} ({}); peer withheld until re-provisioned",
                    options_.iface, query.session_key, query.username, answer.deny_reason,
                    answer.message);
      }
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
  for (auto& call : calls) call();
}

void WireGuardDriver::RepairInterface(const std::vector<std::pair<Key, Repair>>& repairs,
                                      absl::Time read_at) {
  std::shared_ptr<WgBackend> backend = Backend();
  if (backend == nullptr) return;
  absl::MutexLock ops(&ops_mu_);
  int added = 0, removed = 0, failed = 0;
  std::string first_error;
  for (const auto& [key, what] : repairs) {
    PeerSpec spec;
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      if (it == owned_.end()) continue;
      Owned& owned = it->second;
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
  std::function<void()> closed;
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
      closed = EndSessionLocked(key, it->second, reason.empty() ? "killed" : reason);
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
  if (closed) closed();
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
    Owned& owned = it->second;
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
  std::function<void()> closed;
  absl::Status status;
  {
    absl::MutexLock ops(&ops_mu_);
    {
      absl::MutexLock lock(&mu_);
      auto it = owned_.find(key);
      if (it == owned_.end()) return absl::OkStatus();  // not ours, or gone already
      closed = EndSessionLocked(key, it->second, "device removed");
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
  if (closed) closed();
  return status;
}

absl::Status WireGuardDriver::SetPeers(const std::vector<PeerSpec>& peers) {
  absl::flat_hash_map<Key, PeerSpec, KeyHash> wanted;
  wanted.reserve(peers.size());
  int invalid = 0;
  std::string first_invalid;
  // Peers named by a valid key but otherwise refused stay as they are.
  absl::flat_hash_map<Key, bool, KeyHash> refused;
  for (const PeerSpec& peer : peers) {
    Key key{};
    PeerSpec spec;
    if (absl::Status valid = ValidateSpec(peer, key, spec); !valid.ok()) {
      if (invalid++ == 0) first_invalid = std::string(valid.message());
      if (!IsZeroKey(key)) refused[key] = true;
      continue;
    }
    wanted[key] = std::move(spec);
  }
  HostCalls calls;
  int applied = 0, removed = 0, failed = 0;
  std::string first_failure;
  {
    absl::MutexLock ops(&ops_mu_);
    std::vector<std::pair<Key, const PeerSpec*>> to_apply;
    std::vector<Key> to_remove;
    bool changed = false;  // in what the state file records
    {
      absl::MutexLock lock(&mu_);
      const absl::Time now = clock_.Now();
      for (const auto& [key, spec] : wanted) {
        auto [it, inserted] = owned_.try_emplace(key);
        Owned& owned = it->second;
        const bool apply = inserted || owned.withheld || !owned.present ||
                           owned.spec.allowed_ips != spec.allowed_ips;
        changed = changed || inserted || owned.withheld || !SameSpec(owned.spec, spec);
        if (inserted || owned.withheld) {
          owned.added_at = now;
          owned.rx_counted = owned.tx_counted = 0;
        }
        owned.withheld = false;
        owned.spec = spec;
        if (apply) {
          owned.changed_at = now;
          to_apply.emplace_back(key, &spec);
        }
      }
      // Owned peers the control plane no longer wants. A peer that is not
      // owned is never in owned_, so foreign peers stay.
      for (auto it = owned_.begin(); it != owned_.end();) {
        if (wanted.contains(it->first) || refused.contains(it->first)) {
          ++it;
          continue;
        }
        if (auto call = EndSessionLocked(it->first, it->second, "device removed")) {
          calls.push_back(std::move(call));
        }
        to_remove.push_back(it->first);
        owned_.erase(it++);
        changed = true;
      }
    }
    std::shared_ptr<WgBackend> backend = Backend();
    auto count = [&](const absl::Status& status, int& ok_count) {
      if (status.ok()) {
        ++ok_count;
      } else if (failed++ == 0) {
        first_failure = std::string(status.message());
      }
    };
    for (const auto& [key, spec] : to_apply) count(ApplyPeer(backend.get(), key, *spec), applied);
    for (const Key& key : to_remove) {
      count(backend != nullptr ? backend->RemovePeer(key)
                               : absl::UnavailableError("the interface cannot be reached"),
            removed);
    }
    if (changed) {
      if (absl::Status saved = SaveState(); !saved.ok()) count(saved, applied);
    }
  }
  Log()->info(
      "iface={} full peer set: {} wanted, {} added or updated, {} removed, {} failed, "
      "{} invalid",
      options_.iface, wanted.size(), applied, removed, failed, invalid);
  for (auto& call : calls) call();
  if (invalid > 0 || failed > 0) {
    std::string message;
    if (invalid > 0) {
      absl::StrAppend(&message, invalid, " peers refused (first: ", first_invalid, ")");
    }
    if (failed > 0) {
      absl::StrAppend(&message, message.empty() ? "" : "; ", failed,
                      " changes to the interface failed (first: ", first_failure,
                      "); they are retried by the poller");
    }
    return invalid > 0 ? absl::InvalidArgumentError(message) : absl::UnavailableError(message);
  }
  return absl::OkStatus();
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
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return absl::OkStatus();  // first start: nothing owned yet
  }
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto unusable = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the WireGuard state file ", path, " is unusable (", why,
        "); it lists the peers this agent provisioned. Move it away to start owning none "
        "(peers it listed are then left on the interface)"));
  };
  size_t loaded = 0, withheld = 0;
  try {
    const nlohmann::json state = nlohmann::json::parse(text.str());
    if (!state.is_object() || state.value("version", 0) != kStateVersion ||
        !state.contains("peers") || !state["peers"].is_array()) {
      return unusable(
          absl::StrCat("expected {\"version\": ", kStateVersion, ", \"peers\": [...]}"));
    }
    absl::MutexLock lock(&mu_);
    for (const nlohmann::json& entry : state["peers"]) {
      PeerSpec spec;
      spec.public_key = entry.at("public_key").get<std::string>();
      spec.device_id = entry.value("device_id", "");
      spec.username = entry.value("username", "");
      spec.allowed_ips = entry.value("allowed_ips", std::vector<std::string>{});
      Key key{};
      PeerSpec normalized;
      if (absl::Status valid = ValidateSpec(spec, key, normalized); !valid.ok()) {
        return unusable(valid.message());
      }
      Owned& owned = owned_[key];
      owned.spec = std::move(normalized);
      owned.withheld = entry.value("withheld", false);
      ++loaded;
      withheld += owned.withheld ? 1 : 0;
    }
  } catch (const nlohmann::json::exception& error) {
    return unusable(error.what());
  }
  Log()->info("iface={} state {}: {} owned peers, {} withheld", options_.iface, path, loaded,
              withheld);
  return absl::OkStatus();
}

absl::Status WireGuardDriver::SaveState() {
  const std::string path = state_path();
  if (path.empty()) return absl::OkStatus();
  nlohmann::json peers = nlohmann::json::array();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, owned] : owned_) {
      peers.push_back({{"public_key", owned.spec.public_key},
                       {"device_id", owned.spec.device_id},
                       {"username", owned.spec.username},
                       {"allowed_ips", owned.spec.allowed_ips},
                       {"withheld", owned.withheld}});
    }
  }
  const nlohmann::json state = {
      {"version", kStateVersion}, {"iface", options_.iface}, {"peers", std::move(peers)}};
  if (::mkdir(options_.state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    absl::Status status =
        absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", options_.state_dir));
    Log()->error("iface={} {}", options_.iface, status.message());
    return status;
  }
  absl::Status written = WriteFileAtomically(path, state.dump(1));
  if (!written.ok()) {
    Log()->error("iface={} the owned peers are not recorded: {}", options_.iface,
                 written.message());
  }
  return written;
}

}  // namespace warden::agent::wireguard
