#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/model/api_key.h"
#include "controlplane/model/audit.h"

namespace warden::control::store {

class Database;

// An API key as the authenticator sees it: with the stored hash, so that the
// final comparison can be made in constant time by the caller.
struct StoredApiKey {
  model::ApiKey key;
  std::string key_hash_hex;
};

enum class BootstrapOutcome {
  kAlreadyActive,  // the key was there and valid
  kInstalled,      // the key was added as an admin key
  kRevoked,        // the key exists but was revoked: it stays revoked
  kNotNeeded,      // an admin key already exists; nothing installed
};

class ApiKeyStore {
 public:
  explicit ApiKeyStore(Database& db) : db_(db) {}

  absl::StatusOr<model::ApiKey> Create(const model::Actor& actor, const std::string& name,
                                       model::Role role, const std::string& key_hash_hex);
  // The unrevoked key with this SHA-256, if any.
  absl::StatusOr<std::optional<StoredApiKey>> FindActive(const std::string& key_hash_hex);
  absl::StatusOr<std::vector<model::ApiKey>> List(bool include_revoked);
  // FAILED_PRECONDITION when it is the last unrevoked admin key.
  absl::StatusOr<model::ApiKey> Revoke(const model::Actor& actor, const std::string& id);

  // Installs the operator's bootstrap admin key (from the environment or the
  // key file). With `only_if_no_admin`, installs it only into a database that
  // has no unrevoked admin key. Safe when replicas start at once.
  absl::StatusOr<BootstrapOutcome> InstallBootstrapKey(const std::string& key_hash_hex,
                                                       bool only_if_no_admin);

 private:
  Database& db_;
};

}  // namespace warden::control::store
