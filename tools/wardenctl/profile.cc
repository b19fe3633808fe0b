#include "tools/wardenctl/profile.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden::wardenctl {
namespace {

// A value without a trailing " # comment" (a '#' inside a path stays).
absl::string_view StripComment(absl::string_view line) {
  const size_t hash = line.find(" #");
  if (hash != absl::string_view::npos) line = line.substr(0, hash);
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "#")) return "";
  return absl::StripAsciiWhitespace(line);
}

std::string ExpandPath(absl::string_view value, const std::string& directory,
                       const std::string& home) {
  if (value == "~") return home;
  if (absl::StartsWith(value, "~/")) return absl::StrCat(home, value.substr(1));
  if (absl::StartsWith(value, "/") || directory.empty()) return std::string(value);
  return absl::StrCat(directory, "/", value);
}

absl::StatusOr<bool> ParseBool(absl::string_view value) {
  const std::string lower = absl::AsciiStrToLower(value);
  if (lower == "true" || lower == "yes" || lower == "1") return true;
  if (lower == "false" || lower == "no" || lower == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat("\"", value, "\" is not true or false"));
}

// `[context "name"]` or `[context name]` → name.
absl::StatusOr<std::string> SectionName(absl::string_view header) {
  absl::string_view inner = header.substr(1, header.size() - 2);
  inner = absl::StripAsciiWhitespace(inner);
  if (!absl::ConsumePrefix(&inner, "context")) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown section ", header, " (only [context \"name\"] sections exist)"));
  }
  inner = absl::StripAsciiWhitespace(inner);
  if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') {
    inner = inner.substr(1, inner.size() - 2);
  }
  if (inner.empty()) return absl::InvalidArgumentError("a context needs a name");
  return std::string(inner);
}

}  // namespace

absl::StatusOr<Profile> ParseProfile(absl::string_view text, const std::string& directory,
                                     const std::string& home) {
  Profile profile;
  Context* context = nullptr;
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++number;
    const absl::string_view line = StripComment(raw);
    if (line.empty()) continue;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, ": ", what));
    };
    if (line.front() == '[') {
      if (line.back() != ']') return error("a section header ends with ']'");
      absl::StatusOr<std::string> name = SectionName(line);
      if (!name.ok()) return error(name.status().message());
      context = &profile.contexts[*name];
      continue;
    }
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) return error("expected key = value");
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, equals)));
    const std::string value(absl::StripAsciiWhitespace(line.substr(equals + 1)));
    if (context == nullptr) {
      if (key != "current-context") {
        return error(absl::StrCat("\"", key, "\" belongs in a [context \"name\"] section"));
      }
      profile.current_context = value;
    } else if (key == "server") {
      context->server = value;
    } else if (key == "insecure") {
      absl::StatusOr<bool> insecure = ParseBool(value);
      if (!insecure.ok()) return error(insecure.status().message());
      context->insecure = *insecure;
    } else if (key == "ca") {
      context->ca = ExpandPath(value, directory, home);
    } else if (key == "server-name") {
      context->server_name = value;
    } else if (key == "key-file") {
      context->key_file = ExpandPath(value, directory, home);
    } else if (key == "key") {
      return error("API keys are not kept in the profile: name a file with key-file");
    } else {
      return error(absl::StrCat("unknown key \"", key,
                                "\" (known: server, insecure, ca, server-name, key-file)"));
    }
  }
  return profile;
}

std::string WithCurrentContext(absl::string_view text, const std::string& name) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  const std::string setting = absl::StrCat("current-context = ", name);
  for (std::string& line : lines) {
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "[")) break;
    if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(line), "current-context")) {
      line = setting;
      return absl::StrJoin(lines, "\n");
    }
  }
  if (text.empty()) return setting + "\n";
  return absl::StrCat(setting, "\n\n", text);
}

}  // namespace warden::wardenctl
