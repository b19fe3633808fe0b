#include "tests/chaos/churned_fleet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <pqxx/pqxx>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/wait.h"

namespace warden::testing {

int CountInLog(const Process& process, const std::string& text) {
  const std::string log = process.Log();
  int count = 0;
  for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++count;
  return count;
}

bool WaitForLogCount(const Process& process, const std::string& text, int count,
                     absl::Duration timeout) {
  return WaitFor([&] { return CountInLog(process, text) >= count; }, timeout);
}

void ChurnedFleetTest::StartFleet(std::vector<std::string> agent_args,
                                  std::vector<std::string> control_args) {
  Control& a = StartControl("a", control_args);
  Control& b = StartControl("b", control_args);
  StartAgent("n-a", a, agent_args, {&b});
  StartAgent("n-b", b, agent_args, {&a});
  StartAgent("n-c", a, agent_args, {&b});
  CreateUsers(a);
}

bool ChurnedFleetTest::AllAttached() {
  return Query("SELECT count(*) FROM nodes WHERE attached_replica IS NOT NULL") ==
         static_cast<int64_t>(agents_.size());
}

grpc::Status ChurnedFleetTest::Kill(const Control& control, const std::string& session_id) {
  v1::KillSessionRequest request;
  request.set_session_id(session_id);
  request.set_reason("chaos");
  v1::KillSessionResponse response;
  return Admin(control)->KillSession(AdminContext().get(), request, &response);
}

bool ChurnedFleetTest::Delivered(Agent& agent, const std::string& key) {
  const std::vector<std::string> held = agent.driver().Sessions();
  return std::find(held.begin(), held.end(), key) == held.end() && LiveSessionId(key).empty();
}

void ChurnedFleetTest::TearDown() {
  StopChurn();
  FleetProcessTest::TearDown();
}

void ChurnedFleetTest::CreateUsers(const Control& control) {
  for (int i = 0; i < kUsers; ++i) CreateUser(control, absl::StrCat("u", i), kMaxConnections);
}

void ChurnedFleetTest::StartChurn(int threads, int agents) {
  stop_churn_.store(false);
  const size_t churned = agents > 0 ? static_cast<size_t>(agents) : agents_.size();
  for (int seed = 1; seed <= threads; ++seed) {
    churners_.emplace_back([this, seed, churned] { Churn(seed, churned); });
  }
}

void ChurnedFleetTest::StopChurn() {
  stop_churn_.store(true);
  for (std::thread& churner : churners_) churner.join();
  churners_.clear();
}

void ChurnedFleetTest::Churn(int seed, size_t agents) {
  std::mt19937 random(seed);
  int n = 0;
  while (!stop_churn_.load()) {
    Agent& agent = *agents_[random() % agents];
    const std::string user = absl::StrCat("u", random() % kUsers);
    // Only its own users' sessions: a test's other sessions are its to end.
    std::vector<std::string> held = agent.driver().Sessions();
    std::erase_if(held, [](const std::string& key) {
      const std::vector<absl::string_view> parts = absl::StrSplit(key, '/');
      return parts.size() != 3 || !absl::StartsWith(parts[1], "u");
    });
    if (!held.empty() && random() % 3 == 0) {
      agent.driver().Close(held[random() % held.size()]);
      ++closes_;
    } else {
      const absl::Time asked = absl::Now();
      const std::string key = absl::StrCat(agent.node, "/", user, "/", seed, "-", ++n);
      const std::string answer = agent.driver().Open(key, user);
      const bool admitted = absl::StartsWith(answer, "admitted");
      const bool unreachable = absl::StrContains(answer, "CONTROL_PLANE_UNREACHABLE");
      {
        absl::MutexLock lock(&slowest_mu_);
        slowest_open_ = std::max(slowest_open_, absl::Now() - asked);
        if (admitted) admitted_keys_.push_back(key);
        if (unreachable) last_unreachable_ = absl::Now();
      }
      if (admitted) {
        ++admitted_;
      } else if (unreachable) {
        ++unreachable_;
      } else {
        ++refused_;
      }
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
}

std::map<std::string, int> ChurnedFleetTest::HeldByUser() {
  std::map<std::string, int> held;
  for (const auto& agent : agents_) {
    for (const std::string& key : agent->driver().Sessions()) {
      const std::vector<std::string> parts = absl::StrSplit(key, '/');
      ++held[parts.size() == 3 ? parts[1] : key];
    }
  }
  return held;
}

int ChurnedFleetTest::HeldTotal() {
  int total = 0;
  for (const auto& agent : agents_) total += static_cast<int>(agent->driver().Sessions().size());
  return total;
}

absl::Time ChurnedFleetTest::LastUnreachable() {
  absl::MutexLock lock(&slowest_mu_);
  return last_unreachable_;
}

void ChurnedFleetTest::ExpectEveryAdmissionRecorded() {
  std::vector<std::string> admitted;
  {
    absl::MutexLock lock(&slowest_mu_);
    admitted = admitted_keys_;
  }
  std::set<std::string> recorded;
  std::unique_ptr<pqxx::connection> connection = Connect();
  pqxx::nontransaction tx(*connection);
  for (const auto& row : tx.exec("SELECT session_key FROM sessions")) {
    recorded.insert(row[0].as<std::string>());
  }
  size_t missing = 0;
  for (const std::string& key : admitted) {
    if (!recorded.contains(key)) {
      ADD_FAILURE() << key << " was admitted but the database has no such session";
      ++missing;
    }
  }
  std::cout << "[ CHECKED  ] " << admitted.size() - missing << " of " << admitted.size()
            << " acknowledged admissions are in the database\n";
}

int ChurnedFleetTest::ExpectConvergedAndWithinLimits() {
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state = 'closing'") == 0; },
              absl::Seconds(30)))
      << "kills still in flight";
  EXPECT_TRUE(WaitFor(
      [&] { return Query("SELECT count(*) FROM sessions WHERE state = 'active'") == HeldTotal(); },
      absl::Seconds(30)))
      << "the nodes and the database disagree";
  int held = 0;
  for (const auto& agent : agents_) {
    for (const std::string& key : agent->driver().Sessions()) {
      EXPECT_FALSE(LiveSessionId(key).empty()) << key << " is held but not live";
      ++held;
    }
  }
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE state = 'active'"), held);
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM (SELECT user_id FROM sessions WHERE state "
                               "<> 'closed' GROUP BY user_id HAVING count(*) > ",
                               kMaxConnections, ") over")),
            0);
  for (const auto& [user, count] : HeldByUser()) {
    EXPECT_LE(count, kMaxConnections) << user << " holds " << count << " sessions";
  }
  std::cout << "[ CHECKED  ] " << admitted_.load() << " admitted, " << refused_.load()
            << " refused, " << unreachable_.load() << " refused as unreachable, " << closes_.load()
            << " closed; " << held << " sessions held = live in the database; nobody over "
            << kMaxConnections << "\n";
  return held;
}

}  // namespace warden::testing
