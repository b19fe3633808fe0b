#pragma once

// Plain values shared by the domain and the store: no behaviour, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::model {

enum class LimitPolicy { kEvictOldest, kReject };

struct User {
  std::string id;
  std::string username;
  bool has_password = false;
  int max_connections = 0;  // 0 = unlimited
  LimitPolicy limit_policy = LimitPolicy::kEvictOldest;
  int grace_seconds = 0;
  int64_t bandwidth_bytes_per_second = 0;  // 0 = unlimited
  bool disabled = false;
  absl::Time created_at;
  absl::Time updated_at;
};

struct NewUser {
  std::string username;
  std::optional<std::string> password_hash;  // argon2id PHC string
  int max_connections = 0;
  LimitPolicy limit_policy = LimitPolicy::kEvictOldest;
  int grace_seconds = 0;
  int64_t bandwidth_bytes_per_second = 0;
  bool disabled = false;
};

// Fields an update sets; unset optionals are left as they are.
struct UserChanges {
  std::optional<std::string> username;
  bool set_password = false;
  std::optional<std::string> password_hash;  // with set_password: nullopt clears it
  std::optional<int> max_connections;
  std::optional<LimitPolicy> limit_policy;
  std::optional<int> grace_seconds;
  std::optional<int64_t> bandwidth_bytes_per_second;
  std::optional<bool> disabled;
  // With a new password: the user's logins (login families) survive it.
  bool keep_logins = false;
};

struct UserPage {
  std::vector<User> users;
  std::optional<std::string> last_username;  // set when more may follow
};

}  // namespace warden::control::model
