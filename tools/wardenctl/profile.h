#pragma once

// The profile file, ~/.config/warden/config: named contexts, as kubectl's
// kubeconfig has, so that one operator can switch between fleets with
// --context. An INI-like format, because no YAML reader is among the
// project's dependencies and a person edits this file by hand:
//
//   current-context = local
//
//   [context "local"]
//   server = 127.0.0.1:50051
//   insecure = true
//   key-file = ~/src/warden/.warden/admin.key
//
//   [context "prod"]
//   server = control.example:50051
//   ca = prod-ca.crt            # relative paths: next to this file
//   key-file = prod.key
//   server-name = control.example
//
// An API key is never written into this file, only the name of a file that
// holds it (as for --key-file).

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::wardenctl {

struct Context {
  std::optional<std::string> server;
  std::optional<bool> insecure;
  std::optional<std::string> ca;  // paths are absolute once parsed
  std::optional<std::string> server_name;
  std::optional<std::string> key_file;
};

struct Profile {
  std::string current_context;
  std::map<std::string, Context> contexts;
};

// `text` is the file's content; `directory` anchors relative paths and `home`
// expands "~/". Errors name the line.
absl::StatusOr<Profile> ParseProfile(absl::string_view text, const std::string& directory,
                                     const std::string& home);

// The file `path` with its current-context line set to `name` (added when
// missing); every other line is kept as it is.
std::string WithCurrentContext(absl::string_view text, const std::string& name);

}  // namespace warden::wardenctl
