#pragma once

// What a verified ID token says about its user, read the way the provider's
// configuration asks: the username from one claim, the groups from another,
// whether those groups may use the VPN, and which plan they give. Pure.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/oidc/provider_config.h"

namespace warden::control::oidc {

struct MappedUser {
  std::string username;  // normalised as local usernames are
  std::vector<std::string> groups;
  std::string plan;  // "" = the provider gives no plan to these groups
  // False when the username is an email the provider does not say is
  // verified (email_verified absent or not true): such a name may still
  // name a new user, never be trusted to link to an existing one.
  bool username_verified = true;
};

// The claim at a dotted path ("realm_access.roles"), or null.
const nlohmann::json* FindClaim(const nlohmann::json& claims, absl::string_view path);

using UsernameNormalizer =
    std::function<absl::StatusOr<std::string>(absl::string_view field, absl::string_view name)>;

// PERMISSION_DENIED when the user is in none of the allowed groups, or the
// username claim is an email the provider says is not verified;
// FAILED_PRECONDITION when the username claim is missing or not a usable
// username (the operator's mapping does not fit this provider).
absl::StatusOr<MappedUser> MapClaims(const ProviderConfig& provider, const nlohmann::json& claims,
                                     const UsernameNormalizer& normalize);

}  // namespace warden::control::oidc
