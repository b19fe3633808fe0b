// wardenctl sessions …, disconnect, stats, devices …, families …, keys …
// against a real control plane and a real agent (memory driver).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/e2e/wardenctl/wardenctl_harness.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Standard base64 of 32 bytes: what `wg pubkey` prints.
std::string PublicKey(char fill) { return absl::StrCat(std::string(42, fill), "A="); }

TEST_F(WardenctlTest, ListsAndKillsSessionsByUserAndNode) {
  Agent& agent = StartAgent("node-1", *control_);
  ASSERT_EQ(Ctl({"users", "create", "alice", "--max-connections", "2"}).code, 0);
  ASSERT_EQ(Ctl({"users", "create", "bob"}).code, 0);
  for (const char* device : {"laptop", "phone", "tablet"}) {
    ASSERT_THAT(agent.driver().Open(device, "alice"), StartsWith("admitted "));
  }
  ASSERT_THAT(agent.driver().Open("desktop", "bob"), StartsWith("admitted "));
  // The laptop was evicted by the tablet; wait until its agent closed it.
  ASSERT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state = 'closed'") == 1; }));

  EXPECT_EQ(Masked(Ctl({"sessions", "list", "--user", "alice"}).out),
            "ID                                    USER   NODE    PROTOCOL  DEVICE  STATE   "
            "OPENED                REASON\n"
            "<id1>                                 alice  node-1  openvpn   tablet  active  "
            "<time>                -\n"
            "<id2>                                 alice  node-1  openvpn   phone   active  "
            "<time>                -\n");
  EXPECT_EQ(Masked(Ctl({"sessions", "list", "--user", "alice", "--state", "closed", "--wide"}).out),
            "ID                                    USER   NODE    PROTOCOL  DEVICE  KEY     "
            "CLIENT  TUNNEL  STATE   OPENED                CLOSED                RX   TX   FAMILY  "
            "REASON   WHY      KILL ERROR\n"
            "<id1>                                 alice  node-1  openvpn   laptop  laptop  "
            "local   -       closed  <time>                <time>                0 B  0 B  -       "
            "evicted  evicted  -\n");
  const nlohmann::json all =
      nlohmann::json::parse(Ctl({"sessions", "list", "--state", "any", "-o", "json"}).out);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0]["username"], "bob");
  EXPECT_EQ(all[0]["state"], "SESSION_STATE_ACTIVE");
  EXPECT_EQ(all[3]["sessionKey"], "laptop");
  EXPECT_EQ(all[3]["closeReason"], "evicted");
  EXPECT_EQ(Ctl({"sessions", "list", "--node", "node-1", "--protocol", "openvpn", "-q"}).out.size(),
            3 * 37u);

  EXPECT_EQ(Ctl({"stats"}).out,
            "live sessions        3\n"
            "closing              0\n"
            "users connected      2\n"
            "by node              node-1=3\n"
            "by protocol          OPENVPN=3\n"
            "signal rooms         0\n"
            "signal members       0\n"
            "signal relays/s      0.0\n"
            "signal streams here  0\n");
  EXPECT_EQ(nlohmann::json::parse(Ctl({"stats", "-o", "json"}).out)["liveSessionsByNode"],
            nlohmann::json::parse(R"({"node-1": "3"})"));

  const std::string tablet = LiveSessionId("tablet");
  CtlResult kill = Ctl({"sessions", "kill", tablet, "--reason", "abuse report 42", "--wait"});
  ASSERT_EQ(kill.code, 0) << kill.err;
  EXPECT_EQ(kill.out, absl::StrCat("session ", tablet, " killed (agent: ok)\n"));
  EXPECT_THAT(agent.driver().Killed(),
              ::testing::Contains("tablet killed_by_admin: abuse report 42"));
  CtlResult again = Ctl({"sessions", "kill", tablet});
  EXPECT_EQ(again.code, 6);
  EXPECT_THAT(again.err, StartsWith("wardenctl: refused: "));

  CtlResult disconnect = Ctl({"disconnect", "alice", "--reason", "password reset"});
  ASSERT_EQ(disconnect.code, 0) << disconnect.err;
  EXPECT_EQ(disconnect.out, "user alice disconnected: 1 session killed\n");
  const nlohmann::json killed = nlohmann::json::parse(Ctl({"disconnect", "bob", "-o", "json"}).out);
  EXPECT_EQ(killed["sessionsKilled"], 1);
  EXPECT_EQ(killed["commandIds"].size(), 1u);
}

