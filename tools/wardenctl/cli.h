#pragma once

// The command tree and the one path every command takes: parse the command
// line, run the chosen command's action, and turn its status into a sentence
// on stderr and an exit code (exit_codes.h). Commands register themselves
// (commands/*.cc) with an action that receives an Invocation.

#include <CLI/CLI.hpp>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/wardenctl/admin_client.h"
#include "tools/wardenctl/connection_settings.h"
#include "tools/wardenctl/printer.h"

namespace warden::wardenctl {

struct GlobalOptions {
  ConnectionFlags connection;
  std::string output = "table";
  bool wide = false;
  bool quiet = false;
  std::string timeout = "10s";
};

// What an action works with: the parsed global options, the printer, and
// the control plane, connected on first use (commands such as `completion`
// never connect).
class Invocation {
 public:
  Invocation(const GlobalOptions& globals, Environment env, Printer& printer, std::ostream& err)
      : globals_(globals), env_(std::move(env)), printer_(printer), err_(err) {}

  absl::StatusOr<AdminClient*> Admin();
  absl::StatusOr<ConnectionSettings> Settings() const;
  Printer& out() { return printer_; }
  std::ostream& err() { return err_; }
  const GlobalOptions& globals() const { return globals_; }
  const Environment& env() const { return env_; }
  // The server as far as it is known, for error messages.
  std::string server() const;

 private:
  const GlobalOptions& globals_;
  Environment env_;
  Printer& printer_;
  std::ostream& err_;
  std::unique_ptr<AdminClient> admin_;
};

using Action = std::function<absl::Status(Invocation&)>;

class Cli {
 public:
  explicit Cli(Environment env);

  CLI::App& root() { return app_; }
  // `action` runs when `command` is the command chosen.
  void OnRun(CLI::App* command, Action action);
  // The words `option` takes, for --help and the completion scripts.
  void Choices(CLI::Option* option, const std::vector<std::string>& words);
  const std::vector<std::string>* ChoicesOf(const CLI::Option* option) const;

  // Parses, runs, prints; returns the exit code.
  int Run(int argc, const char* const* argv, std::ostream& out, std::ostream& err, bool terminal);

 private:
  CLI::App app_;
  Environment env_;
  GlobalOptions globals_;
  Action action_;
  std::map<const CLI::Option*, std::vector<std::string>> choices_;
};

// Adds an "Examples:" block to a command's --help.
CLI::App* WithExamples(CLI::App* command, std::initializer_list<const char*> examples);

}  // namespace warden::wardenctl
