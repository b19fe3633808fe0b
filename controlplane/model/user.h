#pragma once

// Plain values shared by the domain and the store: no behaviour, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/model/policy.h"

namespace warden::control::model {

struct User {
  std::string id;
  std::string username;
  bool has_password = false;
  // The user's own limits: each one set overrides the plan's.
  LimitSet limits;
  std::string plan_id;    // "" = no plan
  std::string plan_name;  // with plan_id
  std::optional<absl::Time> expires_at;
  bool disabled = false;
  absl::Time created_at;
  absl::Time updated_at;
  // What applies: the user's limits over the plan's over the defaults.
  EffectivePolicy effective;
};

struct NewUser {
  std::string username;
  std::optional<std::string> password_hash;  // argon2id PHC string
  LimitSet limits;
  std::string plan_name;  // "" = no plan
  std::optional<absl::Time> expires_at;
  bool disabled = false;
};

// One field of an update: unset = leave it; set to nullopt = clear it;
// set to a value = that value.
template <typename T>
using Change = std::optional<std::optional<T>>;

// The names of the LimitSet fields, as update masks and audit events name them.
inline constexpr const char* kLimitFields[] = {"max_connections",
                                               "limit_policy",
                                               "grace_seconds",
                                               "bandwidth_bytes_per_second",
                                               "max_connections_per_node",
                                               "label_caps",
                                               "allowed_protocols",
                                               "node_selector",
                                               "max_session_seconds",
                                               "idle_timeout_seconds",
                                               "data_quota_bytes",
                                               "quota_period_days",
                                               "on_quota_exceeded",
                                               "throttle_bytes_per_second"};

// Changes to limits: the fields named take the values in `values` (unset
// there = cleared, i.e. inherited); the others are left as they are.
struct LimitChanges {
  std::vector<std::string> fields;
  LimitSet values;
  bool Touches(absl::string_view field) const {
    for (const std::string& named : fields) {
      if (named == field) return true;
    }
    return false;
  }
};

// Fields an update sets; unset changes are left as they are.
struct UserChanges {
  std::optional<std::string> username;
  bool set_password = false;
  std::optional<std::string> password_hash;  // with set_password: nullopt clears it
  LimitChanges limits;
  Change<std::string> plan_name;  // nullopt inside: leave the plan
  Change<absl::Time> expires_at;
  std::optional<bool> disabled;
  // With a new password: the user's logins (login families) survive it.
  bool keep_logins = false;
  // Whether anything that decides what live sessions may do changed.
  bool TouchesPolicy() const {
    for (const std::string& field : limits.fields) {
      if (field != "grace_seconds" && field != "bandwidth_bytes_per_second") return true;
    }
    return plan_name.has_value() || expires_at.has_value();
  }
};

struct UserPage {
  std::vector<User> users;
  std::optional<std::string> last_username;  // set when more may follow
};

}  // namespace warden::control::model
