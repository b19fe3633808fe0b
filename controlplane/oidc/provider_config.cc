#include "controlplane/oidc/provider_config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "controlplane/oidc/redirects.h"

namespace warden::control::oidc {
namespace {

using Json = nlohmann::json;

const std::set<std::string>& KnownFields() {
  static const std::set<std::string> fields = {"name",
                                               "display_name",
                                               "issuer",
                                               "client_id",
                                               "client_auth",
                                               "client_secret_file",
                                               "client_secret_env",
                                               "private_key_file",
                                               "private_key_id",
                                               "scopes",
                                               "username_claim",
                                               "groups_claim",
                                               "create_users",
                                               "link_by_username",
                                               "allowed_groups",
                                               "group_plans",
                                               "redirect_uris",
                                               "ca_file",
                                               "jwks_refresh_min_seconds",
                                               "clock_skew_seconds",
                                               "http_timeout_seconds"};
  return fields;
}

class Reader {
 public:
  Reader(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", field, " ", what));
  }

  absl::Status String(const char* field, std::string& out, bool required) const {
    if (!object_.contains(field)) {
      return required ? Error(field, "is required") : absl::OkStatus();
    }
    const Json& value = object_.at(field);
    if (!value.is_string()) return Error(field, "must be a string");
    out = value.get<std::string>();
    if (required && out.empty()) return Error(field, "must not be empty");
    return absl::OkStatus();
  }

  absl::Status Bool(const char* field, bool& out) const {
    if (!object_.contains(field)) return absl::OkStatus();
    if (!object_.at(field).is_boolean()) return Error(field, "must be true or false");
    out = object_.at(field).get<bool>();
    return absl::OkStatus();
  }

  absl::Status Strings(const char* field, std::vector<std::string>& out) const {
    if (!object_.contains(field)) return absl::OkStatus();
    const Json& value = object_.at(field);
    if (!value.is_array()) return Error(field, "must be an array of strings");
    out.clear();
    for (const Json& item : value) {
      if (!item.is_string() || item.get<std::string>().empty()) {
        return Error(field, "must be an array of non-empty strings");
      }
      out.push_back(item.get<std::string>());
    }
    return absl::OkStatus();
  }

  absl::Status Seconds(const char* field, absl::Duration& out, int min, int max) const {
    if (!object_.contains(field)) return absl::OkStatus();
    const Json& value = object_.at(field);
    if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
      return Error(field,
                   absl::StrCat("must be a whole number of seconds from ", min, " to ", max));
    }
    out = absl::Seconds(value.get<int64_t>());
    return absl::OkStatus();
  }

  const std::string& where() const { return where_; }

