#include "tests/e2e/wireguard/wireguard_rig.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "tests/support/netns_rig.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPrefix[] = "wgrig-";  // namespaces and temp dirs of every rig
constexpr char kUapiDir[] = "/var/run/wireguard";
constexpr char kListenPort[] = "51820";
constexpr int kMaxClients = 9;

// UAPI sockets of rig interfaces ("wgs..."/"wgc...") whose daemon was
// SIGKILLed: nobody listens on them any more.
void SweepStaleSockets() {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(kUapiDir, error)) {
    const std::string name = entry.path().filename().string();
    if (!(absl::StartsWith(name, "wgs") || absl::StartsWith(name, "wgc")) ||
        !absl::EndsWith(name, ".sock") || !entry.is_socket(error)) {
      continue;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = entry.path().string();
    if (path.size() >= sizeof(address.sun_path)) continue;
    std::memcpy(address.sun_path, path.data(), path.size());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const bool refused =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 &&
        errno == ECONNREFUSED;
    ::close(fd);
    if (refused) ::unlink(path.c_str());
  }
}

}  // namespace

std::string WireGuardRig::UnusableReason() {
  static const std::string* const reason = new std::string(
      NetnsRigUnusableReason("WireGuard", kPrefix, {"wireguard-go", "wg", "ip", "ping", "sh"}));
  return *reason;
}

WireGuardRig::WireGuardRig() {
  std::random_device entropy;
  std::mt19937 random(entropy());
  char tag[8];
  std::snprintf(tag, sizeof(tag), "%04x", static_cast<unsigned>(random() & 0xffff));
  tag_ = absl::StrCat(::getpid(), "-", tag);
  name_id_ = absl::StrCat(::getpid(), tag);  // <= 7 + 4 characters
  // 10.B.C.0/24 for the bridge and 10.B.C+1.0/24 for the tunnel; B in
  // [200, 249] (the OpenVPN rig uses [100, 199]), C even.
  const int b = 200 + static_cast<int>(random() % 50);
  const int c = 2 * static_cast<int>(random() % 128);
  net_ = absl::StrCat("10.", b, ".", c);
  tun_net_ = absl::StrCat("10.", b, ".", c + 1);
  server_ns_ = absl::StrCat(kPrefix, tag_, "-s");
  server_iface_ = absl::StrCat("wgs", name_id_);
}

WireGuardRig::~WireGuardRig() {
  if (::testing::Test::HasFailure()) DumpLogs();
  Teardown();
}

std::string WireGuardRig::uapi_socket() const {
  return absl::StrCat(kUapiDir, "/", server_iface_, ".sock");
}

absl::Status WireGuardRig::Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  const ExecResult result = RunToCompletion(argv);
  if (result.exit_code == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(absl::StrJoin(argv, " "), ": ", result.output));
}

int WireGuardRig::RunInNs(const std::string& ns, const std::vector<std::string>& argv,
                          absl::Duration timeout, std::string* output) {
  std::vector<std::string> command{"ip", "netns", "exec", ns};
  command.insert(command.end(), argv.begin(), argv.end());
  ExecResult result = RunToCompletion(command, timeout);
  if (output != nullptr) *output = std::move(result.output);
  return result.exit_code;
}

absl::Status WireGuardRig::Setup() {
  if (!dir_.empty()) return absl::FailedPreconditionError("Setup() was already called");
  SweepStaleRigs(kPrefix);
  SweepStaleSockets();
  std::string dir_template = absl::StrCat("/tmp/", kPrefix, tag_, "-XXXXXX");
  if (::mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  dir_ = dir_template;
  server_log_ = dir_ + "/server.log";
  if (absl::Status made = Ip({"netns", "add", server_ns_}); !made.ok()) return made;
  namespaces_made_.push_back(server_ns_);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-n", server_ns_, "link", "set", "lo", "up"},
           {"-n", server_ns_, "link", "add", "br0", "type", "bridge", "forward_delay", "0",
            "stp_state", "0"},
           {"-n", server_ns_, "addr", "add", net_ + ".1/24", "dev", "br0"},
           {"-n", server_ns_, "link", "set", "br0", "up"}}) {
    if (absl::Status done = Ip(args); !done.ok()) return done;
  }
  return absl::OkStatus();
}

