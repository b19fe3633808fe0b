#pragma once

// PostgreSQL failures become absl::Status here and nowhere else. The status
// message is safe for callers; SQL text and server details go to the log.

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace warden::control::store {

// The canonical code for a SQLSTATE: 23505 → ALREADY_EXISTS, 23503/23514 →
// FAILED_PRECONDITION, 40001/40P01 → ABORTED, 57014 → DEADLINE_EXCEEDED,
// classes 08 and 53 and 57P* and 25006 → UNAVAILABLE, anything else → INTERNAL.
absl::StatusCode CodeForSqlState(absl::string_view sqlstate);

// Whether a connection that failed with `sqlstate` must not be used again:
// it lost its server (classes 08, 57P*), or its server is a standby now
// (25006, read-only transaction: a primary demoted by a failover keeps the
// connections made to it, and target_session_attrs=read-write is checked
// only when connecting).
bool MeansNewConnection(absl::string_view sqlstate);
bool MeansNewConnection(const std::exception& error);
// Whether the connection was lost during COMMIT: the change may or may not
// have been applied.
bool IsInDoubt(const std::exception& error);
// Whether the server refused to write because it is a standby (25006):
// nothing was applied.
bool IsReadOnlyRefusal(const std::exception& error);

// What a failed operation tells its caller, by code.
struct ErrorContext {
  absl::string_view operation;          // "create user": for the log and the fallback message
  absl::string_view on_conflict = "";   // ALREADY_EXISTS message
  absl::string_view on_violation = "";  // FAILED_PRECONDITION message
  // Running it twice does what running it once does (a read, an upsert, an
  // admission of the same session key): it may run again after a failover
  // cut it off, even when it may already have been applied.
  bool idempotent = false;
};

// Classifies a failure libpq reported with its SQLSTATE ("" when there is
// none: the connection failed, UNAVAILABLE) and logs it.
absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message,
                                const ErrorContext& context);

// Classifies an exception thrown by libpqxx (or anything else) and logs it.
absl::Status StatusFromException(const std::exception& error, const ErrorContext& context);

}  // namespace warden::control::store
