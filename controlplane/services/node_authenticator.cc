#include "controlplane/services/node_authenticator.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/secrets.h"

namespace warden::control::services {

std::vector<std::string> PeerCertificateNames(const grpc::ServerContextBase& ctx) {
  std::vector<std::string> names;
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return names;
  for (const char* property : {"x509_subject_alternative_name", "x509_common_name"}) {
    for (const grpc::string_ref& value : auth->FindPropertyValues(property)) {
      names.emplace_back(value.data(), value.size());
    }
  }
  return names;
}

absl::Status NodeAuthenticator::CheckCertificate(
    const std::string& node_name, const std::vector<std::string>& certificate_names) const {
  if (!require_certificate_) return absl::OkStatus();
  if (certificate_names.empty()) {
    return absl::UnauthenticatedError(
        "this control plane requires agents to present a client certificate signed by its "
        "--client-ca");
  }
  if (std::find(certificate_names.begin(), certificate_names.end(), node_name) !=
      certificate_names.end()) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat("the client certificate names ",
                                                  absl::StrJoin(certificate_names, ", "),
                                                  ", not node ", node_name));
}

absl::StatusOr<store::NodeIdentity> NodeAuthenticator::Authenticate(
    absl::string_view bearer_token, const std::vector<std::string>& certificate_names) {
  absl::StatusOr<store::NodeIdentity> node = AuthenticateCredential(bearer_token);
  if (!node.ok()) return node.status();
  if (absl::Status matches = CheckCertificate(node->name, certificate_names); !matches.ok()) {
    return matches;
  }
  return node;
}

absl::StatusOr<store::NodeIdentity> NodeAuthenticator::AuthenticateCredential(
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
