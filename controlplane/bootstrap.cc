#include "controlplane/bootstrap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"

namespace warden::control {
namespace {

constexpr size_t kMinKeyLength = 16;

absl::StatusOr<std::optional<std::string>> ReadKeyFile(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read admin key file ", path, ": ", std::strerror(errno)));
  }
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read admin key file ", path));
  std::stringstream content;
  content << in.rdbuf();
  std::string key(absl::StripAsciiWhitespace(content.str()));
  if (key.size() < kMinKeyLength) {
    return absl::FailedPreconditionError(absl::StrCat(
        "admin key file ", path, " must hold a key of at least ", kMinKeyLength, " characters"));
  }
  return key;
}

absl::Status WriteKeyFile(const std::string& path, const std::string& key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create admin key file ", path, ": ", std::strerror(errno)));
  }
  const std::string line = key + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) {
    ::unlink(path.c_str());
    return absl::FailedPreconditionError(absl::StrCat("cannot write admin key file ", path));
  }
  return absl::OkStatus();
}

std::string Describe(store::BootstrapOutcome outcome, absl::string_view source) {
  switch (outcome) {
    case store::BootstrapOutcome::kAlreadyActive:
      return absl::StrCat("admin key from ", source, " is active");
    case store::BootstrapOutcome::kInstalled:
      return absl::StrCat("admin key from ", source, " installed");
    case store::BootstrapOutcome::kRevoked:
      return absl::StrCat("admin key from ", source,
                          " was revoked and stays revoked; use another admin key");
    case store::BootstrapOutcome::kNotNeeded:
      return "admin keys exist; no bootstrap key needed";
  }
  return "";
}

}  // namespace

absl::StatusOr<BootstrapResult> BootstrapAdminKey(store::ApiKeyStore& keys,
                                                  const std::string& environment_key,
                                                  const std::string& key_file) {
  BootstrapResult result;
  if (!environment_key.empty()) {
    if (environment_key.size() < kMinKeyLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("WARDEN_ADMIN_KEY must be at least ", kMinKeyLength, " characters"));
    }
    WARDEN_ASSIGN_OR_RETURN(store::BootstrapOutcome outcome,
                            keys.InstallBootstrapKey(secrets::Sha256Hex(environment_key),
                                                     /*only_if_no_admin=*/false));
    result.note = Describe(outcome, "WARDEN_ADMIN_KEY");
    return result;
  }
  if (!key_file.empty()) {
    WARDEN_ASSIGN_OR_RETURN(std::optional<std::string> existing, ReadKeyFile(key_file));
    if (existing) {
      WARDEN_ASSIGN_OR_RETURN(store::BootstrapOutcome outcome,
                              keys.InstallBootstrapKey(secrets::Sha256Hex(*existing),
                                                       /*only_if_no_admin=*/false));
      result.note = Describe(outcome, key_file);
      return result;
    }
  }
  std::string key = secrets::NewToken("wak_");
  WARDEN_ASSIGN_OR_RETURN(
      store::BootstrapOutcome outcome,
      keys.InstallBootstrapKey(secrets::Sha256Hex(key), /*only_if_no_admin=*/true));
  if (outcome != store::BootstrapOutcome::kInstalled) {
    result.note = Describe(outcome, "");
    return result;
  }
  if (!key_file.empty()) {
    // The key is already valid in the database; failing to save it leaves
    // the operator with the printed copy only, so say so loudly.
    if (absl::Status written = WriteKeyFile(key_file, key); !written.ok()) {
      result.note = absl::StrCat("generated an admin key but ", written.message());
    } else {
      result.note = absl::StrCat("generated an admin key and saved it to ", key_file);
    }
  } else {
    result.note = "generated an admin key (no --admin-key-file: shown once on stdout)";
  }
  result.generated_key = std::move(key);
  return result;
}

}  // namespace warden::control
