#include "controlplane/store/history_store.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "controlplane/store/database.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// The key warden_history_ensure locks too: partitions of one table are never
// made and dropped at once.
constexpr int64_t kHistoryLockKey = 8603546389452350585;

// Catalogue changes wait at most this long for the table's lock: longer,
// and the writes queued behind them would stall.
constexpr char kLockTimeout[] = "2s";

constexpr Statement kStatements[] = {
    {"history.ensure", "SELECT warden_history_ensure($1)"},
    {"history.expired",
     "SELECT partition_name, epoch_us(upper_bound) FROM history_partitions "
     "WHERE table_name = $1 AND upper_bound <= least(from_epoch_us($2), now()) "
     "ORDER BY upper_bound"},
    // exists; and attached: NULL (detached), false, or true (half detached).
    {"history.state",
     "SELECT to_regclass(quote_ident($1)) IS NOT NULL, (SELECT i.inhdetachpending "
     "FROM pg_inherits i WHERE i.inhrelid = to_regclass(quote_ident($1)))"},
    {"history.forget", "DELETE FROM history_partitions WHERE partition_name = $1"},
};

// Holds the history lock and a lock_timeout on a pooled connection for one
// scope, and gives both back however the scope ends (the connection goes
// back to the pool).
class HistoryLockScope {
 public:
  explicit HistoryLockScope(pqxx::nontransaction& tx) : tx_(tx) {
    tx_.exec(absl::StrCat("SET lock_timeout = '", kLockTimeout, "'"));
    try {
      held_ = tx_.exec1(absl::StrCat("SELECT pg_try_advisory_lock(", kHistoryLockKey, ")"))[0]
                  .as<bool>();
    } catch (const std::exception&) {
      GiveBack();
      throw;
    }
  }
  ~HistoryLockScope() { GiveBack(); }
  HistoryLockScope(const HistoryLockScope&) = delete;
  HistoryLockScope& operator=(const HistoryLockScope&) = delete;

  bool held() const { return held_; }

 private:
  void GiveBack() {
    try {
      if (held_) tx_.exec(absl::StrCat("SELECT pg_advisory_unlock(", kHistoryLockKey, ")"));
      tx_.exec("RESET lock_timeout");
    } catch (const std::exception&) {
      // The connection broke; the pool discards it, and the server let go
      // of the lock with the session.
    }
  }

  pqxx::nontransaction& tx_;
  bool held_ = false;
};

}  // namespace

std::span<const Statement> HistoryStatements() { return kStatements; }

absl::StatusOr<int> HistoryStore::EnsurePartitions(int ahead) {
  return db_.Transact({.operation = "make history partitions"},
                      [&](pqxx::work& tx) -> absl::StatusOr<int> {
                        tx.exec(absl::StrCat("SET LOCAL lock_timeout = '", kLockTimeout, "'"));
                        return tx.exec_prepared1("history.ensure", ahead)[0].as<int>();
                      });
}

absl::StatusOr<std::vector<HistoryPartition>> HistoryStore::ExpiredPartitions(
    const std::string& table, absl::Time cutoff) {
  return db_.Autocommit(
      {.operation = "list expired history partitions", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<HistoryPartition>> {
        std::vector<HistoryPartition> expired;
        for (const auto& row :
             tx.exec_prepared("history.expired", table, absl::ToUnixMicros(cutoff))) {
          expired.push_back({.table = table,
                             .name = row[0].as<std::string>(),
                             .upper_bound = TimeField(row[1])});
        }
        return expired;
      });
}

absl::Status HistoryStore::DropPartition(const HistoryPartition& partition) {
  return db_.Autocommit(
      {.operation = "drop a history partition"}, [&](pqxx::nontransaction& tx) -> absl::Status {
        HistoryLockScope lock(tx);
        if (!lock.held()) {
          return absl::AbortedError("another replica is changing the history partitions");
        }
        const pqxx::row state = tx.exec_prepared1("history.state", partition.name);
        const std::string table = tx.quote_name(partition.table);
        const std::string name = tx.quote_name(partition.name);
        if (state[0].as<bool>()) {
          if (!state[1].is_null()) {
            // DETACH ... CONCURRENTLY runs two transactions; when the second
            // was cut short the partition is left half detached.
            tx.exec(absl::StrCat("ALTER TABLE ", table, " DETACH PARTITION ", name,
                                 state[1].as<bool>() ? " FINALIZE" : " CONCURRENTLY"));
          }
          tx.exec(absl::StrCat("DROP TABLE ", name));
        }
        tx.exec_prepared0("history.forget", partition.name);
        return absl::OkStatus();
      });
}

}  // namespace warden::control::store
