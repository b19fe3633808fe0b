#include "controlplane/oidc/claims.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace warden::control::oidc {
namespace {

// Groups arrive as an array of strings, or a single string (some providers
// send one group that way).
std::vector<std::string> ReadGroups(const nlohmann::json* value) {
  std::vector<std::string> groups;
  if (value == nullptr) return groups;
  if (value->is_string()) groups.push_back(value->get<std::string>());
  if (value->is_array()) {
    for (const nlohmann::json& item : *value) {
      if (item.is_string()) groups.push_back(item.get<std::string>());
    }
  }
  return groups;
}

bool Contains(const std::vector<std::string>& groups, const std::string& group) {
  return std::find(groups.begin(), groups.end(), group) != groups.end();
}

}  // namespace

const nlohmann::json* FindClaim(const nlohmann::json& claims, absl::string_view path) {
  const nlohmann::json* at = &claims;
  for (absl::string_view step : absl::StrSplit(path, '.')) {
    if (!at->is_object()) return nullptr;
    auto found = at->find(std::string(step));
    if (found == at->end()) return nullptr;
    at = &*found;
  }
  return at;
}

absl::StatusOr<MappedUser> MapClaims(const ProviderConfig& provider, const nlohmann::json& claims,
                                     const UsernameNormalizer& normalize) {
  MappedUser mapped;
  if (!provider.groups_claim.empty()) {
    mapped.groups = ReadGroups(FindClaim(claims, provider.groups_claim));
  }
  if (!provider.allowed_groups.empty() &&
      std::none_of(provider.allowed_groups.begin(), provider.allowed_groups.end(),
                   [&](const std::string& group) { return Contains(mapped.groups, group); })) {
    return absl::PermissionDeniedError(absl::StrCat("your ", provider.display_name,
                                                    " account is in none of the groups allowed to "
                                                    "use this VPN (",
                                                    absl::StrJoin(provider.allowed_groups, ", "),
                                                    "); ask your administrator for access"));
  }
  const nlohmann::json* name = FindClaim(claims, provider.username_claim);
  if (name == nullptr || !name->is_string() || name->get<std::string>().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", provider.display_name, " ID token has no \"", provider.username_claim,
        "\" claim to take the username from; check the provider's username_claim and scopes"));
  }
  if (provider.username_claim == "email") {
    const nlohmann::json* verified = FindClaim(claims, "email_verified");
    mapped.username_verified =
        verified != nullptr && verified->is_boolean() && verified->get<bool>();
    if (verified != nullptr && verified->is_boolean() && !verified->get<bool>()) {
      return absl::PermissionDeniedError(absl::StrCat("your email address is not verified at ",
                                                      provider.display_name,
                                                      "; verify it there and log in again"));
    }
  }
  absl::StatusOr<std::string> username =
      normalize(provider.username_claim, name->get<std::string>());
  if (!username.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the ", provider.display_name, " claim \"", provider.username_claim,
                     "\" is not a usable Warden username: ", username.status().message()));
  }
  mapped.username = *std::move(username);
  for (const GroupPlan& entry : provider.group_plans) {
    if (Contains(mapped.groups, entry.group)) {
      mapped.plan = entry.plan;
      break;
    }
  }
  return mapped;
}

}  // namespace warden::control::oidc