absl::StatusOr<WgKeyPair> WireGuardRig::GenerateKeyPair() {
  ExecResult genkey = RunToCompletion({"wg", "genkey"});
  if (genkey.exit_code != 0) return absl::InternalError(absl::StrCat("wg genkey: ", genkey.output));
  WgKeyPair keys;
  keys.private_key = std::string(absl::StripAsciiWhitespace(genkey.output));
  const std::string file = absl::StrCat(dir_, "/genkey-", ::getpid(), ".tmp");
  if (absl::Status written = WriteKey(file, keys.private_key); !written.ok()) return written;
  ExecResult pubkey = RunToCompletion({"sh", "-c", absl::StrCat("wg pubkey < '", file, "'")});
  ::unlink(file.c_str());
  if (pubkey.exit_code != 0) return absl::InternalError(absl::StrCat("wg pubkey: ", pubkey.output));
  keys.public_key = std::string(absl::StripAsciiWhitespace(pubkey.output));
  return keys;
}

absl::Status WireGuardRig::WriteKey(const std::string& path, const std::string& key) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", path));
  const std::string line = key + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  return ok ? absl::OkStatus() : absl::InternalError(absl::StrCat("cannot write ", path));
}

absl::StatusOr<std::unique_ptr<Process>> WireGuardRig::StartDaemon(const std::string& ns,
                                                                   const std::string& iface,
                                                                   const std::string& log_path) {
  const std::string socket = absl::StrCat(kUapiDir, "/", iface, ".sock");
  if (::access(socket.c_str(), F_OK) == 0) {
    return absl::AlreadyExistsError(absl::StrCat(socket, " exists: another rig uses ", iface));
  }
  // Not `wireguard-go --help`: that makes an interface named "--help".
  auto daemon = std::make_unique<Process>(
      FindExecutable("ip"),
      std::vector<std::string>{"netns", "exec", ns, FindExecutable("wireguard-go"), "-f", iface},
      std::map<std::string, std::string>{{"WG_PROCESS_FOREGROUND", "1"}}, log_path);
  ifaces_started_.push_back(iface);
  // The UAPI socket appears about 120 ms after the start.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    if (::access(socket.c_str(), F_OK) == 0 && RunInNs(ns, {"wg", "show", iface}) == 0) {
      return daemon;
    }
    if (!daemon->Running()) {
      return absl::InternalError(
          absl::StrCat("wireguard-go for ", iface, " exited: ", Tail(daemon->Log())));
    }
    if (absl::Now() > deadline) {
      StopDaemon(daemon, iface);
      return absl::DeadlineExceededError(absl::StrCat("no UAPI socket at ", socket));
    }
    absl::SleepFor(absl::Milliseconds(20));  // polling a condition with a deadline
  }
}

void WireGuardRig::StopDaemon(std::unique_ptr<Process>& daemon, const std::string& iface) {
  if (daemon != nullptr) {
    daemon->Signal(SIGTERM);
    daemon->Wait(absl::Seconds(3));
    daemon.reset();  // SIGKILL when SIGTERM was not enough
  }
  // A daemon that was SIGKILLed leaves its socket behind.
  ::unlink(absl::StrCat(kUapiDir, "/", iface, ".sock").c_str());
}

