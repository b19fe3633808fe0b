#include "tests/e2e/quic/quic_rig.h"

#include <unistd.h>

#include <atomic>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::testing {
namespace {

constexpr char kPrefix[] = "qrig";

absl::Status Run(const std::vector<std::string>& argv) {
  ExecResult result = RunToCompletion(argv);
  if (result.exit_code != 0) {
    return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), " failed (", result.exit_code,
                                            "): ", result.output));
  }
  return absl::OkStatus();
}

}  // namespace

std::string QuicRig::UnusableReason() {
  return NetnsRigUnusableReason("QUIC tunnel rig", kPrefix, {"ip", "ping", "iperf3"});
}

QuicRig::QuicRig() {
  static std::atomic<int> rigs{0};
  tag_ = absl::StrCat(::getpid(), "n", rigs++);
  std::random_device random;
  net_b_ = 100 + static_cast<int>(random() % 100);
  net_c_ = 2 * static_cast<int>(random() % 127);
  pool_ = absl::StrCat("10.", net_b_, ".", net_c_, ".0/24");
  gateway_ = absl::StrCat("10.", net_b_, ".", net_c_, ".1");
  server_tun_ = absl::StrCat("wqs", tag_);
}

QuicRig::~QuicRig() {
  for (const std::string& ns : namespaces_) RunToCompletion({"ip", "netns", "delete", ns});
}

absl::Status QuicRig::Setup() {
  SweepStaleRigs(kPrefix);
  return absl::OkStatus();
}

absl::StatusOr<QuicRig::Client> QuicRig::AddClient() {
  Client client;
  client.index = static_cast<int>(namespaces_.size());
  client.ns = absl::StrCat(kPrefix, ::getpid(), "-", tag_, "-c", client.index);
  client.tun = absl::StrCat("wqc", tag_, "c", client.index);
  const std::string veth = absl::StrCat("qv", tag_, "c", client.index);
  const std::string peer = absl::StrCat("qp", tag_, "c", client.index);
  const std::string subnet = absl::StrCat("10.", net_b_, ".", net_c_ + 1, ".");
  client.server_ip = absl::StrCat(subnet, 4 * client.index + 1);
  const std::string client_ip = absl::StrCat(subnet, 4 * client.index + 2);

  if (absl::Status s = Run({"ip", "netns", "add", client.ns}); !s.ok()) return s;
  namespaces_.push_back(client.ns);
  for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
           {"ip", "link", "add", veth, "type", "veth", "peer", "name", peer},
           {"ip", "link", "set", peer, "netns", client.ns},
           {"ip", "addr", "add", client.server_ip + "/30", "dev", veth},
           {"ip", "link", "set", veth, "up"},
           {"ip", "-n", client.ns, "link", "set", "lo", "up"},
           {"ip", "-n", client.ns, "addr", "add", client_ip + "/30", "dev", peer},
           {"ip", "-n", client.ns, "link", "set", peer, "up"},
       }) {
    if (absl::Status s = Run(step); !s.ok()) return s;
  }
  return client;
}

ExecResult QuicRig::InClient(const Client& client, std::vector<std::string> argv,
                             absl::Duration timeout) const {
  std::vector<std::string> command{"ip", "netns", "exec", client.ns};
  command.insert(command.end(), argv.begin(), argv.end());
  return RunToCompletion(command, timeout);
}

std::unique_ptr<Process> QuicRig::StartInClient(const Client& client, const std::string& binary,
                                                std::vector<std::string> args,
                                                const std::string& log_path) const {
  std::vector<std::string> command{"netns", "exec", client.ns, binary};
  command.insert(command.end(), args.begin(), args.end());
  return std::make_unique<Process>(FindExecutable("ip"), std::move(command),
                                   std::map<std::string, std::string>{}, log_path);
}

}  // namespace warden::testing
