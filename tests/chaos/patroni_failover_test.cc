// Chaos on a highly available PostgreSQL: a three-member Patroni cluster in
// synchronous mode (tests/chaos/patroni_rig.sh), reached by two replicas
// through one multi-host URL with target_session_attrs=read-write. While
// users come and go, the primary is frozen (SIGSTOP: a standby takes over
// after the leader lock's ttl, writes must resume while the old primary is
// still frozen, and it must step down when thawed), then switched over
// (planned), then lost with its node (Patroni and postmaster SIGKILLed).
// After each: the replicas find the new primary by themselves, a kill
// queued before the failover and one sent after it are both delivered, and
// at the end every admission an agent was told of is in the database and
// nobody is over their limit.

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "tests/chaos/churned_fleet.h"
#include "tests/support/netns_rig.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

constexpr char kAbandoned[] = "its server hangs; abandoning the connection";

const std::string kRig = std::string(WARDEN_SOURCE_DIR) + "/tests/chaos/patroni_rig.sh";

class PatroniFailoverTest : public ChurnedFleetTest {
 protected:
  void SetUp() override {
    for (const char* tool : {"patroni", "patronictl", "etcd", "curl"}) {
      if (FindExecutable(tool).empty()) {
        GTEST_SKIP() << "high-availability test skipped: no " << tool
                     << " (Debian packages patroni, etcd-server, python3-etcd, curl)";
      }
    }
    ChurnedFleetTest::SetUp();
  }

  void TearDown() override {
    ChurnedFleetTest::TearDown();
    if (!rig_dir_.empty()) Rig("stop");
  }

  // The fleet's database lives on the Patroni cluster, started here.
  std::string CreateFleetDatabase() override {
    char pattern[] = "/tmp/warden-ha.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) return "";
    rig_dir_ = pattern;
    const CtlResult started = Rig("start");
    if (started.code != 0) {
      ADD_FAILURE() << "the Patroni cluster did not start:\n" << started.out << started.err;
      return "";
    }
    const std::string admin_url(absl::StripAsciiWhitespace(started.out));
    pqxx::connection connection(admin_url);
    pqxx::nontransaction(connection).exec0("CREATE DATABASE warden");
    return absl::StrReplaceAll(admin_url, {{"/postgres?", "/warden?"}});
  }