absl::Status WireGuardRig::StartServerInterface(const std::string& iface) {
  if (dir_.empty()) return absl::FailedPreconditionError("call Setup() first");
  if (server_daemon_ != nullptr)
    return absl::FailedPreconditionError("the server interface is running");
  if (!iface.empty()) server_iface_ = iface;
  if (server_keys_.private_key.empty()) {
    absl::StatusOr<WgKeyPair> keys = GenerateKeyPair();
    if (!keys.ok()) return keys.status();
    server_keys_ = *keys;
    if (absl::Status written = WriteKey(dir_ + "/server.key", server_keys_.private_key);
        !written.ok()) {
      return written;
    }
  }
  absl::StatusOr<std::unique_ptr<Process>> daemon =
      StartDaemon(server_ns_, server_iface_, server_log_);
  if (!daemon.ok()) return daemon.status();
  server_daemon_ = std::move(*daemon);
  std::string output;
  if (RunInNs(server_ns_,
              {"wg", "set", server_iface_, "private-key", dir_ + "/server.key", "listen-port",
               kListenPort},
              absl::Seconds(10), &output) != 0) {
    return absl::InternalError(absl::StrCat("wg set ", server_iface_, ": ", output));
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-n", server_ns_, "addr", "add", tun_net_ + ".1/24", "dev", server_iface_},
           {"-n", server_ns_, "link", "set", server_iface_, "up"}}) {
    if (absl::Status done = Ip(args); !done.ok()) return done;
  }
  return absl::OkStatus();
}

void WireGuardRig::StopServerInterface() { StopDaemon(server_daemon_, server_iface_); }

absl::StatusOr<WireGuardRig::Client*> WireGuardRig::AddClient(const std::string& name,
                                                              const ClientOptions& options) {
  if (server_keys_.public_key.empty()) {
    return absl::FailedPreconditionError("call StartServerInterface() first");
  }
  const int slot = static_cast<int>(clients_.size());
  if (slot >= kMaxClients) {
    return absl::ResourceExhaustedError(absl::StrCat("at most ", kMaxClients, " clients"));
  }
  Client& client = clients_.emplace_back();
  client.name = name;
  client.ns = absl::StrCat(kPrefix, tag_, "-c", slot);
  client.iface = absl::StrCat("wgc", name_id_, slot);
  client.tunnel_ip =
      options.tunnel_ip.empty() ? absl::StrCat(tun_net_, ".", 10 + slot) : options.tunnel_ip;
  client.allowed_ip = client.tunnel_ip + "/32";
  client.log_path = absl::StrCat(dir_, "/client-", slot, ".log");
  if (options.keys) {
    client.keys = *options.keys;
  } else {
    absl::StatusOr<WgKeyPair> keys = GenerateKeyPair();
    if (!keys.ok()) return keys.status();
    client.keys = *keys;
  }
  const std::string key_file = absl::StrCat(dir_, "/client-", slot, ".key");
  if (absl::Status written = WriteKey(key_file, client.keys.private_key); !written.ok()) {
    return written;
  }

  // The veth is made inside the server namespace with its peer already in
  // the client's, so no name ever appears in the root namespace.
  const std::string port = absl::StrCat("vc", slot);
  if (absl::Status made = Ip({"netns", "add", client.ns}); !made.ok()) return made;
  namespaces_made_.push_back(client.ns);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-n", client.ns, "link", "set", "lo", "up"},
           {"-n", server_ns_, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns",
            client.ns},
           {"-n", server_ns_, "link", "set", port, "master", "br0"},
           {"-n", server_ns_, "link", "set", port, "up"},
           {"-n", client.ns, "addr", "add", absl::StrCat(net_, ".", 10 + slot, "/24"), "dev",
            "eth0"},
           {"-n", client.ns, "link", "set", "eth0", "up"}}) {
    if (absl::Status done = Ip(args); !done.ok()) return done;
  }

  absl::StatusOr<std::unique_ptr<Process>> daemon =
      StartDaemon(client.ns, client.iface, client.log_path);
  if (!daemon.ok()) return daemon.status();
  client.daemon = std::move(*daemon);
  std::string output;
  if (RunInNs(client.ns,
              {"wg", "set", client.iface, "private-key", key_file, "peer", server_keys_.public_key,
               "endpoint", server_endpoint(), "allowed-ips", tun_net_ + ".0/24"},
              absl::Seconds(10), &output) != 0) {
    return absl::InternalError(absl::StrCat("wg set ", client.iface, ": ", output));
  }
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-n", client.ns, "addr", "add", client.tunnel_ip + "/24", "dev", client.iface},
           {"-n", client.ns, "link", "set", client.iface, "up"}}) {
    if (absl::Status done = Ip(args); !done.ok()) return done;
  }
  return &client;
}

