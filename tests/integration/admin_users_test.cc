// AdminService user management against a real PostgreSQL, through gRPC.

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class AdminUsersTest : public ControlPlaneTest {
 protected:
  grpc::Status Create(const v1::User& user, v1::User* out) {
    v1::CreateUserRequest request;
    *request.mutable_user() = user;
    return Admin()->CreateUser(Context().get(), request, out);
  }

  v1::User CreateOrDie(const std::string& username, int max_connections = 0) {
    v1::User user;
    user.set_username(username);
    user.set_max_connections(max_connections);
    v1::User created;
    grpc::Status status = Create(user, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }
};

TEST_F(AdminUsersTest, CreatesAndReadsBackByIdAndUsername) {
  v1::User user;
  user.set_username("Alice@Example.org");
  user.set_password("correct horse battery");
  user.set_max_connections(3);
  user.set_limit_policy(v1::REJECT);
  user.set_grace_seconds(30);
  user.set_bandwidth_bytes_per_second(1 << 20);
  v1::User created;
  ASSERT_TRUE(Create(user, &created).ok());
  EXPECT_EQ(created.username(), "alice@example.org");
  EXPECT_EQ(created.id().size(), 36u);
  EXPECT_TRUE(created.password().empty());
  EXPECT_TRUE(created.has_password());
  EXPECT_EQ(created.max_connections(), 3);
  EXPECT_EQ(created.limit_policy(), v1::REJECT);
  EXPECT_EQ(created.grace_seconds(), 30);
  EXPECT_EQ(created.bandwidth_bytes_per_second(), 1 << 20);
  EXPECT_GT(created.created_at().seconds(), 0);

  v1::GetUserRequest by_id;
  by_id.set_id(created.id());
  v1::User fetched;
  ASSERT_TRUE(Admin()->GetUser(Context().get(), by_id, &fetched).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(fetched, created))
      << fetched.DebugString() << " vs " << created.DebugString();

  v1::GetUserRequest by_name;
  by_name.set_username("ALICE@example.org");
  ASSERT_TRUE(Admin()->GetUser(Context().get(), by_name, &fetched).ok());
  EXPECT_EQ(fetched.id(), created.id());
}

TEST_F(AdminUsersTest, DefaultsToEvictOldestAndUnlimited) {
  v1::User created = CreateOrDie("bob");
  // Nothing of the user's own: what applies are the defaults.
  EXPECT_FALSE(created.has_limit_policy());
  EXPECT_EQ(created.effective().limit_policy(), v1::EVICT_OLDEST);
  EXPECT_EQ(created.effective().max_connections(), 0);
  EXPECT_EQ(created.effective().bandwidth_bytes_per_second(), 0);
  EXPECT_EQ(created.effective().sources().at("limit_policy"), "default");
  EXPECT_FALSE(created.has_password());
}

TEST_F(AdminUsersTest, StoresPasswordsOnlyAsArgon2id) {
  v1::User user;
  user.set_username("carol");
  user.set_password("a very secret pw");
  v1::User created;
  ASSERT_TRUE(Create(user, &created).ok());
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  const std::string hash = tx.exec1("SELECT password_hash FROM users")[0].as<std::string>();
  EXPECT_THAT(hash, ::testing::StartsWith("$argon2id$"));
  EXPECT_EQ(
      Count("SELECT count(*) FROM audit_events WHERE details::text LIKE '%a very secret pw%'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM users WHERE password_hash LIKE '%a very secret pw%'"), 0);
}

TEST_F(AdminUsersTest, UsernamesAreUniqueIgnoringCase) {
  CreateOrDie("dave");
  v1::User again;
  again.set_username("DAVE");
  v1::User out;
  grpc::Status status = Create(again, &out);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("\"dave\" is already taken"));
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 1);
}

