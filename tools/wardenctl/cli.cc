#include "tools/wardenctl/cli.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/time_text.h"

namespace warden::wardenctl {

absl::StatusOr<ConnectionSettings> Invocation::Settings() const {
  return ResolveConnection(globals_.connection, env_);
}

absl::StatusOr<AdminClient*> Invocation::Admin() {
  if (admin_ == nullptr) {
    absl::StatusOr<absl::Duration> timeout = ParseDurationFlag(globals_.timeout);
    if (!timeout.ok()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("--timeout: ", timeout.status().message()));
    }
    absl::StatusOr<ConnectionSettings> settings = Settings();
    if (!settings.ok()) return settings.status();
    absl::StatusOr<std::unique_ptr<AdminClient>> admin =
        AdminClient::Connect(*std::move(settings), *timeout);
    if (!admin.ok()) return admin.status();
    admin_ = *std::move(admin);
  }
  return admin_.get();
}

std::string Invocation::server() const {
  if (admin_ != nullptr) return admin_->settings().server;
  absl::StatusOr<ConnectionSettings> settings = Settings();
  return settings.ok() ? settings->server : globals_.connection.server;
}

CLI::App* WithExamples(CLI::App* command, std::initializer_list<const char*> examples) {
  std::string footer = "\nExamples:";
  for (const char* example : examples) absl::StrAppend(&footer, "\n  ", example);
  command->footer(footer);
  return command;
}

Cli::Cli(Environment env)
    : app_(
          "wardenctl: administer a Warden fleet (users, plans, nodes, sessions, devices, "
          "logins, keys, usage, webhooks, audit)",
          "wardenctl"),
      env_(std::move(env)) {
  app_.require_subcommand(1);
  // Global options may also follow the subcommand (`wardenctl users list -o json`).
  app_.fallthrough();
  // The last of a repeated option wins, so that a shell alias with
  // --server can be pointed elsewhere by one more --server.
  app_.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app_.set_version_flag("--version", "wardenctl " WARDEN_VERSION);
  app_.set_help_all_flag("--help-all", "Every command and option");

  ConnectionFlags& connection = globals_.connection;
  const std::string group = "Connection";
  app_.add_option("-s,--server", connection.server,
                  "host:port of warden-control (WARDEN_SERVER; default 127.0.0.1:50051)")
      ->group(group);
  app_.add_option("--key-file", connection.key_file,
                  "file holding the API key (else WARDEN_KEY, WARDEN_KEY_FILE, the context's)")
      ->group(group);
  app_.add_option("--ca", connection.ca, "CA certificate (PEM) of the server's (WARDEN_CA)")
      ->group(group);
  app_.add_option("--server-name", connection.server_name,
                  "the name the server's certificate must carry (default: the host)")
      ->group(group);
  app_.add_flag("--insecure", connection.insecure,
                "plaintext, no TLS (WARDEN_INSECURE=true); for a control plane on loopback")
      ->group(group);
  app_.add_option("--context", connection.context,
                  "a named context of the profile file (WARDEN_CONTEXT); sets the environment "
                  "aside")
      ->group(group);
  app_.add_option("--config", connection.config,
                  "the profile file (WARDEN_CONFIG; default ~/.config/warden/config)")
      ->group(group);
  app_.add_option("--timeout", globals_.timeout, "deadline of each call (default 10s)")
      ->group(group);

  const std::string output = "Output";
  Choices(app_.add_option("-o,--output", globals_.output, "table (default), wide, json or yaml")
              ->group(output),
          {"table", "wide", "json", "yaml"});
  app_.add_flag("-w,--wide", globals_.wide, "more columns in tables")->group(output);
  app_.add_flag("-q,--quiet", globals_.quiet, "only ids, one a line")->group(output);

  AddUserCommands(*this);
  AddPlanCommands(*this);
  AddNodeCommands(*this);
  AddSessionCommands(*this);
  AddDeviceCommands(*this);
  AddFamilyCommands(*this);
  AddKeyCommands(*this);
  AddAuditCommands(*this);
  AddStatsCommand(*this);
  AddSsoCommands(*this);
  AddUsageCommands(*this);
  AddWebhookCommands(*this);
  AddConfigCommands(*this);
  AddCompletionCommand(*this);
}

void Cli::OnRun(CLI::App* command, Action action) {
  command->callback([this, action = std::move(action)] { action_ = action; });
}

void Cli::Choices(CLI::Option* option, const std::vector<std::string>& words) {
  choices_[option] = words;
}

const std::vector<std::string>* Cli::ChoicesOf(const CLI::Option* option) const {
  auto found = choices_.find(option);
  return found == choices_.end() ? nullptr : &found->second;
}

int Cli::Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err,
             bool terminal) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app_.exit(help, out, err);
  } catch (const CLI::CallForAllHelp& help) {
    return app_.exit(help, out, err);
  } catch (const CLI::CallForVersion& version) {
    return app_.exit(version, out, err);
  } catch (const CLI::ParseError& error) {
    err << "wardenctl: " << error.what()
        << "\n  See 'wardenctl --help' or add --help to the command.\n";
    return kExitUsage;
  }

  OutputOptions options;
  options.terminal = terminal;
  options.now = absl::Now();
  options.quiet = globals_.quiet;
  if (globals_.output == "table") {
    options.format = globals_.wide ? Format::kWide : Format::kTable;
  } else if (globals_.output == "wide") {
    options.format = Format::kWide;
  } else if (globals_.output == "json") {
    options.format = Format::kJson;
  } else if (globals_.output == "yaml") {
    options.format = Format::kYaml;
  } else {
    err << "wardenctl: -o " << globals_.output << ": say table, wide, json or yaml\n";
    return kExitUsage;
  }
  const std::optional<std::string> no_color = env_("NO_COLOR");
  const std::optional<std::string> term = env_("TERM");
  options.color = terminal && !no_color.has_value() && term.value_or("") != "dumb";

  Printer printer(options, out);
  Invocation invocation(globals_, env_, printer, err);
  const absl::Status status =
      action_ ? action_(invocation) : absl::InternalError("no action for this command");
  out.flush();
  if (status.ok()) return kExitOk;
  err << "wardenctl: " << DescribeError(status, invocation.server()) << "\n";
  return ExitCodeFor(status);
}

}  // namespace warden::wardenctl
