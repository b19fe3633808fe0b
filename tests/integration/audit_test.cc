// ListAuditEvents: filters, time ranges, pagination; WatchEvents' limits;
// the action index (retention: history_partitions_test.cc).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/statements.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/statement_plan.h"
#include "tests/support/wait.h"

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

namespace warden::testing {
namespace {

// WatchEvents and the audit log's upkeep: streams that end with their API
// key, a cap on watchers per key, a cursor that does not read skipped
// events again, and prefix filters served by an index.
class WatchEventsTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.metrics_listen = "127.0.0.1:0";
    config.max_watchers_per_key = 2;
  }

  // A new API key's secret.
  std::string CreateKey(const std::string& name, std::string* id = nullptr) {
    v1::CreateApiKeyRequest request;
    request.set_name(name);
    request.set_role(v1::VIEWER);
    v1::CreateApiKeyResponse response;
    grpc::Status status = Admin()->CreateApiKey(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    if (id != nullptr) *id = response.key().id();
    return response.secret();
  }

  int64_t Query(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  // A watch with `key` from just before the newest event, so that its
  // first Read proves the subscription is in place.
  struct Watch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader;
  };
  std::unique_ptr<Watch> StartWatch(const std::string& key, v1::WatchEventsRequest request = {}) {
    auto watch = std::make_unique<Watch>();
    watch->context.AddMetadata("authorization", absl::StrCat("Bearer ", key));
    watch->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    if (request.after_id() == 0)
      request.set_after_id(Query("SELECT max(id) - 1 FROM audit_events"));
    watch->reader = Admin()->WatchEvents(&watch->context, request);
    return watch;
  }
};

TEST_F(WatchEventsTest, RevokingTheApiKeyEndsItsWatchPromptly) {
  std::string key_id;
  const std::string key = CreateKey("watcher", &key_id);
  auto watch = StartWatch(key);
  v1::WatchEventsResponse response;
  ASSERT_TRUE(watch->reader->Read(&response));

  v1::RevokeApiKeyRequest revoke;
  revoke.set_id(key_id);
  v1::ApiKey revoked;
  const absl::Time revoked_at = absl::Now();
  ASSERT_TRUE(Admin()->RevokeApiKey(Context().get(), revoke, &revoked).ok());
  while (watch->reader->Read(&response)) {
  }
  const grpc::Status status = watch->reader->Finish();
  EXPECT_LT(absl::Now() - revoked_at, absl::Seconds(3)) << "the watch outlived its key";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "the API key watcher was revoked");
}

TEST_F(WatchEventsTest, OneWatcherMoreThanAKeyMayHoldIsRefused) {
  const std::string key = CreateKey("dashboards");
  v1::WatchEventsResponse response;
  auto first = StartWatch(key);
  auto second = StartWatch(key);
  ASSERT_TRUE(first->reader->Read(&response));
  ASSERT_TRUE(second->reader->Read(&response));
  auto third = StartWatch(key);
  EXPECT_FALSE(third->reader->Read(&response));
  const grpc::Status refused = third->reader->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("key:dashboards already has 2 WatchEvents streams"),
            std::string::npos)
      << refused.error_message();
  // Other keys are counted apart, and a watcher that goes makes room.
  auto other = StartWatch(kTestAdminKey);
  EXPECT_TRUE(other->reader->Read(&response));
  first->context.TryCancel();
  first->reader->Finish();
  EXPECT_TRUE(WaitFor([&] {
    auto again = StartWatch(key);
    const bool read = again->reader->Read(&response);
    again->context.TryCancel();
    again->reader->Finish();
    return read;
  }));
}

