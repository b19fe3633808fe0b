// wardenctl users … and nodes …, enroll: tables, JSON and YAML compared with
// ids and times masked, and the exit code of each outcome.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/e2e/wardenctl/wardenctl_harness.h"
#include "tests/support/process.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(WardenctlTest, ManagesUsersInTablesJsonAndYaml) {
  const std::string password = WriteFile("alice.pw", "correct horse\n");
  CtlResult created =
      Ctl({"users", "create", "alice", "--max-connections", "2", "--password-file", password});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(created.out, "user alice created\n");
  created = Ctl({"users", "create", "bob", "--max-connections", "1", "--policy", "reject",
                 "--bandwidth", "10MiB", "--grace", "30s", "-q"});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(Masked(created.out), "<id1>\n");

  EXPECT_EQ(Masked(Ctl({"users", "list"}).out),
            "USERNAME  PLAN  MAX  POLICY        STATUS  CREATED\n"
            "alice     -     2    evict-oldest  active  <time>\n"
            "bob       -     1    reject        active  <time>\n");
  EXPECT_EQ(Masked(Ctl({"users", "list", "--wide", "--prefix", "b"}).out),
            "ID                                    USERNAME  PLAN  MAX  POLICY  GRACE  BANDWIDTH   "
            "QUOTA  PASSWORD  STATUS  EXPIRES  CREATED               UPDATED\n"
            "<id1>                                 bob       -     1    reject  30s    10.0 MiB/s  "
            "none   no        active  -        <time>                <time>\n");
  // Protobuf JSON: lowerCamelCase, enums by name, 64-bit integers as
  // strings, defaults included; the effective limits beside the user's own.
  const std::string alice_json = Ctl({"users", "get", "alice", "-o", "json"}).out;
  EXPECT_THAT(Masked(alice_json, false), StartsWith("{\n"
                                                    "  \"id\": \"<id1>\",\n"
                                                    "  \"username\": \"alice\",\n"
                                                    "  \"maxConnections\": 2,\n"));
  const nlohmann::json alice = nlohmann::json::parse(alice_json);
  EXPECT_FALSE(alice.contains("limitPolicy"));
  EXPECT_EQ(alice["effective"]["limitPolicy"], "EVICT_OLDEST");
  EXPECT_EQ(alice["effective"]["sources"]["limit_policy"], "default");
  EXPECT_FALSE(alice.contains("bandwidthBytesPerSecond"))
      << "her own is unset: the plan's or the default applies";
  EXPECT_EQ(alice["hasPassword"], true);
  EXPECT_EQ(alice["disabled"], false);
  EXPECT_EQ(alice["plan"], "");
  EXPECT_EQ(alice["effective"]["maxConnections"], 2);
  EXPECT_EQ(alice["effective"]["bandwidthBytesPerSecond"], "0");
  EXPECT_EQ(alice["effective"]["sources"]["max_connections"], "user");
  // YAML: the same object; an id that starts with a digit is quoted (it
  // might read as a number), as are the 64-bit integers JSON gives as strings.
  const std::string bob_yaml = Masked(Ctl({"users", "get", "bob", "-o", "yaml"}).out, false);
  EXPECT_THAT(bob_yaml, HasSubstr("username: bob\n"
                                  "maxConnections: 1\n"
                                  "limitPolicy: REJECT\n"
                                  "graceSeconds: 30\n"
                                  "bandwidthBytesPerSecond: \"10485760\"\n"
                                  "disabled: false\n"));
  EXPECT_THAT(bob_yaml, HasSubstr("effective:\n  maxConnections: 1\n"));
  const nlohmann::json list = nlohmann::json::parse(Ctl({"users", "list", "-o", "json"}).out);
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["username"], "bob");

  CtlResult updated =
      Ctl({"users", "update", "alice", "--max-connections", "3", "--policy", "reject"});
  EXPECT_EQ(updated.code, 0) << updated.err;
  EXPECT_EQ(updated.out, "user alice updated (max_connections, limit_policy)\n");
  EXPECT_EQ(Ctl({"users", "disable", "bob"}).out,
            "user bob disabled: its sessions end on every node\n");
  EXPECT_EQ(Masked(Ctl({"users", "list"}).out),
            "USERNAME  PLAN  MAX  POLICY  STATUS    CREATED\n"
            "alice     -     3    reject  active    <time>\n"
            "bob       -     1    reject  disabled  <time>\n");
  EXPECT_EQ(Ctl({"users", "enable", "bob"}).out, "user bob enabled\n");
  // The id works wherever the name does.
  const std::string bob_id = Ctl({"users", "get", "bob", "-q"}).out;
  EXPECT_EQ(Ctl({"users", "get", bob_id.substr(0, bob_id.size() - 1), "-q"}).out, bob_id);

  CtlResult nothing = Ctl({"users", "update", "alice"});
  EXPECT_EQ(nothing.code, 2);
  EXPECT_THAT(nothing.err, StartsWith("wardenctl: nothing to change"));
  CtlResult duplicate = Ctl({"users", "create", "alice"});
  EXPECT_EQ(duplicate.code, 6);
  EXPECT_EQ(duplicate.err, "wardenctl: already exists: username \"alice\" is already taken\n");
  CtlResult invalid = Ctl({"users", "update", "alice", "--max-connections", "20000"});
  EXPECT_EQ(invalid.code, 2);
  EXPECT_THAT(invalid.err, HasSubstr("max_connections"));

  EXPECT_EQ(Ctl({"users", "delete", "bob"}).out, "user bob deleted\n");
  CtlResult gone = Ctl({"users", "get", "bob"});
  EXPECT_EQ(gone.code, 3);
  EXPECT_EQ(gone.err, "wardenctl: not found: no user \"bob\"\n");
  EXPECT_EQ(gone.out, "");
}

