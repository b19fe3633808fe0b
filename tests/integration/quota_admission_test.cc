// Data quotas at admission, through gRPC against a real PostgreSQL: the
// ledger's rows (written here directly, as the usage reports would) decide
// in the admission transaction whether a session opens, and at what rate.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class QuotaAdmissionTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    node_ = fleet_->CreateNode("ams-1");
  }

  v1::User CreateUser(const v1::User& user) {
    v1::CreateUserRequest request;
    *request.mutable_user() = user;
    v1::User created;
    grpc::Status status =
        fleet_->admin().CreateUser(fleet_->AdminContext().get(), request, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created;
  }
  v1::User UserWithQuota(const std::string& username, int64_t quota_bytes, int period_days = 0) {
    v1::User user;
    user.set_username(username);
    user.set_data_quota_bytes(quota_bytes);
    user.set_quota_period_days(period_days);
    return CreateUser(user);
  }
  // Bytes the ledger counts for the user today (UTC), as the node's usage
  // reports would have added them.
  void UsedToday(const v1::User& user, int64_t rx, int64_t tx,
                 const std::string& protocol = "openvpn") {
    ExecSql(absl::StrCat(
        "INSERT INTO usage_daily (user_id, day, node_id, protocol, rx_bytes, tx_bytes) VALUES ('",
        user.id(), "', (now() AT TIME ZONE 'UTC')::date, '", node_.node.id(), "', '", protocol,
        "', ", rx, ", ", tx,
        ") ON CONFLICT (user_id, day, node_id, protocol) DO UPDATE SET "
        "rx_bytes = usage_daily.rx_bytes + excluded.rx_bytes, "
        "tx_bytes = usage_daily.tx_bytes + excluded.tx_bytes"));
  }
  v1::AdmitResponse Admit(const std::string& username, const std::string& key,
                          v1::Protocol protocol = v1::OPENVPN) {
    v1::AdmitResponse response;
    grpc::Status status = fleet_->AdmitAsserted(node_, username, key, &response, protocol);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  std::string QueryText(const std::string& sql) const {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<std::string>();
  }
  grpc::Status UpdateUser(const v1::User& user, std::initializer_list<const char*> paths,
                          v1::User* updated) {
    v1::UpdateUserRequest request;
    *request.mutable_user() = user;
    for (const char* path : paths) request.mutable_update_mask()->add_paths(path);
    return fleet_->admin().UpdateUser(fleet_->AdminContext().get(), request, updated);
  }

  std::unique_ptr<FleetClient> fleet_;
  TestNode node_;
};

TEST_F(QuotaAdmissionTest, DeniesAnAdmissionOverTheQuotaWithWhenItResets) {
  const v1::User ann = UserWithQuota("ann", 10'000);
  UsedToday(ann, 4'000, 5'000);
  ASSERT_TRUE(Admit("ann", "ovpn:ams-1:1").has_admitted()) << "9000 of 10000 bytes used";

  UsedToday(ann, 500, 500, "wireguard");
  const v1::AdmitResponse over = Admit("ann", "ovpn:ams-1:2");
  ASSERT_TRUE(over.has_denied()) << over.DebugString();
  EXPECT_EQ(over.denied().reason(), v1::QUOTA_EXCEEDED);
  const std::string next_month = QueryText(
      "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month', "
      "'YYYY-MM-DD')");
  EXPECT_EQ(over.denied().message(),
            absl::StrCat("your data quota is used up; it resets on ", next_month, " 00:00 UTC"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.deny' "
                     "AND details->>'reason' = 'quota_exceeded' "
                     "AND details->>'detail' LIKE 'used 10000 of 10000 bytes%'"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'ovpn:ams-1:2'"), 0);

  // Support's grant raises the quota of the window.
  ExecSql(absl::StrCat("INSERT INTO usage_adjustments (user_id, kind, bytes, actor) VALUES ('",
                       ann.id(), "', 'grant', 5000, 'test')"));
  EXPECT_TRUE(Admit("ann", "ovpn:ams-1:3").has_admitted());
}

TEST_F(QuotaAdmissionTest, APeriodRollOverAdmitsAgain) {
  const v1::User bea = UserWithQuota("bea", 1'000, /*period_days=*/1);
  UsedToday(bea, 800, 800);
  const v1::AdmitResponse over = Admit("bea", "wg:b1", v1::WIREGUARD);
  ASSERT_TRUE(over.has_denied()) << over.DebugString();
  EXPECT_EQ(over.denied().reason(), v1::QUOTA_EXCEEDED);
  const std::string tomorrow =
      QueryText("SELECT to_char((now() AT TIME ZONE 'UTC')::date + 1, 'YYYY-MM-DD')");
  EXPECT_EQ(over.denied().message(),
            absl::StrCat("your data quota is used up; usage older than 1 day frees up from ",
                         tomorrow, " 00:00 UTC"));

  // A day later the usage lies outside the one-day window.
  ExecSql("UPDATE usage_daily SET day = day - 1");
  EXPECT_TRUE(Admit("bea", "wg:b1", v1::WIREGUARD).has_admitted());
}

TEST_F(QuotaAdmissionTest, APlanQuotaIsInheritedAndAUserOverrideWins) {
  v1::CreatePlanRequest plan;
  plan.mutable_plan()->set_name("lite");
  plan.mutable_plan()->set_data_quota_bytes(1'000);
  v1::Plan created;
  ASSERT_TRUE(fleet_->admin().CreatePlan(fleet_->AdminContext().get(), plan, &created).ok());
  v1::User cal;
  cal.set_username("cal");
  cal.set_plan("lite");
  cal = CreateUser(cal);
  EXPECT_EQ(cal.effective().data_quota_bytes(), 1'000);
  EXPECT_EQ(cal.effective().sources().at("data_quota_bytes"), "plan");
  EXPECT_EQ(cal.effective().sources().at("quota_period_days"), "default");
  UsedToday(cal, 1'000, 500);
  EXPECT_EQ(Admit("cal", "ovpn:ams-1:1").denied().reason(), v1::QUOTA_EXCEEDED);

  cal.set_data_quota_bytes(1'000'000);
  v1::User updated;
  ASSERT_TRUE(UpdateUser(cal, {"data_quota_bytes"}, &updated).ok());
  EXPECT_EQ(updated.effective().data_quota_bytes(), 1'000'000);
  EXPECT_EQ(updated.effective().sources().at("data_quota_bytes"), "user");
  EXPECT_TRUE(Admit("cal", "ovpn:ams-1:1").has_admitted());

  // 0: no quota for this user, whatever the plan says.
  cal.set_data_quota_bytes(0);
  ASSERT_TRUE(UpdateUser(cal, {"data_quota_bytes"}, &updated).ok());
  UsedToday(cal, 10'000'000, 0);
  EXPECT_TRUE(Admit("cal", "ovpn:ams-1:2").has_admitted());
}

TEST_F(QuotaAdmissionTest, ThrottleAdmitsQuicAtTheThrottleRate) {
  v1::User dee;
  dee.set_username("dee");
  dee.set_data_quota_bytes(1'000);
  dee.set_on_quota_exceeded(v1::QUOTA_THROTTLE);
  dee.set_throttle_bytes_per_second(4'096);
  dee = CreateUser(dee);
  EXPECT_EQ(dee.effective().on_quota_exceeded(), v1::QUOTA_THROTTLE);
  EXPECT_EQ(dee.effective().quota_note(),
            "throttling applies to QUIC tunnels; WireGuard and OpenVPN sessions over quota are "
            "ended");

  const v1::AdmitResponse fresh = Admit("dee", "quic:1", v1::QUIC);
  ASSERT_TRUE(fresh.has_admitted());
  EXPECT_EQ(fresh.admitted().bandwidth_bytes_per_second(), 0) << "under the quota: unlimited";

  UsedToday(dee, 600, 600, "quic");
  const v1::AdmitResponse throttled = Admit("dee", "quic:2", v1::QUIC);
  ASSERT_TRUE(throttled.has_admitted()) << throttled.DebugString();
  EXPECT_EQ(throttled.admitted().bandwidth_bytes_per_second(), 4'096);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit' "
                     "AND (details->>'quota_throttle_bytes_per_second')::bigint = 4096"),
            1);

  const v1::AdmitResponse wireguard = Admit("dee", "wg:d1", v1::WIREGUARD);
  ASSERT_TRUE(wireguard.has_denied());
  EXPECT_EQ(wireguard.denied().reason(), v1::QUOTA_EXCEEDED);
  EXPECT_EQ(Admit("dee", "ovpn:ams-1:1").denied().reason(), v1::QUOTA_EXCEEDED);
}

TEST_F(QuotaAdmissionTest, AdmissionJudgesTheLedgerNotAnEarlierHold) {
  const v1::User eve = UserWithQuota("eve", 1'000'000);
  // Held in this window, but the window has room again (say, a rolling
  // window freed a day): the ledger decides; the hold is released by the
  // usage ledger's own sweep, which also gives throttled tunnels their
  // bandwidth back.
  ExecSql(
      absl::StrCat("UPDATE users SET quota_exceeded = true, "
                   "quota_period_start = warden_quota_window_start(0, now()) WHERE id = '",
                   eve.id(), "'"));
  EXPECT_TRUE(Admit("eve", "ovpn:ams-1:1").has_admitted());
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM users WHERE quota_exceeded AND id = '",
                                  eve.id(), "'")),
            1)
      << "admission leaves the enforcement's state alone";
}

}  // namespace
}  // namespace warden::testing
