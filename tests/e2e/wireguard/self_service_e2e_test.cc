// A user serves themself, end to end: `warden-connect login` with their
// password, `devices add` with a WireGuard key made on their machine, the
// peer configuration Warden answers with (the node's real key and
// endpoint, as its agent reported them), a real wireguard-go client that
// connects with it, and `sessions end`, which takes the tunnel down on the
// node; `why` then says who ended it.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/e2e/wireguard/wireguard_rig.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

class SelfServiceE2ETest : public FleetProcessTest {
 protected:
  void SetUp() override {
    FleetProcessTest::SetUp();
    if (std::string why = WireGuardRig::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    absl::Status setup = rig_.Setup();
    ASSERT_TRUE(setup.ok()) << setup;
    absl::Status started = rig_.StartServerInterface();
    ASSERT_TRUE(started.ok()) << started;
    control_ = &StartControl("a", {"--wg-pool-v4", rig_.tunnel_network()});
    StartAgent("wg-1", *control_,
               {"--driver", absl::StrCat("wireguard:iface=", rig_.server_iface(),
                                         ";poll-ms=100;endpoint=", rig_.server_endpoint())});
    login_file_ = absl::StrCat(work_dir_, "/login.json");
  }

  // warden-connect as the user runs it, with the login kept in the test's dir.
  CtlResult Connect(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin() + 1, {"--login-file", login_file_});
    return RunCaptured(WARDEN_CONNECT_BIN, args, {{"HOME", work_dir_}}, work_dir_, input);
  }

  WireGuardRig rig_;
  Control* control_ = nullptr;
  std::string login_file_;
};

TEST_F(SelfServiceE2ETest, UserRegistersAKeyConnectsWithTheConfigAndEndsTheSession) {
  v1::CreateUserRequest create;
  create.mutable_user()->set_username("alice");
  create.mutable_user()->set_password("correct horse battery");
  create.mutable_user()->set_max_connections(2);
  v1::User alice;
  ASSERT_TRUE(Admin(*control_)->CreateUser(AdminContext().get(), create, &alice).ok());

  CtlResult login =
      Connect({"login", "--control", absl::StrCat("127.0.0.1:", control_->port), "--insecure",
               "--user", "alice", "--password-file", "-", "--device-label", "alice-laptop"},
              "correct horse battery\n");
  ASSERT_EQ(login.code, 0) << login.err;
  EXPECT_NE(login.out.find("logged in as alice"), std::string::npos) << login.out;

  // The key pair is made on the user's machine; only the public half leaves it.
  absl::StatusOr<WgKeyPair> keys = rig_.GenerateKeyPair();
  ASSERT_TRUE(keys.ok()) << keys.status();
  CtlResult added = Connect({"--json", "devices", "add", keys->public_key, "--label", "laptop"});
  ASSERT_EQ(added.code, 0) << added.err;
  nlohmann::json config = nlohmann::json::parse(added.out);
  // The agent reports its interface's key and endpoint once it has attached.
  ASSERT_TRUE(WaitFor([&] {
    CtlResult shown = Connect({"--json", "devices", "config", "laptop"});
    if (shown.code != 0) return false;
    config = nlohmann::json::parse(shown.out);
    return config.contains("peers") && config["peers"].size() == 1;
  })) << added.out;
  const std::string address = config["device"]["addressV4"];
  ASSERT_FALSE(address.empty()) << added.out;
  ASSERT_EQ(config["peers"].size(), 1u) << added.out;
  EXPECT_EQ(config["peers"][0]["nodeName"], "wg-1");
  EXPECT_EQ(config["peers"][0]["publicKey"], rig_.server_public_key());
  EXPECT_EQ(config["peers"][0]["endpoint"], rig_.server_endpoint());
  const std::string wg_quick = config["wgQuick"]["wg-1"];
  EXPECT_NE(wg_quick.find(absl::StrCat("PublicKey = ", rig_.server_public_key())),
            std::string::npos)
      << wg_quick;
  EXPECT_NE(wg_quick.find(absl::StrCat("Endpoint = ", rig_.server_endpoint())), std::string::npos)
      << wg_quick;
  EXPECT_NE(wg_quick.find(address), std::string::npos) << wg_quick;

  // A wireguard-go client with the user's key, the address and the server
  // the configuration names.
  absl::StatusOr<WireGuardRig::Client*> client =
      rig_.AddClient("laptop", {.keys = *keys, .tunnel_ip = address});
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(WaitFor([&] { return rig_.ServerHasPeer(keys->public_key); })) << rig_.ServerShow();
  ASSERT_TRUE(rig_.ClientPing(**client, rig_.server_tunnel_ip(), absl::Seconds(10)))
      << rig_.ServerShow();
  const std::string session_key = "wg:" + keys->public_key;
  ASSERT_TRUE(WaitFor([&] { return !LiveSessionId(session_key).empty(); }));
  const std::string session_id = LiveSessionId(session_key);

  CtlResult listed = Connect({"sessions", "list"});
  ASSERT_EQ(listed.code, 0) << listed.err;
  EXPECT_NE(listed.out.find(session_id), std::string::npos) << listed.out;
  EXPECT_NE(listed.out.find("wireguard"), std::string::npos) << listed.out;

  CtlResult ended = Connect({"sessions", "end", session_id});
  ASSERT_EQ(ended.code, 0) << ended.err;
  EXPECT_EQ(ended.out, absl::StrCat("session ", session_id, " ended: its node disconnected it\n"));
  // The agent took the peer off the interface. (It comes back at the next
  // re-provisioning tick, a quarter of a second later, as any withheld peer
  // of a user under the limit does: polling the interface could miss the gap.)
  EXPECT_TRUE(agents_.front()->process->WaitForLog("killed (ended_by_user", absl::Seconds(3)))
      << agents_.front()->process->Log();
  EXPECT_TRUE(rig_.ClientPingFails(**client, rig_.server_tunnel_ip(), 2));
  EXPECT_TRUE(WaitFor([&] {
    return Query(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '", session_id,
                              "' AND end_reason = 'ended_by_user'")) == 1;
  }));

  CtlResult why = Connect({"why"});
  ASSERT_EQ(why.code, 0) << why.err;
  EXPECT_EQ(why.out.rfind("ended_by_user", 0), 0u) << why.out;
  EXPECT_NE(why.out.find("device laptop on wg-1"), std::string::npos) << why.out;

  // Another user's session is none of alice's business.
  CtlResult foreign = Connect({"sessions", "end", "00000000-0000-4000-8000-000000000000"});
  EXPECT_EQ(foreign.code, 3) << foreign.err;

  CtlResult logout = Connect({"logout"});
  EXPECT_EQ(logout.code, 0) << logout.err;
  CtlResult after = Connect({"me"});
  EXPECT_EQ(after.code, 3) << "no login kept any more: " << after.err;
}

}  // namespace
}  // namespace warden::testing
