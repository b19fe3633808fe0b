// Chaos: one agent loses its network for 30 s while its user connects
// elsewhere and is evicted from it, and while it admits users by itself
// (fail-open). When it comes back, the reconcile must kill what must die —
// the evicted session, and whatever puts a user over the limit — keep what
// may live, and count no seat twice.

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/match.h"
#include "tests/chaos/churned_fleet.h"
#include "tests/support/netns_link.h"
#include "tests/support/netns_rig.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

constexpr char kPrefix[] = "wcut";

class AgentCutOffTest : public ChurnedFleetTest {
 protected:
  void SetUp() override {
    SweepStaleRigs(kPrefix);
    if (std::string why = NetnsRigUnusableReason("agent cut-off", kPrefix, {"ip"}); !why.empty()) {
      GTEST_SKIP() << why;
    }
    ChurnedFleetTest::SetUp();
    netns_ = std::make_unique<LinkedNamespace>(kPrefix, "agent");
    ASSERT_TRUE(
        netns_->AddPair(absl::StrCat("wcu", ::getpid()), "uplink", "10.203.0.1", "10.203.0.2"))
        << netns_->error();
  }
  void TearDown() override {
    ChurnedFleetTest::TearDown();
    netns_.reset();
  }

  bool Holds(Agent& agent, const std::string& key) {
    const std::vector<std::string> held = agent.driver().Sessions();
    return std::find(held.begin(), held.end(), key) != held.end();
  }

  std::unique_ptr<LinkedNamespace> netns_;
};

TEST_F(AgentCutOffTest, OnReturnTheReconcileKillsWhatMustDieAndCountsNoSeatTwice) {
  // The replicas listen where the namespace can reach them.
  const Placement reachable{.host = "10.203.0.1"};
  Control& a = StartControl("a", {}, reachable);
  Control& b = StartControl("b", {}, reachable);
  StartAgent("n-a", a, {}, {&b});
  StartAgent("n-b", b, {}, {&a});
  Agent& cut = StartAgent("n-cut", a, {"--fail-mode", "open"}, {&b}, netns_->name());
  CreateUsers(a);
  CreateUser(a, "roamer", 1);
  CreateUser(a, "local", 1);
  ASSERT_TRUE(absl::StartsWith(cut.driver().Open("n-cut/roamer/1", "roamer"), "admitted"));
  ASSERT_TRUE(absl::StartsWith(cut.driver().Open("n-cut/local/1", "local"), "admitted"));
  // "local" leaves, so that coming back while cut off is a fail-open admission.
  cut.driver().Close("n-cut/local/1");
  StartChurn(2, /*agents=*/2);

  std::cout << "[ INJECTED ] n-cut's network down for 30 s\n";
  ASSERT_TRUE(netns_->SetLink("uplink", /*up=*/false, /*inner=*/true)) << netns_->error();
  const absl::Time cut_at = absl::Now();
  // Meanwhile: roamer connects on n-a (its limit is 1: the session on n-cut
  // is evicted, the kill waits for n-cut), and n-cut admits by itself a
  // second roamer session (over the limit) and local (within it).
  ASSERT_TRUE(absl::StartsWith(agents_[0]->driver().Open("n-a/roamer/2", "roamer"), "admitted"));
  EXPECT_EQ(cut.driver().Open("n-cut/roamer/3", "roamer"), "admitted offline");
  EXPECT_EQ(cut.driver().Open("n-cut/local/2", "local"), "admitted offline");
  absl::SleepFor(cut_at + absl::Seconds(30) - absl::Now());
  ASSERT_TRUE(netns_->SetLink("uplink", /*up=*/true, /*inner=*/true)) << netns_->error();
  const absl::Time back_at = absl::Now();

  // roamer's limit is 1: of its three sessions, the one evicted while n-cut
  // was away dies, and of the other two one more (the limit policy decides which).
  auto roamer_held = [&] { return HeldByUser()["roamer"]; };
  // The agent retries on its own backoff, at most 30 s apart after a long
  // outage, then reconciles.
  ASSERT_TRUE(WaitFor([&] { return !Holds(cut, "n-cut/roamer/1") && roamer_held() == 1; },
                      absl::Seconds(60)))
      << "roamer holds " << roamer_held() << " sessions\n"
      << cut.process->Log();
  const absl::Duration settled = absl::Now() - back_at;
  StopChurn();
  EXPECT_NE(Holds(cut, "n-cut/roamer/3"), Holds(*agents_[0], "n-a/roamer/2"));
  EXPECT_TRUE(Holds(cut, "n-cut/local/2")) << "an offline admission within the limit is kept";
  EXPECT_FALSE(LiveSessionId("n-cut/local/2").empty()) << "and adopted";
  // The kill's acknowledgement closes the session in the database just after
  // the node let it go.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Query(
                   "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                   "WHERE u.username = 'roamer' AND s.state <> 'closed'") == 1;
      },
      absl::Seconds(10)))
      << "roamer's seat counted once";
  ExpectConvergedAndWithinLimits();
  std::cout << "[ CHECKED  ] n-cut settled " << absl::FormatDuration(settled)
            << " after its return: the session evicted while away killed, roamer down to one "
               "seat, local's offline session adopted\n";
}

}  // namespace
}  // namespace warden::testing
