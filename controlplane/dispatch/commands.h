#pragma once

// The one way a command is given: each operation here commits in the store
// (the kill, drain, peer or eviction is written to the outbox in the same
// transaction as what decided it, with NOTIFY warden_commands for the other
// replicas) and then wakes its delivery on this replica. Nothing else wakes
// delivery after a store call; handlers call these and answer with what
// they return.
//
// Blocking (database): call from a database worker. KillSession's `done`
// runs once, on this thread or — when waiting for the agent — on whichever
// resolves the wait (an event worker, a database worker, the ticker).

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/admission/admitter.h"
#include "controlplane/dispatch/ack_waiters.h"
#include "controlplane/dispatch/outbox.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/usage_store.h"

namespace warden::control::dispatch {

struct KillRequest {
  std::string session_id;
  std::string reason;
  // The end reason's code the session gets (model/session_end.h).
  std::string end_code = model::end_reason::kKilledByAdmin;
  // Set: only a session of this user (another's is NOT_FOUND).
  std::string owner_user_id{};
  // Closed at once whatever its node says (CommandStore::ForceClose); its
  // node is not asked.
  bool force = false;
  // Waits until the agent answers, or until then (DEADLINE_EXCEEDED).
  std::optional<absl::Time> wait_until;
};

// What KillSession answers.
struct KillAnswer {
  int64_t command_id = 0;     // 0 when forced
  bool acknowledged = false;  // the agent answered (with wait_until)
  std::string result;         // its answer, or how the session was forced closed
};

// The nodes that `queued` commands are for, each once.
std::vector<std::string> NodesOf(std::span<const store::QueuedCommand> queued);

class Commands {
 public:
  Commands(store::CommandStore& commands, store::FamilyStore& families, store::DeviceStore& devices,
           store::AttachStore& attach, store::UsageStore& usage, admission::Admitter& admitter,
           Outbox& outbox, AckWaiters& waiters);

  using KillDone = absl::AnyInvocable<void(absl::StatusOr<KillAnswer>) &&>;
  void KillSession(const model::Actor& actor, KillRequest request, KillDone done);
  absl::StatusOr<std::vector<store::QueuedCommand>> DisconnectUser(const model::Actor& actor,
                                                                   const std::string& user_id,
                                                                   const std::string& reason);
  absl::StatusOr<model::Node> DrainNode(const model::Actor& actor, const std::string& node_id,
                                        bool kill_sessions);
  absl::StatusOr<model::Node> UndrainNode(const model::Actor& actor, const std::string& node_id);

  // Login families (FamilyStore::Revoke, RevokeAllOfUser) and their tunnels.
  absl::StatusOr<store::FamilyRevocation> RevokeFamily(const model::Actor& actor,
                                                       const std::string& family_id,
                                                       const std::string& reason,
                                                       bool kill_sessions,
                                                       const std::string& action = "family.revoke",
                                                       const std::string& owner_user_id = "");
  absl::StatusOr<store::FamilyRevocation> RevokeUserFamilies(const model::Actor& actor,
                                                             const std::string& user_id,
                                                             const std::string& username,
                                                             const std::string& reason);

  // WireGuard devices: ADD_PEER on every WireGuard node; REMOVE_PEER and
  // the kills of its sessions.
  absl::StatusOr<store::RegisteredDevice> RegisterDevice(const model::Actor& actor,
                                                         const store::NewDevice& device);
  // With `owner_user_id`, only a device of that user (another's is NOT_FOUND).
  absl::StatusOr<store::RevokedDevice> RevokeDevice(const model::Actor& actor,
                                                    const std::string& device_id,
                                                    const std::string& owner_user_id = "");

  // The admission path (admission::Admitter::Admit): an admission that
  // evicts commits the kills of the evicted sessions.
  void Admit(admission::AdmitInput input, absl::Time deadline, admission::Admitter::Done done);

  // An attaching node's inventory against the database
  // (store::AttachStore::Reconcile): sessions it may not carry are killed.
  absl::StatusOr<store::ReconcileResult> Reconcile(
      const std::string& node_id, const std::string& node_name, int64_t epoch,
      std::span<const store::InventoryItem> inventory,
      std::span<const store::ClosedReport> closed_while_away, absl::Duration adopt_window,
      store::Decider decide);

  // Data quotas (store::UsageStore, judged by usage::JudgeQuota): a user's
  // standing settled (thresholds announced, the user held or let go, with
  // the kills or bandwidth changes that takes), and support's reset and
  // grant, each settled at once.
  absl::StatusOr<store::QuotaSettlement> SettleQuota(const std::string& user_id);
  absl::StatusOr<store::QuotaSettlement> ResetUsage(const model::Actor& actor,
                                                    const std::string& user_id,
                                                    const std::string& reason);
  absl::StatusOr<store::QuotaSettlement> GrantExtraQuota(const model::Actor& actor,
                                                         const std::string& user_id, int64_t bytes,
                                                         const std::string& reason);

  // Withheld WireGuard peers whose users are under their limits again are
  // provisioned again, at most `limit` of them.
  absl::StatusOr<std::vector<store::QueuedCommand>> ReprovisionWithheld(int limit);

 private:
  // After a commit: `queued` goes out to the nodes attached here now.
  void Kick(std::span<const store::QueuedCommand> queued);
  // The committed `value` with its commands woken, or the error as it came.
  template <typename T, typename QueuedOf>
  absl::StatusOr<T> Committed(absl::StatusOr<T> value, QueuedOf queued_of);
  void AwaitAnswer(int64_t command_id, absl::Time deadline, KillDone done);

  store::CommandStore& commands_;
  store::FamilyStore& families_;
  store::DeviceStore& devices_;
  store::AttachStore& attach_;
  store::UsageStore& usage_;
  admission::Admitter& admitter_;
  Outbox& outbox_;
  AckWaiters& waiters_;
};

}  // namespace warden::control::dispatch
