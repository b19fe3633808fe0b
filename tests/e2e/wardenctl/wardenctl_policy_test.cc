// wardenctl plans …, users' limits and plans, usage … and webhooks …: what
// an operator types, against a real control plane, with ids and times
// masked.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "tests/e2e/wardenctl/wardenctl_harness.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(WardenctlTest, ManagesPlansAndTheLimitsUsersInherit) {
  CtlResult created = Ctl({"plans", "create", "basic", "--max-connections", "2", "--bandwidth",
                           "10MiB", "--quota", "50GiB", "--description", "two devices"});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(created.out, "plan basic created\n");
  ASSERT_EQ(Ctl({"plans", "create", "premium", "--max-connections", "5", "--max-per-node", "2",
                 "--label-cap", "region=2", "--node-selector", "tier=premium|standard",
                 "--protocols", "wireguard,quic", "--idle-timeout", "30m", "--max-session", "8h"})
                .code,
            0);
  EXPECT_EQ(Masked(Ctl({"plans", "list"}).out),
            "NAME     USERS  MAX  POLICY  BANDWIDTH   QUOTA\n"
            "basic    0      2    -       10.0 MiB/s  50.0 GiB\n"
            "premium  0      5    -       -           -\n");
  const nlohmann::json premium =
      nlohmann::json::parse(Ctl({"plans", "get", "premium", "-o", "json"}).out);
  EXPECT_EQ(premium["maxConnectionsPerNode"], 2);
  EXPECT_EQ(premium["labelCaps"]["caps"][0]["label"], "region");
  EXPECT_EQ(premium["nodeSelector"]["match"]["tier"]["values"],
            nlohmann::json::array({"premium", "standard"}));
  EXPECT_EQ(premium["allowedProtocols"]["protocols"], nlohmann::json::array({"WIREGUARD", "QUIC"}));
  EXPECT_EQ(premium["idleTimeoutSeconds"], 1800);
  EXPECT_EQ(premium["maxSessionSeconds"], 28800);

  // A user on the plan shows the plan's limits as theirs, and their own
  // where they set one; --clear hands a limit back to the plan.
  ASSERT_EQ(Ctl({"users", "create", "alice", "--plan", "basic"}).code, 0);
  ASSERT_EQ(Ctl({"users", "create", "bob", "--plan", "basic", "--max-connections", "4", "--expires",
                 "30d"})
                .code,
            0);
  EXPECT_EQ(Masked(Ctl({"users", "list"}).out),
            "USERNAME  PLAN   MAX  POLICY        STATUS  CREATED\n"
            "alice     basic  2    evict-oldest  active  <time>\n"
            "bob       basic  4    evict-oldest  active  <time>\n");
  nlohmann::json bob = nlohmann::json::parse(Ctl({"users", "get", "bob", "-o", "json"}).out);
  EXPECT_EQ(bob["effective"]["sources"]["max_connections"], "user");
  EXPECT_EQ(bob["effective"]["sources"]["data_quota_bytes"], "plan");
  EXPECT_TRUE(bob.contains("expiresAt"));
  EXPECT_EQ(Ctl({"users", "update", "bob", "--clear", "max-connections", "--expires", "never"}).out,
            "user bob updated (expires_at, max_connections)\n");
  bob = nlohmann::json::parse(Ctl({"users", "get", "bob", "-o", "json"}).out);
  EXPECT_EQ(bob["effective"]["maxConnections"], 2);
  EXPECT_EQ(bob["effective"]["sources"]["max_connections"], "plan");
  EXPECT_FALSE(bob.contains("expiresAt"));

  EXPECT_EQ(Ctl({"plans", "update", "basic", "--max-connections", "3", "--clear", "quota"}).out,
            "plan basic updated (max_connections, data_quota_bytes)\n");
  EXPECT_EQ(Masked(Ctl({"plans", "list", "--wide"}).out),
            "ID                                    NAME     USERS  MAX  PER NODE  POLICY  "
            "BANDWIDTH   QUOTA  PROTOCOLS       DESCRIPTION  CREATED\n"
            "<id1>                                 basic    2      3    -         -       "
            "10.0 MiB/s  -      -               two devices  <time>\n"
            "<id2>                                 premium  0      5    2         -       -"
            "           -      wireguard,quic  -            <time>\n");
  EXPECT_EQ(Masked(Ctl({"users", "get", "alice"}).out),
            "USERNAME  PLAN   MAX  POLICY        STATUS  CREATED\n"
            "alice     basic  3    evict-oldest  active  <time>\n");

  CtlResult in_use = Ctl({"plans", "delete", "basic"});
  EXPECT_EQ(in_use.code, 6) << in_use.err;
  CtlResult contradiction =
      Ctl({"plans", "update", "premium", "--quota", "1GiB", "--clear", "quota"});
  EXPECT_EQ(contradiction.code, 2);
  EXPECT_EQ(contradiction.err, "wardenctl: --clear quota and --quota contradict\n");
  CtlResult bad_selector = Ctl({"plans", "create", "x", "--node-selector", "tier"});
  EXPECT_EQ(bad_selector.code, 2);
  EXPECT_THAT(bad_selector.err, HasSubstr("say KEY=VALUE or KEY=V1|V2"));
  CtlResult refused = Ctl({"plans", "create", "y", "--throttle", "10"});
  EXPECT_EQ(refused.code, 2) << "the server refuses a throttle under 1 KiB/s";
  EXPECT_EQ(Ctl({"plans", "delete", "premium"}).out, "plan premium deleted\n");
  EXPECT_EQ(Ctl({"plans", "get", "premium"}).code, 3);
}

