#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "controlplane/model/admission.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/session.h"
#include "controlplane/model/usage.h"
#include "controlplane/store/usage_store.h"

namespace warden::control::store {

class Database;

absl::string_view SessionStateName(model::SessionState state);
// The reason code written to the audit log and the metrics.
absl::string_view DenyReasonName(model::DenyReason reason);

// Who is being admitted: by id or by username (exactly one is set).
struct UserRef {
  std::string id{};
  std::string username{};
};

struct AdmissionRequest {
  // How the user was established before the transaction.
  enum class Credential {
    kPassword,   // verified by PasswordCheck
    kTicket,     // `ticket`, redeemed inside the transaction
    kVouched,    // the node names the user: its right to is part of the decision
    kInventory,  // carried by the node, found admissible by the reconcile
  };
  std::string node_id;
  std::string node_name;  // the actor of the audit events
  model::Protocol protocol = model::Protocol::kOpenVpn;
  std::string session_key;
  std::string device_label;
  std::string client_address;
  UserRef user;
  Credential credential = Credential::kVouched;
  // A SessionService connect ticket as the credential: redeemed inside the
  // admission transaction; `user` then comes from the ticket.
  struct ConnectTicket {
    std::string hash_hex;
    absl::Duration family_idle_timeout;
  };
  std::optional<ConnectTicket> ticket;
  // When the connection really opened, if earlier than now (reconcile).
  std::optional<absl::Time> opened_at;
  // The caller's deadline: no statement waits past it, and nothing commits
  // after it (the caller has given up and would not know of the session).
  std::optional<absl::Time> commit_by;
  // The agent's id for this attempt, recorded on the session it creates or
  // confirms (see ClosedReport::abandoned_attempt).
  std::string attempt_id;
};

struct Eviction {
  std::string session_id;
  std::string node_id;
  std::string node_name;
  int64_t command_id = 0;
  absl::Time kill_due;
};

struct AdmissionResult {
  model::Decision decision;
  bool unknown_user = false;  // no such user: denied as bad credentials
  bool already_live = false;  // a retried Admit: the existing session
  std::string session_id;
  std::string user_id;
  std::string username;
  int64_t bandwidth_bytes_per_second = 0;
  std::vector<Eviction> evictions;
};

// The admission rule, supplied by the domain.
using Decider = absl::FunctionRef<model::Decision(const model::AdmissionFacts&)>;

struct SessionFilter {
  std::string user_id{};  // "" = any
  std::string node_id{};
  std::optional<model::SessionState> state{};
  std::optional<model::Protocol> protocol{};
  // keyset: sessions opened before (opened_at, id), newest first
  std::optional<std::pair<absl::Time, std::string>> before{};
  int limit = 100;
  // Only sessions not closed, and those closed at or after `or_closed_since`.
  bool open_only = false;
  std::optional<absl::Time> or_closed_since{};
};

struct FleetStats {
  int64_t live_sessions = 0;
  int64_t closing_sessions = 0;
  int64_t users_with_live_sessions = 0;
  std::vector<std::pair<std::string, int64_t>> live_by_node;  // node name → count
  std::vector<std::pair<model::Protocol, int64_t>> live_by_protocol;
};

class SessionStore {
 public:
  explicit SessionStore(Database& db) : db_(db) {}

  // AdmitInTransaction in a transaction of its own; the nodes that are to
  // kill a session for it are woken once it commits.
  absl::StatusOr<AdmissionResult> Admit(const AdmissionRequest& request, Decider decide);

  // Records a denial made before the transaction (bad credentials).
  absl::Status AuditDenial(const AdmissionRequest& request, const model::Decision& decision);

  struct CloseResult {
    bool already_closed = false;
    std::string session_id;
    std::string end_reason;  // when it was live: why it ended (model/session_end.h)
    LedgerUpdate ledger;     // what the final counters added
  };
  // By id or by key (one is empty), and with `abandoned_attempt` only the
  // session that Admit attempt created or last confirmed. NOT_FOUND when the
  // node never had it.
  absl::StatusOr<CloseResult> Close(const std::string& node_id, const std::string& node_name,
                                    const std::string& session_id, const std::string& session_key,
                                    const std::string& reason,
                                    const model::UsageSample& final_usage,
                                    const std::string& abandoned_attempt = "");

  absl::StatusOr<std::vector<model::Session>> List(const SessionFilter& filter);
  // The user's session that ended most recently, or is being ended (killed,
  // its node not yet done): nullopt when there is none.
  absl::StatusOr<std::optional<model::Session>> LastEnded(const std::string& user_id);
  // The user's active sessions (the seats they hold).
  absl::StatusOr<int64_t> CountLive(const std::string& user_id);

  // Closes (reason node_lost) every session of the nodes not heard from for
  // `offline_for`, so that their seats are free; returns how many. Safe to
  // run on every replica at once.
  absl::StatusOr<int64_t> CloseSessionsOfLostNodes(absl::Duration offline_for);

  // Sessions not closed, fleet-wide, by protocol name (for the live gauge).
  absl::StatusOr<std::map<std::string, int64_t>> CountLiveByProtocol();
  absl::StatusOr<FleetStats> Stats();

 private:
  absl::StatusOr<AdmissionResult> AdmitWithTicket(const AdmissionRequest& request, Decider decide);
  Database& db_;
};

}  // namespace warden::control::store
