#include "controlplane/services/authenticator.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"

namespace warden::control::services {

std::string BearerToken(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) {
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  return BearerTokenOf(absl::string_view(it->second.data(), it->second.size()));
}

std::string BearerTokenOf(absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
}

absl::StatusOr<Principal> Authenticator::Authenticate(absl::string_view bearer_token) {
  if (bearer_token.empty()) {
    return absl::UnauthenticatedError(
        "missing API key: send the header 'authorization: Bearer <key>'");
  }
  const std::string hash = secrets::Sha256Hex(bearer_token);
  absl::StatusOr<std::optional<store::StoredApiKey>> found = keys_.FindActive(hash);
  if (!found.ok()) return found.status();
  // The lookup matched on the hash already; comparing again in constant time
  // keeps the decision itself free of data-dependent timing.
  if (!found->has_value() || !secrets::ConstantTimeEquals((*found)->key_hash_hex, hash)) {
    return absl::UnauthenticatedError("invalid or revoked API key");
  }
  return Principal{
      .key_name = (*found)->key.name, .role = (*found)->key.role, .key_hash_hex = hash};
}

model::Credential KeyCredential(const Principal& principal) {
  return model::Credential{.kind = model::Credential::Kind::kApiKey,
                           .principal = absl::StrCat("key:", principal.key_name),
                           .key_name = principal.key_name,
                           .key_hash_hex = principal.key_hash_hex};
}

}  // namespace warden::control::services