  CtlResult Rig(const std::string& command) {
    return RunCaptured("/bin/bash", {kRig, rig_dir_, command},
                       {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}}, "/tmp");
  }

  // Writes through `control` (a user created) until one succeeds, for at most a minute.
  bool WaitWritable(const Control& control, const std::string& label) {
    int attempt = 0;
    return WaitFor(
        [&] {
          v1::CreateUserRequest request;
          request.mutable_user()->set_username(absl::StrCat("probe-", label, "-", ++attempt));
          request.mutable_user()->set_max_connections(1);
          v1::User user;
          return Admin(control)
              ->CreateUser(AdminContext(absl::Seconds(2)).get(), request, &user)
              .ok();
        },
        absl::Seconds(60));
  }

  // One fault, with a kill queued before it for a stopped agent and a kill
  // sent after it; reports what the callers saw.
  void SurviveFailover(const std::string& fault) {
    Control& a = *controls_[0];
    Control& b = *controls_[1];
    Agent& stopped = *agents_[2];
    const std::string key = absl::StrCat("n-c/kept/", fault);
    ASSERT_TRUE(absl::StartsWith(stopped.driver().Open(key, "kept"), "admitted"));
    const std::string session_id = LiveSessionId(key);
    ASSERT_FALSE(session_id.empty());
    stopped.process->Signal(SIGSTOP);
    const grpc::Status queued = Kill(b, session_id);
    ASSERT_TRUE(queued.ok()) << queued.error_message();

    const int not_serving_a = CountInLog(*a.process, kNotServing);
    const int not_serving_b = CountInLog(*b.process, kNotServing);
    const int admitted_before = admitted_.load();
    const int unreachable_before = unreachable_.load();
    const absl::Time injected_at = absl::Now();
    const CtlResult injected = Rig(fault);
    ASSERT_EQ(injected.code, 0) << injected.out << injected.err;
    std::cout << "[ INJECTED ] " << fault << " of the primary (" << injected.out.substr(0, 3)
              << ") after " << admitted_before << " admissions, with a kill queued\n";
    const bool freeze = fault == "freeze-leader";
    if (freeze) {
      // Hung for good, as far as anyone can tell: a standby takes over after
      // the ttl, and calls stuck on the hung primary are abandoned past the
      // statement timeout, so writes resume while it is still frozen.
      ASSERT_TRUE(
          WaitFor([&] { return Rig("leader").out.substr(0, 3) != injected.out.substr(0, 3); },
                  absl::Seconds(30)))
          << "no failover while the primary was frozen";
    }
    ASSERT_TRUE(WaitWritable(a, fault)) << "replica a never wrote again\n" << a.process->Log();
    const absl::Duration outage = absl::Now() - injected_at;
    // Thawed, the old primary must step down.
    if (freeze) {
      ASSERT_EQ(Rig("thaw").code, 0);
      EXPECT_GT(CountInLog(*a.process, kAbandoned) + CountInLog(*b.process, kAbandoned), 0)
          << "no call was found waiting on the hung primary";
    }
    const bool a_dipped = CountInLog(*a.process, kNotServing) > not_serving_a;
    const bool b_dipped = CountInLog(*b.process, kNotServing) > not_serving_b;
    // A replica that saw the primary go says so, and serves again after.
    if (a_dipped) {
      EXPECT_TRUE(WaitForLogCount(*a.process, kServing, not_serving_a + 2, absl::Seconds(20)));
    }
    if (b_dipped) {
      EXPECT_TRUE(WaitForLogCount(*b.process, kServing, not_serving_b + 2, absl::Seconds(20)));
    }

    // The churn's view: connects refused until the replicas served again.
    const absl::Duration refusing = std::max(absl::ZeroDuration(), LastUnreachable() - injected_at);
    stopped.process->Signal(SIGCONT);
    ASSERT_TRUE(WaitFor([&] { return Delivered(stopped, key); }, absl::Seconds(30)))
        << "the kill queued before the " << fault << " never arrived\n"
        << stopped.process->Log();
    const std::string after_key = absl::StrCat("n-c/kept/after-", fault);
    ASSERT_TRUE(absl::StartsWith(stopped.driver().Open(after_key, "kept"), "admitted"));
    const grpc::Status sent = Kill(a, LiveSessionId(after_key));
    ASSERT_TRUE(sent.ok()) << sent.error_message();
    ASSERT_TRUE(WaitFor([&] { return Delivered(stopped, after_key); }, absl::Seconds(10)))
        << "a kill sent after the " << fault << " never arrived";
    ASSERT_TRUE(WaitFor([&] { return AllAttached(); }, absl::Seconds(30)));
    const int admitted_after = admitted_.load();
    ASSERT_TRUE(WaitFor([&] { return admitted_.load() > admitted_after; }, absl::Seconds(10)))
        << "admissions did not resume after the " << fault;
    std::cout << "[ CHECKED  ] " << fault << ": writes through replica a resumed "
              << absl::FormatDuration(outage) << " after it; health went NOT_SERVING on "
              << (a_dipped ? "a " : "") << (b_dipped ? "b " : "")
              << (a_dipped || b_dipped ? "and back" : "neither (shorter than a health check)")
              << "; " << unreachable_.load() - unreachable_before
              << " connects refused as unreachable, the last " << absl::FormatDuration(refusing)
              << " after it; both kills delivered; calls abandoned on a hung server so far: "
              << CountInLog(*a.process, kAbandoned) + CountInLog(*b.process, kAbandoned) << "\n";
  }

  std::string rig_dir_;
};

TEST_F(PatroniFailoverTest, FreezeSwitchoverAndNodeLossLoseNoAdmissionAndKeepEveryLimit) {
  // A short statement timeout: past it, calls on a hung server are abandoned.
  StartFleet({}, {"--db-statement-timeout-ms", "3000"});
  CreateUser(*controls_[0], "kept", 2);
  for (const auto& agent : agents_) ASSERT_TRUE(WaitAttached(*agent)) << agent->process->Log();
  StartChurn(2, /*agents=*/2);
  absl::SleepFor(absl::Seconds(2));

  // A leader's loss is survivable only with a synchronous standby in step.
  // The freeze comes first, so that the hung primary is the first host of
  // the URL: every new connection meets it before the one that replaced it.
  for (const std::string fault : {"freeze-leader", "switchover"}) {
    SurviveFailover(fault);
    const CtlResult healthy = Rig("healthy");
    ASSERT_EQ(healthy.code, 0) << healthy.out << healthy.err;
  }
  SurviveFailover("kill-leader");

  StopChurn();
  ExpectEveryAdmissionRecorded();
  ExpectConvergedAndWithinLimits();
}

}  // namespace
}  // namespace warden::testing
