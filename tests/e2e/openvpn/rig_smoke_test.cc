// The OpenVPN rig itself: a client reaches the server through the tunnel, a
// management client can admit and deny connections (what the driver does), and
// clients come back after a server restart.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/e2e/openvpn/openvpn_rig.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kConnectedText[] = "Initialization Sequence Completed";

// A line-based client of the OpenVPN management unix socket.
class ManagementConnection {
 public:
  ~ManagementConnection() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool Connect(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) return false;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    return fd_ >= 0 &&
           ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  }

  bool Send(const std::string& text) {
    size_t sent = 0;
    while (sent < text.size()) {
      const ssize_t n = ::send(fd_, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads lines until one starts with `prefix` and returns it ("" on timeout
  // or EOF). The lines before it are dropped.
  std::string ReadUntil(const std::string& prefix, absl::Duration timeout) {
    return ReadUntilAny({prefix}, timeout);
  }

  // The answer to a command: its "SUCCESS: ..." or "ERROR: ..." line.
  std::string ReadReply(absl::Duration timeout) {
    return ReadUntilAny({"SUCCESS:", "ERROR:"}, timeout);
  }

 private:
  std::string ReadUntilAny(const std::vector<std::string>& prefixes, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      for (size_t end = buffer_.find('\n'); end != std::string::npos; end = buffer_.find('\n')) {
        std::string line = buffer_.substr(0, end);
        buffer_.erase(0, end + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        for (const std::string& prefix : prefixes) {
          if (absl::StartsWith(line, prefix)) return line;
        }
      }
      const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (wait_ms <= 0) return "";
      pollfd readable{fd_, POLLIN, 0};
      if (::poll(&readable, 1, static_cast<int>(wait_ms)) <= 0) continue;
      char chunk[4096];
      const ssize_t got = ::recv(fd_, chunk, sizeof(chunk), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(got));
    }
  }

  int fd_ = -1;
  std::string buffer_;
};

// ">CLIENT:CONNECT,<cid>,<kid>" -> "<cid> <kid>" ("" when malformed).
std::string ClientAndKeyId(const std::string& connect_line) {
  std::vector<std::string> fields = absl::StrSplit(connect_line, ',');
  int64_t cid = 0;
  int64_t kid = 0;
  if (fields.size() != 3 || !absl::SimpleAtoi(fields[1], &cid) ||
      !absl::SimpleAtoi(fields[2], &kid)) {
    return "";
  }
  return absl::StrCat(cid, " ", kid);
}

TEST(OpenVpnRigTest, ClientReachesServerThroughTunnel) {
  if (auto r = OpenVpnRig::UnusableReason(); !r.empty()) GTEST_SKIP() << r;
  OpenVpnRigOptions options;
  options.management_client_auth = false;
  OpenVpnRig rig(options);
  ASSERT_TRUE(rig.Setup().ok());
  const absl::Time server_start = absl::Now();
  ASSERT_TRUE(rig.StartServer().ok());
  RecordProperty("server_start_ms", absl::ToInt64Milliseconds(absl::Now() - server_start));

  const absl::Time client_start = absl::Now();
  OpenVpnRig::Client& alice = rig.StartClient("alice", "alice", "alice-pw");
  ASSERT_TRUE(rig.WaitClientConnected(alice, absl::Seconds(20)));
  RecordProperty("client_connect_ms", absl::ToInt64Milliseconds(absl::Now() - client_start));

  const std::string tunnel_ip = rig.ClientTunnelIp(alice);
  EXPECT_FALSE(tunnel_ip.empty());
  EXPECT_NE(tunnel_ip, rig.server_tunnel_ip());
  const absl::Time ping_start = absl::Now();
  EXPECT_TRUE(rig.Ping(alice, rig.server_tunnel_ip(), absl::Seconds(10)));
  RecordProperty("ping_ms", absl::ToInt64Milliseconds(absl::Now() - ping_start));

  const absl::Time stop_start = absl::Now();
  rig.StopClient(alice);
  RecordProperty("client_stop_ms", absl::ToInt64Milliseconds(absl::Now() - stop_start));
  EXPECT_TRUE(rig.ClientExited(alice));
  EXPECT_THAT(rig.ClientLog(alice), HasSubstr("SIGTERM"));
}

TEST(OpenVpnRigTest, ManagementClientAuthAnswersArePossible) {
  if (auto r = OpenVpnRig::UnusableReason(); !r.empty()) GTEST_SKIP() << r;
  OpenVpnRigOptions options;
  options.management_client_auth = true;
  OpenVpnRig rig(options);
  ASSERT_TRUE(rig.Setup().ok());
  ASSERT_TRUE(rig.StartServer().ok());

  // The driver runs outside the server's namespace: the unix socket reaches it.
  ManagementConnection management;
  ASSERT_TRUE(management.Connect(rig.management_socket())) << std::strerror(errno);
  ASSERT_THAT(management.ReadUntil(">INFO:", absl::Seconds(5)),
              StartsWith(">INFO:OpenVPN Management Interface"));

  // The first device: admitted.
  const absl::Time client_start = absl::Now();
  OpenVpnRig::Client& phone = rig.StartClient("phone", "alice", "alice-pw");
  const std::string first_ids =
      ClientAndKeyId(management.ReadUntil(">CLIENT:CONNECT,", absl::Seconds(10)));
  ASSERT_FALSE(first_ids.empty());
  RecordProperty("client_to_connect_ms", absl::ToInt64Milliseconds(absl::Now() - client_start));
  // Never print ENV lines: they carry the password.
  ASSERT_FALSE(management.ReadUntil(">CLIENT:ENV,END", absl::Seconds(5)).empty());
  ASSERT_TRUE(management.Send(absl::StrCat("client-auth ", first_ids, "\nEND\n")));
  EXPECT_EQ(management.ReadReply(absl::Seconds(5)), "SUCCESS: client-auth command succeeded");
  ASSERT_TRUE(rig.WaitClientConnected(phone, absl::Seconds(20)));
  RecordProperty("client_connect_ms", absl::ToInt64Milliseconds(absl::Now() - client_start));
  EXPECT_THAT(management.ReadUntil(">CLIENT:ESTABLISHED,", absl::Seconds(5)),
              StartsWith(">CLIENT:ESTABLISHED," + first_ids.substr(0, first_ids.find(' '))));

  // The second device of the same user: denied with a reason the client sees.
  const absl::Time deny_start = absl::Now();
  OpenVpnRig::Client& laptop = rig.StartClient("laptop", "alice", "alice-pw");
  const std::string second_ids =
      ClientAndKeyId(management.ReadUntil(">CLIENT:CONNECT,", absl::Seconds(10)));
  ASSERT_FALSE(second_ids.empty());
  EXPECT_NE(second_ids, first_ids);
  ASSERT_FALSE(management.ReadUntil(">CLIENT:ENV,END", absl::Seconds(5)).empty());
  ASSERT_TRUE(management.Send(
      absl::StrCat("client-deny ", second_ids, " \"limit\" \"device limit 1 reached\"\n")));
  EXPECT_EQ(management.ReadReply(absl::Seconds(5)), "SUCCESS: client-deny command succeeded");
  EXPECT_TRUE(WaitFor([&] { return rig.ClientExited(laptop); }, absl::Seconds(15)));
  RecordProperty("deny_to_exit_ms", absl::ToInt64Milliseconds(absl::Now() - deny_start));
  EXPECT_THAT(rig.ClientLog(laptop), HasSubstr("AUTH_FAILED,device limit 1 reached"));
  EXPECT_THAT(rig.ClientLog(laptop), Not(HasSubstr(kConnectedText)));

  // The admitted device is unaffected.
  EXPECT_FALSE(rig.ClientExited(phone));
  EXPECT_TRUE(rig.Ping(phone, rig.server_tunnel_ip(), absl::Seconds(10)));
  rig.StopClient(phone);
}

TEST(OpenVpnRigTest, ClientReconnectsAfterServerRestart) {
  if (auto r = OpenVpnRig::UnusableReason(); !r.empty()) GTEST_SKIP() << r;
  OpenVpnRigOptions options;
  options.management_client_auth = false;
  OpenVpnRig rig(options);
  ASSERT_TRUE(rig.Setup().ok());
  ASSERT_TRUE(rig.StartServer().ok());
  OpenVpnRig::Client& alice = rig.StartClient("alice", "alice", "alice-pw");
  ASSERT_TRUE(rig.WaitClientConnected(alice, absl::Seconds(20)));

  const absl::Time restart_start = absl::Now();
  ASSERT_TRUE(rig.RestartServer().ok());
  RecordProperty("server_restart_ms", absl::ToInt64Milliseconds(absl::Now() - restart_start));
  // The stopping server told the client to reconnect; it does not wait for its keepalive.
  const absl::Time reconnect_start = absl::Now();
  ASSERT_TRUE(rig.WaitClientConnected(alice, absl::Seconds(20), 2));
  RecordProperty("client_reconnect_ms", absl::ToInt64Milliseconds(absl::Now() - reconnect_start));
  EXPECT_THAT(rig.ClientLog(alice), HasSubstr("server-pushed-connection-reset"));
  EXPECT_TRUE(rig.Ping(alice, rig.server_tunnel_ip(), absl::Seconds(10)));
}

}  // namespace
}  // namespace warden::testing