bool WireGuardRig::ClientPing(const Client& client, const std::string& ip, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (RunInNs(client.ns, {"ping", "-n", "-c1", "-W1", ip}, absl::Seconds(5)) == 0) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(100));  // "network unreachable" fails at once
  }
}

bool WireGuardRig::ClientPingFails(const Client& client, const std::string& ip, int attempts) {
  for (int i = 0; i < attempts; ++i) {
    if (RunInNs(client.ns, {"ping", "-n", "-c1", "-W1", ip}, absl::Seconds(5)) == 0) return false;
  }
  return true;
}

std::vector<std::string> WireGuardRig::ServerPeerKeys() {
  std::string output;
  if (RunInNs(server_ns_, {"wg", "show", server_iface_, "peers"}, absl::Seconds(10), &output) !=
      0) {
    return {};
  }
  return absl::StrSplit(output, '\n', absl::SkipWhitespace());
}

bool WireGuardRig::ServerHasPeer(const std::string& public_key) {
  for (const std::string& key : ServerPeerKeys()) {
    if (key == public_key) return true;
  }
  return false;
}

std::optional<int64_t> WireGuardRig::ServerLatestHandshake(const std::string& public_key) {
  std::string output;
  if (RunInNs(server_ns_, {"wg", "show", server_iface_, "latest-handshakes"}, absl::Seconds(10),
              &output) != 0) {
    return std::nullopt;
  }
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::ByAnyChar(" \t"),
                                                           absl::SkipWhitespace());
    int64_t seconds = 0;
    if (fields.size() == 2 && fields[0] == public_key && absl::SimpleAtoi(fields[1], &seconds)) {
      return seconds;
    }
  }
  return std::nullopt;
}

std::string WireGuardRig::ServerShow() {
  std::string output;
  RunInNs(server_ns_, {"wg", "show", server_iface_}, absl::Seconds(10), &output);
  return output;
}

void WireGuardRig::DumpLogs() {
  std::cerr << "---- WireGuard rig " << tag_ << " (bridge " << net_ << ".0/24, tunnel " << tun_net_
            << ".0/24)\n";
  if (server_daemon_ != nullptr)
    std::cerr << "---- wg show " << server_iface_ << ":\n" << ServerShow();
  if (!server_log_.empty()) {
    std::cerr << "---- server wireguard-go log:\n" << Tail(ReadWholeFile(server_log_)) << "\n";
  }
  for (const Client& client : clients_) {
    std::cerr << "---- client " << client.name << " (" << client.iface << ") log:\n"
              << Tail(ReadWholeFile(client.log_path)) << "\n";
  }
}

void WireGuardRig::Teardown() {
  for (Client& client : clients_) StopDaemon(client.daemon, client.iface);
  StopDaemon(server_daemon_, server_iface_);
  for (const std::string& iface : ifaces_started_) {
    ::unlink(absl::StrCat(kUapiDir, "/", iface, ".sock").c_str());
  }
  for (auto ns = namespaces_made_.rbegin(); ns != namespaces_made_.rend(); ++ns) {
    if (absl::Status deleted = Ip({"netns", "del", *ns}); !deleted.ok()) {
      std::cerr << "WireGuardRig: " << deleted << "\n";
    }
  }
  namespaces_made_.clear();
  if (!dir_.empty()) {
    std::error_code error;
    fs::remove_all(dir_, error);
  }
}

}  // namespace warden::testing
