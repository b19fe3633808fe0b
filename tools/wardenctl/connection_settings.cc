#include "tools/wardenctl/connection_settings.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/profile.h"

namespace warden::wardenctl {
namespace {

std::optional<std::string> NonEmpty(const Environment& env, const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value.has_value() && value->empty()) return std::nullopt;
  return value;
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return LocalError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("cannot read ", what, " ", path));
  }
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

// gRPC aborts the process on metadata that is not printable ASCII, so a key
// file with stray bytes is refused here with a sentence instead.
absl::StatusOr<std::string> CheckedKey(std::string key, const std::string& source) {
  key = std::string(absl::StripAsciiWhitespace(key));
  for (char c : key) {
    if (c < 0x21 || c > 0x7e) {
      return LocalError(
          absl::StatusCode::kInvalidArgument,
          absl::StrCat("the API key from ", source, " holds characters an API key cannot have"));
    }
  }
  return key;
}

}  // namespace

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::string ProfilePath(const ConnectionFlags& flags, const Environment& env) {
  if (!flags.config.empty()) return flags.config;
  if (auto path = NonEmpty(env, "WARDEN_CONFIG")) return *path;
  if (auto xdg = NonEmpty(env, "XDG_CONFIG_HOME")) return absl::StrCat(*xdg, "/warden/config");
  return absl::StrCat(NonEmpty(env, "HOME").value_or(""), "/.config/warden/config");
}

absl::StatusOr<ConnectionSettings> ResolveConnection(const ConnectionFlags& flags,
                                                     const Environment& env) {
  ConnectionSettings settings;
  settings.profile_path = ProfilePath(flags, env);

  Profile profile;
  const bool profile_named = !flags.config.empty() || NonEmpty(env, "WARDEN_CONFIG").has_value();
  if (profile_named || std::filesystem::exists(settings.profile_path)) {
    WARDEN_ASSIGN_OR_RETURN(std::string text,
                            ReadWholeFile(settings.profile_path, "the profile file"));
    const std::string directory =
        std::filesystem::path(settings.profile_path).parent_path().string();
    absl::StatusOr<Profile> parsed =
        ParseProfile(text, directory, NonEmpty(env, "HOME").value_or(""));
    if (!parsed.ok()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat(settings.profile_path, ": ", parsed.status().message()));
    }
    profile = *std::move(parsed);
  }

  std::string context_name = flags.context;
  if (context_name.empty()) context_name = NonEmpty(env, "WARDEN_CONTEXT").value_or("");
  const bool context_named = !context_name.empty();
  if (!context_named) context_name = profile.current_context;
  Context context;
  if (!context_name.empty()) {
    auto found = profile.contexts.find(context_name);
    if (found == profile.contexts.end()) {
      return LocalError(
          absl::StatusCode::kInvalidArgument,
          absl::StrCat("no context \"", context_name, "\" in ", settings.profile_path));
    }
    context = found->second;
    settings.context = context_name;
  }
  // The environment counts only when no context was asked for by name.
  auto from_env = [&](const char* name) -> std::optional<std::string> {
    if (context_named) return std::nullopt;
    return NonEmpty(env, name);
  };

  settings.server = !flags.server.empty()        ? flags.server
                    : from_env("WARDEN_SERVER")  ? *from_env("WARDEN_SERVER")
                    : context.server.has_value() ? *context.server
                                                 : std::string(kDefaultServer);
  if (flags.insecure) {
    settings.insecure = true;
  } else if (auto insecure = from_env("WARDEN_INSECURE")) {
    const std::string lower = absl::AsciiStrToLower(*insecure);
    settings.insecure = lower == "1" || lower == "true" || lower == "yes";
  } else {
    settings.insecure = context.insecure.value_or(false);
  }
  settings.ca = !flags.ca.empty()       ? flags.ca
                : from_env("WARDEN_CA") ? *from_env("WARDEN_CA")
                                        : context.ca.value_or("");
  settings.server_name =
      !flags.server_name.empty() ? flags.server_name : context.server_name.value_or("");
  if (settings.insecure && !settings.ca.empty()) {
    return LocalError(absl::StatusCode::kInvalidArgument,
                      "--insecure (plaintext) cannot be combined with a CA (--ca, WARDEN_CA or "
                      "the context's ca)");
  }

  std::string key_file;
  if (!flags.key_file.empty()) {
    key_file = flags.key_file;
  } else if (auto key = from_env("WARDEN_KEY")) {
    settings.key_source = "WARDEN_KEY";
    WARDEN_ASSIGN_OR_RETURN(settings.key, CheckedKey(*key, settings.key_source));
    return settings;
  } else if (auto file = from_env("WARDEN_KEY_FILE")) {
    key_file = *file;
  } else {
    key_file = context.key_file.value_or("");
  }
  if (!key_file.empty()) {
    settings.key_source = key_file;
    WARDEN_ASSIGN_OR_RETURN(std::string key, ReadWholeFile(key_file, "the API key file"));
    WARDEN_ASSIGN_OR_RETURN(settings.key, CheckedKey(std::move(key), key_file));
  }
  return settings;
}

}  // namespace warden::wardenctl
