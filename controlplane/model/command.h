#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "controlplane/model/device.h"

namespace warden::control::model {

enum class CommandKind { kKillSession, kSetBandwidth, kDrain, kAddPeer, kRemovePeer };

// Every kind once: its name in the outbox (commands.kind, and the `kind`
// label of the command metrics) and its number on the wire (warden.v1.
// CommandKind; CommandKindTest checks the numbers against the proto). A kind
// added here is added everywhere; one missing here is unknown everywhere.
struct CommandKindEntry {
  CommandKind kind;
  std::string_view name;
  int wire;
};

// In the enum's order, so that a kind finds its entry by its value.
inline constexpr CommandKindEntry kCommandKinds[] = {
    {CommandKind::kKillSession, "kill_session", 1},
    {CommandKind::kSetBandwidth, "set_bandwidth", 2},
    {CommandKind::kDrain, "drain", 3},
    {CommandKind::kAddPeer, "add_peer", 4},
    {CommandKind::kRemovePeer, "remove_peer", 5},
};

constexpr bool KindsInEnumOrder() {
  int index = 0;
  for (const CommandKindEntry& entry : kCommandKinds) {
    if (static_cast<int>(entry.kind) != index++) return false;
  }
  return index == static_cast<int>(CommandKind::kRemovePeer) + 1;
}
static_assert(KindsInEnumOrder(), "kCommandKinds lists every CommandKind once, in enum order");

constexpr const CommandKindEntry& DescribeKind(CommandKind kind) {
  return kCommandKinds[static_cast<int>(kind)];
}

constexpr std::string_view KindName(CommandKind kind) { return DescribeKind(kind).name; }
constexpr int KindWireNumber(CommandKind kind) { return DescribeKind(kind).wire; }

// No kind of that name: the caller says so (an outbox row written by a newer
// replica, say); nothing is ever guessed into a kill.
constexpr std::optional<CommandKind> KindFromName(std::string_view name) {
  for (const CommandKindEntry& entry : kCommandKinds) {
    if (entry.name == name) return entry.kind;
  }
  return std::nullopt;
}

// An order for one node's agent, from the outbox.
struct Command {
  int64_t id = 0;
  std::string node_id;
  CommandKind kind = CommandKind::kKillSession;
  std::string session_id;   // kill
  std::string session_key;  // kill
  std::string reason;       // kill: the sentence for the user
  std::string reason_code;  // kill: the end reason (model/session_end.h)
  std::string user_id;      // bandwidth
  int64_t bandwidth_bytes_per_second = 0;
  bool draining = false;  // drain
  WireGuardPeer peer;     // add / remove peer
  absl::Time due_at;
};

// The agent's answer to a command, or what settled it without one.
struct CommandOutcome {
  bool acknowledged = false;  // the agent answered (at least one attempt)
  bool settled = false;       // nothing more will happen (a failed kill is retried)
  bool ok = false;
  // For people: "ok", "ok: <detail>", "error: <detail>", "error: <detail>
  // (retrying)", or what settled it ("session closed", ...).
  std::string result;
};

// The text an answer is stored and shown as (commands.result).
inline std::string AnswerText(bool ok, std::string_view detail) {
  if (ok) return detail.empty() ? "ok" : "ok: " + std::string(detail);
  return "error: " + std::string(detail);
}

// What waiters hear of an answer just recorded: settled, or a failed kill
// that will be sent again (`retrying`).
inline CommandOutcome AnswerOutcome(bool ok, std::string_view detail, bool retrying) {
  std::string text = AnswerText(ok, detail);
  if (retrying) text += " (retrying)";
  return CommandOutcome{
      .acknowledged = true, .settled = !retrying, .ok = ok && !retrying, .result = std::move(text)};
}

}  // namespace warden::control::model
