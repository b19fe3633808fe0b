// Chaos: a control-plane replica is SIGKILLed while users connect and
// disconnect. Its agents must move to the other replicas by themselves, and
// afterwards nothing may be lost, ghosted or over a limit. Small enough for
// CI: three real replicas on one PostgreSQL, three real agents (memory
// driver), a few hundred sessions of churn.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

constexpr int kUsers = 12;
constexpr int kMaxConnections = 2;

class ReplicaFailoverTest : public FleetProcessTest {
 protected:
  // Opens and closes sessions of random users on random agents until told to
  // stop; the keys say node and user: "<node>/<user>/<n>".
  void Churn(const std::atomic<bool>& stop, int seed) {
    std::mt19937 random(seed);
    int n = 0;
    while (!stop.load()) {
      Agent& agent = *agents_[random() % agents_.size()];
      const std::string user = absl::StrCat("u", random() % kUsers);
      const std::vector<std::string> held = agent.driver().Sessions();
      if (!held.empty() && random() % 3 == 0) {
        agent.driver().Close(held[random() % held.size()]);
        ++closes_;
      } else {
        const std::string answer =
            agent.driver().Open(absl::StrCat(agent.node, "/", user, "/", seed, "-", ++n), user);
        ++(absl::StartsWith(answer, "admitted") ? admitted_ : refused_);
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // The sessions every agent holds, by user (the key's middle part).
  std::map<std::string, int> HeldByUser() {
    std::map<std::string, int> held;
    for (const auto& agent : agents_) {
      for (const std::string& key : agent->driver().Sessions()) {
        const std::vector<std::string> parts = absl::StrSplit(key, '/');
        ++held[parts.size() == 3 ? parts[1] : key];
      }
    }
    return held;
  }

  int HeldTotal() {
    int total = 0;
    for (const auto& agent : agents_) total += static_cast<int>(agent->driver().Sessions().size());
    return total;
  }

  std::atomic<int> admitted_{0}, refused_{0}, closes_{0};
};

TEST_F(ReplicaFailoverTest, AgentsMoveWhenTheirReplicaIsKilledAndNothingIsLostOrOverTheLimit) {
  Control& a = StartControl("a");
  Control& b = StartControl("b");
  Control& c = StartControl("c");
  // Each agent knows all three, starting from a different one.
  StartAgent("n-a", a, {}, {&b, &c});
  StartAgent("n-b", b, {}, {&c, &a});
  StartAgent("n-c", c, {}, {&a, &b});
  for (int i = 0; i < kUsers; ++i) CreateUser(a, absl::StrCat("u", i), kMaxConnections);
  for (const auto& agent : agents_) ASSERT_TRUE(WaitAttached(*agent)) << agent->process->Log();
  ASSERT_EQ(Query("SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica = 'a'"), 1);

  std::atomic<bool> stop{false};
  std::thread churn_one([&] { Churn(stop, 1); });
  std::thread churn_two([&] { Churn(stop, 2); });
  absl::SleepFor(absl::Seconds(3));
  const int admitted_before = admitted_.load();

  // The fault: replica a dies without a word, mid-churn.
  std::cout << "[ INJECTED ] SIGKILL replica a (pid " << a.process->pid() << ") after "
            << admitted_before << " admissions\n";
  const absl::Time killed_at = absl::Now();
  a.process->Signal(SIGKILL);
  a.process->Wait(absl::Seconds(10));
  // n-a was attached to a: it must find b or c by itself.
  Agent& moved = *agents_[0];
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query(
                   "SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica IN "
                   "('b', 'c')") == 1;
      },
      absl::Seconds(20)))
      << moved.process->Log();
  const absl::Duration reattached = absl::Now() - killed_at;
  absl::SleepFor(absl::Seconds(3));
  stop.store(true);
  churn_one.join();
  churn_two.join();
  EXPECT_GT(admitted_.load(), admitted_before) << "admissions went on after the kill";

  // Let kills and closes in flight land.
  ASSERT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state = 'closing'") == 0; },
              absl::Seconds(20)));
  // Invariants. Every session an agent holds is live in the database, and
  // nothing else is: none lost, none ghosted.
  ASSERT_TRUE(WaitFor(
      [&] { return Query("SELECT count(*) FROM sessions WHERE state = 'active'") == HeldTotal(); },
      absl::Seconds(20)));
  int held = 0;
  for (const auto& agent : agents_) {
    for (const std::string& key : agent->driver().Sessions()) {
      EXPECT_FALSE(LiveSessionId(key).empty()) << key << " is held but not live";
      ++held;
    }
  }
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE state = 'active'"), held);
  // Nobody over the limit, in the database or on the nodes.
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM (SELECT user_id FROM sessions WHERE state "
                               "<> 'closed' GROUP BY user_id HAVING count(*) > ",
                               kMaxConnections, ") over")),
            0);
  for (const auto& [user, count] : HeldByUser()) {
    EXPECT_LE(count, kMaxConnections) << user << " holds " << count << " sessions";
  }
  std::cout << "[ CHECKED  ] n-a re-attached " << absl::FormatDuration(reattached)
            << " after the kill; " << admitted_.load() << " admitted, " << refused_.load()
            << " refused, " << closes_.load() << " closed; " << held
            << " sessions held = live in the database; nobody over " << kMaxConnections << "\n";
}

}  // namespace
}  // namespace warden::testing
