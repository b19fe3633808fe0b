#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/store/api_key_store.h"

namespace warden::control {

struct BootstrapResult {
  // A key made on this start: the caller shows it once. Unset otherwise.
  std::optional<std::string> generated_key;
  std::string note;  // what happened, for the log (never the key)
};

// The first admin key. In order: the key given in the environment
// (WARDEN_ADMIN_KEY); the key in `key_file` if that file exists; otherwise,
// when the database has no admin key yet, a new key, written to `key_file`
// (mode 0600) when one is configured. A key that was revoked stays revoked.
absl::StatusOr<BootstrapResult> BootstrapAdminKey(store::ApiKeyStore& keys,
                                                  const std::string& environment_key,
                                                  const std::string& key_file);

}  // namespace warden::control
