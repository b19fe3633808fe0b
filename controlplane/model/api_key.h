#pragma once

#include <optional>
#include <string>

#include "absl/time/time.h"

namespace warden::control::model {

enum class Role { kAdmin, kViewer };

struct ApiKey {
  std::string id;
  std::string name;
  Role role = Role::kViewer;
  absl::Time created_at;
  std::optional<absl::Time> revoked_at;
};

}  // namespace warden::control::model
