#pragma once

// Real warden-control and warden-agent processes on a fresh database, for
// the tests of the agent link. Agents use the memory driver, driven through
// its control socket.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/drivers/memory/memory_driver_client.h"
#include "tests/support/process.h"
#include "tests/support/test_postgres.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::testing {

using agent::MemoryDriverClient;

// A loopback port nobody listens on now. Agents need a fixed address for a
// control plane that restarts, so the port is chosen before the server starts.
int FreePort();

// Where a replica runs and how it reaches the database (the defaults:
// loopback, this network namespace, the test's database).
struct ReplicaPlacement {
  std::string host = "127.0.0.1";
  std::string netns{};
  std::string database_url{};
};

class FleetProcessTest : public ::testing::Test {
 protected:
  using Placement = ReplicaPlacement;
  struct Control {
    std::string name;
    std::vector<std::string> extra_args;
    Placement placement;
    int port = 0;
    std::unique_ptr<Process> process;
    int starts = 0;
    std::string address() const { return absl::StrCat(placement.host, ":", port); }
  };
  struct Agent {
    std::string node;
    std::string state_dir;
    std::string socket;
    std::vector<std::string> extra_args;
    Control* control = nullptr;
    // Further replicas in --control, tried in turn after `control`.
    std::vector<Control*> more_controls;
    std::string netns{};  // a network namespace to run in ("": this one)
    std::unique_ptr<Process> process;
    int starts = 0;
    MemoryDriverClient driver() const { return MemoryDriverClient(socket); }
  };

  void SetUp() override;
  void TearDown() override;
  // The cluster the test's database lives in: the shared one, unless a test
  // that stops or freezes PostgreSQL brings its own.
  virtual TestPostgres& Cluster() { return TestPostgres::Shared(); }
  // The URL of the fleet's database: a new one in Cluster(), unless a test
  // brings a database of its own (e.g. on a highly available cluster).
  virtual std::string CreateFleetDatabase();

  Control& StartControl(const std::string& name, std::vector<std::string> extra_args = {},
                        Placement placement = {});
  void RestartControl(Control& control);
  // Enrols (a ticket from `control`) unless the state dir has a credential.
  Agent& StartAgent(const std::string& node, Control& control,
                    std::vector<std::string> extra_args = {},
                    std::vector<Control*> more_controls = {}, std::string netns = "");
  void RestartAgent(Agent& agent);
  // The agent's `n`-th attach (counting over its restarts) is in its log.
  bool WaitAttached(const Agent& agent, absl::Duration timeout = absl::Seconds(20));

  std::unique_ptr<v1::AdminService::Stub> Admin(const Control& control) const;
  std::unique_ptr<v1::AgentService::Stub> AgentApi(const Control& control) const;
  static std::unique_ptr<grpc::ClientContext> AdminContext(
      absl::Duration deadline = absl::Seconds(20));
  v1::User CreateUser(const Control& control, const std::string& username, int max_connections,
                      int grace_seconds = 0, v1::LimitPolicy policy = v1::EVICT_OLDEST);
  // The session id of a live session by key, or "" when it is not live.
  std::string LiveSessionId(const std::string& key) const;
  int64_t Query(const std::string& sql) const;
  // A connection to the fleet's database, retried while a connect fails.
  std::unique_ptr<pqxx::connection> Connect() const;

  std::unique_ptr<TestDatabase> db_;
  std::string database_url_;
  std::string work_dir_;
  std::vector<std::unique_ptr<Control>> controls_;
  std::vector<std::unique_ptr<Agent>> agents_;

 private:
  void Launch(Control& control);
  void Launch(Agent& agent, const std::string& ticket);
};

}  // namespace warden::testing
