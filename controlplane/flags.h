#pragma once

// warden-control's command line: every flag with its environment variable,
// its range and its default, which is the ControlPlaneConfig's own. Flags
// that are durations are given as whole seconds (hours, milliseconds: the
// unit is in the name) and land in the config as absl::Duration.

#include <CLI/CLI.hpp>
#include <string>

#include "controlplane/control_plane.h"

namespace warden::control {

struct LogFlags {
  std::string level = "info";   // trace|debug|info|warn|error|off
  std::string format = "text";  // text|json
};

// Adds every flag to `app`; parsing writes them into `config` and `log`.
void AddControlFlags(CLI::App& app, ControlPlaneConfig& config, LogFlags& log);

}  // namespace warden::control