TEST_F(WardenctlTest, RegistersEnrolsDrainsAndRemovesNodes) {
  CtlResult created =
      Ctl({"nodes", "create", "fra-2", "--protocol", "wireguard", "--protocol", "openvpn"});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(Masked(created.out),
            "node fra-2 created\n"
            "credential: wnc_<secret>\n"
            "  Shown once: the node's agent presents it; keep it as <state-dir>/credential (mode "
            "0600) on the node.\n");

  CtlResult enroll =
      Ctl({"enroll", "node-1", "--trusted-authenticator", "--driver", "memory:/run/m.sock"});
  ASSERT_EQ(enroll.code, 0) << enroll.err;
  EXPECT_EQ(Masked(enroll.out),
            absl::StrCat("ticket:  wet_<secret>\n"
                         "expires: <time>\n"
                         "\n"
                         "On node node-1 (the ticket is used once; the agent keeps its "
                         "credential):\n"
                         "  warden-agent --control ",
                         Server(),
                         " --insecure \\\n"
                         "    --state-dir /var/lib/warden-agent --enroll-ticket wet_<secret> \\\n"
                         "    --driver memory:/run/m.sock\n"));

  // The ticket -q prints is the one a real agent enrols with.
  CtlResult ticket = Ctl({"enroll", "node-1", "--trusted-authenticator", "-q"});
  ASSERT_EQ(ticket.code, 0) << ticket.err;
  Process agent(WARDEN_AGENT_BIN,
                {"--control", Server(), "--insecure", "--state-dir", work_dir_ + "/state-node-1",
                 "--driver", absl::StrCat("memory:", work_dir_, "/node-1.sock"), "--node-name",
                 "node-1", "--enroll-ticket", ticket.out.substr(0, ticket.out.size() - 1)},
                {}, work_dir_ + "/agent-node-1.log");
  ASSERT_TRUE(agent.WaitForLog("attached node=node-1", absl::Seconds(20))) << agent.Log();

  EXPECT_EQ(Masked(Ctl({"nodes", "list"}).out),
            "NAME    STATE   ONLINE  SESSIONS  PROTOCOLS          LAST SEEN\n"
            "fra-2   active  no      0         wireguard,openvpn  -\n"
            "node-1  active  yes     0         any                <time>\n");
  EXPECT_EQ(Masked(Ctl({"nodes", "get", "node-1"}).out),
            "NAME    STATE   ONLINE  SESSIONS  PROTOCOLS  LAST SEEN\n"
            "node-1  active  yes     0         any        <time>\n");
  EXPECT_EQ(
      Masked(Ctl({"nodes", "get", "fra-2", "--wide"}).out),
      "ID                                    NAME   STATE   ONLINE  SESSIONS  PROTOCOLS          "
      "LABELS  TRUSTED  AGENT  EPOCH  LAST SEEN  CREATED\n"
      "<id1>                                 fra-2  active  no      0         wireguard,openvpn  "
      "none    no       -      0      -          <time>\n");

  EXPECT_EQ(Ctl({"nodes", "update", "fra-2", "--trusted-authenticator", "--protocol", "quic"}).out,
            "node fra-2 updated (protocols, trusted_authenticator)\n");
  const nlohmann::json fra =
      nlohmann::json::parse(Ctl({"nodes", "get", "fra-2", "-o", "json"}).out);
  EXPECT_EQ(fra["protocols"], nlohmann::json::array({"QUIC"}));
  EXPECT_EQ(fra["trustedAuthenticator"], true);

  EXPECT_EQ(Ctl({"nodes", "drain", "node-1"}).out, "node node-1 draining: admits no one\n");
  EXPECT_EQ(Masked(Ctl({"nodes", "list"}).out),
            "NAME    STATE     ONLINE  SESSIONS  PROTOCOLS  LAST SEEN\n"
            "fra-2   active    no      0         quic       -\n"
            "node-1  draining  yes     0         any        <time>\n");
  EXPECT_EQ(Ctl({"nodes", "undrain", "node-1"}).out, "node node-1 admits again\n");
  EXPECT_EQ(Ctl({"nodes", "remove", "fra-2"}).out, "node fra-2 removed\n");
  EXPECT_EQ(Ctl({"nodes", "list", "-q"}).out.find('\n') + 1,
            Ctl({"nodes", "list", "-q"}).out.size())
      << "one node left";
  EXPECT_EQ(Masked(Ctl({"nodes", "list", "--all"}).out),
            "NAME    STATE    ONLINE  SESSIONS  PROTOCOLS  LAST SEEN\n"
            "fra-2   removed  no      0         quic       -\n"
            "node-1  active   yes     0         any        <time>\n");

  EXPECT_EQ(Ctl({"nodes", "label", "node-1", "region=eu-west", "tier=premium"}).out,
            "node node-1 labels: region=eu-west,tier=premium\n");
  EXPECT_EQ(Ctl({"nodes", "label", "node-1", "tier-", "rack=r7"}).out,
            "node node-1 labels: rack=r7,region=eu-west\n");
  const nlohmann::json labelled =
      nlohmann::json::parse(Ctl({"nodes", "get", "node-1", "-o", "json"}).out);
  EXPECT_EQ(labelled["labels"], nlohmann::json({{"rack", "r7"}, {"region", "eu-west"}}));
  CtlResult bad_label = Ctl({"nodes", "label", "node-1", "region"});
  EXPECT_EQ(bad_label.code, 2);
  EXPECT_EQ(bad_label.err, "wardenctl: \"region\": say key=value or key-\n");
  CtlResult missing = Ctl({"nodes", "drain", "ams-9"});
  EXPECT_EQ(missing.code, 3);
  EXPECT_EQ(missing.err, "wardenctl: not found: no node \"ams-9\"\n");
}

}  // namespace
}  // namespace warden::testing