TEST_F(WardenctlTest, RegistersListsAndRevokesDevices) {
  ASSERT_EQ(Ctl({"users", "create", "alice"}).code, 0);
  ASSERT_EQ(Ctl({"users", "create", "bob"}).code, 0);
  CtlResult registered =
      Ctl({"devices", "register", "alice", PublicKey('A'), "--label", "alice-phone"});
  ASSERT_EQ(registered.code, 0) << registered.err;
  EXPECT_EQ(registered.out, "device alice-phone registered for alice: 10.66.0.2\n");
  ASSERT_EQ(Ctl({"devices", "register", "bob", PublicKey('B'), "--label", "phone"}).code, 0);
  ASSERT_EQ(Ctl({"devices", "register", "alice", PublicKey('C'), "--label", "phone"}).code, 0);

  EXPECT_EQ(Masked(Ctl({"devices", "list"}).out),
            "ID                                    USER   LABEL        ADDRESS    CREATED\n"
            "<id1>                                 alice  alice-phone  10.66.0.2  <time>\n"
            "<id2>                                 bob    phone        10.66.0.3  <time>\n"
            "<id3>                                 alice  phone        10.66.0.4  <time>\n");
  EXPECT_EQ(Masked(Ctl({"devices", "list", "--user", "bob", "--wide"}).out),
            absl::StrCat("ID                                    USER  LABEL  ADDRESS    ADDRESS6  "
                         "PUBLIC KEY                                    CREATED\n"
                         "<id1>                                 bob   phone  10.66.0.3  -         ",
                         PublicKey('B'), "  <time>\n"));

  EXPECT_EQ(Ctl({"devices", "revoke", "alice-phone"}).out, "device alice-phone of alice revoked\n");
  CtlResult ambiguous = Ctl({"devices", "revoke", "phone"});
  EXPECT_EQ(ambiguous.code, 2);
  EXPECT_THAT(ambiguous.err, HasSubstr("2 devices are labelled \"phone\": name one by id"));
  EXPECT_EQ(Ctl({"devices", "revoke", PublicKey('B')}).out, "device phone of bob revoked\n");
  EXPECT_EQ(Ctl({"devices", "list", "-q"}).out.size(), 37u);
  CtlResult gone = Ctl({"devices", "revoke", "alice-phone"});
  EXPECT_EQ(gone.code, 3);
  EXPECT_EQ(gone.err, "wardenctl: not found: no device \"alice-phone\"\n");
}

TEST_F(WardenctlTest, ListsAndRevokesLoginFamilies) {
  const std::string password = WriteFile("carol.pw", "s3cret-pass\n");
  ASSERT_EQ(Ctl({"users", "create", "carol", "--password-file", password}).code, 0);
  auto sessions = v1::SessionService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", control_->port), grpc::InsecureChannelCredentials()));
  v1::LoginRequest login;
  login.set_username("carol");
  login.set_password("s3cret-pass");
  login.set_device_label("carol-laptop");
  v1::LoginResponse logged_in;
  grpc::ClientContext context;
  ASSERT_TRUE(sessions->Login(&context, login, &logged_in).ok());

  EXPECT_EQ(
      Masked(Ctl({"families", "list"}).out),
      "ID                                    USER   DEVICE        STATUS  CREATED               "
      "LAST SEEN             EXPIRES\n"
      "<id1>                                 carol  carol-laptop  live    <time>                "
      "<time>                <time>\n");
  CtlResult revoked = Ctl({"families", "revoke", "--user", "carol", "--reason", "lost laptop"});
  ASSERT_EQ(revoked.code, 0) << revoked.err;
  EXPECT_EQ(revoked.out, "1 family revoked, 0 sessions killed\n");
  EXPECT_EQ(Ctl({"families", "list", "-q"}).out, "");
  const nlohmann::json all =
      nlohmann::json::parse(Ctl({"families", "list", "--all", "-o", "json"}).out);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0]["id"], logged_in.family_id());
  EXPECT_THAT(all[0]["revokeReason"].get<std::string>(), HasSubstr("lost laptop"));
  CtlResult twice = Ctl({"families", "revoke", logged_in.family_id()});
  EXPECT_EQ(twice.code, 6);
  CtlResult neither = Ctl({"families", "revoke"});
  EXPECT_EQ(neither.code, 2);
  EXPECT_EQ(neither.err, "wardenctl: name a family id or --user (one of the two)\n");
}

TEST_F(WardenctlTest, CreatesListsAndRevokesApiKeys) {
  CtlResult grafana = Ctl({"keys", "create", "grafana"});
  ASSERT_EQ(grafana.code, 0) << grafana.err;
  EXPECT_EQ(Masked(grafana.out),
            "API key grafana created (viewer)\n"
            "secret: wak_<secret>\n"
            "  Shown once: keep it in a file (mode 0600) and use it with --key-file or "
            "WARDEN_KEY_FILE.\n");
  CtlResult ops = Ctl({"keys", "create", "ops", "--role", "admin", "-q"});
  ASSERT_EQ(ops.code, 0) << ops.err;
  EXPECT_EQ(Masked(ops.out), "wak_<secret>\n");

  // The new admin key works from a file, as an operator would keep it.
  const std::string ops_key = WriteFile("ops.key", ops.out);
  CtlResult as_ops =
      Bare({"--insecure", "--server", Server(), "--key-file", ops_key, "keys", "list"});
  ASSERT_EQ(as_ops.code, 0) << as_ops.err;
  EXPECT_EQ(Masked(as_ops.out),
            "NAME       ROLE    STATUS  CREATED\n"
            "bootstrap  admin   valid   <time>\n"
            "grafana    viewer  valid   <time>\n"
            "ops        admin   valid   <time>\n");

  EXPECT_EQ(Ctl({"keys", "revoke", "grafana"}).out, "API key grafana revoked\n");
  EXPECT_EQ(
      Masked(Ctl({"keys", "list", "--all", "--wide"}).out),
      "ID                                    NAME       ROLE    STATUS   CREATED               "
      "REVOKED\n"
      "<id1>                                 bootstrap  admin   valid    <time>                -\n"
      "<id2>                                 grafana    viewer  revoked  <time>                "
      "<time>\n"
      "<id3>                                 ops        admin   valid    <time>                "
      "-\n");
  CtlResult twice = Ctl({"keys", "revoke", "grafana"});
  EXPECT_EQ(twice.code, 3);
  EXPECT_EQ(twice.err, "wardenctl: not found: no API key \"grafana\"\n");
}

}  // namespace
}  // namespace warden::testing
