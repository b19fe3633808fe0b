#pragma once

// Where wardenctl connects and with which key, from three layers: flags
// first, then the environment (WARDEN_SERVER, WARDEN_KEY, WARDEN_KEY_FILE,
// WARDEN_CA, WARDEN_INSECURE), then a context of the profile file. Naming a
// context (--context or WARDEN_CONTEXT) sets the environment layer aside, so
// that a WARDEN_KEY exported for a laptop's fleet is never sent to the fleet
// the context names.

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace warden::wardenctl {

inline constexpr char kDefaultServer[] = "127.0.0.1:50051";

// The connection flags as given; "" (false) = not given.
struct ConnectionFlags {
  std::string server;
  std::string key_file;
  std::string ca;
  std::string server_name;
  std::string context;
  std::string config;  // the profile file
  bool insecure = false;
};

struct ConnectionSettings {
  std::string server{};
  bool insecure = false;       // plaintext
  std::string ca{};            // "" = the system's roots
  std::string server_name{};   // the name the server's certificate must carry ("" = the host)
  std::string key{};           // "" = none configured
  std::string key_source{};    // where the key came from, for messages ("WARDEN_KEY", a path)
  std::string context{};       // the context used, "" for none
  std::string profile_path{};  // the profile file looked at
};

using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// The process's own environment.
Environment ProcessEnvironment();

// The profile file's path: --config, WARDEN_CONFIG, $XDG_CONFIG_HOME/warden/config or
// ~/.config/warden/config.
std::string ProfilePath(const ConnectionFlags& flags, const Environment& env);

// Reads the profile (when there is one) and the key file. A missing key is
// not an error here: commands that need none (completion) still run.
absl::StatusOr<ConnectionSettings> ResolveConnection(const ConnectionFlags& flags,
                                                     const Environment& env);

}  // namespace warden::wardenctl
