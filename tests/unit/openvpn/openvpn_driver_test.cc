// The OpenVPN driver against a scripted management interface on a unix
// socket: what it answers, and when, with no OpenVPN and no control plane.

#include "agent/drivers/openvpn/openvpn_driver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "tests/support/fake_clock.h"
#include "tests/support/recording_driver_host.h"
#include "tests/support/wait.h"

namespace warden::agent::openvpn {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using warden::testing::FakeClock;
using warden::testing::RecordingDriverHost;
using warden::testing::WaitFor;

// Plays OpenVPN's side of one management connection.
class FakeManagement {
 public:
  FakeManagement() {
    char pattern[] = "/tmp/warden-ovpn-unit.XXXXXX";
    dir_ = ::mkdtemp(pattern);
    path_ = dir_ + "/mgmt.sock";
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    EXPECT_EQ(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(listen_fd_, 1), 0);
  }
  ~FakeManagement() {
    if (fd_ >= 0) close(fd_);
    close(listen_fd_);
    std::filesystem::remove_all(dir_);
  }
  const std::string& path() const { return path_; }
  const std::string& dir() const { return dir_; }

  bool Accept() {
    pollfd pfd{listen_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 5000) != 1) return false;
    fd_ = accept(listen_fd_, nullptr, nullptr);
    return fd_ >= 0;
  }
  void Send(const std::string& text) {
    ASSERT_EQ(write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  // The next line the driver wrote, or "" after `timeout`.
  std::string ReadLine(absl::Duration timeout = absl::Seconds(5)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return "";
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left)) != 1) return "";
      char chunk[4096];
      const ssize_t n = read(fd_, chunk, sizeof chunk);
      if (n <= 0) return "";
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }
  // The banner and the answers to the driver's opening commands.
  void Greet(const std::vector<std::string>& client_rows = {}) {
    Send(">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n");
    EXPECT_THAT(ReadLine(), StartsWith("bytecount"));
    Send("SUCCESS: bytecount interval changed\r\n");
    EXPECT_EQ(ReadLine(), "pid");
    Send("SUCCESS: pid=4242\r\n");
    EXPECT_EQ(ReadLine(), "status 3");
    std::string status =
        "TITLE\tOpenVPN 2.6.14\r\nHEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual "
        "Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\tConnected "
        "Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher\r\n";
    for (const std::string& row : client_rows) absl::StrAppend(&status, row, "\r\n");
    Send(absl::StrCat(status, "GLOBAL_STATS\tdco_enabled\t0\r\nEND\r\n"));
  }
  void SendConnect(int cid, int kid, const std::string& username, const std::string& password) {
    Send(absl::StrCat(">CLIENT:CONNECT,", cid, ",", kid, "\r\n>CLIENT:ENV,username=", username,
                      "\r\n>CLIENT:ENV,password=", password,
                      "\r\n>CLIENT:ENV,untrusted_ip=10.9.0.2\r\n>CLIENT:ENV,untrusted_port=5555\r\n"
                      ">CLIENT:ENV,IV_PLAT=linux\r\n>CLIENT:ENV,END\r\n"));
  }

 private:
  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  int fd_ = -1;
  std::string buffer_;
};

std::unique_ptr<OpenVpnDriver> MakeDriver(const FakeManagement& mgmt, const std::string& extra = "",
                                          const Clock& clock = RealClock::Get()) {
  absl::StatusOr<OpenVpnOptions> options =
      ParseOpenVpnSpec(absl::StrCat("mgmt=unix:", mgmt.path(), ";name=unit", extra));
  EXPECT_TRUE(options.ok()) << options.status();
  return std::make_unique<OpenVpnDriver>(*options, clock);
}

// One CLIENT_LIST row: bob, client id 7, connected before the driver started.
constexpr char kBobConnected[] =
    "CLIENT_LIST\tbob\t10.9.0.3:4000\t10.8.0.2\t\t100\t200\t2026-11-23 06:29:07\t"
    "1795415347\tbob\t7\t0\tAES-256-GCM";

// Starts `driver` against `mgmt`, which greets it listing `clients`.
void StartGreeted(OpenVpnDriver& driver, FakeManagement& mgmt, RecordingDriverHost& host,
                  const std::vector<std::string>& clients = {}) {
  std::thread server([&] {
    ASSERT_TRUE(mgmt.Accept());
    mgmt.Greet(clients);
  });
  ASSERT_TRUE(driver.Start(host).ok());
  server.join();
}

TEST(OpenVpnSpecTest, NeedsTheManagementAddressAndKnownOptions) {
  EXPECT_FALSE(ParseOpenVpnSpec("name=x").ok());
  EXPECT_THAT(std::string(ParseOpenVpnSpec("mgmt=/s;colour=red").status().message()),
              HasSubstr("unknown option \"colour\""));
  EXPECT_FALSE(ParseOpenVpnSpec("mgmt=/s;kill=NICELY").ok());
  EXPECT_FALSE(ParseOpenVpnSpec("mgmt=/s;name=a:b").ok());
  absl::StatusOr<OpenVpnOptions> options =
      ParseOpenVpnSpec("mgmt=127.0.0.1:7505;name=udp;bytecount=0;kill=RESTART;deadline=3");
  ASSERT_TRUE(options.ok());
  EXPECT_EQ(options->management, "127.0.0.1:7505");
  EXPECT_EQ(options->server_name, "udp");
  EXPECT_EQ(options->kill_message, "RESTART");
  EXPECT_EQ(options->decision_deadline, absl::Seconds(3));
}