TEST_F(WatchEventsTest, CursorMovesPastEventsTheFilterSkips) {
  v1::WatchEventsRequest request;
  request.set_actor("alpha");
  request.set_subject("s2");
  request.set_after_id(Query("SELECT max(id) FROM audit_events"));
  auto watch = StartWatch(kTestAdminKey, request);
  // Half of these have the actor, half the subject, none both: every
  // index finds thousands, the filter nothing.
  Query(
      "WITH i AS (INSERT INTO audit_events (actor, action, subject) "
      "SELECT CASE WHEN g % 2 = 0 THEN 'alpha' ELSE 'beta' END, 'user.update', "
      "CASE WHEN g % 2 = 0 THEN 's1' ELSE 's2' END FROM generate_series(1, 6000) g "
      "RETURNING 1) SELECT count(*) FROM i");
  // Polls are counted by their reads of the newest id (each reads the
  // primary key of every time partition once); rows read, over every index
  // and partition.
  const auto polls = [&] {
    return Query(
        "SELECT COALESCE(max(idx_scan), 0) FROM pg_stat_user_indexes WHERE indexrelid IN "
        "(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_events_pkey'::regclass)");
  };
  const std::string partitions =
      "(SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_events'::regclass)";
  const auto rows_read = [&] {
    return Query(
        "SELECT COALESCE(sum(idx_tup_read), 0) + (SELECT COALESCE(sum(seq_tup_read), 0) "
        "FROM pg_stat_user_tables WHERE relid IN " +
        partitions + ") FROM pg_stat_user_indexes WHERE relid IN " + partitions);
  };
  // Rows read over a window of at least 15 polls and 3 s (PostgreSQL
  // reports a busy backend's reads about once a second); -1: no polls.
  const auto window_read = [&]() -> int64_t {
    const int64_t before = rows_read();
    const int64_t until = polls() + 15;
    const absl::Time end = absl::Now() + absl::Seconds(3);
    if (!WaitFor([&] { return polls() >= until && absl::Now() >= end; })) return -1;
    return rows_read() - before;
  };
  // Once the cursor has moved on (and every backend has reported its
  // reads, which PostgreSQL may hold back), a window reads (next to)
  // nothing. Polls that started from the same place each time would read
  // thousands of rows each.
  int64_t read = -1;
  EXPECT_TRUE(WaitFor(
      [&] {
        read = window_read();
        return read >= 0 && read < 100;
      },
      absl::Seconds(30)))
      << "a window of polls read " << read << " rows";
  // It still hears what matches.
  Query(
      "WITH i AS (INSERT INTO audit_events (actor, action, subject) "
      "VALUES ('alpha', 'user.update', 's2') RETURNING id) SELECT id FROM i");
  v1::WatchEventsResponse response;
  do {
    ASSERT_TRUE(watch->reader->Read(&response));
  } while (!response.has_event());
  EXPECT_EQ(response.event().actor(), "alpha");
  EXPECT_EQ(response.event().subject(), "s2");
}

TEST_F(WatchEventsTest, ActionFiltersAreServedByTheActionIndex) {
  Query(
      "WITH i AS (INSERT INTO audit_events (actor, action, subject) "
      "SELECT 'x', CASE WHEN g % 1000 = 0 THEN 'session.open' ELSE 'user.update' END, 's' "
      "FROM generate_series(1, 20000) g RETURNING 1) SELECT count(*) FROM i");
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  tx.exec0("ANALYZE audit_events");
  const auto plan = [&](const std::string& mode, const std::string& statement,
                        const std::string& args) {
    return PlanOf(tx, mode, control::store::AuditStatements(), statement, args);
  };
  // The index as the time partition holding the rows has it.
  std::vector<std::string> action_index;
  for (const auto& row :
       tx.exec("SELECT i.inhrelid::regclass::text FROM pg_inherits i "
               "JOIN pg_index x ON x.indexrelid = i.inhrelid "
               "WHERE i.inhparent = 'audit_events_action_bytes'::regclass "
               "AND x.indrelid = (SELECT tableoid FROM audit_events ORDER BY id DESC LIMIT 1)")) {
    action_index.push_back(row[0].as<std::string>());
  }
  ASSERT_EQ(action_index.size(), 1u);
  const auto uses_action_index = [&](const std::string& plan) {
    return std::any_of(action_index.begin(), action_index.end(), [&](const std::string& index) {
      return plan.find(" using " + index + " ") != std::string::npos;
    });
  };
  for (const std::string mode : {"force_custom_plan", "force_generic_plan"}) {
    // $1 actor, $2 subject, $3 since, $4 until, $5 before id, $6 limit, prefix range.
    const std::string list =
        plan(mode, "audit.list.prefix", "'', '', NULL, NULL, NULL, 100, 'session.', 'session/'");
    EXPECT_TRUE(uses_action_index(list)) << mode << "\n" << list;
    const std::string exact =
        plan(mode, "audit.list.exact", "'', '', NULL, NULL, NULL, 100, 'session.open'");
    EXPECT_TRUE(uses_action_index(exact)) << mode << "\n" << exact;
  }
  // Following from far back: the prefix range, not the id range.
  const std::string after = plan("force_custom_plan", "audit.after.prefix",
                                 "'', '', 0, 100000, 500, 'session.', 'session/'");
  EXPECT_TRUE(uses_action_index(after)) << after;

  // And through gRPC, the prefix finds exactly its events.
  v1::ListAuditEventsRequest request;
  request.set_action("session.");
  request.set_page_size(100);
  v1::ListAuditEventsResponse response;
  ASSERT_TRUE(Admin()->ListAuditEvents(Context().get(), request, &response).ok());
  EXPECT_EQ(response.events_size(), 20);
}

}  // namespace
}  // namespace warden::testing
