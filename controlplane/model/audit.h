#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::model {

// Who made a change: an API key's name, a node's name, or "system".
struct Actor {
  std::string name;
};

struct AuditEvent {
  int64_t id = 0;
  absl::Time at;
  std::string actor;
  std::string action;
  std::string subject;
  std::string details_json;
};

struct AuditFilter {
  std::string actor;  // "" = any
  std::string action;
  std::string subject;
  std::optional<absl::Time> since;   // inclusive
  std::optional<absl::Time> until;   // exclusive
  std::optional<int64_t> before_id;  // keyset: events older than this id
  int limit = 100;
};

}  // namespace warden::control::model
