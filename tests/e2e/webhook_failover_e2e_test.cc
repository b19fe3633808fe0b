// A control-plane replica SIGKILLed while its delivery is on the wire: the
// delivery's lease runs out and another replica sends it again, with the
// same webhook-id (at least once; the receiver sees a duplicate).

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_receiver.h"

namespace warden::testing {
namespace {

constexpr char kWebhookKey[] = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";

class WebhookFailoverE2ETest : public FleetProcessTest {
 protected:
  std::vector<std::string> WebhookArgs() {
    const std::string key_file = absl::StrCat(work_dir_, "/webhook.key");
    std::ofstream(key_file) << kWebhookKey << "\n";
    // A 2 s attempt timeout makes the lease 6 s.
    return {"--webhook-key-file", key_file, "--webhook-allow-private-targets",
            "--webhook-timeout-seconds", "2"};
  }
};

TEST_F(WebhookFailoverE2ETest, AReplicaKilledMidDeliveryLeavesItToAnother) {
  if (std::string why = WebhookReceiver::Unavailable(); !why.empty()) GTEST_SKIP() << why;
  std::string error;
  std::unique_ptr<WebhookReceiver> receiver = WebhookReceiver::Start(work_dir_, &error);
  ASSERT_NE(receiver, nullptr) << error;
  Control& first = StartControl("replica-a", WebhookArgs());

  v1::CreateWebhookRequest create;
  create.set_url(receiver->url());
  create.add_event_types("user.created");
  v1::CreateWebhookResponse webhook;
  grpc::Status status = Admin(first)->CreateWebhook(AdminContext().get(), create, &webhook);
  ASSERT_TRUE(status.ok()) << status.error_message();
  receiver->SetSecrets({webhook.secret()});
  ASSERT_TRUE(receiver->Delay(10000));  // the answer never comes in time

  CreateUser(first, "alice", 1);
  std::vector<ReceivedMessage> arrived = receiver->WaitForMessages(1);
  ASSERT_EQ(arrived.size(), 1u) << receiver->Log();
  first.process.reset();  // SIGKILL, before its attempt times out
  ASSERT_TRUE(receiver->Delay(0));
  EXPECT_EQ(Query("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"), 1);

  Control& second = StartControl("replica-b", WebhookArgs());
  (void)second;
  std::vector<ReceivedMessage> again = receiver->WaitForMessages(2, absl::Seconds(30));
  ASSERT_EQ(again.size(), 2u) << receiver->Log();
  EXPECT_EQ(again[1].id, arrived[0].id);
  EXPECT_TRUE(again[1].verified) << again[1].error;
  EXPECT_EQ(again[1].type, "user.created");
  EXPECT_EQ(again[1].status, 200);
  ASSERT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered'") == 1;
  }));
}

}  // namespace
}  // namespace warden::testing
