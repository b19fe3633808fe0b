#include "agent/drivers/memory/memory_driver_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/drivers/memory/memory_protocol.h"

namespace warden::agent {

std::string MemoryDriverClient::Request(const std::string& line) const {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path_.c_str(), sizeof(address.sun_path) - 1);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = line + "\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      ::shutdown(fd, SHUT_WR);
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(fd, buffer, sizeof buffer)) > 0) reply.append(buffer, n);
    }
  }
  ::close(fd);
  return std::string(absl::StripTrailingAsciiWhitespace(reply));
}

std::string MemoryDriverClient::Open(const std::string& key, const std::string& username,
                                     const std::string& secret) const {
  std::string line =
      absl::StrCat("open ", memory::EncodeWord(key), " ", memory::EncodeWord(username));
  if (!secret.empty()) absl::StrAppend(&line, " ", memory::EncodeWord(secret));
  return Request(line);
}

std::string MemoryDriverClient::Close(const std::string& key, long rx, long tx) const {
  return Request(absl::StrCat("close ", memory::EncodeWord(key), " ", rx, " ", tx));
}

std::vector<std::string> MemoryDriverClient::Lines(const std::string& request,
                                                   const std::string& prefix) const {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(Request(request), '\n')) {
    if (absl::ConsumePrefix(&line, prefix)) lines.emplace_back(line);
  }
  return lines;
}

std::vector<std::string> MemoryDriverClient::Sessions() const {
  std::vector<std::string> keys;
  for (const std::string& line : Lines("list", "session ")) {
    keys.push_back(memory::DecodeWord(line.substr(0, line.find(' '))).value_or(""));
  }
  return keys;
}

std::vector<std::string> MemoryDriverClient::Killed() const {
  std::vector<std::string> killed;
  for (const std::string& line : Lines("killed", "killed ")) {
    const size_t space = line.find(' ');
    killed.push_back(memory::DecodeWord(line.substr(0, space)).value_or("") +
                     (space == std::string::npos ? "" : line.substr(space)));
  }
  return killed;
}

}  // namespace warden::agent
