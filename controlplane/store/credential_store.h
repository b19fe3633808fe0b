#pragma once

// Whether a credential a stream was opened with still stands: the API key
// is not revoked; the login family is not revoked nor past its lifetime and
// its user is not disabled. (A stream does not need a fresh access token:
// those live minutes, the stream as long as its login does.)

#include <span>

#include "absl/status/status.h"
#include "controlplane/model/credential.h"

namespace warden::control::store {

class Database;

// The channel the 0009 triggers notify when a credential ends; payloads are
// "key:<name>", "user:<user id>" and "family:<family id>".
inline constexpr char kCredentialChannel[] = "warden_credentials";

class CredentialStore {
 public:
  explicit CredentialStore(Database& db) : db_(db) {}

  // OK while it stands; UNAUTHENTICATED or PERMISSION_DENIED saying why it
  // does not; UNAVAILABLE and the like when the database cannot tell.
  absl::Status Check(const model::Credential& credential);

 private:
  Database& db_;
};

}  // namespace warden::control::store
