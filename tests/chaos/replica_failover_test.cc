// Chaos: a control-plane replica is SIGKILLed while users connect and
// disconnect. Its agents must move to the other replicas by themselves, and
// afterwards nothing may be lost, ghosted or over a limit. Small enough for
// CI: three real replicas on one PostgreSQL, three real agents (memory
// driver), a few hundred sessions of churn.

#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>

#include "tests/chaos/churned_fleet.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ReplicaFailoverTest = ChurnedFleetTest;

TEST_F(ReplicaFailoverTest, AgentsMoveWhenTheirReplicaIsKilledAndNothingIsLostOrOverTheLimit) {
  Control& a = StartControl("a");
  Control& b = StartControl("b");
  Control& c = StartControl("c");
  // Each agent knows all three, starting from a different one.
  StartAgent("n-a", a, {}, {&b, &c});
  StartAgent("n-b", b, {}, {&c, &a});
  StartAgent("n-c", c, {}, {&a, &b});
  CreateUsers(a);
  for (const auto& agent : agents_) ASSERT_TRUE(WaitAttached(*agent)) << agent->process->Log();
  ASSERT_EQ(Query("SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica = 'a'"), 1);

  StartChurn();
  absl::SleepFor(absl::Seconds(3));
  const int admitted_before = admitted_.load();

  // The fault: replica a dies without a word, mid-churn.
  std::cout << "[ INJECTED ] SIGKILL replica a (pid " << a.process->pid() << ") after "
            << admitted_before << " admissions\n";
  const absl::Time killed_at = absl::Now();
  a.process->Signal(SIGKILL);
  a.process->Wait(absl::Seconds(10));
  // n-a was attached to a: it must find b or c by itself.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query(
                   "SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica IN "
                   "('b', 'c')") == 1;
      },
      absl::Seconds(20)))
      << agents_[0]->process->Log();
  const absl::Duration reattached = absl::Now() - killed_at;
  absl::SleepFor(absl::Seconds(3));
  StopChurn();
  EXPECT_GT(admitted_.load(), admitted_before) << "admissions went on after the kill";

  ExpectConvergedAndWithinLimits();
  std::cout << "[ CHECKED  ] n-a re-attached " << absl::FormatDuration(reattached)
            << " after the kill\n";
}

}  // namespace
}  // namespace warden::testing
