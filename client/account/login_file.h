#pragma once

// What `warden-connect login` keeps between commands: where the control
// plane is and the login's tokens, in one JSON file that only its owner may
// read (mode 0600, written whole to a temporary file and renamed over the
// old one, so that a crash never leaves half a token). The password is
// never kept.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::client {

struct SavedLogin {
  std::string control;  // host:port of warden-control
  bool insecure = false;
  std::string ca{};           // "" = the system's roots
  std::string server_name{};  // "" = the host of `control`
  std::string username{};
  std::string family_id{};
  std::string access_token{};
  absl::Time access_expires_at = absl::InfinitePast();
  std::string refresh_token{};
};

// --login-file, else $WARDEN_CONNECT_LOGIN_FILE, else
// $XDG_CONFIG_HOME/warden/connect-login.json, else
// ~/.config/warden/connect-login.json.
std::string LoginFilePath(const std::string& flag);

// NOT_FOUND when there is no file (no login yet).
absl::StatusOr<SavedLogin> ReadLogin(const std::string& path);
absl::Status WriteLogin(const std::string& path, const SavedLogin& login);
// Forgets the login; no file is not an error.
absl::Status RemoveLogin(const std::string& path);

}  // namespace warden::client