TEST_F(WardenctlTest, ShowsUsageAndGrantsOrResetsQuota) {
  ASSERT_EQ(Ctl({"users", "create", "carol", "--quota", "1GiB"}).code, 0);
  CtlResult usage = Ctl({"usage", "get", "carol"});
  ASSERT_EQ(usage.code, 0) << usage.err;
  EXPECT_THAT(usage.out, StartsWith("PERIOD  TOTAL  RX  TX\n\ntotal: 0 B (rx 0 B, tx 0 B)\n"));
  EXPECT_THAT(usage.out, HasSubstr("QUOTA       1.0 GiB\n"));
  EXPECT_THAT(usage.out, HasSubstr("REMAINING   1.0 GiB\n"));
  EXPECT_THAT(usage.out, HasSubstr("OVER QUOTA  no\n"));

  CtlResult granted = Ctl({"usage", "grant", "carol", "512MiB", "--reason", "ticket 4712"});
  ASSERT_EQ(granted.code, 0) << granted.err;
  EXPECT_THAT(granted.out, StartsWith("512.0 MiB granted to carol\n"));
  EXPECT_THAT(granted.out, HasSubstr("GRANTED     512.0 MiB\n"));
  EXPECT_THAT(granted.out, HasSubstr("REMAINING   1.5 GiB\n"));
  const nlohmann::json as_json =
      nlohmann::json::parse(Ctl({"usage", "get", "carol", "-o", "json"}).out);
  EXPECT_EQ(as_json["quota"]["grantedBytes"], "536870912");

  EXPECT_THAT(Ctl({"usage", "reset", "carol", "--reason", "ticket 4713"}).out,
              StartsWith("usage of carol reset for this window\n"));
  EXPECT_EQ(Ctl({"usage", "top"}).out, "USER  TOTAL  RX  TX\n");
  EXPECT_EQ(Ctl({"usage", "grant", "carol", "lots", "--reason", "x"}).code, 2);
  EXPECT_EQ(Ctl({"usage", "grant", "carol", "1GiB"}).code, 2) << "--reason is required";
  EXPECT_EQ(Ctl({"usage", "get", "nobody"}).code, 3);

  // Support's actions are in the audit log, under the key's name.
  EXPECT_THAT(Ctl({"audit", "--action", "usage.grant"}).out, HasSubstr("usage.grant"));
}

TEST_F(WardenctlTest, ManagesWebhooksAndTheirDeliveries) {
  const std::string key = WriteFile("webhook.key", std::string(64, 'a') + "\n");
  control_ = &StartControl("hooks", {"--webhook-key-file", key, "--webhook-allow-private-targets"});

  // Nobody listens on port 9: deliveries fail, which is what a list shows.
  CtlResult created = Ctl({"webhooks", "create", "http://127.0.0.1:9/hook", "--events",
                           "session.,user.created", "--description", "siem"});
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("\nsecret: whsec_"));
  const std::string id = created.out.substr(8, 36);
  EXPECT_EQ(Masked(Ctl({"webhooks", "list"}).out),
            "ID                                    URL                      "
            "EVENTS                 STATUS   PENDING  FAILED\n"
            "<id1>                                 http://127.0.0.1:9/hook  "
            "session.,user.created  enabled  0        0\n");

  CtlResult test = Ctl({"webhooks", "test", id});
  ASSERT_EQ(test.code, 0) << test.err;
  EXPECT_THAT(test.out, StartsWith("test event queued as delivery "));
  const nlohmann::json deliveries =
      nlohmann::json::parse(Ctl({"webhooks", "deliveries", id, "-o", "json"}).out);
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0]["eventType"], "webhook.test");
  const std::string delivery = deliveries[0]["id"];
  EXPECT_EQ(Ctl({"webhooks", "redeliver", delivery}).out,
            absl::StrCat("delivery ", delivery, " queued again\n"));
  EXPECT_EQ(Ctl({"webhooks", "redeliver", "999999"}).code, 3);

  EXPECT_EQ(Ctl({"webhooks", "update", id, "--events", "node."}).out,
            absl::StrCat("webhook ", id, " updated (event_types)\n"));
  EXPECT_EQ(Ctl({"webhooks", "disable", id}).out, absl::StrCat("webhook ", id, " disabled\n"));
  EXPECT_EQ(nlohmann::json::parse(Ctl({"webhooks", "get", id, "-o", "json"}).out)["enabled"],
            false);
  EXPECT_EQ(Ctl({"webhooks", "enable", id}).out, absl::StrCat("webhook ", id, " enabled\n"));

  CtlResult rotated = Ctl({"webhooks", "rotate-secret", id, "-q"});
  ASSERT_EQ(rotated.code, 0) << rotated.err;
  EXPECT_THAT(rotated.out, StartsWith("whsec_"));
  EXPECT_NE(rotated.out, created.out);

  CtlResult bad_url = Ctl({"webhooks", "create", "ftp://example.com/x"});
  EXPECT_EQ(bad_url.code, 2);
  EXPECT_THAT(bad_url.err, HasSubstr("http"));
  EXPECT_EQ(Ctl({"webhooks", "update", id}).code, 2) << "nothing to change";
  EXPECT_EQ(Ctl({"webhooks", "deliveries", id, "--status", "lost"}).code, 2);
  EXPECT_EQ(Ctl({"webhooks", "delete", id}).out, absl::StrCat("webhook ", id, " deleted\n"));
  EXPECT_EQ(Ctl({"webhooks", "get", id}).code, 3);
}

}  // namespace
}  // namespace warden::testing