TEST_F(AdminUsersTest, RejectsBadInputNamingTheFieldAndWritesNothing) {
  struct Case {
    std::function<void(v1::User*)> mutate;
    std::string expected;
  };
  const Case cases[] = {
      {[](v1::User* u) { u->set_username(""); }, "user.username"},
      {[](v1::User* u) { u->set_username(std::string(65, 'x')); }, "user.username"},
      {[](v1::User* u) { u->set_username("bad name"); }, "user.username"},
      {[](v1::User* u) { u->set_password("short"); }, "user.password"},
      {[](v1::User* u) { u->set_max_connections(-1); }, "user.max_connections"},
      {[](v1::User* u) { u->set_max_connections(1000000); }, "user.max_connections"},
      {[](v1::User* u) { u->set_limit_policy(static_cast<v1::LimitPolicy>(7)); },
       "user.limit_policy"},
      {[](v1::User* u) { u->set_grace_seconds(-1); }, "user.grace_seconds"},
      {[](v1::User* u) { u->set_grace_seconds(3601); }, "user.grace_seconds"},
      {[](v1::User* u) { u->set_bandwidth_bytes_per_second(100); },
       "user.bandwidth_bytes_per_second"},
      {[](v1::User* u) { u->set_bandwidth_bytes_per_second(-5); },
       "user.bandwidth_bytes_per_second"},
  };
  for (const Case& c : cases) {
    v1::User user;
    user.set_username("valid");
    c.mutate(&user);
    v1::User out;
    grpc::Status status = Create(user, &out);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.expected;
    EXPECT_THAT(status.error_message(), HasSubstr(c.expected));
  }
  v1::CreateUserRequest empty;
  v1::User out;
  EXPECT_EQ(Admin()->CreateUser(Context().get(), empty, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action LIKE 'user.%'"), 0);
}

TEST_F(AdminUsersTest, GetReportsMissingAndMalformedKeys) {
  v1::GetUserRequest request;
  v1::User out;
  EXPECT_EQ(Admin()->GetUser(Context().get(), request, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_id("not-a-uuid");
  grpc::Status malformed = Admin()->GetUser(Context().get(), request, &out);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(malformed.error_message(), HasSubstr("id must be a UUID"));
  request.set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_EQ(Admin()->GetUser(Context().get(), request, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);
  request.set_username("nobody");
  grpc::Status missing = Admin()->GetUser(Context().get(), request, &out);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.error_message(), HasSubstr("\"nobody\""));
}

TEST_F(AdminUsersTest, ListsInPagesFilteredByPrefix) {
  for (int i = 0; i < 12; ++i) CreateOrDie(absl::StrCat("team-", i < 10 ? "0" : "", i));
  for (int i = 0; i < 5; ++i) CreateOrDie(absl::StrCat("other-", i));

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    v1::ListUsersRequest request;
    request.set_page_size(5);
    request.set_username_prefix("TEAM-");
    request.set_page_token(token);
    v1::ListUsersResponse response;
    ASSERT_TRUE(Admin()->ListUsers(Context().get(), request, &response).ok());
    for (const auto& user : response.users()) seen.push_back(user.username());
    token = response.next_page_token();
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 12u);
  EXPECT_EQ(seen.front(), "team-00");
  EXPECT_EQ(seen.back(), "team-11");
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  v1::ListUsersRequest all;
  v1::ListUsersResponse everything;
  ASSERT_TRUE(Admin()->ListUsers(Context().get(), all, &everything).ok());
  EXPECT_EQ(everything.users_size(), 17);
  EXPECT_TRUE(everything.next_page_token().empty());
}

TEST_F(AdminUsersTest, RefusesBadPagination) {
  for (int i = 0; i < 3; ++i) CreateOrDie(absl::StrCat("p", i));
  v1::ListUsersRequest first;
  first.set_page_size(1);
  first.set_username_prefix("p");
  v1::ListUsersResponse response;
  ASSERT_TRUE(Admin()->ListUsers(Context().get(), first, &response).ok());
  ASSERT_FALSE(response.next_page_token().empty());

  v1::ListUsersRequest foreign;
  foreign.set_username_prefix("q");
  foreign.set_page_token(response.next_page_token());
  EXPECT_EQ(Admin()->ListUsers(Context().get(), foreign, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListUsersRequest garbage;
  garbage.set_page_token("%%%not-a-token");
  EXPECT_EQ(Admin()->ListUsers(Context().get(), garbage, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListUsersRequest huge;
  huge.set_page_size(1001);
  grpc::Status status = Admin()->ListUsers(Context().get(), huge, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("page_size"));
}

TEST_F(AdminUsersTest, UpdatesOnlyTheMaskedFields) {
  v1::User created = CreateOrDie("erin", 2);
  v1::UpdateUserRequest request;
  request.mutable_user()->set_id(created.id());
  request.mutable_user()->set_max_connections(5);
  request.mutable_user()->set_grace_seconds(999);  // not masked
  request.mutable_user()->set_disabled(true);
  request.mutable_update_mask()->add_paths("max_connections");
  request.mutable_update_mask()->add_paths("disabled");
  v1::User updated;
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), request, &updated).ok());
  EXPECT_EQ(updated.max_connections(), 5);
  EXPECT_TRUE(updated.disabled());
  EXPECT_EQ(updated.grace_seconds(), 0);
  EXPECT_EQ(updated.username(), "erin");
  EXPECT_GE(updated.updated_at().seconds(), created.updated_at().seconds());
}

TEST_F(AdminUsersTest, UpdateSetsAndClearsPasswords) {
  v1::User created = CreateOrDie("frank");
  v1::UpdateUserRequest request;
  request.mutable_user()->set_id(created.id());
  request.mutable_user()->set_password("new password!");
  request.mutable_update_mask()->add_paths("password");
  v1::User updated;
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), request, &updated).ok());
  EXPECT_TRUE(updated.has_password());
  request.mutable_user()->clear_password();
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), request, &updated).ok());
  EXPECT_FALSE(updated.has_password());
}

