#pragma once

// The connection pool and the one way the store runs a transaction.
// libpqxx connections are not thread-safe: each is leased to one thread at a
// time. The pool is bounded; waiting for a connection has a deadline.

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/store/errors.h"
#include "controlplane/store/failover_retry.h"
#include "controlplane/store/ping_connection.h"
#include "controlplane/store/pipeline.h"
#include "controlplane/store/statement_runner.h"
#include "controlplane/store/wake_notifier.h"

namespace warden::control::store {

// A named SQL statement, prepared once per connection (on its first use).
struct Statement {
  absl::string_view name;
  absl::string_view sql;
};

class Database;

struct DatabaseOptions {
  std::string url;
  int pool_size = 8;
  absl::Duration acquire_timeout = absl::Seconds(2);
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration statement_timeout = absl::Seconds(15);
  std::string application_name = "warden-control";
  // Observes how long each Acquire waited for a free connection (optional).
  metrics::Histogram* acquire_wait = nullptr;
  // Where calls go while this pool cannot connect (a pool of reads on a
  // standby falls back to the primary's), and for how long after each
  // failed connect before this pool is tried again. A busy pool still
  // waits for its own connections.
  Database* fallback = nullptr;
  absl::Duration fallback_hold = absl::Seconds(5);
  // How long a call keeps trying through a failover (failover_retry.h),
  // within its caller's deadline; zero answers UNAVAILABLE at the first
  // failure.
  absl::Duration failover_wait = absl::Seconds(10);
  // Counts the attempts made again after a failover pause (optional).
  metrics::Counter* failover_retries = nullptr;
};

// libpq connection string for `url` (URI or key=value form) with Warden's
// session parameters added: timeouts, keepalives, UTC, application name.
std::string ConnectionString(const DatabaseOptions& options);

// How the connection to the database is protected, as libpq negotiated it
// (every pooled connection uses the same connection string, so the same
// sslmode; this is what one of them got).
struct DatabaseTls {
  std::string host;     // as connected; a directory for a unix socket
  std::string sslmode;  // in effect: the URL's, PGSSLMODE's, or libpq's default "prefer"
  std::string sslrootcert;
  bool local = false;  // a unix socket or a loopback address
  bool encrypted = false;
  std::string protocol;  // when encrypted, e.g. "TLSv1.3"
  std::string cipher;
  bool verified = false;       // the server's certificate chains to sslrootcert (verify-ca/-full)
  bool host_verified = false;  // ... and names the host (verify-full)
};

// Connects once to find out. FAILED_PRECONDITION when TLS was required and
// failed (the certificate did not verify, the server has no TLS, the CA file
// is missing): retrying would not help; UNAVAILABLE when the database is
// merely unreachable.
absl::StatusOr<DatabaseTls> InspectTls(const std::string& connection_string);
// One line for the log: "sslmode=verify-full encrypted=yes protocol=...".
std::string DescribeTls(const DatabaseTls& tls);
// Why an operator should worry ("" when not): a connection to another host
// that is not encrypted, or encrypted without checking whom it talks to.
std::string TlsWarning(const DatabaseTls& tls);

// Both kinds of connection together: libpqxx and pipelined, pool_size each.
struct PoolStats {
  int size = 0;
  int open = 0;
  int in_use = 0;
  int waiting = 0;
};

class Database {
 public:
  Database(DatabaseOptions options, std::vector<Statement> statements);
  ~Database();

  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `fn(pqxx::work&)` in one READ COMMITTED transaction and commits
  // when fn returns OK; an error status or an exception rolls back. `fn`
  // returns absl::Status or absl::StatusOr<T>, and may run more than once:
  // a pooled connection found dead at first use is replaced and fn retried
  // once, and a deadlock or serialization failure (40P01, 40001) rolls back
  // and runs fn again, up to kMaxConflictRetries times, after a short,
  // growing, jittered pause (nothing was committed in either case). Through
  // a failover (no connection to be had, the connection lost before COMMIT,
  // a primary turned standby) fn runs again as FailoverRetry allows; a
  // COMMIT whose answer was lost only when `context.idempotent`.
  template <typename Tx = pqxx::work, typename Fn>
  std::invoke_result_t<Fn&, Tx&> Transact(const ErrorContext& context, Fn&& fn);

