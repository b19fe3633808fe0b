// Wake-ups sent after commit on a connection of their own, against a real
// PostgreSQL: a listener hears each one; a database that cannot be reached
// costs the wake-ups, never the caller.

#include "controlplane/store/wake_notifier.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "tests/support/test_postgres.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using control::store::WakeNotifier;

class Heard final : public pqxx::notification_receiver {
 public:
  Heard(pqxx::connection_base& connection, const std::string& channel)
      : pqxx::notification_receiver(connection, channel) {}
  void operator()(const std::string& payload, int) override { payloads.insert(payload); }
  std::set<std::string> payloads;
};

TEST(WakeNotifierTest, ListenersHearEveryWakeUp) {
  std::unique_ptr<TestDatabase> database = TestPostgres::Shared().CreateDatabase(false);
  pqxx::connection listening(database->url());
  Heard heard(listening, "wake_test");
  WakeNotifier notifier(database->url());
  notifier.Wake("wake_test", "node-1");
  notifier.Wake("wake_test", "node-2");
  notifier.Wake("wake_test", "node-1");
  notifier.Wake("other_channel", "node-3");
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (heard.payloads.size() < 2 && absl::Now() < give_up) listening.await_notification(1, 0);
  EXPECT_EQ(heard.payloads, (std::set<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(notifier.dropped(), 0u);
}

TEST(WakeNotifierTest, WakeUpsThatCannotBeSentAreCountedAndTheCallerNeverWaits) {
  // A port nothing listens on (connect_timeout keeps a stray answer short).
  WakeNotifier notifier("host=127.0.0.1 port=1 connect_timeout=2");
  const absl::Time asked = absl::Now();
  for (int i = 0; i < 100; ++i) notifier.Wake("wake_test", std::to_string(i));
  EXPECT_LT(absl::Now() - asked, absl::Milliseconds(500)) << "Wake blocked its caller";
  EXPECT_TRUE(WaitFor([&] { return notifier.dropped() >= 1; }, absl::Seconds(10)));
}

}  // namespace
}  // namespace warden::testing
