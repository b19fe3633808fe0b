#pragma once

// The event types Warden delivers (the README's catalogue; the audit rows
// they come from are mapped by warden_webhook_events in migration 0013).

#include <array>

#include "absl/strings/string_view.h"

namespace warden::control::webhooks {

inline constexpr std::array<absl::string_view, 22> kEventTypes = {
    "session.opened",   "session.closed",     "session.denied",         "session.evicted",
    "session.killed",   "user.created",       "user.deleted",           "user.disabled",
    "user.enabled",     "user.limit_reached", "user.expiring",          "quota.threshold",
    "quota.exceeded",   "quota.released",     "family.replay_detected", "node.online",
    "node.offline",     "node.drained",       "node.undrained",         "node.removed",
    "webhook.disabled", "webhook.test"};

// A subscription entry: a type of the catalogue, or a prefix ending in '.'
// that at least one type has ("session.").
inline bool IsSubscribable(absl::string_view entry) {
  for (absl::string_view type : kEventTypes) {
    if (type == entry) return true;
    if (!entry.empty() && entry.back() == '.' && type.substr(0, entry.size()) == entry) return true;
  }
  return false;
}

}  // namespace warden::control::webhooks
