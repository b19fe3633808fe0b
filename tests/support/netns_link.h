#pragma once

// A network namespace joined to this one by veth pairs, for cutting one
// process's path to another: a link set down drops packets silently, as a
// partition does, instead of refusing connections. Needs root and `ip`;
// named "<prefix><pid>-..." so that SweepStaleRigs clears what a killed
// test left behind.

#include <string>
#include <vector>

namespace warden::testing {

class LinkedNamespace {
 public:
  // Creates "<prefix><pid>-<name>" with its loopback up. Check
  // NetnsRigUnusableReason first.
  LinkedNamespace(const std::string& prefix, const std::string& name);
  ~LinkedNamespace();  // deletes the namespace, and with it its veth pairs

  LinkedNamespace(const LinkedNamespace&) = delete;
  LinkedNamespace& operator=(const LinkedNamespace&) = delete;

  // A veth pair: `outer` here with `outer_ip`, `inner` in the namespace with
  // `inner_ip` (both /30). False (with the reason in error()) on failure.
  bool AddPair(const std::string& outer, const std::string& inner, const std::string& outer_ip,
               const std::string& inner_ip);
  // Sets a link up or down: `inner` names one in the namespace, else here.
  bool SetLink(const std::string& link, bool up, bool inner);

  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }

 private:
  bool Ip(std::vector<std::string> args);

  std::string name_;
  std::string error_;
};

}  // namespace warden::testing
