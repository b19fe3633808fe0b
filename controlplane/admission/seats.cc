#include "controlplane/admission/seats.h"

#include <algorithm>
#include <map>
#include <set>

#include "controlplane/model/effective_policy.h"

namespace warden::control::admission {
namespace {

using model::LiveSession;

// Oldest first; ties broken by id so every replica picks the same victims.
bool OlderThan(const LiveSession* a, const LiveSession* b) {
  if (a->opened_at != b->opened_at) return a->opened_at < b->opened_at;
  return a->id < b->id;
}

bool Seated(const LiveSession& session) { return !session.closing || session.kill_failed; }

std::optional<std::string> LabelValue(const model::NodeLabels& labels, const std::string& key) {
  auto it = labels.find(key);
  if (it == labels.end()) return std::nullopt;
  return it->second;
}

bool InScope(const Scope& scope, const LiveSession& session) {
  switch (scope.kind) {
    case Scope::Kind::kNode:
      return session.node_id == scope.node_id;
    case Scope::Kind::kLabel:
      return LabelValue(session.node_labels, scope.label) == scope.value;
    case Scope::Kind::kFleet:
      return true;
  }
  return false;
}

// The scope's seats not already chosen: evictable ones oldest first, and
// how many are held (kill failed).
struct ScopeSeats {
  std::vector<const LiveSession*> evictable;
  int held = 0;
  int count() const { return static_cast<int>(evictable.size()) + held; }
};

ScopeSeats SeatsIn(const Scope& scope, std::span<const LiveSession> live,
                   const std::set<std::string>& chosen) {
  ScopeSeats seats;
  for (const LiveSession& session : live) {
    if (!Seated(session) || !InScope(scope, session) || chosen.count(session.id) > 0) continue;
    if (session.closing) {
      ++seats.held;
    } else {
      seats.evictable.push_back(&session);
    }
  }
  std::sort(seats.evictable.begin(), seats.evictable.end(), OlderThan);
  return seats;
}

}  // namespace

std::vector<Scope> ScopesFor(const model::UserLimits& limits, const model::Requested& requested) {
  std::vector<Scope> scopes;
  if (limits.max_connections_per_node > 0) {
    scopes.push_back(Scope::Node(limits.max_connections_per_node, requested.node_id));
  }
  for (const model::LabelCap& cap : limits.label_caps) {
    std::optional<std::string> value = LabelValue(requested.node_labels, cap.label);
    if (!value || cap.max <= 0) continue;
    scopes.push_back(Scope::Label(cap.max, cap.label, *value));
  }
  if (limits.max_connections > 0) {
    scopes.push_back(Scope::Fleet(limits.max_connections));
  }
  return scopes;
}

Fit FitOneMore(const model::UserLimits& limits, const model::Requested& requested,
               std::span<const LiveSession> live) {
  Fit fit;
  std::set<std::string> chosen;
  for (const Scope& scope : ScopesFor(limits, requested)) {
    ScopeSeats seats = SeatsIn(scope, live, chosen);
    if (seats.count() < scope.cap) continue;
    const int need = seats.count() - scope.cap + 1;
    if (limits.policy == model::LimitPolicy::kReject ||
        need > static_cast<int>(seats.evictable.size())) {
      fit.full = scope;
      fit.seats_in_full = seats.count();
      fit.held_seats_in_the_way = limits.policy != model::LimitPolicy::kReject;
      fit.evict.clear();
      return fit;
    }
    for (int i = 0; i < need; ++i) {
      chosen.insert(seats.evictable[i]->id);
      fit.evict.push_back(seats.evictable[i]->id);
    }
  }
  return fit;
}

std::vector<std::pair<std::string, std::string>> SessionsToEnd(
    const model::UserLimits& limits, std::span<const LiveSession> live,
    const std::string& cap_reason, const std::string& restricted_reason) {
  std::vector<std::pair<std::string, std::string>> ending;
  std::set<std::string> chosen;
  for (const LiveSession& session : live) {
    if (session.closing) continue;
    const bool protocol_allowed =
        limits.allowed_protocols.empty() ||
        std::find(limits.allowed_protocols.begin(), limits.allowed_protocols.end(),
                  session.protocol) != limits.allowed_protocols.end();
    if (!protocol_allowed || !model::NodeMatches(limits.node_selector, session.node_labels)) {
      ending.emplace_back(session.id, restricted_reason);
      chosen.insert(session.id);
    }
  }
  if (limits.policy != model::LimitPolicy::kEvictOldest) return ending;

  // Every scope a live session sits in, narrowest kind first.
  std::vector<Scope> scopes;
  std::set<std::pair<std::string, std::string>> seen;
  for (const LiveSession& session : live) {
    if (limits.max_connections_per_node > 0 && seen.insert({"node", session.node_id}).second) {
      scopes.push_back(Scope::Node(limits.max_connections_per_node, session.node_id));
    }
  }
  for (const model::LabelCap& cap : limits.label_caps) {
    for (const LiveSession& session : live) {
      std::optional<std::string> value = LabelValue(session.node_labels, cap.label);
      if (!value || cap.max <= 0 || !seen.insert({"label:" + cap.label, *value}).second) continue;
      scopes.push_back(Scope::Label(cap.max, cap.label, *value));
    }
  }
  if (limits.max_connections > 0) {
    scopes.push_back(Scope::Fleet(limits.max_connections));
  }
  for (const Scope& scope : scopes) {
    ScopeSeats seats = SeatsIn(scope, live, chosen);
    const int excess =
        std::min(seats.count() - scope.cap, static_cast<int>(seats.evictable.size()));
    for (int i = 0; i < excess; ++i) {
      chosen.insert(seats.evictable[i]->id);
      ending.emplace_back(seats.evictable[i]->id, cap_reason);
    }
  }
  return ending;
}

}  // namespace warden::control::admission
