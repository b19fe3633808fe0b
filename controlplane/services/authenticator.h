#pragma once

#include <grpcpp/support/string_ref.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/model/api_key.h"
#include "controlplane/model/credential.h"
#include "controlplane/store/api_key_store.h"

namespace warden::control::services {

// The caller of an admin RPC, as proven by its API key.
struct Principal {
  std::string key_name;
  model::Role role = model::Role::kViewer;
  std::string key_hash_hex;
};

// The credential a long-lived stream opened with this key keeps watching.
model::Credential KeyCredential(const Principal& principal);

// The token of an `authorization: Bearer <token>` header; "" when absent.
std::string BearerToken(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata);
// The token of one such header's value ("Bearer <token>"); "" for another scheme.
std::string BearerTokenOf(absl::string_view header_value);

class Authenticator {
 public:
  explicit Authenticator(store::ApiKeyStore& keys) : keys_(keys) {}

  // UNAUTHENTICATED for a missing, unknown or revoked key; the message never
  // says which, nor echoes the key.
  absl::StatusOr<Principal> Authenticate(absl::string_view bearer_token);

 private:
  store::ApiKeyStore& keys_;
};

}  // namespace warden::control::services