  // Like Transact, in autocommit mode: for a single statement, or reads that
  // need no common snapshot. Saves the BEGIN and COMMIT round trips. A
  // statement cut off by a failover may have been applied, so only an
  // operation whose context is `idempotent` runs again after one.
  template <typename Fn>
  std::invoke_result_t<Fn&, pqxx::nontransaction&> Autocommit(const ErrorContext& context,
                                                              Fn&& fn) {
    return Transact<pqxx::nontransaction>(context, std::forward<Fn>(fn));
  }

  // Runs `fn(PipelineRunner&)` as one READ COMMITTED transaction on a
  // pooled connection in libpq's pipeline mode: each Flush is one round
  // trip, BEGIN goes with the first and COMMIT with the last (or after fn,
  // when fn flushed no last round); an error status, an exception or a
  // missed `commit_by` rolls back. Retried like Transact: a reused
  // connection found dead in the first round is replaced, a deadlock or
  // serialization failure runs fn again, and so does a failover (a lost
  // COMMIT only when `context.idempotent`), never past `commit_by`.
  template <typename Fn>
  std::invoke_result_t<Fn&, PipelineRunner&> Pipelined(const ErrorContext& context,
                                                       std::optional<absl::Time> commit_by,
                                                       Fn&& fn);

  // Round trip on a connection outside the pool (health checks must not
  // queue behind busy work), answered within connect_timeout or failed.
  absl::Status Ping();

  // Told by the health monitor. While the database is known to be down,
  // Acquire fails at once instead of each caller waiting on a connect.
  // Going down also closes idle connections (they are dead), so the next
  // calls start on fresh ones.
  void SetReachable(bool reachable);

  // NOTIFY `channel`, `payload` from a connection of its own, for work that
  // has committed: never inside a transaction (see wake_notifier.h).
  void WakeAfterCommit(std::string channel, std::string payload) {
    wakes_.Wake(std::move(channel), std::move(payload));
  }

  // Ends every call that has waited on its connection longer than the
  // statement timeout plus `grace`, by shutting the connection's socket:
  // the server would have cancelled the statement by then, so it hangs
  // (stopped, or its disk stalled) while its kernel still acknowledges
  // every packet, which neither keepalives nor tcp_user_timeout notice.
  // The call fails UNAVAILABLE and its connection is not pooled again, so
  // work moves on, e.g. to the primary that replaced a hung one. Returns
  // how many calls it ended.
  int AbandonHungCalls(absl::Duration grace = absl::Seconds(2));

  PoolStats Stats() const;
  const DatabaseOptions& options() const { return options_; }

  class Lease;
  absl::StatusOr<Lease> Acquire();
  // options_.fallback while it is held after a failure to connect or a
  // connection lost or abandoned mid-call (else null); HoldFallback starts
  // such a hold and closes the idle connections, which would fail the same.
  Database* FallingBack();
  void HoldFallback(absl::string_view why);
  class PipelineLease;
  absl::StatusOr<PipelineLease> AcquirePipeline();

