#pragma once

// Many nodes admit one user at the same moment: the fleet-wide limit must hold.

#include <string>
#include <vector>

#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {

struct RaceOutcome {
  int admitted = 0;
  int denied = 0;
  int rpc_errors = 0;
  int64_t active = 0;  // sessions holding a seat afterwards
  int64_t closing_or_closed = 0;
  int64_t kill_commands = 0;
  int64_t sessions_killed = 0;  // distinct sessions with a kill command
  int64_t kills_of_active = 0;  // kill commands aimed at a session still active
};

// A control plane with 8 database connections (real concurrency at the
// database) and four registered nodes.
class FourNodeFleetTest : public ControlPlaneTest {
 protected:
  void SetUp() override;

  std::unique_ptr<FleetClient> fleet_;
  std::vector<TestNode> nodes_;
};

// Fires `per_node` Admits from every node at once (all in flight together)
// for `username`, waits for all answers, then reads the database.
RaceOutcome RunAdmissionRace(FleetClient& fleet, const std::vector<TestNode>& nodes,
                             const std::string& username, int per_node,
                             const std::string& database_url);

}  // namespace warden::testing
