#include "tests/e2e/openvpn/openvpn_rig.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/status_macros.h"
#include "tests/support/netns_rig.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

constexpr char kPrefix[] = "wovpn-";  // namespaces and temp dirs of every rig
constexpr char kPort[] = "1194";
constexpr char kConnected[] = "Initialization Sequence Completed";

void Append(std::vector<std::string>& args, std::initializer_list<std::string> more) {
  args.insert(args.end(), more);
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  ::chmod(path.c_str(), 0600);
  return absl::OkStatus();
}

// Lines that end with `text` ("... Initialization Sequence Completed", not "... With Errors").
int CountLinesEndingWith(const std::string& log, const std::string& text) {
  int count = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
    const size_t end = at + text.size();
    if (end == log.size() || log[end] == '\n') ++count;
  }
  return count;
}

// File names keep only what is safe in a path.
std::string Sanitize(const std::string& name) {
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out.empty() ? "client" : out;
}

}  // namespace

std::string OpenVpnRig::UnusableReason() {
  static const std::string* const reason = new std::string(
      NetnsRigUnusableReason("OpenVPN", kPrefix, {"openvpn", "openssl", "ip", "ping"}));
  return *reason;
}

std::vector<std::string> OpenVpnRig::NsExecPrefix(const std::string& ns) {
  return {"ip", "netns", "exec", ns};
}

OpenVpnRig::OpenVpnRig(OpenVpnRigOptions options) : options_(std::move(options)) {
  std::random_device entropy;
  std::mt19937 random(entropy());
  char tag[8];
  std::snprintf(tag, sizeof(tag), "%04x", static_cast<unsigned>(random() & 0xffff));
  tag_ = absl::StrCat(::getpid(), "-", tag);
  // 10.B.C.0/24 for the bridge and 10.B.C+1.0/24 for the tunnel; B in
  // [100, 199], C even. They live only inside the rig's namespaces.
  const int b = 100 + static_cast<int>(random() % 100);
  const int c = 2 * static_cast<int>(random() % 128);
  net_ = absl::StrCat("10.", b, ".", c);
  tun_net_ = absl::StrCat("10.", b, ".", c + 1);
  server_ns_ = absl::StrCat(kPrefix, tag_, "-s");
  server_address_ = net_ + ".1";
}

OpenVpnRig::~OpenVpnRig() {
  if (::testing::Test::HasFailure()) DumpLogs();
  Teardown();
}

absl::Status OpenVpnRig::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ExecResult result = RunToCompletion(argv);
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": ", result.output));
}

absl::Status OpenVpnRig::Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ExecResult result = RunToCompletion(argv, absl::Seconds(30));
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": ", result.output));
}