TEST(OpenVpnDriverTest, ReadsTheInventoryBeforeStartReturns) {
  FakeManagement mgmt;
  RecordingDriverHost host;
  std::unique_ptr<OpenVpnDriver> driver = MakeDriver(mgmt);
  StartGreeted(*driver, mgmt, host, {kBobConnected});
  std::vector<DriverSession> inventory = driver->Inventory();
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].session_key, "ovpn:unit:7@4242");
  EXPECT_EQ(inventory[0].username, "bob");
  EXPECT_EQ(inventory[0].tunnel_address, "10.8.0.2");
  EXPECT_TRUE(driver->Carries("ovpn:unit:7@4242"));
  host.Release();
  driver->Stop();
}

TEST(OpenVpnDriverTest, AnswersEveryLoginWithinItsDeadline) {
  FakeManagement mgmt;
  RecordingDriverHost host;
  host.Hold();  // a control plane that does not answer
  FakeClock clock;
  std::unique_ptr<OpenVpnDriver> driver = MakeDriver(mgmt, ";deadline=1", clock);
  StartGreeted(*driver, mgmt, host);
  mgmt.SendConnect(0, 1, "alice", "secret-pw");
  ASSERT_TRUE(WaitFor([&] { return host.Asked("ovpn:unit:0@4242", "alice"); }));
  clock.Advance(absl::Seconds(1));  // the deadline, on the driver's clock
  const std::string answer = mgmt.ReadLine(absl::Seconds(5));
  EXPECT_THAT(answer, StartsWith("client-deny 0 1 \"TIMEOUT\""));
  // The late answer admits a session nobody holds: the driver closes it.
  host.Release();
  EXPECT_TRUE(WaitFor([&] {
    for (const std::string& event : host.events()) {
      if (absl::StrContains(event, "closed ovpn:unit:0@4242 admission answered too late"))
        return true;
    }
    return false;
  }));
  driver->Stop();
}

TEST(OpenVpnDriverTest, AdmitsWithTheClientsCredentialsAndRefusesWithTheReason) {
  FakeManagement mgmt;
  RecordingDriverHost host;
  std::unique_ptr<OpenVpnDriver> driver = MakeDriver(mgmt);
  StartGreeted(*driver, mgmt, host);
  mgmt.SendConnect(0, 1, "alice", "secret-pw");
  EXPECT_EQ(mgmt.ReadLine(), "client-auth 0 1");
  EXPECT_EQ(mgmt.ReadLine(), "END");
  ASSERT_EQ(host.queries().size(), 1u);
  EXPECT_EQ(host.queries()[0].username, "alice");
  EXPECT_EQ(host.queries()[0].password.value_or(""), "secret-pw");
  EXPECT_EQ(host.queries()[0].client_address, "10.9.0.2:5555");

  host.RefuseEveryone();
  mgmt.SendConnect(1, 1, "alice", "secret-pw");
  EXPECT_EQ(mgmt.ReadLine(), "client-deny 1 1 \"DEVICE_LIMIT_REACHED\" \"device limit 1 reached\"");
  driver->Stop();
}

TEST(OpenVpnDriverTest, KillingAClientOpenVpnNoLongerKnowsIsSuccess) {
  FakeManagement mgmt;
  RecordingDriverHost host;
  std::unique_ptr<OpenVpnDriver> driver = MakeDriver(mgmt);
  StartGreeted(*driver, mgmt, host, {kBobConnected});
  std::thread openvpn([&] {
    EXPECT_EQ(mgmt.ReadLine(), "client-kill 7 HALT,evicted");
    mgmt.Send("ERROR: client-kill command failed\r\n");
  });
  EXPECT_TRUE(driver->Kill("ovpn:unit:7@4242", "evicted").ok());
  openvpn.join();
  EXPECT_TRUE(host.HasEventStartingWith("closed ovpn:unit:7@4242 evicted ")) << host.Dump();
  EXPECT_TRUE(driver->Kill("ovpn:unit:99@4242", "evicted").ok());  // never known: nothing to do
  driver->Stop();
}

TEST(OpenVpnDriverTest, AnswersThePasswordPrompt) {
  FakeManagement mgmt;
  const std::string password_file = mgmt.dir() + "/pw";
  std::ofstream(password_file) << "mgmt-pass\n";
  RecordingDriverHost host;
  std::unique_ptr<OpenVpnDriver> driver = MakeDriver(mgmt, ";password-file=" + password_file);
  std::thread server([&] {
    ASSERT_TRUE(mgmt.Accept());
    mgmt.Send("ENTER PASSWORD:");
    EXPECT_EQ(mgmt.ReadLine(), "mgmt-pass");
    mgmt.Send("SUCCESS: password is correct\r\n");
    mgmt.Greet();
  });
  ASSERT_TRUE(driver->Start(host).ok());
  server.join();
  driver->Stop();
}

}  // namespace
}  // namespace warden::agent::openvpn
