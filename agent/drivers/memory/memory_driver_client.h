#pragma once

#include <string>
#include <vector>

namespace warden::agent {

// Talks to the memory driver's control socket (see memory_driver.h).
class MemoryDriverClient {
 public:
  explicit MemoryDriverClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  // The reply, without its trailing newline; "" when the socket is unreachable.
  std::string Request(const std::string& line) const;
  // A connection the driver vouches for; `secret` (a password or a wct_
  // ticket) when not empty.
  std::string Open(const std::string& key, const std::string& username,
                   const std::string& secret = "") const;
  std::string Close(const std::string& key, long rx = 0, long tx = 0) const;
  std::vector<std::string> Sessions() const;  // keys
  std::vector<std::string> Killed() const;    // "key reason"

 private:
  std::vector<std::string> Lines(const std::string& request, const std::string& prefix) const;
  std::string socket_path_;
};

}  // namespace warden::agent
