#pragma once

// Versioned schema changes, compiled into the binary from migrations/*.sql.

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::control::store {

struct Migration {
  int version;
  absl::string_view name;
  absl::string_view sql;
};

// Every migration this binary knows, in version order (generated).
std::span<const Migration> EmbeddedMigrations();

struct MigrationReport {
  int applied_now = 0;     // migrations this call applied
  int schema_version = 0;  // the database's version afterwards
};

struct MigrateOptions {
  // How long one migration may wait for a table lock. A schema change queued
  // behind a long transaction would otherwise hold up every query on that
  // table behind itself: it gives up after this, lets them through, and
  // tries again after a pause.
  absl::Duration lock_timeout = absl::Seconds(5);
  // Tries per migration before giving up (ABORTED, naming the wait); with
  // the pauses about 2 minutes, inside the chart's 5-minute startup probe.
  int lock_attempts = 12;
  absl::Duration first_pause = absl::Seconds(1);
  absl::Duration max_pause = absl::Seconds(5);
};

// Brings the database at `connection_string` to the newest known version.
// Several processes may call this at once: an advisory lock makes them take
// turns, and each migration runs in its own transaction. Refuses (with
// FAILED_PRECONDITION) a database that has versions this binary does not know,
// or whose applied migration text differs from this binary's.
absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string,
                                        std::span<const Migration> migrations,
                                        const MigrateOptions& options = {});

}  // namespace warden::control::store
