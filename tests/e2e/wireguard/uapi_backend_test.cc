// The WireGuard backends against the real thing: wireguard-go in a fresh
// network namespace (UAPI), and the kernel's generic netlink family when the
// wireguard module is there. Needs root and the tools; skips otherwise.
// Everything created (namespaces, daemons, sockets) is removed in the
// fixture's TearDown, which runs even when a test fails.

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/drivers/wireguard/netlink.h"
#include "agent/drivers/wireguard/uapi.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace warden::agent::wireguard {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kUapiDir[] = "/var/run/wireguard";

bool HaveTool(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  for (absl::string_view dir : absl::StrSplit(path + ":/usr/sbin:/sbin", ':')) {
    if (dir.empty()) continue;
    if (access(absl::StrCat(dir, "/", name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<char*> Argv(std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return argv;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs a command to completion; its output is captured.
CommandResult RunCommand(std::vector<std::string> args) {
  CommandResult result;
  std::vector<char*> argv = Argv(args);
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return result;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) result.output.append(buf, n);
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// Starts a command in the background with extra environment variables and
// its output going to `log_path`.
pid_t Spawn(std::vector<std::string> args, const std::vector<std::string>& extra_env,
            const std::string& log_path) {
  std::vector<char*> argv = Argv(args);
  std::vector<std::string> env_strings = extra_env;
  for (char** e = environ; *e != nullptr; ++e) env_strings.push_back(*e);
  std::vector<char*> envp = Argv(env_strings);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = fork();
  if (pid == 0) {
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    execvpe(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (log_fd >= 0) close(log_fd);
  return pid;
}

// Stops a process we started: SIGTERM, then SIGKILL after `grace`.
void Stop(pid_t pid, absl::Duration grace) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  absl::Time deadline = absl::Now() + grace;
  while (absl::Now() < deadline) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    absl::SleepFor(absl::Milliseconds(10));  // polling a condition with a deadline
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Key RandomKey() {
  Key key{};
  randombytes_buf(key.data(), key.size());
  return key;
}

// A private key and its public key, made by `wg` (not by the code under test).
struct WgKeyPair {
  std::string private_base64, public_base64;
};
WgKeyPair WgGenKey(const std::string& dir) {
  WgKeyPair pair;
  pair.private_base64 =
      std::string(absl::StripTrailingAsciiWhitespace(RunCommand({"wg", "genkey"}).output));
  std::string file = dir + "/private.key";
  std::ofstream(file) << pair.private_base64 << "\n";
  chmod(file.c_str(), 0600);
  pair.public_base64 = std::string(absl::StripTrailingAsciiWhitespace(
      RunCommand({"sh", "-c", absl::StrCat("wg pubkey < '", file, "'")}).output));
  return pair;
}

// One peer line of `wg show <iface> dump`.
struct DumpPeer {
  std::string preshared_key, endpoint, allowed_ips, keepalive;
};

// Parses `wg show <iface> dump`: the device line, then one line per peer:
// public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive.
std::map<std::string, DumpPeer> ParseWgDump(const std::string& dump, std::string& device_line) {
  std::map<std::string, DumpPeer> peers;
  std::vector<std::string> lines = absl::StrSplit(dump, '\n', absl::SkipEmpty());
  if (lines.empty()) return peers;
  device_line = lines[0];
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<std::string> f = absl::StrSplit(lines[i], '\t');
    if (f.size() != 8) continue;
    DumpPeer peer;
    peer.preshared_key = f[1];
    peer.endpoint = f[2];
    peer.allowed_ips = f[3];
    peer.keepalive = f[7];
    peers[f[0]] = peer;
  }
  return peers;
}

const WgPeer* FindPeer(const WgDevice& device, const Key& key) {
  for (const WgPeer& peer : device.peers) {
    if (peer.public_key == key) return &peer;
  }
  return nullptr;
}

// The three peers both e2e tests configure. The third has many allowed IPs,
// so its reply (UAPI) or dump (netlink, continued across messages) is long.
struct PeerSet {
  WgPeer one, two, three;
};
PeerSet MakePeers() {
  PeerSet set;
  set.one.public_key = RandomKey();
  set.one.preshared_key = RandomKey();
  set.one.persistent_keepalive = 25;
  set.one.allowed_ips = {"10.77.0.2/32"};
  set.two.public_key = RandomKey();
  set.two.endpoint = "192.0.2.10:51820";
  set.two.allowed_ips = {"10.77.0.3/32", "fd77::3/128"};
  set.three.public_key = RandomKey();
  for (int i = 0; i < 1000; ++i) {
    set.three.allowed_ips.push_back(absl::StrCat("10.78.", i / 250, ".", i % 250 + 1, "/32"));
  }
  return set;
}

// Adds the three peers, reads them back, updates one, removes one (twice),
// and checks the result through the backend and through `wg show dump`.
void ExerciseBackend(WgBackend& backend, const std::string& iface, const std::string& netns) {
  PeerSet p = MakePeers();
  ASSERT_TRUE(backend.AddOrUpdatePeer(p.one).ok());
  ASSERT_TRUE(backend.AddOrUpdatePeer(p.two).ok());
  absl::Status added = backend.AddOrUpdatePeer(p.three);
  ASSERT_TRUE(added.ok()) << added;

  absl::StatusOr<WgDevice> device = backend.GetDevice();
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->name, iface);
  ASSERT_EQ(device->peers.size(), 3u);
  const WgPeer* one = FindPeer(*device, p.one.public_key);
  const WgPeer* two = FindPeer(*device, p.two.public_key);
  const WgPeer* three = FindPeer(*device, p.three.public_key);
  ASSERT_TRUE(one && two && three);
  EXPECT_EQ(one->preshared_key, p.one.preshared_key);
  EXPECT_EQ(one->persistent_keepalive, 25);
  EXPECT_THAT(one->allowed_ips, UnorderedElementsAre("10.77.0.2/32"));
  EXPECT_FALSE(two->preshared_key.has_value());
  EXPECT_EQ(two->endpoint, "192.0.2.10:51820");
  EXPECT_THAT(two->allowed_ips, UnorderedElementsAre("10.77.0.3/32", "fd77::3/128"));
  EXPECT_EQ(std::set<std::string>(three->allowed_ips.begin(), three->allowed_ips.end()),
            std::set<std::string>(p.three.allowed_ips.begin(), p.three.allowed_ips.end()));

  // Update: allowed IPs replaced, preshared key and keepalive cleared.
  WgPeer updated = p.one;
  updated.preshared_key.reset();
  updated.persistent_keepalive = 0;
  updated.allowed_ips = {"10.77.0.12/32"};
  ASSERT_TRUE(backend.AddOrUpdatePeer(updated).ok());

  ASSERT_TRUE(backend.RemovePeer(p.two.public_key).ok());
  absl::Status again = backend.RemovePeer(p.two.public_key);
  EXPECT_TRUE(again.ok()) << "removing an absent peer: " << again;

  device = backend.GetDevice();
  ASSERT_TRUE(device.ok()) << device.status();
  ASSERT_EQ(device->peers.size(), 2u);
  one = FindPeer(*device, p.one.public_key);
  ASSERT_NE(one, nullptr);
  EXPECT_FALSE(one->preshared_key.has_value());
  EXPECT_EQ(one->persistent_keepalive, 0);
  EXPECT_THAT(one->allowed_ips, UnorderedElementsAre("10.77.0.12/32"));
  EXPECT_EQ(FindPeer(*device, p.two.public_key), nullptr);

  // The same state as `wg` sees it.
  CommandResult dump = RunCommand({"ip", "netns", "exec", netns, "wg", "show", iface, "dump"});
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  std::string device_line;
  std::map<std::string, DumpPeer> peers = ParseWgDump(dump.output, device_line);
  ASSERT_EQ(peers.size(), 2u) << dump.output;
  ASSERT_TRUE(peers.count(KeyToBase64(p.one.public_key))) << dump.output;
  ASSERT_TRUE(peers.count(KeyToBase64(p.three.public_key))) << dump.output;
  EXPECT_FALSE(peers.count(KeyToBase64(p.two.public_key)));
  const DumpPeer& wg_one = peers[KeyToBase64(p.one.public_key)];
  EXPECT_EQ(wg_one.preshared_key, "(none)");
  EXPECT_EQ(wg_one.allowed_ips, "10.77.0.12/32");
  EXPECT_EQ(wg_one.keepalive, "off");
  std::vector<std::string> wg_three_ips =
      absl::StrSplit(peers[KeyToBase64(p.three.public_key)].allowed_ips, ',');
  EXPECT_EQ(wg_three_ips.size(), 1000u);
}

// A network namespace, and (for UAPI) a wireguard-go daemon inside it.
class WireGuardRigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, tun devices)";
    for (const char* tool : {"ip", "wg"}) {
      if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
    }
    ASSERT_GE(sodium_init(), 0);
    int id = static_cast<int>(getpid() % 10000);
    iface_ = absl::StrCat("wgt", id);
    netns_ = absl::StrCat("warden-wgt-", getpid());
    char tmpl[] = "/tmp/warden-wg-e2e-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    CommandResult add = RunCommand({"ip", "netns", "add", netns_});
    ASSERT_EQ(add.exit_code, 0) << add.output;
    netns_created_ = true;
  }

  void TearDown() override {
    if (daemon_pid_ > 0) {
      Stop(daemon_pid_, absl::Seconds(3));
      if (HasFailure()) std::cerr << "wireguard-go log:\n" << ReadFile(dir_ + "/daemon.log");
    }
    if (netns_created_) RunCommand({"ip", "netns", "del", netns_});
    if (started_uapi_) unlink(UapiSocketPath().c_str());  // in case the daemon left it
    if (!dir_.empty()) RunCommand({"rm", "-rf", dir_});
  }

  std::string UapiSocketPath() const { return absl::StrCat(kUapiDir, "/", iface_, ".sock"); }

  // wireguard-go in the namespace; returns once its UAPI socket answers.
  void StartWireguardGo() {
    if (!HaveTool("wireguard-go")) GTEST_SKIP() << "wireguard-go is not installed";
    // Not `wireguard-go --help`: that makes an interface named "--help".
    started_uapi_ = true;
    daemon_pid_ = Spawn({"ip", "netns", "exec", netns_, "wireguard-go", "-f", iface_},
                        {"WG_PROCESS_FOREGROUND=1"}, dir_ + "/daemon.log");
    ASSERT_GT(daemon_pid_, 0);
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (true) {
      if (UapiRequest(UapiSocketPath(), kUapiGetRequest, absl::Seconds(1)).ok()) return;
      if (waitpid(daemon_pid_, nullptr, WNOHANG) == daemon_pid_) {
        daemon_pid_ = -1;
        FAIL() << "wireguard-go exited: " << ReadFile(dir_ + "/daemon.log");
      }
      if (absl::Now() > deadline) FAIL() << "no UAPI socket at " << UapiSocketPath();
      absl::SleepFor(absl::Milliseconds(20));  // polling a condition with a deadline
    }
  }

  std::string iface_, netns_, dir_;
  bool netns_created_ = false, started_uapi_ = false;
  pid_t daemon_pid_ = -1;
};

using UapiBackendE2ETest = WireGuardRigTest;

TEST_F(UapiBackendE2ETest, ManagesPeersOfWireguardGo) {
  ASSERT_NO_FATAL_FAILURE(StartWireguardGo());
  if (IsSkipped()) return;
  UapiBackend backend(iface_, UapiSocketPath());
  absl::StatusOr<WgDevice> empty = backend.GetDevice();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->peers.empty());
  EXPECT_FALSE(empty->public_key.has_value());  // no private key yet
  ExerciseBackend(backend, iface_, netns_);
}

TEST_F(UapiBackendE2ETest, DerivesDevicePublicKeyLikeWg) {
  ASSERT_NO_FATAL_FAILURE(StartWireguardGo());
  if (IsSkipped()) return;
  WgKeyPair keys = WgGenKey(dir_);
  ASSERT_EQ(keys.public_base64.size(), 44u);
  CommandResult set =
      RunCommand({"ip", "netns", "exec", netns_, "wg", "set", iface_, "private-key",
                  dir_ + "/private.key", "listen-port", "51999", "fwmark", "0x1234"});
  ASSERT_EQ(set.exit_code, 0) << set.output;

  UapiBackend backend(iface_, UapiSocketPath());
  absl::StatusOr<WgDevice> device = backend.GetDevice();
  ASSERT_TRUE(device.ok()) << device.status();
  ASSERT_TRUE(device->public_key.has_value());
  EXPECT_EQ(KeyToBase64(*device->public_key), keys.public_base64);
  EXPECT_EQ(device->listen_port, 51999);
  EXPECT_EQ(device->fwmark, 0x1234u);
}

TEST_F(UapiBackendE2ETest, OpenPicksUapiForWireguardGo) {
  ASSERT_NO_FATAL_FAILURE(StartWireguardGo());
  if (IsSkipped()) return;
  absl::StatusOr<std::unique_ptr<WgBackend>> backend = OpenWgBackend(iface_);
  ASSERT_TRUE(backend.ok()) << backend.status();
  EXPECT_EQ((*backend)->kind(), "uapi");
  EXPECT_TRUE((*backend)->GetDevice().ok());
}

TEST_F(UapiBackendE2ETest, RejectsBadSetAsWireguardGoDoes) {
  ASSERT_NO_FATAL_FAILURE(StartWireguardGo());
  if (IsSkipped()) return;
  // RIGS.md: an unknown key gets errno=-22 (EINVAL).
  absl::StatusOr<std::string> reply =
      UapiRequest(UapiSocketPath(), "set=1\nbogus=1\n\n", absl::Seconds(5));
  ASSERT_TRUE(reply.ok()) << reply.status();
  absl::Status status = ParseUapiSetReply(*reply);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("errno=-22"));
}

TEST(NetlinkBackendE2ETest, ReportsMissingKernelFamilyClearly) {
  absl::StatusOr<uint16_t> family = ResolveWireGuardFamily();
  if (family.ok()) {
    GTEST_SKIP() << "the kernel has the wireguard family (id " << *family
                 << "); ManagesPeersOfKernelInterface covers it";
  }
  EXPECT_TRUE(absl::IsFailedPrecondition(family.status()) || absl::IsUnavailable(family.status()))
      << family.status();
  EXPECT_THAT(std::string(family.status().message()), HasSubstr("wireguard"));

  absl::StatusOr<std::unique_ptr<NetlinkBackend>> backend = NetlinkBackend::Open("wg0");
  EXPECT_EQ(backend.status().code(), family.status().code()) << backend.status();

  // With no UAPI socket either, OpenWgBackend names both attempts.
  char tmpl[] = "/tmp/warden-wg-e2e-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  absl::StatusOr<std::unique_ptr<WgBackend>> any = OpenWgBackend("wg0", tmpl);
  rmdir(tmpl);
  EXPECT_EQ(any.status().code(), absl::StatusCode::kFailedPrecondition) << any.status();
  EXPECT_THAT(std::string(any.status().message()), HasSubstr(absl::StrCat(tmpl, "/wg0.sock")));
  EXPECT_THAT(std::string(any.status().message()), HasSubstr("netlink"));
}

class NetlinkBackendRigTest : public WireGuardRigTest {
 protected:
  void SetUp() override {
    absl::StatusOr<uint16_t> family = ResolveWireGuardFamily();
    if (!family.ok()) GTEST_SKIP() << "no kernel WireGuard: " << family.status();
    WireGuardRigTest::SetUp();
  }
};

TEST_F(NetlinkBackendRigTest, ManagesPeersOfKernelInterface) {
  CommandResult link = RunCommand({"ip", "-n", netns_, "link", "add", iface_, "type", "wireguard"});
  ASSERT_EQ(link.exit_code, 0) << link.output;

  // Netlink sockets belong to the namespace of the thread that opens them.
  std::thread in_netns([&] {
    int fd = open(absl::StrCat("/var/run/netns/", netns_).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(setns(fd, CLONE_NEWNET), 0) << std::strerror(errno);
    close(fd);

    absl::StatusOr<std::unique_ptr<NetlinkBackend>> backend = NetlinkBackend::Open(iface_);
    ASSERT_TRUE(backend.ok()) << backend.status();
    EXPECT_EQ((*backend)->kind(), "netlink");
    absl::StatusOr<WgDevice> empty = (*backend)->GetDevice();
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_TRUE(empty->peers.empty());
    ExerciseBackend(**backend, iface_, netns_);

    absl::StatusOr<std::unique_ptr<NetlinkBackend>> missing = NetlinkBackend::Open("wgnothere0");
    ASSERT_TRUE(missing.ok()) << missing.status();
    EXPECT_EQ((*missing)->GetDevice().status().code(), absl::StatusCode::kNotFound);

    absl::StatusOr<std::unique_ptr<WgBackend>> picked = OpenWgBackend(iface_, dir_);
    ASSERT_TRUE(picked.ok()) << picked.status();
    EXPECT_EQ((*picked)->kind(), "netlink");
  });
  in_netns.join();
}

}  // namespace
}  // namespace warden::agent::wireguard