 private:
  friend class Lease;
  friend class PipelineLease;
  absl::StatusOr<std::unique_ptr<pqxx::connection>> Open() const;
  // Pauses as `failover` allows before another attempt, and counts it.
  bool RetryAfterFailover(FailoverRetry& failover);
  void Release(std::unique_ptr<pqxx::connection> connection, bool broken);
  void Release(std::unique_ptr<PipelineConnection> connection, bool broken);
  // Waits until a connection of one kind (its idle list and open count) is
  // free or may be opened; returns an idle one, or null with the slot
  // reserved for the caller to connect.
  template <typename Connection>
  absl::StatusOr<std::unique_ptr<Connection>> TakeSlot(
      std::vector<std::unique_ptr<Connection>>& idle, int& open, bool& reused);
  // Acquire and AcquirePipeline: a connection of one kind from its idle
  // list, or a new one from `connect` in a reserved slot (a failed connect
  // gives the slot back and starts a fallback hold), lent out as LeaseType.
  template <typename LeaseType, typename Connection, typename Connect>
  absl::StatusOr<LeaseType> AcquireFrom(std::vector<std::unique_ptr<Connection>>& idle, int& open,
                                        Connect connect);
  // A connection lent out, from Acquire to Release, for AbandonHungCalls.
  void Lent(const void* connection, int socket);
  // Forgets a connection coming back; whether it was abandoned (its socket
  // is shut, so it must not be pooled again).
  bool Returned(const void* connection) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DatabaseOptions options_;
  const std::string connection_string_;
  const std::vector<Statement> statements_;
  const StatementTexts statement_texts_;

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  // Pipelined connections have slots of their own (as many): the work that
  // uses them alternates with libpqxx work on the same workers, and sharing
  // slots would close and open connections at that rate.
  std::vector<std::unique_ptr<PipelineConnection>> pipeline_idle_ ABSL_GUARDED_BY(mu_);
  int pipeline_open_ ABSL_GUARDED_BY(mu_) = 0;
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time fallback_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool reachable_ ABSL_GUARDED_BY(mu_) = true;
  struct LentConnection {
    absl::Time since;
    // Captured when lent: connections never reconnect by themselves (Open
    // turns libpqxx's reactivation off), and the socket is closed only after
    // Release has forgotten it, so this is never another connection's.
    int socket;
    bool abandoned = false;
  };
  absl::flat_hash_map<const void*, LentConnection> lent_ ABSL_GUARDED_BY(mu_);

  absl::Mutex ping_mu_;
  PingConnection ping_ ABSL_GUARDED_BY(ping_mu_);
  WakeNotifier wakes_;
};

// A connection borrowed from the pool; returned when the lease ends.
class Database::Lease {
 public:
  Lease(Database* db, std::unique_ptr<pqxx::connection> connection, bool reused)
      : db_(db), connection_(std::move(connection)), reused_(reused) {}
  Lease(Lease&& other) noexcept = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  pqxx::connection& connection() { return *connection_; }
  bool reused() const { return reused_; }
  void MarkBroken() { broken_ = true; }

 private:
  Database* db_;
  std::unique_ptr<pqxx::connection> connection_;
  bool reused_;
  bool broken_ = false;
};

// A pipeline connection borrowed from the pool.
class Database::PipelineLease {
 public:
  PipelineLease(Database* db, std::unique_ptr<PipelineConnection> connection, bool reused)
      : db_(db), connection_(std::move(connection)), reused_(reused) {}
  PipelineLease(PipelineLease&& other) noexcept = default;
  PipelineLease& operator=(PipelineLease&&) = delete;
  ~PipelineLease();

  PipelineConnection& connection() { return *connection_; }
  bool reused() const { return reused_; }

