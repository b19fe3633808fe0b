#include "tools/wardenctl/printer.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <sstream>

#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1796424672);  // 2026-12-04T22:51:12Z

std::vector<v1::User> Users() {
  std::vector<v1::User> users(2);
  users[0].set_id("u1");
  users[0].set_username("alice");
  users[0].set_max_connections(2);
  users[0].set_limit_policy(v1::EVICT_OLDEST);
  users[0].set_plan("basic");
  // What applies, as the server computes it.
  users[0].mutable_effective()->set_max_connections(2);
  users[0].mutable_effective()->set_limit_policy(v1::EVICT_OLDEST);
  users[0].mutable_created_at()->set_seconds(1796424672 - 180);
  users[1].set_id("u2");
  users[1].set_username("bob");
  users[1].set_limit_policy(v1::REJECT);
  users[1].mutable_effective()->set_limit_policy(v1::REJECT);
  users[1].set_disabled(true);
  users[1].set_password("write-only");
  users[1].mutable_created_at()->set_seconds(1796424672 - 7200);
  return users;
}

std::string Print(OutputOptions options, const std::vector<v1::User>& users) {
  options.now = kNow;
  std::ostringstream out;
  Printer printer(options, out);
  printer.List(users, UserView(printer.time()));
  return out.str();
}

TEST(PrinterTest, PrintsATableWithRelativeTimesOnATerminal) {
  EXPECT_EQ(Print({.terminal = true}, Users()),
            "USERNAME  PLAN   MAX        POLICY        STATUS    CREATED\n"
            "alice     basic  2          evict-oldest  active    3m ago\n"
            "bob       -      unlimited  reject        disabled  2h ago\n");
}

TEST(PrinterTest, WidensTheTableWithMoreColumns) {
  EXPECT_EQ(Print({.format = Format::kWide}, {Users()[0]}),
            "ID  USERNAME  PLAN   MAX  POLICY        GRACE  BANDWIDTH  QUOTA  PASSWORD  STATUS  "
            "EXPIRES  CREATED               UPDATED\n"
            "u1  alice     basic  2    evict-oldest  0s     unlimited  none   no        active  "
            "-        2026-12-04T22:48:12Z  -\n");
}

TEST(PrinterTest, PrintsOnlyIdsWhenQuiet) {
  EXPECT_EQ(Print({.format = Format::kJson, .quiet = true}, Users()), "u1\nu2\n");
}

TEST(PrinterTest, PrintsAListAsAJsonArrayWithDefaultsAndNoPassword) {
  const nlohmann::ordered_json json =
      nlohmann::ordered_json::parse(Print({.format = Format::kJson}, Users()));
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), 2u);
  EXPECT_EQ(json[1]["username"], "bob");
  EXPECT_FALSE(json[1].contains("maxConnections")) << "unset: the plan's or the default applies";
  EXPECT_EQ(json[1]["effective"]["maxConnections"], 0);
  EXPECT_EQ(json[1]["limitPolicy"], "REJECT");
  EXPECT_EQ(json[1]["disabled"], true);
  EXPECT_FALSE(json[1].contains("password"));
}

TEST(PrinterTest, PrintsOneObjectAsItselfInYaml) {
  std::ostringstream out;
  Printer printer({.format = Format::kYaml, .now = kNow}, out);
  v1::Node node;
  node.set_id("n1");
  node.set_name("fra-2");
  node.add_protocols(v1::WIREGUARD);
  node.set_state(v1::NODE_STATE_DRAINING);
  printer.One(node, NodeView(printer.time()));
  EXPECT_EQ(out.str(),
            "id: n1\n"
            "name: fra-2\n"
            "protocols:\n"
            "- WIREGUARD\n"
            "state: NODE_STATE_DRAINING\n"
            "attachEpoch: \"0\"\n"
            "liveSessions: \"0\"\n"
            "online: false\n"
            "agentVersion: \"\"\n"
            "trustedAuthenticator: false\n"
            "labels: {}\n");
}

TEST(PrinterTest, SortsMapKeysSoThatTheSameAnswerPrintsTheSame) {
  v1::Stats stats;
  for (const char* node : {"zrh-1", "ams-1", "fra-2", "lis-3"}) {
    (*stats.mutable_live_sessions_by_node())[node] = 1;
  }
  v1::AuditEvent event;
  google::protobuf::Value value;
  value.set_string_value("x");
  for (const char* key : {"zeta", "alpha", "mid"})
    (*event.mutable_details()->mutable_fields())[key] = value;
  const nlohmann::ordered_json stats_json = MessageJson(stats);
  std::vector<std::string> keys;
  for (const auto& [key, count] : stats_json["liveSessionsByNode"].items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"ams-1", "fra-2", "lis-3", "zrh-1"}));
  EXPECT_EQ(MessageJson(event)["details"].dump(), R"({"alpha":"x","mid":"x","zeta":"x"})");
}

TEST(PrinterTest, SaysWhatAChangeDidOrPrintsTheResult) {
  v1::User user = Users()[0];
  std::ostringstream table, json, quiet;
  Printer({}, table).Done(user, "user alice created", "u1");
  Printer({.format = Format::kJson}, json).Done(user, "user alice created", "u1");
  Printer({.quiet = true}, quiet).Done(user, "user alice created", "u1");
  EXPECT_EQ(table.str(), "user alice created\n");
  EXPECT_EQ(nlohmann::ordered_json::parse(json.str())["id"], "u1");
  EXPECT_EQ(quiet.str(), "u1\n");
}

}  // namespace
}  // namespace warden::wardenctl
