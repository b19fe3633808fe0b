#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/command.h"
#include "controlplane/model/session.h"
#include "controlplane/model/session_end.h"

namespace warden::control::store {

class Database;

// A command written to the outbox, and the node it is for.
struct QueuedCommand {
  int64_t command_id = 0;
  std::string node_id;
};

// A node's due commands, oldest first. A row this replica cannot read (a
// kind it does not know, written by a newer one) is left in the outbox,
// undelivered, and named in `unreadable` for the log.
struct PendingCommands {
  std::vector<model::Command> commands;
  std::vector<std::string> unreadable;
};

// What an agent's answer to a command did.
struct Acknowledgement {
  bool recorded = false;  // false: unknown to the node, or settled before
  // Set for a failed kill that will be sent again after this long.
  std::optional<absl::Duration> retry_in;
};

// The outbox: commands for agents are written in the transaction that
// decides them (with NOTIFY warden_commands, '<node id>'), delivered at least
// once, and acknowledged with a result.
class CommandStore {
 public:
  explicit CommandStore(Database& db) : db_(db) {}

  // Ends the session for `end` (the code and the sentence its user reads).
  // With `owner_user_id`, only a session of that user: another's is
  // NOT_FOUND. FAILED_PRECONDITION when the session is already closed.
  absl::StatusOr<QueuedCommand> KillSession(const model::Actor& actor,
                                            const std::string& session_id,
                                            const model::SessionEnd& end,
                                            const std::string& owner_user_id = "");
  // Every live session of the user, on every node.
  absl::StatusOr<std::vector<QueuedCommand>> DisconnectUser(const model::Actor& actor,
                                                            const std::string& user_id,
                                                            const std::string& reason);
  // Marks the node draining (it admits no one), tells its agent, and with
  // kill_sessions queues a kill for each of its live sessions.
  absl::StatusOr<model::Node> DrainNode(const model::Actor& actor, const std::string& node_id,
                                        bool kill_sessions);
  absl::StatusOr<model::Node> UndrainNode(const model::Actor& actor, const std::string& node_id);

  // Commands for the node that are due and not acknowledged, oldest first.
  absl::StatusOr<PendingCommands> Pending(const std::string& node_id, int limit);
  absl::Status MarkDelivered(std::span<const int64_t> command_ids);
  // Nodes with due commands that were never delivered.
  absl::StatusOr<std::vector<std::string>> NodesWithUndelivered();
  // Records the agent's answer — outcome 'ok' or 'failed', its words as the
  // detail, and the line for people in `result` (model::AnswerText) — and
  // issues NOTIFY warden_acks, '<command id>' so that a waiter on any replica
  // wakes. A kill the agent could not carry
  // out, of a session not yet closed, is not settled: it is due again after
  // `retry_delay(attempts so far)`, and the session keeps its seat until the
  // tunnel is really gone (see ForceClose). Not recorded when the command is
  // unknown to this node or was settled before (a repeat is harmless).
  using RetrySchedule = absl::FunctionRef<absl::Duration(int attempts)>;
  absl::StatusOr<Acknowledgement> Acknowledge(const std::string& node_id, int64_t command_id,
                                              bool ok, const std::string& result,
                                              RetrySchedule retry_delay);
  // An administrator declares the session gone whatever its node says:
  // closed at once (its seat free), its pending kills settled, audited as
  // session.force_close. NOT_FOUND / FAILED_PRECONDITION when unknown or
  // already closed. Returns the session's id.
  absl::StatusOr<std::string> ForceClose(const model::Actor& actor, const std::string& session_id,
                                         const std::string& reason);
  // How the command stands, from its stored outcome (never from its text).
  absl::StatusOr<model::CommandOutcome> Outcome(int64_t command_id);

 private:
  Database& db_;
};

}  // namespace warden::control::store
