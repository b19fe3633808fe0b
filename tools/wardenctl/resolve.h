#pragma once

// Names where ids go: every command that takes a user, a node, an API key or
// a device takes its id or the name an operator knows it by, and resolves it
// through the API (GetUser by username, GetNode by name, the key and device
// lists), so that nothing is guessed on the client.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tools/wardenctl/admin_client.h"
#include "warden/v1/admin.pb.h"

namespace warden::wardenctl {

// 8-4-4-4-12 hex digits: the shape of every id the control plane assigns.
bool LooksLikeUuid(absl::string_view text);

// An id is tried first when the text has an id's shape (a username may too,
// so NOT_FOUND falls back to the name).
absl::StatusOr<v1::User> FindUser(AdminClient& admin, const std::string& user);
absl::StatusOr<v1::Plan> FindPlan(AdminClient& admin, const std::string& plan);
absl::StatusOr<v1::Node> FindNode(AdminClient& admin, const std::string& node);
// By id or name, among keys not revoked.
absl::StatusOr<v1::ApiKey> FindApiKey(AdminClient& admin, const std::string& key);
// By id, public key, or a label that only one device has.
absl::StatusOr<v1::Device> FindDevice(AdminClient& admin, const std::string& device);

}  // namespace warden::wardenctl
