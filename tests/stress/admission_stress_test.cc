// The admission race, 100 times over: 4 nodes × 50 concurrent Admits for a
// user with limit 3, alternating policies. Zero violations allowed.

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/admission_race.h"

namespace warden::testing {
namespace {

using AdmissionStressTest = FourNodeFleetTest;

TEST_F(AdmissionStressTest, HundredRacesWithoutAViolation) {
  int violations = 0;
  for (int round = 0; round < 100; ++round) {
    const bool reject = round % 2 == 0;
    const std::string username = absl::StrCat("racer", round);
    fleet_->CreateUser(username, 3, reject ? v1::REJECT : v1::EVICT_OLDEST);
    RaceOutcome outcome = RunAdmissionRace(*fleet_, nodes_, username, 50, db_->url());
    const bool ok =
        outcome.rpc_errors == 0 && outcome.active == 3 &&
        (reject ? outcome.admitted == 3 && outcome.denied == 197 && outcome.kill_commands == 0
                : outcome.admitted == 200 && outcome.closing_or_closed == 197 &&
                      outcome.kill_commands == 197 && outcome.sessions_killed == 197 &&
                      outcome.kills_of_active == 0);
    if (!ok) {
      ++violations;
      ADD_FAILURE() << "round " << round << (reject ? " REJECT" : " EVICT_OLDEST")
                    << ": admitted=" << outcome.admitted << " denied=" << outcome.denied
                    << " errors=" << outcome.rpc_errors << " active=" << outcome.active
                    << " kills=" << outcome.kill_commands;
    }
  }
  EXPECT_EQ(violations, 0);
}

}  // namespace
}  // namespace warden::testing