TEST_F(AdminUsersTest, UpdateReportsConflictsAndMissingUsers) {
  CreateOrDie("gina");
  v1::User hank = CreateOrDie("hank");
  v1::UpdateUserRequest rename;
  rename.mutable_user()->set_id(hank.id());
  rename.mutable_user()->set_username("gina");
  rename.mutable_update_mask()->add_paths("username");
  v1::User out;
  EXPECT_EQ(Admin()->UpdateUser(Context().get(), rename, &out).error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  rename.mutable_user()->set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  rename.mutable_user()->set_username("ivan");
  EXPECT_EQ(Admin()->UpdateUser(Context().get(), rename, &out).error_code(),
            grpc::StatusCode::NOT_FOUND);

  v1::UpdateUserRequest bad_policy;
  bad_policy.mutable_user()->set_id(hank.id());
  bad_policy.mutable_user()->set_limit_policy(v1::LIMIT_POLICY_UNSPECIFIED);
  bad_policy.mutable_update_mask()->add_paths("limit_policy");
  EXPECT_EQ(Admin()->UpdateUser(Context().get(), bad_policy, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetUserRequest get;
  get.set_id(hank.id());
  ASSERT_TRUE(Admin()->GetUser(Context().get(), get, &out).ok());
  EXPECT_EQ(out.username(), "hank");
}

TEST_F(AdminUsersTest, DeletesUsers) {
  v1::User created = CreateOrDie("judy");
  v1::DeleteUserRequest request;
  request.set_id(created.id());
  v1::DeleteUserResponse response;
  ASSERT_TRUE(Admin()->DeleteUser(Context().get(), request, &response).ok());
  EXPECT_EQ(Admin()->DeleteUser(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Count("SELECT count(*) FROM users"), 0);
}

TEST_F(AdminUsersTest, EveryMutationIsAuditedWithItsActor) {
  v1::User created = CreateOrDie("kim", 1);
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(created.id());
  update.mutable_user()->set_max_connections(4);
  update.mutable_update_mask()->add_paths("max_connections");
  v1::User out;
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), update, &out).ok());
  v1::DeleteUserRequest del;
  del.set_id(created.id());
  v1::DeleteUserResponse deleted;
  ASSERT_TRUE(Admin()->DeleteUser(Context().get(), del, &deleted).ok());

  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  pqxx::result rows = tx.exec_params(
      "SELECT actor, action, details->'limits'->>'max_connections' FROM audit_events "
      "WHERE subject = $1 ORDER BY id",
      absl::StrCat("user:", created.id()));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0][1].as<std::string>(), "user.create");
  EXPECT_EQ(rows[1][1].as<std::string>(), "user.update");
  EXPECT_EQ(rows[1][2].as<std::string>(), "4");
  EXPECT_EQ(rows[2][1].as<std::string>(), "user.delete");
  for (const auto& row : rows) EXPECT_EQ(row[0].as<std::string>(), "bootstrap");
}

}  // namespace
}  // namespace warden::testing
