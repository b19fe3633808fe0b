// Single sign-on's rows on a real database: single use, the device poll
// slot, and logins that wait for Warden's own callback page.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/secrets.h"
#include "controlplane/store/database.h"
#include "controlplane/store/oidc_store.h"
#include "controlplane/store/statements.h"
#include "tests/support/test_postgres.h"

namespace warden::testing {
namespace {

using control::store::NewOidcLogin;
using control::store::OidcFlow;

class OidcStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestPostgres::Shared().CreateDatabase();
    database_ = std::make_unique<control::store::Database>(
        control::store::DatabaseOptions{.url = db_->url()}, control::store::AllStatements());
    store_ = std::make_unique<control::store::OidcStore>(*database_);
  }

  NewOidcLogin Login(OidcFlow flow, const std::string& handle) {
    NewOidcLogin login;
    login.flow = flow;
    login.provider = "corp";
    login.handle_hash_hex = secrets::Sha256Hex(handle);
    login.state_hash_hex = flow == OidcFlow::kCode ? secrets::Sha256Hex(handle + "-state") : "";
    login.sealed = "sealed bytes \x01\x02";
    login.redirect_uri = "http://127.0.0.1:9/cb";
    login.poll_interval = absl::Milliseconds(300);
    return login;
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<control::store::Database> database_;
  std::unique_ptr<control::store::OidcStore> store_;
};

TEST_F(OidcStoreTest, ADeviceLoginIsAskedAboutNoSoonerThanItsIntervalAndSlowDownWidensIt) {
  ASSERT_TRUE(store_->CreateLogin(Login(OidcFlow::kDevice, "d1")).ok());
  const std::string handle = secrets::Sha256Hex("d1");
  // Not even the first poll before the interval (RFC 8628 3.5).
  absl::StatusOr<control::store::DevicePollSlot> slot = store_->ClaimDevicePoll(handle);
  ASSERT_TRUE(slot.ok()) << slot.status();
  EXPECT_FALSE(slot->login.has_value());
  EXPECT_FALSE(slot->ended);
  EXPECT_EQ(slot->interval, absl::Milliseconds(300));
  absl::SleepFor(absl::Milliseconds(350));
  slot = store_->ClaimDevicePoll(handle);
  ASSERT_TRUE(slot.ok() && slot->login.has_value());
  EXPECT_EQ(slot->login->sealed, "sealed bytes \x01\x02");
  const std::string id = slot->login->id;
  // Taken: the next one must wait again, however many replicas ask.
  EXPECT_FALSE(store_->ClaimDevicePoll(handle)->login.has_value());

  ASSERT_TRUE(store_->SlowDown(id, absl::Seconds(5)).ok());
  slot = store_->ClaimDevicePoll(handle);
  ASSERT_TRUE(slot.ok());
  EXPECT_FALSE(slot->login.has_value());
  EXPECT_EQ(slot->interval, absl::Seconds(5));
  EXPECT_GT(slot->wait, absl::Seconds(4));

  ASSERT_TRUE(store_->EndDeviceLogin(id).ok());
  EXPECT_EQ(store_->EndDeviceLogin(id).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(store_->ClaimDevicePoll(handle)->ended);
  EXPECT_EQ(store_->ClaimDevicePoll(secrets::Sha256Hex("nobody")).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(OidcStoreTest, ACodeLoginIsTakenOnceAndOneForWardensPageOnlyAfterThePageWasReached) {
  const std::string page = "https://vpn.example/oidc/callback";
  ASSERT_TRUE(store_->CreateLogin(Login(OidcFlow::kCode, "c1")).ok());
  ASSERT_TRUE(store_->TakeCodeLogin(secrets::Sha256Hex("c1"), page).ok());
  EXPECT_EQ(store_->TakeCodeLogin(secrets::Sha256Hex("c1"), page).status().code(),
            absl::StatusCode::kUnauthenticated);

  NewOidcLogin via_page = Login(OidcFlow::kCode, "c2");
  via_page.redirect_uri = page;
  ASSERT_TRUE(store_->CreateLogin(via_page).ok());
  EXPECT_EQ(store_->TakeCodeLogin(secrets::Sha256Hex("c2"), page).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const std::string state_hash = secrets::Sha256Hex("c2-state");
  ASSERT_TRUE(store_->RecordCallback(state_hash, "code box", "", "confirmation-hash").ok());
  // The first answer stands: a second visit cannot replace it.
  EXPECT_EQ(store_->RecordCallback(state_hash, "other box", "", "other-hash").code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<control::store::OidcLogin> taken =
      store_->TakeCodeLogin(secrets::Sha256Hex("c2"), page);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->callback_code.value_or(""), "code box");
  EXPECT_EQ(taken->callback_confirmation_hash, "confirmation-hash");
  EXPECT_EQ(store_->RecordCallback(state_hash, "late", "", "late").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace warden::testing
