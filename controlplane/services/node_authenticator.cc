#include "controlplane/services/node_authenticator.h"

#include "common/secrets.h"

namespace warden::control::services {

absl::StatusOr<store::NodeIdentity> NodeAuthenticator::Authenticate(
    absl::string_view bearer_token) {
  if (bearer_token.empty()) {
    return absl::UnauthenticatedError(
        "missing node credential: send the header 'authorization: Bearer <credential>'");
  }
  const std::string hash = secrets::Sha256Hex(bearer_token);
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.expires > now) return it->second.node;
  }
  absl::StatusOr<std::optional<store::NodeIdentity>> found = nodes_.FindByCredential(hash);
  if (!found.ok()) return found.status();
  if (!found->has_value() || !secrets::ConstantTimeEquals((*found)->credential_hash_hex, hash)) {
    return absl::UnauthenticatedError("invalid node credential, or the node was removed");
  }
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxEntries) cache_.clear();  // crude, but bounded
  cache_[hash] = Entry{.node = **found, .expires = now + ttl_};
  return **found;
}

}  // namespace warden::control::services
