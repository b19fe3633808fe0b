// wardenctl audit and watch: the audit log, and events as they happen.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "absl/strings/str_split.h"
#include "tests/e2e/wardenctl/wardenctl_harness.h"
#include "tests/support/process.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class WardenctlFeedTest : public WardenctlTest {
 protected:
  // `wardenctl watch ...` running in the background; its output in a log.
  std::unique_ptr<Process> Watch(std::vector<std::string> args) {
    std::vector<std::string> all{"--insecure", "--server", Server(), "--key-file", key_file_};
    all.insert(all.end(), args.begin(), args.end());
    auto watch =
        std::make_unique<Process>(WARDENCTL_BIN, all, std::map<std::string, std::string>{},
                                  work_dir_ + "/watch-" + std::to_string(++watches_) + ".log");
    return watch;
  }
  int watches_ = 0;
};

TEST_F(WardenctlFeedTest, WatchPrintsOneLinePerEventWithNames) {
  Agent& agent = StartAgent("node-1", *control_);
  std::unique_ptr<Process> watch = Watch({"watch"});
  // The stream opens asynchronously: create users until one shows up.
  ASSERT_TRUE(WaitFor(
      [&, n = 0]() mutable {
        Ctl({"users", "create", "marker-" + std::to_string(++n)});
        return watch->WaitForLog("user.create", absl::Milliseconds(300));
      },
      absl::Seconds(15)))
      << watch->Log();
  ASSERT_EQ(Ctl({"users", "create", "alice", "--max-connections", "1"}).code, 0);
  ASSERT_THAT(agent.driver().Open("laptop", "alice"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("phone", "alice"), StartsWith("admitted "));
  ASSERT_TRUE(watch->WaitForLog("session.close", absl::Seconds(10))) << watch->Log();
  watch->Signal(SIGTERM);
  watch->Wait(absl::Seconds(5));

  // From alice's creation on: whatever marker users came before.
  const std::string log = watch->Log();
  const std::string from_alice = log.substr(log.rfind('\n', log.find("user:alice")) + 1);
  EXPECT_EQ(Masked(from_alice, /*keep_width=*/false),
            "<time>  user.create       user:alice  disabled=false has_password=false "
            "limits={\"max_connections\":1} plan= username=alice  by bootstrap\n"
            "<time>  session.admit     session:<id1>  client_address=local "
            "device_label=laptop evicted=[] node=node-1 protocol=openvpn "
            "session_key=laptop user=alice vouched_by=trusted_authenticator  by node-1\n"
            "<time>  session.admit     session:<id2>  client_address=local "
            "device_label=phone evicted=[\"<id1>\"] node=node-1 protocol=openvpn "
            "session_key=phone user=alice vouched_by=trusted_authenticator  by node-1\n"
            "<time>  session.evict     session:<id1>  command_id=1 evicted_by=<id2> "
            "kill_due=<time> node=node-1 user=alice  by node-1\n"
            "<time>  session.close     session:<id1>  end_reason=evicted reason=evicted "
            "rx_bytes=0 tx_bytes=0 user=alice  by node-1\n");
}

TEST_F(WardenctlFeedTest, WatchFiltersAndSpeaksJsonLines) {
  // A subject is resolved before the stream opens: bob must exist.
  CtlResult unknown = Ctl({"watch", "--subject", "user:bob"});
  EXPECT_EQ(unknown.code, 3);
  EXPECT_EQ(unknown.err, "wardenctl: not found: no user \"bob\"\n");
  ASSERT_EQ(Ctl({"users", "create", "bob"}).code, 0);
  std::unique_ptr<Process> bob_only = Watch({"watch", "--subject", "user:bob", "-o", "json"});
  ASSERT_TRUE(WaitFor(
      [&, n = 0]() mutable {
        Ctl({"users", "update", "bob", "--max-connections", std::to_string(++n)});
        return bob_only->WaitForLog("user.update", absl::Milliseconds(300));
      },
      absl::Seconds(15)))
      << bob_only->Log();
  ASSERT_EQ(Ctl({"users", "create", "carol"}).code, 0);
  ASSERT_EQ(Ctl({"users", "disable", "bob"}).code, 0);
  ASSERT_TRUE(bob_only->WaitForLog("\"disabled\":true", absl::Seconds(10))) << bob_only->Log();
  bob_only->Signal(SIGTERM);
  bob_only->Wait(absl::Seconds(5));
  const std::vector<std::string> lines = absl::StrSplit(bob_only->Log(), '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    const nlohmann::json event = nlohmann::json::parse(line);
    EXPECT_EQ(event["action"], "user.update");
    EXPECT_THAT(event["subject"].get<std::string>(), StartsWith("user:"));
  }
  EXPECT_THAT(bob_only->Log(), ::testing::Not(HasSubstr("carol")));
}

TEST_F(WardenctlFeedTest, WatchResumesAfterTheControlPlaneRestarts) {
  std::unique_ptr<Process> watch = Watch({"watch", "--action", "user.create"});
  ASSERT_TRUE(WaitFor(
      [&, n = 0]() mutable {
        Ctl({"users", "create", "before-" + std::to_string(++n)});
        return watch->WaitForLog("user.create", absl::Milliseconds(300));
      },
      absl::Seconds(15)))
      << watch->Log();
  RestartControl(*control_);
  ASSERT_EQ(Ctl({"users", "create", "after-restart"}).code, 0);
  ASSERT_TRUE(watch->WaitForLog("user:after-restart", absl::Seconds(20))) << watch->Log();
  EXPECT_THAT(watch->Log(), HasSubstr("wardenctl: the watch was cut ("));
  EXPECT_TRUE(watch->Running());
}

TEST_F(WardenctlFeedTest, AuditListsOldestFirstAndFollows) {
  for (const char* user : {"alice", "bob", "carol"}) {
    ASSERT_EQ(Ctl({"users", "create", user}).code, 0);
  }
  ASSERT_EQ(Ctl({"users", "update", "bob", "--max-connections", "4"}).code, 0);

  EXPECT_EQ(Masked(Ctl({"audit", "--action", "user.update"}).out),
            "ID  TIME                  ACTOR      ACTION       SUBJECT                             "
            "       "
            "DETAILS\n"
            "5   <time>                bootstrap  user.update  user:<id1>                          "
            "       "
            "changed=[\"max_connections\"] disabled=false has_password=false "
            "limits={\"max_connections\":4} plan= username=bob\n");
  const nlohmann::json creates =
      nlohmann::json::parse(Ctl({"audit", "--action", "user.", "--limit", "3", "-o", "json"}).out);
  ASSERT_EQ(creates.size(), 3u);
  EXPECT_EQ(creates[0]["details"]["username"], "bob");  // the newest 3, oldest first
  EXPECT_EQ(creates[2]["action"], "user.update");
  EXPECT_EQ(Ctl({"audit", "--subject", "user:bob", "-q"}).out, "3\n5\n");
  EXPECT_EQ(Ctl({"audit", "--since", "1h", "--until", "2000-01-01T00:00:00Z", "-q"}).out, "");

  std::unique_ptr<Process> follow = Watch({"audit", "--action", "user.", "--limit", "1", "-f"});
  ASSERT_TRUE(follow->WaitForLog("user.update", absl::Seconds(10))) << follow->Log();
  ASSERT_TRUE(WaitFor(
      [&, n = 0]() mutable {
        Ctl({"users", "create", "late-" + std::to_string(++n)});
        return follow->WaitForLog("user:late-", absl::Milliseconds(300));
      },
      absl::Seconds(15)))
      << follow->Log();
  EXPECT_THAT(follow->Log(), ::testing::Not(HasSubstr("user:alice")));  // before the limit
}

}  // namespace
}  // namespace warden::testing