 private:
  const Json& object_;
  std::string where_;
};

absl::StatusOr<ClientAuth> ParseClientAuth(const Reader& reader, const std::string& text) {
  if (text.empty() || text == "client_secret_basic") return ClientAuth::kSecretBasic;
  if (text == "client_secret_post") return ClientAuth::kSecretPost;
  if (text == "private_key_jwt") return ClientAuth::kPrivateKeyJwt;
  return reader.Error("client_auth",
                      "must be client_secret_basic, client_secret_post or private_key_jwt");
}

absl::Status ReadSecrets(const Reader& reader, const SecretSources& sources,
                         ProviderConfig& provider) {
  std::string secret_file, secret_env, key_file;
  WARDEN_RETURN_IF_ERROR(reader.String("client_secret_file", secret_file, false));
  WARDEN_RETURN_IF_ERROR(reader.String("client_secret_env", secret_env, false));
  WARDEN_RETURN_IF_ERROR(reader.String("private_key_file", key_file, false));
  WARDEN_RETURN_IF_ERROR(reader.String("private_key_id", provider.private_key_id, false));
  if (provider.client_auth == ClientAuth::kPrivateKeyJwt) {
    if (key_file.empty())
      return reader.Error("private_key_file", "is required for private_key_jwt");
    absl::StatusOr<std::string> pem = sources.read_file(key_file);
    if (!pem.ok()) return reader.Error("private_key_file", pem.status().message());
    provider.private_key_pem = *std::move(pem);
    return absl::OkStatus();
  }
  if (!secret_file.empty() && !secret_env.empty()) {
    return reader.Error("client_secret_file", "and client_secret_env: give one of them");
  }
  if (!secret_file.empty()) {
    absl::StatusOr<std::string> secret = sources.read_file(secret_file);
    if (!secret.ok()) return reader.Error("client_secret_file", secret.status().message());
    provider.client_secret = std::string(absl::StripTrailingAsciiWhitespace(*secret));
  } else if (!secret_env.empty()) {
    const char* value = sources.getenv(secret_env.c_str());
    if (value == nullptr || *value == '\0') {
      return reader.Error("client_secret_env",
                          absl::StrCat("names ", secret_env, ", which is not set"));
    }
    provider.client_secret = value;
  } else {
    return reader.Error("client_secret_file",
                        "or client_secret_env is required (the client secret is never written "
                        "in this file)");
  }
  if (provider.client_secret.empty()) return reader.Error("client secret", "is empty");
  return absl::OkStatus();
}

absl::StatusOr<ProviderConfig> ParseProvider(const Json& object, size_t index,
                                             const SecretSources& sources) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("providers[", index, "] must be an object"));
  }
  std::string name = object.contains("name") && object["name"].is_string()
                         ? object["name"].get<std::string>()
                         : absl::StrCat("providers[", index, "]");
  Reader reader(object, absl::StrCat("OIDC provider \"", name, "\""));
  for (const auto& [field, value] : object.items()) {
    if (!KnownFields().contains(field)) {
      return reader.Error(
          field,
          absl::StrCat("is not a known field (known: ", absl::StrJoin(KnownFields(), ", "), ")"));
    }
  }
  ProviderConfig provider;
  WARDEN_RETURN_IF_ERROR(reader.String("name", provider.name, true));
  bool name_ok = provider.name.size() <= 64;
  for (char c : provider.name) {
    name_ok = name_ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_');
  }
  if (!name_ok) return reader.Error("name", "must be 1-64 characters of a-z, 0-9, '-', '_'");
  WARDEN_RETURN_IF_ERROR(reader.String("display_name", provider.display_name, false));
  if (provider.display_name.empty()) provider.display_name = provider.name;
  WARDEN_RETURN_IF_ERROR(reader.String("issuer", provider.issuer, true));
  // The issuer is compared byte for byte with the ID token's `iss`; a
  // trailing slash is part of it, so it is kept as written.
  if (!absl::StartsWith(provider.issuer, "https://")) {
    return reader.Error("issuer", "must be an https:// URL");
  }
  WARDEN_RETURN_IF_ERROR(reader.String("client_id", provider.client_id, true));
  std::string auth;
  WARDEN_RETURN_IF_ERROR(reader.String("client_auth", auth, false));
  WARDEN_ASSIGN_OR_RETURN(provider.client_auth, ParseClientAuth(reader, auth));
  WARDEN_RETURN_IF_ERROR(ReadSecrets(reader, sources, provider));
  WARDEN_RETURN_IF_ERROR(reader.Strings("scopes", provider.scopes));
  if (std::find(provider.scopes.begin(), provider.scopes.end(), "openid") ==
      provider.scopes.end()) {
    return reader.Error("scopes", "must include openid");
  }
  WARDEN_RETURN_IF_ERROR(reader.String("username_claim", provider.username_claim, false));
  if (provider.username_claim.empty()) provider.username_claim = "preferred_username";
  WARDEN_RETURN_IF_ERROR(reader.String("groups_claim", provider.groups_claim, false));
  WARDEN_RETURN_IF_ERROR(reader.Bool("create_users", provider.create_users));
  WARDEN_RETURN_IF_ERROR(reader.Bool("link_by_username", provider.link_by_username));
  WARDEN_RETURN_IF_ERROR(reader.Strings("allowed_groups", provider.allowed_groups));
  if (object.contains("group_plans")) {
    const Json& plans = object["group_plans"];
    if (!plans.is_array()) return reader.Error("group_plans", "must be an array");
    for (const Json& entry : plans) {
      if (!entry.is_object() || !entry.contains("group") || !entry.contains("plan") ||
          !entry["group"].is_string() || !entry["plan"].is_string() ||
          entry["group"].get<std::string>().empty() || entry["plan"].get<std::string>().empty()) {
        return reader.Error("group_plans",
                            "entries must be {\"group\": \"...\", \"plan\": \"...\"}");
      }
      provider.group_plans.push_back(
          {entry["group"].get<std::string>(), entry["plan"].get<std::string>()});
    }
  }
  if ((!provider.allowed_groups.empty() || !provider.group_plans.empty()) &&
      provider.groups_claim.empty()) {
    return reader.Error("groups_claim", "is needed for allowed_groups and group_plans");
  }
  WARDEN_RETURN_IF_ERROR(reader.Strings("redirect_uris", provider.redirect_uris));
  for (const std::string& uri : provider.redirect_uris) {
    if (!absl::StartsWith(uri, "https://") && !IsLoopbackRedirect(uri)) {
      return reader.Error("redirect_uris",
                          absl::StrCat("entry ", uri, " must be https:// or a loopback URL"));
    }
  }
  WARDEN_RETURN_IF_ERROR(reader.String("ca_file", provider.ca_file, false));
  WARDEN_RETURN_IF_ERROR(
      reader.Seconds("jwks_refresh_min_seconds", provider.jwks_refresh_min_interval, 0, 3600));
  WARDEN_RETURN_IF_ERROR(reader.Seconds("clock_skew_seconds", provider.clock_skew, 0, 600));
  WARDEN_RETURN_IF_ERROR(reader.Seconds("http_timeout_seconds", provider.http_timeout, 1, 60));
  return provider;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::string_view ClientAuthName(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kSecretBasic:
      return "client_secret_basic";
    case ClientAuth::kSecretPost:
      return "client_secret_post";
    case ClientAuth::kPrivateKeyJwt:
      return "private_key_jwt";
  }
  return "client_secret_basic";
}

absl::StatusOr<std::vector<ProviderConfig>> ParseProviders(absl::string_view json,
                                                           const SecretSources& sources) {
  Json root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded())
    return absl::InvalidArgumentError("OIDC configuration is not valid JSON");
  if (!root.is_object() || !root.contains("providers") || !root["providers"].is_array() ||
      root["providers"].empty()) {
    return absl::InvalidArgumentError(
        "OIDC configuration must be an object with a non-empty \"providers\" array");
  }
  std::vector<ProviderConfig> providers;
  std::set<std::string> names;
  for (size_t i = 0; i < root["providers"].size(); ++i) {
    WARDEN_ASSIGN_OR_RETURN(ProviderConfig provider,
                            ParseProvider(root["providers"][i], i, sources));
    if (!names.insert(provider.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("OIDC provider \"", provider.name, "\" is configured twice"));
    }
    providers.push_back(std::move(provider));
  }
  return providers;
}

absl::StatusOr<std::vector<ProviderConfig>> LoadProviders(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(text.status().message());
  return ParseProviders(*text, SecretSources{.read_file = &ReadWholeFile, .getenv = &std::getenv});
}

}  // namespace warden::control::oidc