absl::Status OpenVpnRig::Setup() {
  if (!dir_.empty()) return absl::FailedPreconditionError("Setup() was already called");
  if (options_.max_clients < 1 || options_.max_clients > 200) {
    return absl::InvalidArgumentError("max_clients must be between 1 and 200");
  }
  SweepStaleRigs(kPrefix);

  std::string dir_template = absl::StrCat("/tmp/", kPrefix, tag_, "-XXXXXX");
  if (::mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  dir_ = dir_template;
  management_socket_ = dir_ + "/management.sock";
  server_log_ = dir_ + "/server.log";

  // The server namespace: a bridge that every client's veth joins.
  WARDEN_RETURN_IF_ERROR(Ip({"netns", "add", server_ns_}));
  namespaces_made_.push_back(server_ns_);
  WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "set", "lo", "up"}));
  WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "add", "br0", "type", "bridge",
                             "forward_delay", "0", "stp_state", "0"}));
  WARDEN_RETURN_IF_ERROR(
      Ip({"-n", server_ns_, "addr", "add", server_address_ + "/24", "dev", "br0"}));
  WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "set", "br0", "up"}));

  // One namespace per client slot. The veth is created inside the server
  // namespace with its peer already in the client's, so no name ever appears
  // in the root namespace.
  for (int slot = 0; slot < options_.max_clients; ++slot) {
    const std::string ns = absl::StrCat(kPrefix, tag_, "-c", slot);
    const std::string port = absl::StrCat("vc", slot);
    WARDEN_RETURN_IF_ERROR(Ip({"netns", "add", ns}));
    namespaces_made_.push_back(ns);
    client_ns_.push_back(ns);
    slot_busy_.push_back(false);
    WARDEN_RETURN_IF_ERROR(Ip({"-n", ns, "link", "set", "lo", "up"}));
    WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "add", port, "type", "veth", "peer",
                               "name", "eth0", "netns", ns}));
    WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "set", port, "master", "br0"}));
    WARDEN_RETURN_IF_ERROR(Ip({"-n", server_ns_, "link", "set", port, "up"}));
    WARDEN_RETURN_IF_ERROR(
        Ip({"-n", ns, "addr", "add", absl::StrCat(net_, ".", 10 + slot, "/24"), "dev", "eth0"}));
    WARDEN_RETURN_IF_ERROR(Ip({"-n", ns, "link", "set", "eth0", "up"}));
  }

  WARDEN_RETURN_IF_ERROR(MakePki());
  if (!options_.management_password.empty()) {
    WARDEN_RETURN_IF_ERROR(WriteFile(dir_ + "/management.pw", options_.management_password + "\n"));
  }
  return absl::OkStatus();
}

