#include "controlplane/store/errors.h"

#include <pqxx/except>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace warden::control::store {
namespace {

const logging::Logger Log("control.store");

absl::string_view Or(absl::string_view preferred, absl::string_view fallback) {
  return preferred.empty() ? fallback : preferred;
}

absl::Status Make(absl::StatusCode code, const ErrorContext& context) {
  switch (code) {
    case absl::StatusCode::kAlreadyExists:
      return absl::AlreadyExistsError(
          Or(context.on_conflict, absl::StrCat(context.operation, ": already exists")));
    case absl::StatusCode::kFailedPrecondition:
      return absl::FailedPreconditionError(
          Or(context.on_violation, absl::StrCat(context.operation, ": violates a data rule")));
    case absl::StatusCode::kAborted:
      return absl::AbortedError(
          absl::StrCat(context.operation, ": conflicted with a concurrent change; retry"));
    case absl::StatusCode::kDeadlineExceeded:
      return absl::DeadlineExceededError(
          absl::StrCat(context.operation, ": the database took too long"));
    case absl::StatusCode::kUnavailable:
      return absl::UnavailableError(
          absl::StrCat(context.operation, ": the database is unavailable; retry later"));
    default:
      return absl::InternalError(absl::StrCat(context.operation, ": internal database error"));
  }
}

absl::Status Logged(absl::StatusCode code, absl::string_view sqlstate, absl::string_view message,
                    const ErrorContext& context) {
  const bool expected = code == absl::StatusCode::kAlreadyExists ||
                        code == absl::StatusCode::kFailedPrecondition ||
                        code == absl::StatusCode::kAborted;
  if (expected) {
    Log()->debug("op=\"{}\" sqlstate={} {}", context.operation, sqlstate, message);
  } else {
    Log()->warn("op=\"{}\" sqlstate={} {}", context.operation, sqlstate, message);
  }
  return Make(code, context);
}

}  // namespace

absl::StatusCode CodeForSqlState(absl::string_view sqlstate) {
  if (sqlstate == "23505") return absl::StatusCode::kAlreadyExists;
  if (sqlstate == "23503" || sqlstate == "23514") return absl::StatusCode::kFailedPrecondition;
  if (sqlstate == "40001" || sqlstate == "40P01") return absl::StatusCode::kAborted;
  if (sqlstate == "57014") return absl::StatusCode::kDeadlineExceeded;
  // 55P03: lock_timeout ran out behind other work; later may succeed.
  if (absl::StartsWith(sqlstate, "53") || sqlstate == "55P03" || MeansNewConnection(sqlstate)) {
    return absl::StatusCode::kUnavailable;
  }
  return absl::StatusCode::kInternal;
}

bool MeansNewConnection(absl::string_view sqlstate) {
  return sqlstate == "25006" || absl::StartsWith(sqlstate, "08") ||
         absl::StartsWith(sqlstate, "57P");
}

bool MeansNewConnection(const std::exception& error) {
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  return sql != nullptr && MeansNewConnection(sql->sqlstate());
}

bool IsInDoubt(const std::exception& error) {
  return dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr ||
         dynamic_cast<const pqxx::statement_completion_unknown*>(&error) != nullptr;
}

bool IsReadOnlyRefusal(const std::exception& error) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  return sql != nullptr && sql->sqlstate() == "25006";
}

absl::Status StatusFromException(const std::exception& error, const ErrorContext& context) {
  absl::StatusCode code = absl::StatusCode::kInternal;
  std::string sqlstate;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    sqlstate = sql->sqlstate();
    code = CodeForSqlState(sqlstate);
  } else if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) {
    // The commit may or may not have happened; the caller must look again.
    Log()->error("op=\"{}\" commit outcome unknown: {}", context.operation, error.what());
    return absl::UnavailableError(
        absl::StrCat(context.operation,
                     ": lost the database during commit; the change may or may not "
                     "have been applied"));
  } else if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) {
    code = absl::StatusCode::kUnavailable;
  } else if (dynamic_cast<const pqxx::statement_completion_unknown*>(&error) != nullptr) {
    code = absl::StatusCode::kUnavailable;  // 40003: the outcome is not known
  } else if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) {
    // libpqxx reports 40001 and 40P01 outside sql_error (no SQLSTATE to read).
    code = absl::StatusCode::kAborted;
  }
  return Logged(code, sqlstate, error.what(), context);
}

absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message,
                                const ErrorContext& context) {
  const absl::StatusCode code =
      sqlstate.empty() ? absl::StatusCode::kUnavailable : CodeForSqlState(sqlstate);
  return Logged(code, sqlstate, message, context);
}

}  // namespace warden::control::store
