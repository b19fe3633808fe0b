#include "tools/wardenctl/resolve.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/paging.h"

namespace warden::wardenctl {
namespace {

absl::Status NoSuch(absl::string_view kind, absl::string_view name) {
  return absl::NotFoundError(absl::StrCat("no ", kind, " \"", name, "\""));
}

// Get by id when the text looks like one, else (or when no object has that
// id) by name; the server's NOT_FOUND becomes a sentence naming what was asked.
template <typename T, typename ById, typename ByName>
absl::StatusOr<T> FindByIdOrName(absl::string_view kind, const std::string& text, ById by_id,
                                 ByName by_name) {
  if (LooksLikeUuid(text)) {
    absl::StatusOr<T> found = by_id(text);
    if (found.ok() || found.status().code() != absl::StatusCode::kNotFound) return found;
  }
  absl::StatusOr<T> found = by_name(text);
  if (found.status().code() == absl::StatusCode::kNotFound) return NoSuch(kind, text);
  return found;
}

}  // namespace

bool LooksLikeUuid(absl::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<v1::User> FindUser(AdminClient& admin, const std::string& user) {
  return FindByIdOrName<v1::User>(
      "user", user,
      [&](const std::string& id) {
        v1::GetUserRequest request;
        request.set_id(id);
        return admin.Call(&v1::AdminService::Stub::GetUser, request);
      },
      [&](const std::string& name) {
        v1::GetUserRequest request;
        request.set_username(name);
        return admin.Call(&v1::AdminService::Stub::GetUser, request);
      });
}

absl::StatusOr<v1::Plan> FindPlan(AdminClient& admin, const std::string& plan) {
  return FindByIdOrName<v1::Plan>(
      "plan", plan,
      [&](const std::string& id) {
        v1::GetPlanRequest request;
        request.set_id(id);
        return admin.Call(&v1::AdminService::Stub::GetPlan, request);
      },
      [&](const std::string& name) {
        v1::GetPlanRequest request;
        request.set_name(name);
        return admin.Call(&v1::AdminService::Stub::GetPlan, request);
      });
}

absl::StatusOr<v1::Node> FindNode(AdminClient& admin, const std::string& node) {
  return FindByIdOrName<v1::Node>(
      "node", node,
      [&](const std::string& id) {
        v1::GetNodeRequest request;
        request.set_id(id);
        return admin.Call(&v1::AdminService::Stub::GetNode, request);
      },
      [&](const std::string& name) {
        v1::GetNodeRequest request;
        request.set_name(name);
        return admin.Call(&v1::AdminService::Stub::GetNode, request);
      });
}

absl::StatusOr<v1::ApiKey> FindApiKey(AdminClient& admin, const std::string& key) {
  WARDEN_ASSIGN_OR_RETURN(
      v1::ListApiKeysResponse keys,
      admin.Call(&v1::AdminService::Stub::ListApiKeys, v1::ListApiKeysRequest()));
  for (const v1::ApiKey& candidate : keys.keys()) {
    if (candidate.id() == key || candidate.name() == key) return candidate;
  }
  return NoSuch("API key", key);
}

absl::StatusOr<v1::Device> FindDevice(AdminClient& admin, const std::string& device) {
  v1::ListDevicesRequest request;
  WARDEN_ASSIGN_OR_RETURN(
      std::vector<v1::Device> devices,
      ListAll(
          admin, &v1::AdminService::Stub::ListDevices, request,
          [](const v1::ListDevicesResponse& page) -> const auto& { return page.devices(); }, 0));
  std::vector<v1::Device> matches;
  for (const v1::Device& candidate : devices) {
    if (candidate.id() == device || candidate.public_key() == device) return candidate;
    if (candidate.label() == device) matches.push_back(candidate);
  }
  if (matches.size() == 1) return matches.front();
  if (matches.empty()) return NoSuch("device", device);
  std::vector<std::string> owners;
  for (const v1::Device& match : matches)
    owners.push_back(absl::StrCat(match.id(), " (", match.username(), ")"));
  return absl::InvalidArgumentError(
      absl::StrCat(matches.size(), " devices are labelled \"", device,
                   "\": name one by id: ", absl::StrJoin(owners, ", ")));
}

}  // namespace warden::wardenctl
