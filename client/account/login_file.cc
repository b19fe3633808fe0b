#include "client/account/login_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace warden::client {
namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::FailedPreconditionError(absl::StrCat(what, " ", path, ": ", std::strerror(errno)));
}

}  // namespace

std::string LoginFilePath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (std::string path = Env("WARDEN_CONNECT_LOGIN_FILE"); !path.empty()) return path;
  if (std::string config = Env("XDG_CONFIG_HOME"); !config.empty()) {
    return absl::StrCat(config, "/warden/connect-login.json");
  }
  return absl::StrCat(Env("HOME"), "/.config/warden/connect-login.json");
}

absl::StatusOr<SavedLogin> ReadLogin(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("not logged in (no ", path, "): run warden-connect login first"));
    }
    return Errno("cannot read", path);
  }
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json json =
      nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("control") || !json.contains("refreshToken")) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not a login file: remove it and run warden-connect login"));
  }
  SavedLogin login;
  login.control = json.value("control", "");
  login.insecure = json.value("insecure", false);
  login.ca = json.value("ca", "");
  login.server_name = json.value("serverName", "");
  login.username = json.value("username", "");
  login.family_id = json.value("familyId", "");
  login.access_token = json.value("accessToken", "");
  login.access_expires_at = absl::FromUnixSeconds(json.value("accessExpiresAt", int64_t{0}));
  login.refresh_token = json.value("refreshToken", "");
  return login;
}

absl::Status WriteLogin(const std::string& path, const SavedLogin& login) {
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  const nlohmann::ordered_json json = {
      {"control", login.control},
      {"insecure", login.insecure},
      {"ca", login.ca},
      {"serverName", login.server_name},
      {"username", login.username},
      {"familyId", login.family_id},
      {"accessToken", login.access_token},
      {"accessExpiresAt", absl::ToUnixSeconds(login.access_expires_at)},
      {"refreshToken", login.refresh_token},
  };
  const std::string text = json.dump(2) + "\n";
  const std::string temporary = absl::StrCat(path, ".tmp");
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot write", temporary);
  // An existing file keeps its mode through O_CREAT: make sure of 0600.
  if (::fchmod(fd, 0600) != 0 ||
      ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::fsync(fd) != 0) {
    const absl::Status status = Errno("cannot write", temporary);
    ::close(fd);
    ::unlink(temporary.c_str());
    return status;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return Errno("cannot replace", path);
  return absl::OkStatus();
}

absl::Status RemoveLogin(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("cannot remove", path);
  return absl::OkStatus();
}

}  // namespace warden::client
