#include "agent/drivers/wireguard/owned_peer_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace warden::agent::wireguard {
namespace {

constexpr int kStateVersion = 1;

absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot write ", tmp));
  ::fchmod(fd, 0600);
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", tmp));
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    ::unlink(tmp.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  // The rename itself survives a crash once the directory is synced.
  const std::string dir =
      path.substr(0, path.rfind('/') == std::string::npos ? 1 : path.rfind('/'));
  const int dir_fd = ::open(dir.empty() ? "/" : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return absl::OkStatus();
}

absl::Status Unusable(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(
      "the WireGuard state file ", path, " is unusable (", why,
      "); it lists the peers this agent provisioned. Move it away to start owning none "
      "(peers it listed are then left on the interface)"));
}

absl::StatusOr<StoredPeer> ParseEntry(const nlohmann::json& entry) {
  PeerSpec spec;
  spec.public_key = entry.at("public_key").get<std::string>();
  spec.device_id = entry.value("device_id", "");
  spec.username = entry.value("username", "");
  spec.allowed_ips = entry.value("allowed_ips", std::vector<std::string>{});
  StoredPeer stored;
  if (absl::Status valid = ValidateSpec(spec, stored.key, stored.spec); !valid.ok()) return valid;
  stored.withheld = entry.value("withheld", false);
  return stored;
}

}  // namespace

std::string OwnedPeerFilePath(const std::string& state_dir, const std::string& iface) {
  if (state_dir.empty()) return "";
  return absl::StrCat(state_dir, "/wireguard-", iface, ".json");
}

absl::StatusOr<std::vector<StoredPeer>> ReadOwnedPeerFile(const std::string& path) {
  std::vector<StoredPeer> peers;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    return peers;  // first start: nothing owned yet
  }
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  try {
    const nlohmann::json state = nlohmann::json::parse(text.str());
    if (!state.is_object() || state.value("version", 0) != kStateVersion ||
        !state.contains("peers") || !state["peers"].is_array()) {
      return Unusable(
          path, absl::StrCat("expected {\"version\": ", kStateVersion, ", \"peers\": [...]}"));
    }
    for (const nlohmann::json& entry : state["peers"]) {
      absl::StatusOr<StoredPeer> peer = ParseEntry(entry);
      if (!peer.ok()) return Unusable(path, peer.status().message());
      peers.push_back(*std::move(peer));
    }
  } catch (const nlohmann::json::exception& error) {
    return Unusable(path, error.what());
  }
  return peers;
}

absl::Status WriteOwnedPeerFile(const std::string& path, const std::string& state_dir,
                                const std::string& iface, const std::vector<StoredPeer>& peers) {
  nlohmann::json listed = nlohmann::json::array();
  for (const StoredPeer& peer : peers) {
    listed.push_back({{"public_key", peer.spec.public_key},
                      {"device_id", peer.spec.device_id},
                      {"username", peer.spec.username},
                      {"allowed_ips", peer.spec.allowed_ips},
                      {"withheld", peer.withheld}});
  }
  const nlohmann::json state = {
      {"version", kStateVersion}, {"iface", iface}, {"peers", std::move(listed)}};
  if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create ", state_dir));
  }
  return WriteFileAtomically(path, state.dump(1));
}

}  // namespace warden::agent::wireguard