 private:
  Database* db_;
  std::unique_ptr<PipelineConnection> connection_;
  bool reused_;
};

// Transactions that lost a deadlock or a serialization conflict are run
// again this many times before the caller gets ABORTED.
inline constexpr int kMaxConflictRetries = 4;

// Whether a failed transaction may simply be run again: it lost a deadlock
// or a serialization conflict (libpqxx reports these as transaction_rollback,
// not sql_error).
bool IsRetryableConflict(const std::exception& error);
bool IsRetryableConflict(absl::string_view sqlstate);
// The pause before conflict retry `retry` (1-based): a few milliseconds,
// doubling, jittered, so that the transactions that collided do not meet again.
void PauseBeforeConflictRetry(int retry);

template <typename Tx, typename Fn>
std::invoke_result_t<Fn&, Tx&> Database::Transact(const ErrorContext& context, Fn&& fn) {
  using Result = std::invoke_result_t<Fn&, Tx&>;
  // In autocommit mode each statement commits as it goes: one cut off may
  // have been applied, as a COMMIT whose answer was lost.
  constexpr bool kEachStatementCommits = std::is_same_v<Tx, pqxx::nontransaction>;
  int conflicts = 0;
  FailoverRetry failover(options_.failover_wait);
  for (int attempt = 0;; ++attempt) {
    if (Database* fallback = FallingBack()) {
      return fallback->Transact<Tx>(context, std::forward<Fn>(fn));
    }
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) {
      if (Database* fallback = FallingBack()) {
        return fallback->Transact<Tx>(context, std::forward<Fn>(fn));
      }
      // Nothing was sent: safe to try again whatever fn does.
      if (!IsPoolBusy(lease.status()) && RetryAfterFailover(failover)) continue;
      return lease.status();
    }
    bool committing = false;
    try {
      Tx tx(lease->connection());
      Result result = fn(tx);
      if (!result.ok()) return result;
      committing = true;
      tx.commit();
      return result;
    } catch (const std::exception& error) {
      if (IsRetryableConflict(error) && conflicts < kMaxConflictRetries) {
        PauseBeforeConflictRetry(++conflicts);
        continue;
      }
      if (MeansNewConnection(error) || IsInDoubt(error)) {
        lease->MarkBroken();
        HoldFallback(error.what());
        // A pooled connection that outlived its server, or its server's
        // primacy, fails its first statement: nothing happened; once more
        // on a new one.
        const bool in_doubt = IsInDoubt(error) || committing;
        if (!in_doubt && attempt == 0 && lease->reused()) continue;
        const bool maybe_applied = in_doubt || (kEachStatementCommits && !IsReadOnlyRefusal(error));
        if ((!maybe_applied || context.idempotent) && RetryAfterFailover(failover)) continue;
      }
      if (!lease->connection().is_open()) lease->MarkBroken();
      return StatusFromException(error, context);
    }
  }
}

template <typename Fn>
std::invoke_result_t<Fn&, PipelineRunner&> Database::Pipelined(const ErrorContext& context,
                                                              std::optional<absl::Time> commit_by,
                                                              Fn&& fn) {
  using Result = std::invoke_result_t<Fn&, PipelineRunner&>;
  int conflicts = 0;
  FailoverRetry failover(options_.failover_wait, commit_by);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<PipelineLease> lease = AcquirePipeline();
    if (!lease.ok()) {
      if (!IsPoolBusy(lease.status()) && RetryAfterFailover(failover)) continue;
      return lease.status();
    }
    PipelineRunner runner(lease->connection(), context, commit_by);
    Result result = [&]() -> Result {
      try {
        return fn(runner);
      } catch (const std::exception& error) {
        return StatusFromException(error, context);
      }
    }();
    if (result.ok()) {
      absl::Status committed = runner.Commit();
      if (committed.ok()) return result;
      result = committed;
    }
    const bool conflict = IsRetryableConflict(runner.sqlstate());
    // Lost, or its server is a standby now (the connection marks itself).
    const bool lost = lease->connection().broken();
    const bool dead_at_first_use = lease->reused() && runner.rounds() == 1 && lost;
    runner.Rollback();
    if (dead_at_first_use && attempt == 0) continue;
    if (conflict && conflicts < kMaxConflictRetries) {
      PauseBeforeConflictRetry(++conflicts);
      continue;
    }
    if (lost && (!runner.commit_sent() || context.idempotent) && RetryAfterFailover(failover)) {
      continue;
    }
    return result;
  }
}

}  // namespace warden::control::store
