// config view|contexts|use: the profile file and what wardenctl would use

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/profile.h"
#include "tools/wardenctl/table.h"

namespace warden::wardenctl {
namespace {

// The profile's text, "" when there is no file yet.
absl::StatusOr<std::string> ProfileText(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::string();
  std::ifstream in(path);
  if (!in)
    return LocalError(absl::StatusCode::kInvalidArgument, absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<Profile> LoadProfile(Invocation& in, std::string& path) {
  path = ProfilePath(in.globals().connection, in.env());
  WARDEN_ASSIGN_OR_RETURN(std::string text, ProfileText(path));
  absl::StatusOr<Profile> profile = ParseProfile(
      text, std::filesystem::path(path).parent_path().string(), in.env()("HOME").value_or(""));
  if (!profile.ok()) {
    return LocalError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat(path, ": ", profile.status().message()));
  }
  return profile;
}

}  // namespace

void AddConfigCommands(Cli& cli) {
  CLI::App* config = cli.root().add_subcommand(
      "config", "The profile file (~/.config/warden/config) and its contexts");
  config->require_subcommand(1);

  CLI::App* view = WithExamples(
      config->add_subcommand("view", "Where wardenctl would connect, and how (never the key)"),
      {"wardenctl config view", "wardenctl --context prod config view"});
  cli.OnRun(view, [](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ConnectionSettings settings, in.Settings());
    Table table;
    table.AddRow({"profile", settings.profile_path});
    table.AddRow({"context", settings.context.empty() ? "(none)" : settings.context});
    table.AddRow({"server", settings.server});
    table.AddRow({"transport", settings.insecure     ? "plaintext (--insecure)"
                               : settings.ca.empty() ? "TLS, system roots"
                                                     : absl::StrCat("TLS, CA ", settings.ca)});
    if (!settings.server_name.empty()) table.AddRow({"server name", settings.server_name});
    table.AddRow(
        {"key", settings.key.empty() ? "(none)" : absl::StrCat("from ", settings.key_source)});
    in.out().out() << table.Render();
    return absl::OkStatus();
  });

  CLI::App* contexts = WithExamples(
      config->add_subcommand("contexts", "The profile's contexts; * marks the current one"),
      {"wardenctl config contexts"});
  cli.OnRun(contexts, [](Invocation& in) -> absl::Status {
    std::string path;
    WARDEN_ASSIGN_OR_RETURN(Profile profile, LoadProfile(in, path));
    if (in.out().options().quiet) {
      for (const auto& [name, context] : profile.contexts) in.out().Line(name);
      return absl::OkStatus();
    }
    Table table({"CURRENT", "NAME", "SERVER", "TRANSPORT"});
    for (const auto& [name, context] : profile.contexts) {
      table.AddRow({name == profile.current_context ? "*" : " ", name,
                    context.server.value_or(kDefaultServer),
                    context.insecure.value_or(false) ? "plaintext" : "TLS"});
    }
    in.out().out() << table.Render();
    return absl::OkStatus();
  });

  auto name = std::make_shared<std::string>();
  CLI::App* use = WithExamples(config->add_subcommand("use", "Make a context the current one"),
                               {"wardenctl config use prod"});
  use->add_option("context", *name, "a context of the profile")->required();
  cli.OnRun(use, [name](Invocation& in) -> absl::Status {
    std::string path;
    WARDEN_ASSIGN_OR_RETURN(Profile profile, LoadProfile(in, path));
    if (!profile.contexts.contains(*name)) {
      return LocalError(absl::StatusCode::kNotFound,
                        absl::StrCat("no context \"", *name, "\" in ", path));
    }
    WARDEN_ASSIGN_OR_RETURN(std::string text, ProfileText(path));
    std::ofstream out(path, std::ios::trunc);
    out << WithCurrentContext(text, *name);
    if (!out.flush()) {
      return LocalError(absl::StatusCode::kInvalidArgument, absl::StrCat("cannot write ", path));
    }
    in.out().Line(absl::StrCat("current context: ", *name));
    return absl::OkStatus();
  });
}

}  // namespace warden::wardenctl
