#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/command.h"
#include "controlplane/model/session.h"
#include "controlplane/store/database.h"

namespace warden::control::store {

std::span<const Statement> CommandStatements();

// The outbox's name for a kind ("kill_session", "add_peer", ...).
absl::string_view CommandKindName(model::CommandKind kind);

// A command written to the outbox, and the node it is for.
struct QueuedCommand {
  int64_t command_id = 0;
  std::string node_id;
};

// Marks the user's live sessions with this key closing and queues their
// kills (with NOTIFY), inside the caller's transaction.
std::vector<QueuedCommand> KillSessionsByKeyInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                          const std::string& user_id,
                                                          const std::string& session_key,
                                                          const std::string& reason);

// Marks the live sessions opened with the family's connect tickets closing
// and queues their kills (with NOTIFY), inside the caller's transaction
// (which holds the user's admission lock).
std::vector<QueuedCommand> KillFamilySessionsInTransaction(pqxx::work& tx,
                                                           const model::Actor& actor,
                                                           const std::string& family_id,
                                                           const std::string& reason);

// The outbox: commands for agents are written in the transaction that
// decides them (with NOTIFY warden_commands, '<node id>'), delivered at least
// once, and acknowledged with a result.
class CommandStore {
 public:
  explicit CommandStore(Database& db) : db_(db) {}

  // FAILED_PRECONDITION when the session is already closed.
  absl::StatusOr<QueuedCommand> KillSession(const model::Actor& actor,
                                            const std::string& session_id,
                                            const std::string& reason);
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
  absl::StatusOr<std::vector<model::Command>> Pending(const std::string& node_id, int limit);
  absl::Status MarkDelivered(std::span<const int64_t> command_ids);
  // Nodes with due commands that were never delivered.
  absl::StatusOr<std::vector<std::string>> NodesWithUndelivered();
  // Records the agent's result; false when the command is unknown to this
  // node or was acknowledged before (a repeat is harmless). Issues
  // NOTIFY warden_acks, '<command id>' so that a waiter on any replica wakes.
  absl::StatusOr<bool> Acknowledge(const std::string& node_id, int64_t command_id, bool ok,
                                   const std::string& result);
  absl::StatusOr<model::CommandOutcome> Outcome(int64_t command_id);

 private:
  Database& db_;
};

}  // namespace warden::control::store
