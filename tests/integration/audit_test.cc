// ListAuditEvents: filters, time ranges, pagination.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

class AuditTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    for (int i = 0; i < 7; ++i) {
      v1::CreateUserRequest request;
      request.mutable_user()->set_username(absl::StrCat("user", i));
      request.mutable_user()->set_password("secret-password");
      v1::User out;
      ASSERT_TRUE(Admin()->CreateUser(Context().get(), request, &out).ok());
      ids_.push_back(out.id());
    }
  }

  v1::ListAuditEventsResponse List(const v1::ListAuditEventsRequest& request) {
    v1::ListAuditEventsResponse response;
    grpc::Status status = Admin()->ListAuditEvents(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<std::string> ids_;
};

TEST_F(AuditTest, FiltersByActionSubjectAndActor) {
  v1::ListAuditEventsRequest request;
  request.set_action("user.create");
  EXPECT_EQ(List(request).events_size(), 7);

  request.set_subject(absl::StrCat("user:", ids_[3]));
  v1::ListAuditEventsResponse one = List(request);
  ASSERT_EQ(one.events_size(), 1);
  EXPECT_EQ(one.events(0).actor(), "bootstrap");
  EXPECT_EQ(one.events(0).details().fields().at("username").string_value(), "user3");
  EXPECT_EQ(one.DebugString().find("secret-password"), std::string::npos);

  v1::ListAuditEventsRequest by_actor;
  by_actor.set_actor("someone-else");
  EXPECT_EQ(List(by_actor).events_size(), 0);
}

TEST_F(AuditTest, PagesNewestFirst) {
  v1::ListAuditEventsRequest request;
  request.set_action("user.create");
  request.set_page_size(3);
  std::vector<int64_t> ids;
  for (int page = 0; page < 5; ++page) {
    v1::ListAuditEventsResponse response = List(request);
    for (const auto& event : response.events()) ids.push_back(event.id());
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  ASSERT_EQ(ids.size(), 7u);
  EXPECT_TRUE(std::is_sorted(ids.rbegin(), ids.rend()));
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 7u);
}

TEST_F(AuditTest, FiltersByTimeRange) {
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  tx.exec(
      "UPDATE audit_events SET at = '2020-01-01T00:00:00Z' WHERE details->>'username' = 'user0'");
  v1::ListAuditEventsRequest request;
  request.set_action("user.create");
  request.mutable_until()->set_seconds(1577923200);  // 2020-01-02
  v1::ListAuditEventsResponse old = List(request);
  ASSERT_EQ(old.events_size(), 1);
  EXPECT_EQ(old.events(0).at().seconds(), 1577836800);

  v1::ListAuditEventsRequest recent;
  recent.set_action("user.create");
  recent.mutable_since()->set_seconds(1577923200);
  EXPECT_EQ(List(recent).events_size(), 6);

  recent.mutable_until()->set_seconds(1577836800);
  v1::ListAuditEventsResponse response;
  EXPECT_EQ(Admin()->ListAuditEvents(Context().get(), recent, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace warden::testing