absl::Status OpenVpnRig::MakePki() {
  const std::string d = dir_ + "/";
  WARDEN_RETURN_IF_ERROR(
      Openssl({"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d + "ca.key"}));
  WARDEN_RETURN_IF_ERROR(Openssl({"req", "-x509", "-new", "-key", d + "ca.key", "-sha256", "-days",
                                  "30", "-subj", "/CN=warden-rig-ca", "-out", d + "ca.crt"}));
  WARDEN_RETURN_IF_ERROR(
      Openssl({"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", d + "server.key"}));
  WARDEN_RETURN_IF_ERROR(Openssl({"req", "-new", "-key", d + "server.key", "-subj",
                                  "/CN=" + server_name(), "-out", d + "server.csr"}));
  // EKU serverAuth: the clients' --remote-cert-tls server requires it.
  WARDEN_RETURN_IF_ERROR(WriteFile(d + "server.ext",
                                   "basicConstraints=CA:FALSE\n"
                                   "keyUsage=digitalSignature,keyAgreement\n"
                                   "extendedKeyUsage=serverAuth\n"));
  WARDEN_RETURN_IF_ERROR(
      Openssl({"x509", "-req", "-in", d + "server.csr", "-CA", d + "ca.crt", "-CAkey", d + "ca.key",
               "-set_serial", "1", "-days", "30", "-sha256", "-extfile", d + "server.ext", "-out",
               d + "server.crt"}));
  return absl::OkStatus();
}

absl::Status OpenVpnRig::StartServer() {
  if (dir_.empty()) return absl::FailedPreconditionError("call Setup() first");
  if (server_ != nullptr && server_->Running()) {
    return absl::FailedPreconditionError("the server is already running");
  }
  ::unlink(management_socket_.c_str());  // left behind when a server was SIGKILLed
  const size_t log_offset = ReadWholeFile(server_log_).size();

  const std::string d = dir_ + "/";
  std::vector<std::string> args{"netns", "exec", server_ns_, FindExecutable("openvpn")};
  Append(args, {"--dev", "tun", "--proto", "udp4", "--local", server_address_, "--port", kPort});
  Append(args, {"--server", tun_net_ + ".0", "255.255.255.0", "--topology", "subnet"});
  Append(args,
         {"--keepalive", "2", "10", "--hand-window", absl::StrCat(options_.hand_window_seconds)});
  Append(args, {"--ca", d + "ca.crt", "--cert", d + "server.crt", "--key", d + "server.key"});
  Append(args, {"--dh", "none", "--verify-client-cert", "none", "--username-as-common-name",
                "--duplicate-cn", "--disable-dco"});
  // On SIGTERM, tell the clients to reconnect at once instead of after the keepalive.
  Append(args, {"--explicit-exit-notify", "1"});
  Append(args, {"--management", management_socket_, "unix"});
  if (!options_.management_password.empty()) args.push_back(d + "management.pw");
  if (options_.management_hold) args.push_back("--management-hold");
  if (options_.management_client_auth) {
    args.push_back("--management-client-auth");
  } else {
    // --verify-client-cert none needs someone to check passwords: accept everyone.
    Append(args, {"--script-security", "2", "--tmp-dir", dir_, "--auth-user-pass-verify",
                  FindExecutable("true"), "via-file"});
  }
  Append(args, {"--verb", "4"});
  server_ = std::make_unique<Process>(FindExecutable("ip"), std::move(args),
                                      std::map<std::string, std::string>{}, server_log_);

  const auto started = [&] {
    if (::access(management_socket_.c_str(), F_OK) != 0) return false;
    // Held, it initialises only once the agent releases it.
    return options_.management_hold ||
           ReadWholeFile(server_log_).find(kConnected, log_offset) != std::string::npos;
  };
  if (!WaitFor([&] { return started() || !server_->Running(); }, absl::Seconds(15)) || !started()) {
    const std::string log = ReadWholeFile(server_log_);
    StopServer();
    return absl::InternalError(absl::StrCat("the OpenVPN server did not start; its log:\n",
                                            Tail(log.substr(std::min(log_offset, log.size())))));
  }
  return absl::OkStatus();
}

void OpenVpnRig::StopServer() {
  if (server_ == nullptr) return;
  if (server_->Running()) {
    server_->Signal(SIGTERM);
    if (server_->Wait(absl::Seconds(10)) == -1) {
      server_->Signal(SIGKILL);
      server_->Wait(absl::Seconds(10));
    }
  }
  server_.reset();
}

absl::Status OpenVpnRig::RestartServer() {
  StopServer();
  return StartServer();
}

OpenVpnRig::Client& OpenVpnRig::StartClient(const std::string& name, const std::string& username,
                                            const std::string& password) {
  Client& client = clients_.emplace_back();
  client.name = name;
  int slot = 0;
  while (slot < static_cast<int>(slot_busy_.size()) && slot_busy_[slot]) ++slot;
  if (slot == static_cast<int>(slot_busy_.size())) {
    ADD_FAILURE() << "OpenVpnRig: no free client namespace for " << name << " (max_clients "
                  << options_.max_clients << "; was Setup() called?)";
    return client;
  }
  const std::string stem = absl::StrCat(dir_, "/client-", clients_.size() - 1, "-", Sanitize(name));
  const std::string credentials = stem + ".creds";
  if (absl::Status written = WriteFile(credentials, username + "\n" + password + "\n");
      !written.ok()) {
    ADD_FAILURE() << written;
    return client;
  }
  slot_busy_[slot] = true;
  client.slot = slot;
  client.ns = client_ns_[slot];
  client.log_path = stem + ".log";

  std::vector<std::string> args{"netns", "exec", client.ns, FindExecutable("openvpn")};
  Append(args, {"--client", "--dev", "tun0", "--proto", "udp4", "--remote", server_address_, kPort,
                "--nobind", "--disable-dco"});
  Append(args, {"--ca", dir_ + "/ca.crt", "--remote-cert-tls", "server", "--verify-x509-name",
                server_name(), "name"});
  Append(args, {"--auth-user-pass", credentials, "--auth-retry", "none", "--auth-nocache"});
  Append(args, {"--connect-retry", "1"});
  // On SIGTERM, tell the server, so it reports the disconnect at once.
  Append(args, {"--explicit-exit-notify", "1"});
  Append(args, {"--verb", "4"});
  client.process = std::make_unique<Process>(FindExecutable("ip"), std::move(args),
                                             std::map<std::string, std::string>{}, client.log_path);
  return client;
}

void OpenVpnRig::StopClient(Client& client) {
  if (client.process != nullptr && client.process->Running()) {
    client.process->Signal(SIGTERM);
    if (client.process->Wait(absl::Seconds(5)) == -1) {
      client.process->Signal(SIGKILL);
      client.process->Wait(absl::Seconds(10));
    }
  }
  if (client.slot >= 0) slot_busy_[client.slot] = false;
  client.slot = -1;
}

bool OpenVpnRig::WaitClientConnected(const Client& client, absl::Duration timeout,
                                     int connections) {
  if (client.process == nullptr) return false;
  const auto connected = [&] {
    return CountLinesEndingWith(ReadWholeFile(client.log_path), kConnected) >= connections;
  };
  WaitFor([&] { return connected() || !client.process->Running(); }, timeout);
  return connected();
}

std::string OpenVpnRig::ClientTunnelIp(const Client& client) {
  if (client.ns.empty()) return "";
  std::string output;
  if (RunInNs(client.ns, {"ip", "-4", "-o", "addr", "show", "dev", "tun0"}, absl::Seconds(5),
              &output) != 0) {
    return "";
  }
  // "5: tun0    inet 10.1.2.2/24 scope global tun0 ..."
  const size_t inet = output.find(" inet ");
  if (inet == std::string::npos) return "";
  const size_t start = inet + 6;
  return output.substr(start, output.find('/', start) - start);
}

bool OpenVpnRig::Ping(const Client& client, const std::string& address, absl::Duration timeout) {
  if (client.ns.empty()) return false;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (RunInNs(client.ns, {"ping", "-n", "-c1", "-W1", address}, absl::Seconds(5)) == 0) {
      return true;
    }
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(100));  // "network unreachable" fails at once
  }
}

bool OpenVpnRig::ClientExited(const Client& client) {
  return client.process == nullptr || !client.process->Running();
}

std::string OpenVpnRig::ClientLog(const Client& client) const {
  return client.log_path.empty() ? "" : ReadWholeFile(client.log_path);
}

std::string OpenVpnRig::ServerLog() const {
  return server_log_.empty() ? "" : ReadWholeFile(server_log_);
}

std::string OpenVpnRig::server_tunnel_ip() const { return tun_net_ + ".1"; }

int OpenVpnRig::RunInNs(const std::string& ns, const std::vector<std::string>& argv,
                        absl::Duration timeout, std::string* output) {
  std::vector<std::string> command = NsExecPrefix(ns);
  command.insert(command.end(), argv.begin(), argv.end());
  ExecResult result = RunToCompletion(command, timeout);
  if (output != nullptr) *output = std::move(result.output);
  return result.exit_code;
}

void OpenVpnRig::DumpLogs() const {
  std::cerr << "---- OpenVPN rig " << tag_ << " (bridge " << net_ << ".0/24, tunnel " << tun_net_
            << ".0/24)\n";
  if (!server_log_.empty()) std::cerr << "---- server log:\n" << Tail(ServerLog()) << "\n";
  for (const Client& client : clients_) {
    if (client.log_path.empty()) continue;
    std::cerr << "---- client " << client.name << " log:\n" << Tail(ClientLog(client)) << "\n";
  }
}

void OpenVpnRig::Teardown() {
  // SIGKILL: nothing to be graceful about any more, and it cannot hang.
  for (Client& client : clients_) client.process.reset();
  server_.reset();
  for (auto ns = namespaces_made_.rbegin(); ns != namespaces_made_.rend(); ++ns) {
    if (absl::Status deleted = Ip({"netns", "del", *ns}); !deleted.ok()) {
      std::cerr << "OpenVpnRig: " << deleted << "\n";
    }
  }
  namespaces_made_.clear();
  if (!dir_.empty()) {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
}

}  // namespace warden::testing
