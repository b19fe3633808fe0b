#pragma once

// Where a user's seats are counted for one more session on a node: on that
// node (max_connections_per_node), in the node's value of each capped label
// (max 1 per region, say), and in the whole fleet (max_connections). A seat
// is a session not being killed, or one whose kill failed (its tunnel is
// still up); only the former can be evicted. EVICT_OLDEST frees the oldest
// seats *of the scope that is full*, narrowest scope first, so a per-node
// cap evicts on that node and a per-region cap in that region; REJECT
// refuses. Pure: no I/O, no clock.

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/model/admission.h"

namespace warden::control::admission {

struct Scope {
  enum class Kind { kNode, kLabel, kFleet };
  Kind kind = Kind::kFleet;
  int cap = 0;
  std::string label;    // kLabel: the label key
  std::string value;    // kLabel: its value on the node the scope is about
  std::string node_id;  // kNode

  static Scope Node(int cap, std::string node_id) {
    return Scope{
        .kind = Kind::kNode, .cap = cap, .label = "", .value = "", .node_id = std::move(node_id)};
  }
  static Scope Label(int cap, std::string label, std::string value) {
    return Scope{.kind = Kind::kLabel,
                 .cap = cap,
                 .label = std::move(label),
                 .value = std::move(value),
                 .node_id = ""};
  }
  static Scope Fleet(int cap) {
    return Scope{.kind = Kind::kFleet, .cap = cap, .label = "", .value = "", .node_id = ""};
  }
};

// The scopes in which one more session on `requested` must fit, narrowest
// first. A label cap does not apply on a node without that label.
std::vector<Scope> ScopesFor(const model::UserLimits& limits, const model::Requested& requested);

struct Fit {
  std::vector<std::string> evict;  // in the order chosen (oldest first per scope)
  // Set when the session does not fit: the first scope that is full.
  std::optional<Scope> full;
  // With `full` under EVICT_OLDEST: the scope holds seats whose kills
  // failed, and evicting every other session in it would not make room.
  bool held_seats_in_the_way = false;
  int seats_in_full = 0;  // with `full`: the seats counted in it
};

Fit FitOneMore(const model::UserLimits& limits, const model::Requested& requested,
               std::span<const model::LiveSession> live);

// After the user's limits changed: the sessions to end now, with the reason
// each ends for. Sessions on a protocol or a node the limits no longer
// allow end (`restricted_reason`), whatever the policy; under EVICT_OLDEST
// the oldest seats beyond a cap end too (`cap_reason`), narrowest scope
// first, each node and each label value on its own.
std::vector<std::pair<std::string, std::string>> SessionsToEnd(
    const model::UserLimits& limits, std::span<const model::LiveSession> live,
    const std::string& cap_reason, const std::string& restricted_reason);

}  // namespace warden::control::admission
