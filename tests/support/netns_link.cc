#include "tests/support/netns_link.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/netns_rig.h"

namespace warden::testing {

LinkedNamespace::LinkedNamespace(const std::string& prefix, const std::string& name)
    : name_(absl::StrCat(prefix, ::getpid(), "-", name)) {
  if (Ip({"netns", "add", name_})) Ip({"-n", name_, "link", "set", "lo", "up"});
}

LinkedNamespace::~LinkedNamespace() { RunToCompletion({"ip", "netns", "del", name_}); }

bool LinkedNamespace::Ip(std::vector<std::string> args) {
  args.insert(args.begin(), "ip");
  const ExecResult result = RunToCompletion(args);
  if (result.exit_code != 0 && error_.empty()) {
    error_ = absl::StrCat(absl::StrJoin(args, " "), ": ", result.output);
  }
  return result.exit_code == 0;
}

bool LinkedNamespace::AddPair(const std::string& outer, const std::string& inner,
                              const std::string& outer_ip, const std::string& inner_ip) {
  return error_.empty() &&
         Ip({"link", "add", outer, "type", "veth", "peer", "name", inner, "netns", name_}) &&
         Ip({"addr", "add", outer_ip + "/30", "dev", outer}) && Ip({"link", "set", outer, "up"}) &&
         Ip({"-n", name_, "addr", "add", inner_ip + "/30", "dev", inner}) &&
         Ip({"-n", name_, "link", "set", inner, "up"});
}

bool LinkedNamespace::SetLink(const std::string& link, bool up, bool inner) {
  std::vector<std::string> args{"link", "set", link, up ? "up" : "down"};
  if (inner) args.insert(args.begin(), {"-n", name_});
  return Ip(std::move(args));
}

}  // namespace warden::testing
