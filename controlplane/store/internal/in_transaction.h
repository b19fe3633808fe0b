#pragma once

// The store's steps that run inside a transaction another repository
// opened: how one aggregate's change takes part in another's commit (an
// admission's audit event and kill commands, a revocation's kills). They take
// libpqxx's transaction, so they stay inside store/: the layers above see
// only the repositories' own headers, which hold no libpqxx type.

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/session_end.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/statement_runner.h"
#include "controlplane/store/text_result.h"
#include "controlplane/store/usage_store.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {

// --- audit events (audit_store.cc)

// Appends an audit event inside the caller's transaction, so the event and
// the change it describes commit or vanish together. `details` must hold no
// secret.
void AppendAudit(pqxx::work& tx, const model::Actor& actor, absl::string_view action,
                 absl::string_view subject, const nlohmann::json& details);
// The same as a call, for a StatementRunner.
Call AuditCall(const model::Actor& actor, absl::string_view action, absl::string_view subject,
               const nlohmann::json& details);

// --- users (user_store.cc)

// A user named by id or by username (exactly one is set), inside a caller's
// transaction: {id, username}, or NOT_FOUND naming what was asked for.
struct UserName {
  std::string id;
  std::string username;
};
absl::StatusOr<UserName> FindUser(pqxx::transaction_base& tx, const std::string& id,
                                  const std::string& username);

// Creates a user, audited as user.create with `audit_extra` (an object, or
// null) added to the event's details. NOT_FOUND for an unknown plan.
absl::StatusOr<model::User> CreateUserInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                    const model::NewUser& user,
                                                    const nlohmann::json& audit_extra);

// The user with this id, or NOT_FOUND.
absl::StatusOr<model::User> UserByIdInTransaction(pqxx::transaction_base& tx,
                                                  const std::string& id);

// Inside a transaction that holds the user's row: reads the user's effective
// policy and live sessions, runs `apply`, kills the sessions it ends (with
// NOTIFY, audited) and stores the others' next due times.
absl::Status ApplyPolicyToUserInTransaction(pqxx::work& tx, const model::Actor& actor,
                                            const std::string& user_id, PolicyApplier apply,
                                            const std::string& cap_reason);

// --- admission (session_store.cc)

// The admission transaction's work, inside a caller's transaction (Admit
// below, and the reconcile of an attaching node): lock the user's row
// (serialising that user's admissions fleet-wide, and no one else's), read
// the user's live sessions and what the node's word rests on after the
// lock, decide, then insert the session, mark evictions closing and queue
// their kill commands (with NOTIFY), and audit. A denial is audited; an
// unknown user is a denial.
//
// Lock order: the user's row, then (key-share, through foreign keys) node
// rows. A reconcile holds its node's row FOR NO KEY UPDATE, which does not
// conflict with key-share, before it locks users in username order.
absl::StatusOr<AdmissionResult> AdmitInTransaction(pqxx::work& tx, const AdmissionRequest& request,
                                                   Decider decide);

// A node reports a session closed, with its final counters: they are
// counted (unless the close is of an abandoned attempt), then the session is
// closed (see SessionStore::Close). `closed_id` gets its id when it was live.
// The kill commands the close settled are appended to `settled_kills`: their
// waiters are to be woken once the transaction commits (WakeSettledKills).
// On a pipeline this is the whole transaction: one round trip, two when
// the counters added traffic (the standing of its user is read in the
// second), the last carrying COMMIT.
absl::StatusOr<LedgerUpdate> CloseInTransaction(
    StatementRunner& db, const std::string& node_id, const std::string& node_name,
    const std::string& session_id, const std::string& session_key, const std::string& reason,
    const model::UsageSample& final_usage, const std::string& abandoned_attempt,
    std::vector<std::string>& settled_kills, std::string* closed_id,
    std::string* end_reason = nullptr);

// After the commit: wakes whoever waits for the answers to these commands
// (NOTIFY warden_acks), and for the kills queued to these nodes (NOTIFY
// warden_commands).
void WakeSettledKills(Database& db, std::span<const std::string> command_ids);
void WakeNodes(Database& db, std::span<const std::string> node_ids);

// --- the traffic ledger (usage_store.cc)

