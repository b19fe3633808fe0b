#include "tools/wardenctl/event_line.h"

#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tools/wardenctl/printer.h"
#include "tools/wardenctl/time_text.h"

namespace warden::wardenctl {
namespace {

constexpr char kRed[] = "\x1b[31m";
constexpr char kGreen[] = "\x1b[32m";
constexpr char kYellow[] = "\x1b[33m";
constexpr char kDim[] = "\x1b[2m";
constexpr char kReset[] = "\x1b[0m";

// The colour of an action by its verb (the part after the last '.').
const char* ActionColor(absl::string_view action) {
  const size_t dot = action.rfind('.');
  const absl::string_view verb = dot == absl::string_view::npos ? action : action.substr(dot + 1);
  static const std::vector<absl::string_view> kEnding = {
      "evict",     "kill",   "deny",   "revoke",         "refuse", "force_close",
      "node_lost", "delete", "remove", "not_admissible", "replay", "logout"};
  static const std::vector<absl::string_view> kStarting = {"admit",   "create", "register",
                                                           "undrain", "enroll", "bootstrap"};
  for (absl::string_view word : kEnding) {
    if (absl::StrContains(verb, word)) return kRed;
  }
  for (absl::string_view word : kStarting) {
    if (absl::StrContains(verb, word)) return kGreen;
  }
  return kYellow;
}

std::string Value(const nlohmann::json& value) {
  // Strings bare (as a person reads them), unless a space would make the
  // line ambiguous; everything else as compact JSON.
  if (value.is_string() && value.get_ref<const std::string&>().find(' ') == std::string::npos) {
    return value.get_ref<const std::string&>();
  }
  return value.dump();
}

// "user:<id>" as "user:alice" when the name is known.
std::string SubjectText(const std::string& subject, const NameOf& names) {
  if (!names) return subject;
  std::vector<std::string> parts = absl::StrSplit(subject, absl::MaxSplits(':', 1));
  if (parts.size() != 2 || (parts[0] != "user" && parts[0] != "node")) return subject;
  const std::string name = names(parts[0], parts[1]);
  return name.empty() ? subject : absl::StrCat(parts[0], ":", name);
}

}  // namespace

std::string DetailsText(const google::protobuf::Struct& details, const NameOf& names) {
  // Sorted by key: a Struct is a map, which keeps no order of its own.
  const nlohmann::json json = nlohmann::json::parse(MessageJson(details).dump());
  std::vector<std::string> parts;
  const bool has_user_id = json.contains("user_id") && json["user_id"].is_string();
  for (const auto& [key, value] : json.items()) {
    if (names && value.is_string() && (key == "user_id" || key == "node_id")) {
      const std::string kind = key == "user_id" ? "user" : "node";
      std::string name = names(kind, value.get_ref<const std::string&>());
      // A user deleted since keeps the name the event recorded, if any.
      if (name.empty() && kind == "user" && json.contains("username")) {
        name = Value(json["username"]);
      }
      if (!name.empty()) {
        parts.push_back(absl::StrCat(kind, "=", name));
        continue;
      }
    }
    // user=<name> says it already.
    if (names && key == "username" && has_user_id) continue;
    parts.push_back(absl::StrCat(key, "=", Value(value)));
  }
  return absl::StrJoin(parts, " ");
}

std::string EventLine(const v1::AuditEvent& event, const EventLineStyle& style,
                      const NameOf& names) {
  const absl::Time at = FromTimestamp(event.at());
  // A live feed wants the clock, not "just now" on every line.
  const std::string time = style.terminal ? absl::FormatTime("%H:%M:%S", at, absl::LocalTimeZone())
                                          : TimeText(at, false).Format(at);
  std::string action = event.action();
  if (action.size() < 16) action.append(16 - action.size(), ' ');
  std::string line;
  if (style.color) {
    absl::StrAppend(&line, kDim, time, kReset, "  ", ActionColor(event.action()), action, kReset);
  } else {
    absl::StrAppend(&line, time, "  ", action);
  }
  absl::StrAppend(&line, "  ", SubjectText(event.subject(), names));
  const std::string details = DetailsText(event.details(), names);
  if (!details.empty()) absl::StrAppend(&line, "  ", details);
  absl::StrAppend(&line, "  by ", event.actor());
  return line;
}

}  // namespace warden::wardenctl
