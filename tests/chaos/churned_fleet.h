#pragma once

// A fleet under churn for the fault tests: real replicas and agents (memory
// driver) with users connecting and disconnecting on random nodes while a
// fault is injected, and the invariants checked once it is over.

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "tests/support/fleet_processes.h"

namespace warden::testing {

// What a replica's health monitor logs when the database goes and comes back.
inline constexpr char kNotServing[] = "database unreachable: not serving";
inline constexpr char kServing[] = "database reachable: serving";

// How often `text` is in `process`'s log, and a wait for it to be there `count` times.
int CountInLog(const Process& process, const std::string& text);
bool WaitForLogCount(const Process& process, const std::string& text, int count,
                     absl::Duration timeout);

class ChurnedFleetTest : public FleetProcessTest {
 protected:
  static constexpr int kUsers = 12;
  static constexpr int kMaxConnections = 2;

  void TearDown() override;

  // Two replicas, a and b; three agents that know both (n-a and n-c start on
  // a, n-b on b); the churn's users.
  void StartFleet(std::vector<std::string> agent_args = {},
                  std::vector<std::string> control_args = {});
  bool AllAttached();
  grpc::Status Kill(const Control& control, const std::string& session_id);
  // `key` is gone from `agent` and is not live in the database.
  bool Delivered(Agent& agent, const std::string& key);

  void CreateUsers(const Control& control);
  // `threads` threads open and close sessions of random users on random
  // agents (the first `agents`, or all) until StopChurn; session keys say
  // "<node>/<user>/<n>".
  void StartChurn(int threads = 2, int agents = 0);
  void StopChurn();

  // The sessions every agent holds, by user, and in all.
  std::map<std::string, int> HeldByUser();
  int HeldTotal();

  // Waits for kills and closes in flight to land, then checks: every
  // session an agent holds is live in the database and nothing else is
  // (none lost, none ghosted), and nobody is over the limit, in the
  // database or on the nodes. Prints what it checked. Returns the sessions held.
  int ExpectConvergedAndWithinLimits();

  // Every session an agent was told is admitted has a row in the database:
  // no acknowledged admission was lost. Prints what it checked.
  void ExpectEveryAdmissionRecorded();

  std::atomic<int> admitted_{0}, refused_{0}, unreachable_{0}, closes_{0};
  // The longest a connect waited for its answer (read after StopChurn).
  absl::Duration slowest_open_;
  // When a connect was last refused as unreachable.
  absl::Time LastUnreachable();

 private:
  void Churn(int seed, size_t agents);

  std::atomic<bool> stop_churn_{false};
  absl::Mutex slowest_mu_;
  std::vector<std::string> admitted_keys_ ABSL_GUARDED_BY(slowest_mu_);
  absl::Time last_unreachable_ ABSL_GUARDED_BY(slowest_mu_) = absl::InfinitePast();
  std::vector<std::thread> churners_;
};

}  // namespace warden::testing
