// The policy sweep's cost with many live sessions of which few are due: one
// SweepOnce (claim the due sessions with SKIP LOCKED, judge them, queue
// their kills with audit), an idle sweep (nothing due) and EarliestDue,
// against a database warden-control migrated. Seeds its own rows.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "controlplane/admission/policy_sweeper.h"
#include "controlplane/store/database.h"
#include "controlplane/store/policy_store.h"
#include "controlplane/store/statements.h"

namespace {

using namespace warden;

// Users on a plan with a one-hour maximum session; `sessions` live ones, of
// which `due` opened two hours ago and are due.
void Seed(const std::string& url, int sessions, int due) {
  pqxx::connection connection(url);
  pqxx::work tx(connection);
  tx.exec("DELETE FROM commands; DELETE FROM sessions WHERE session_key LIKE 'sweep:%'");
  tx.exec(
      "INSERT INTO plans (name, max_session_seconds) VALUES ('sweep-bench', 3600) "
      "ON CONFLICT (name) DO NOTHING");
  tx.exec(
      "INSERT INTO nodes (name, drivers) SELECT 'sweep-bench', '{memory}' WHERE NOT EXISTS "
      "(SELECT 1 FROM nodes WHERE name = 'sweep-bench')");
  tx.exec_params(
      "INSERT INTO users (username, plan_id) SELECT 'sweep' || g, "
      "(SELECT id FROM plans WHERE name = 'sweep-bench') FROM generate_series(1, $1) g "
      "ON CONFLICT DO NOTHING",
      std::max(1, sessions / 2));
  tx.exec_params(
      "INSERT INTO sessions (user_id, node_id, protocol, session_key, state, opened_at, "
      "  policy_due_at) "
      "SELECT u.id, (SELECT id FROM nodes WHERE name = 'sweep-bench'), 'wireguard', "
      "  'sweep:' || g, 'active', "
      "  CASE WHEN g <= $2 THEN now() - interval '2 hours' ELSE now() END, "
      "  CASE WHEN g <= $2 THEN now() - interval '1 hour' ELSE now() + interval '1 hour' END "
      "FROM generate_series(1, $1) g "
      "JOIN users u ON u.username = 'sweep' || (1 + (g - 1) % ($1 / 2))",
      sessions, due);
  tx.commit();
  pqxx::nontransaction vacuum(connection);
  vacuum.exec("VACUUM ANALYZE sessions");
}

// Puts the ended sessions back as due, as if they had just come due.
void Rearm(const std::string& url, int due) {
  pqxx::connection connection(url);
  pqxx::work tx(connection);
  tx.exec("DELETE FROM commands");
  tx.exec_params(
      "UPDATE sessions SET state = 'active', close_reason = '', "
      "  policy_due_at = now() - interval '1 hour' "
      "WHERE session_key LIKE 'sweep:%' AND substr(session_key, 7)::int <= $1",
      due);
  tx.commit();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"policy_sweep_bench: the policy sweep against a seeded database"};
  std::string url;
  int sessions = 100000;
  double due_percent = 1;
  int rounds = 5;
  app.add_option("--database-url", url, "a database warden-control has migrated")->required();
  app.add_option("--sessions", sessions, "live sessions");
  app.add_option("--due-percent", due_percent, "of them due");
  app.add_option("--rounds", rounds, "sweeps measured");
  CLI11_PARSE(app, argc, argv);
  const int due = static_cast<int>(sessions * due_percent / 100);

  Seed(url, sessions, due);
  control::store::Database db({.url = url, .pool_size = 2}, control::store::AllStatements());
  control::store::PolicyStore store(db);
  metrics::Registry registry;
  control::admission::PolicySweeper sweeper({}, store, RealClock::Get(), registry);

  std::vector<double> busy_ms, idle_ms, earliest_ms;
  int ended = 0;
  for (int round = 0; round < rounds; ++round) {
    if (round > 0) Rearm(url, due);
    absl::Time started = absl::Now();
    ended = sweeper.SweepOnce();
    busy_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - started));
    started = absl::Now();
    sweeper.SweepOnce();
    idle_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - started));
    started = absl::Now();
    (void)store.EarliestDue();
    earliest_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - started));
  }
  std::printf("%d live sessions, %d due (%d ended by the last sweep), %d rounds\n", sessions, due,
              ended, rounds);
  std::printf("sweep with %d due:  median %.1f ms  (min %.1f, max %.1f)\n", due, Median(busy_ms),
              *std::min_element(busy_ms.begin(), busy_ms.end()),
              *std::max_element(busy_ms.begin(), busy_ms.end()));
  std::printf("sweep, nothing due: median %.2f ms\n", Median(idle_ms));
  std::printf("EarliestDue:        median %.2f ms\n", Median(earliest_ms));
  return ended == due ? 0 : 1;
}