// Applies nodes' samples exactly once: each session's counters advance only
// with a higher sequence, their difference (or, after a counter reset, the
// counters themselves) is added to the session's totals and to its user's
// day and month rows. Returns what was counted and the quota standing of
// the users it was counted for.
LedgerUpdate ApplyUsageInTransaction(pqxx::work& tx, std::span<const model::UsageReport> reports);
// The same in two steps, so that other statements can share its first
// round trip: queue the samples; after a Flush, read what they counted and
// the standing of its users (a round of its own, flushed as `last`; with
// no traffic counted, the flush sends only what else was queued).
size_t QueueUsageApply(StatementRunner& db, std::span<const model::UsageReport> reports);
absl::StatusOr<LedgerUpdate> FinishUsageApply(StatementRunner& db, size_t applied, bool last);

// --- the command outbox (command_store.cc)

// Marks the user's live sessions with this key closing and queues their
// kills (with NOTIFY), inside the caller's transaction.
std::vector<QueuedCommand> KillSessionsByKeyInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                          const std::string& user_id,
                                                          const std::string& session_key,
                                                          const model::SessionEnd& end);

// Marks every live session of the user closing and queues their kills
// (with NOTIFY), inside the caller's transaction (which holds the user's row).
std::vector<QueuedCommand> KillUserSessionsInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                         const std::string& user_id,
                                                         const model::SessionEnd& end);

// The same for the sessions named, those that are still active.
std::vector<QueuedCommand> KillSessionsInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                     std::span<const std::string> session_ids,
                                                     const model::SessionEnd& end);

// Marks the live sessions opened with the family's connect tickets closing
// and queues their kills (with NOTIFY), inside the caller's transaction
// (which holds the user's admission lock).
std::vector<QueuedCommand> KillFamilySessionsInTransaction(pqxx::work& tx,
                                                           const model::Actor& actor,
                                                           const std::string& family_id,
                                                           const model::SessionEnd& end);

// --- WireGuard devices (device_store.cc)

// Serialises changes to the set of provisioned devices (allocation,
// revocation, enabling and disabling users) against each other, and against
// an attaching node reading its full peer set (`shared`), across replicas.
// Held until the transaction ends.
void LockDevicePool(pqxx::work& tx, bool shared);

// Inside UpdateUser's transaction (after LockDevicePool): tells every
// WireGuard node to remove (disabled) or add again (enabled) the user's
// devices, with NOTIFY warden_commands.
std::vector<QueuedCommand> QueueUserPeerCommands(pqxx::work& tx, const std::string& user_id,
                                                 bool disabled);

// A WireGuard admission on `node_id` was denied: the node drops the peer,
// and it is not provisioned there again until its user is under the limit.
void WithholdPeerInTransaction(pqxx::work& tx, const std::string& node_id,
                               const std::string& session_key);
// The same as a call (nullopt: the key is no WireGuard key, nothing to do).
std::optional<Call> WithholdPeerCall(const std::string& node_id, const std::string& session_key);

// A user whose policy is REJECT reached the limit: each of its devices
// without a live session on a WireGuard node is withheld there (REMOVE_PEER,
// with NOTIFY) until the user is under the limit again.
std::vector<QueuedCommand> WithholdIdleDevicesInTransaction(pqxx::work& tx,
                                                            const std::string& user_id);
// The same as a call, for a StatementRunner (NOTIFY included; the queued
// commands are not read back).
Call WithholdIdleDevicesCall(const std::string& user_id);

// --- login families (family_store.cc)

// Inside the admission transaction: marks a connect ticket used (whatever
// the admission decides). Returns its user and family, or nullopt when the
// ticket is unknown, used, expired, or its family is no longer live.
struct RedeemedTicket {
  std::string user_id;
  std::string family_id;
};
std::optional<RedeemedTicket> RedeemConnectTicketInTransaction(pqxx::work& tx,
                                                               const std::string& ticket_hash_hex,
                                                               const FamilyPolicy& policy);
bool FamilyStillLiveInTransaction(pqxx::work& tx, const std::string& family_id);
// The session was opened with the family's connect ticket `ticket_hash_hex`:
// revoking the family finds it, and a retry with the ticket gets it back.
void RecordSessionFamilyInTransaction(pqxx::work& tx, const std::string& session_id,
                                      const std::string& family_id,
                                      const std::string& ticket_hash_hex);

// Revokes every live family of the user and kills the tunnels opened with
// their tickets (with NOTIFY), inside the caller's transaction; takes the
// user's row lock if the caller does not hold it yet.
absl::StatusOr<FamilyRevocation> RevokeUserFamiliesInTransaction(pqxx::work& tx,
                                                                 const model::Actor& actor,
                                                                 const std::string& user_id,
                                                                 const std::string& reason);

}  // namespace warden::control::store
