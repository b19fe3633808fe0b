#include <gtest/gtest.h>

#include <pqxx/except>

#include "controlplane/store/errors.h"

namespace warden::control::store {
namespace {

TEST(StoreErrorsTest, ClassifiesSqlStates) {
  struct Case {
    const char* sqlstate;
    absl::StatusCode code;
  };
  const Case cases[] = {
      {"23505", absl::StatusCode::kAlreadyExists},
      {"23503", absl::StatusCode::kFailedPrecondition},
      {"23514", absl::StatusCode::kFailedPrecondition},
      {"40001", absl::StatusCode::kAborted},
      {"40P01", absl::StatusCode::kAborted},
      {"57014", absl::StatusCode::kDeadlineExceeded},
      {"08006", absl::StatusCode::kUnavailable},
      {"08001", absl::StatusCode::kUnavailable},
      {"53300", absl::StatusCode::kUnavailable},
      {"57P01", absl::StatusCode::kUnavailable},
      {"57P03", absl::StatusCode::kUnavailable},
      {"25006", absl::StatusCode::kUnavailable},
      {"42P01", absl::StatusCode::kInternal},
      {"22P02", absl::StatusCode::kInternal},
      {"", absl::StatusCode::kInternal},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CodeForSqlState(c.sqlstate), c.code) << c.sqlstate;
  }
}

TEST(StoreErrorsTest, UsesTheCallersMessageForConflicts) {
  const pqxx::unique_violation error("duplicate key value violates unique constraint", "INSERT",
                                     "23505");
  const absl::Status status = StatusFromException(
      error, {.operation = "create user", .on_conflict = "username \"a\" is already taken"});
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), "username \"a\" is already taken");
}

TEST(StoreErrorsTest, HidesInternalsFromTheCaller) {
  const pqxx::sql_error error("relation \"secret_table\" does not exist", "SELECT * FROM x",
                              "42P01");
  const absl::Status status = StatusFromException(error, {.operation = "list users"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message().find("secret_table"), absl::string_view::npos);
  EXPECT_EQ(status.message().find("SELECT"), absl::string_view::npos);
}

TEST(StoreErrorsTest, DropsConnectionsToALostOrDemotedServerOnly) {
  EXPECT_TRUE(MeansNewConnection("25006"));  // read-only: the primary was demoted
  EXPECT_TRUE(MeansNewConnection("08006"));
  EXPECT_TRUE(MeansNewConnection("57P01"));
  EXPECT_FALSE(MeansNewConnection("23505"));
  EXPECT_FALSE(MeansNewConnection("40001"));
  EXPECT_FALSE(MeansNewConnection("53300"));  // too many connections: this one is fine
  EXPECT_TRUE(MeansNewConnection(pqxx::broken_connection("server closed the connection")));
  EXPECT_TRUE(MeansNewConnection(
      pqxx::sql_error("cannot execute INSERT in a read-only transaction", "INSERT", "25006")));
  EXPECT_FALSE(MeansNewConnection(pqxx::sql_error("syntax error", "SELEC", "42601")));
}

TEST(StoreErrorsTest, BrokenConnectionIsUnavailable) {
  const pqxx::broken_connection error("server closed the connection unexpectedly");
  EXPECT_EQ(StatusFromException(error, {.operation = "get user"}).code(),
            absl::StatusCode::kUnavailable);
}

TEST(StoreErrorsTest, InDoubtCommitIsUnavailableAndSaysSo) {
  const pqxx::in_doubt_error error("lost connection during commit");
  const absl::Status status = StatusFromException(error, {.operation = "create user"});
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(status.message().find("may or may not"), absl::string_view::npos);
}

TEST(StoreErrorsTest, LostConflictsAreAbortedAndAnUnknownCompletionIsUnavailable) {
  // libpqxx reports these outside sql_error, so no SQLSTATE can be read.
  EXPECT_EQ(
      StatusFromException(pqxx::deadlock_detected("deadlock detected"), {.operation = "x"}).code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(
      StatusFromException(pqxx::serialization_failure("could not serialize"), {.operation = "x"})
          .code(),
      absl::StatusCode::kAborted);
  EXPECT_EQ(StatusFromException(pqxx::statement_completion_unknown("?"), {.operation = "x"}).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warden::control::store
