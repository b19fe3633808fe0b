#include "controlplane/store/database.h"

#include <libpq-fe.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace warden::control::store {
namespace {

const logging::Logger Log("control.store");

StatementTexts TextsOf(const std::vector<Statement>& statements) {
  StatementTexts texts;
  for (const Statement& statement : statements) {
    texts.emplace(std::string(statement.name), std::string(statement.sql));
  }
  return texts;
}

bool IsUri(absl::string_view url) {
  return absl::StartsWith(url, "postgresql://") || absl::StartsWith(url, "postgres://");
}

// How long data sent to the database may stay unacknowledged before the
// kernel gives up on the connection (TCP_USER_TIMEOUT). Without it a query
// sent into a partition waits for TCP's retransmissions, about 15 minutes,
// holding its pool slot and its caller; a slow query is not affected (its
// bytes are acknowledged at once).
constexpr int kUnacknowledgedTimeoutMs = 10'000;

// How long PostgreSQL lets a session sit idle inside a transaction before it
// ends the session. Warden never waits on anything between the statements of
// a transaction, so only a replica that is gone (killed, partitioned, frozen)
// leaves one open, and its row locks would stall every other replica's work
// on the same users and nodes until the server's TCP keepalive gave up,
// hours later.
constexpr int kIdleInTransactionTimeoutMs = 5'000;

bool IsLoopbackOrSocket(absl::string_view host) {
  return host.empty() || absl::StartsWith(host, "/") || host == "localhost" || host == "::1" ||
         absl::StartsWith(host, "127.");
}

}  // namespace

bool IsRetryableConflict(const std::exception& error) {
  if (dynamic_cast<const pqxx::serialization_failure*>(&error) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&error) != nullptr) {
    return true;
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error);
  return sql != nullptr && IsRetryableConflict(sql->sqlstate());
}

bool IsRetryableConflict(absl::string_view sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01";
}

void PauseBeforeConflictRetry(int retry) {
  thread_local absl::BitGen random;
  const absl::Duration ceiling = absl::Milliseconds(2) * (int64_t{1} << std::min(retry, 5));
  Log()->debug("transaction conflict; retry {} after a pause of up to {}", retry,
               absl::FormatDuration(ceiling));
  absl::SleepFor(absl::Microseconds(
      absl::Uniform<int64_t>(random, 0, absl::ToInt64Microseconds(ceiling) + 1)));
}

absl::StatusOr<DatabaseTls> InspectTls(const std::string& connection_string) {
  // libpq directly: libpqxx 6 does not show the TLS state of its connections.
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(connection_string.c_str()),
                                                    &PQfinish);
  if (conn == nullptr) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  DatabaseTls tls;
  // The settings in effect, defaults and PG* environment variables included.
  if (PQconninfoOption* options = PQconninfo(conn.get()); options != nullptr) {
    for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
      if (option->val == nullptr) continue;
      if (std::strcmp(option->keyword, "sslmode") == 0) tls.sslmode = option->val;
      if (std::strcmp(option->keyword, "sslrootcert") == 0) tls.sslrootcert = option->val;
    }
    PQconninfoFree(options);
  }
  if (tls.sslmode.empty()) tls.sslmode = "prefer";
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    const std::string message = absl::StrReplaceAll(
        absl::StripTrailingAsciiWhitespace(PQerrorMessage(conn.get())), {{"\n", "; "}});
    const bool tls_required = tls.sslmode == "require" || absl::StartsWith(tls.sslmode, "verify-");
    const bool tls_failed = absl::StrContains(message, "SSL") ||
                            absl::StrContains(message, "certificate") ||
                            absl::StrContains(message, "TLS");
    if (tls_required && tls_failed) {
      return absl::FailedPreconditionError(absl::StrCat(
          "TLS to the database failed (sslmode=", tls.sslmode,
          tls.sslrootcert.empty() ? "" : absl::StrCat(", sslrootcert=", tls.sslrootcert),
          "): ", message));
    }
    return absl::UnavailableError(absl::StrCat("cannot connect to the database: ", message));
  }
  if (const char* host = PQhost(conn.get()); host != nullptr) tls.host = host;
  tls.local = IsLoopbackOrSocket(tls.host);
  tls.encrypted = PQsslInUse(conn.get()) == 1;
  if (tls.encrypted) {
    if (const char* protocol = PQsslAttribute(conn.get(), "protocol")) tls.protocol = protocol;
    if (const char* cipher = PQsslAttribute(conn.get(), "cipher")) tls.cipher = cipher;
    tls.verified = absl::StartsWith(tls.sslmode, "verify-");
    tls.host_verified = tls.sslmode == "verify-full";
  }
  return tls;
}

std::string DescribeTls(const DatabaseTls& tls) {
  const char* verified = tls.host_verified ? "certificate+host"
                         : tls.verified    ? "certificate (not the host name)"
                                           : "no";
  if (!tls.encrypted) {
    return absl::StrCat("host=", tls.host, " sslmode=", tls.sslmode, " encrypted=no");
  }
  return absl::StrCat("host=", tls.host, " sslmode=", tls.sslmode,
                      " encrypted=yes protocol=", tls.protocol, " cipher=", tls.cipher,
                      " verified=", verified);
}

std::string TlsWarning(const DatabaseTls& tls) {
  if (tls.local || tls.host_verified) return "";
  if (!tls.encrypted) {
    return absl::StrCat("the connection to the database at ", tls.host,
                        " is NOT encrypted (sslmode=", tls.sslmode,
                        "): password hashes and token hashes cross the network in the clear; "
                        // Written as a URL query, not key=value words, so that the
                        // JSON log format keeps it in the message.
                        "add ?sslmode=verify-full&sslrootcert=/path/to/ca.crt to the database URL");
  }
  return absl::StrCat("the connection to the database at ", tls.host,
                      " is encrypted but the server is not authenticated (sslmode=", tls.sslmode,
                      "): a machine in the middle could read it; add "
                      "?sslmode=verify-full&sslrootcert=/path/to/ca.crt to the database URL");
}

std::string ConnectionString(const DatabaseOptions& options) {
  const int64_t connect_s = std::max<int64_t>(1, absl::ToInt64Seconds(options.connect_timeout));
  const int64_t statement_ms = absl::ToInt64Milliseconds(options.statement_timeout);
  // libpq takes "options" as server command-line switches; spaces inside
  // values would need escaping, so none are used.
  const std::string server_options =
      absl::StrCat("-c statement_timeout=", statement_ms, " -c idle_in_transaction_session_timeout=",
                   kIdleInTransactionTimeoutMs, " -c TimeZone=UTC");
  if (IsUri(options.url)) {
    auto escape = [](absl::string_view text) {
      std::string out;
      for (char c : text) {
        if (c == ' ') {
          out += "%20";
        } else if (c == '=') {
          out += "%3D";
        } else {
          out += c;
        }
      }
      return out;
    };
    return absl::StrCat(
        options.url, absl::StrContains(options.url, '?') ? "&" : "?", "connect_timeout=", connect_s,
        "&application_name=", escape(options.application_name), "&keepalives_idle=30",
        "&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=", kUnacknowledgedTimeoutMs,
        "&options=", escape(server_options));
  }
  return absl::StrCat(
      options.url, " connect_timeout=", connect_s, " application_name='", options.application_name,
      "' keepalives_idle=30 keepalives_interval=10 keepalives_count=3",
      " tcp_user_timeout=", kUnacknowledgedTimeoutMs, " options='", server_options, "'");
}

Database::Database(DatabaseOptions options, std::vector<Statement> statements)
    : options_(std::move(options)),
      connection_string_(ConnectionString(options_)),
      statements_(std::move(statements)),
      statement_texts_(TextsOf(statements_)),
      ping_(connection_string_),
      wakes_(connection_string_) {}

Database::~Database() = default;

absl::StatusOr<std::unique_ptr<pqxx::connection>> Database::Open() const {
  try {
    auto connection = std::make_unique<pqxx::connection>(connection_string_);
    // A broken connection is dropped, never quietly reopened: AbandonHungCalls
    // relies on a lent connection keeping its socket.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    connection->inhibit_reactivation(true);
#pragma GCC diagnostic pop
    for (const Statement& statement : statements_) {
      connection->prepare(std::string(statement.name), std::string(statement.sql));
    }
    return connection;
  } catch (const std::exception& error) {
    return StatusFromException(error, {.operation = "connect to the database"});
  }
}

template <typename Connection>
absl::StatusOr<std::unique_ptr<Connection>> Database::TakeSlot(
    std::vector<std::unique_ptr<Connection>>& idle, int& open, bool& reused) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.acquire_timeout;
  auto observe_wait = [&] {
    if (options_.acquire_wait != nullptr)
      options_.acquire_wait->ObserveDuration(absl::Now() - start);
  };
  absl::MutexLock lock(&mu_);
  ++waiting_;
  auto can_proceed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !idle.empty() || open < options_.pool_size;
  };
  while (!can_proceed()) {
    if (mu_.AwaitWithDeadline(absl::Condition(&can_proceed), deadline)) break;
    if (!can_proceed()) {
      --waiting_;
      observe_wait();
      return PoolBusyError(options_.acquire_timeout, options_.pool_size);
    }
  }
  --waiting_;
  observe_wait();
  if (!reachable_) {
    return absl::UnavailableError("the database is unavailable; retry later");
  }
  if (!idle.empty()) {
    reused = true;
    auto connection = std::move(idle.back());
    idle.pop_back();
    return connection;
  }
  reused = false;
  ++open;  // the slot is reserved; the caller connects outside the lock
  return std::unique_ptr<Connection>();
}

bool Database::RetryAfterFailover(FailoverRetry& failover) {
  if (!failover.PauseBeforeRetry()) return false;
  if (options_.failover_retries != nullptr) options_.failover_retries->Increment();
  Log()->debug("trying again after a pause: the database is failing over (retry {})",
               failover.retries());
  return true;
}

Database* Database::FallingBack() {
  if (options_.fallback == nullptr) return nullptr;
  absl::MutexLock lock(&mu_);
  return absl::Now() < fallback_until_ ? options_.fallback : nullptr;
}

void Database::HoldFallback(absl::string_view why) {
  if (options_.fallback == nullptr) return;
  // Closed after the lock is let go: closing a connection to a hung server
  // must not hold up the pool.
  std::vector<std::unique_ptr<pqxx::connection>> closing;
  absl::MutexLock lock(&mu_);
  if (absl::Now() >= fallback_until_) {
    Log()->warn("{} lost its database ({}); its calls go to the primary for {}",
                options_.application_name, why, absl::FormatDuration(options_.fallback_hold));
  }
  fallback_until_ = absl::Now() + options_.fallback_hold;
  open_ -= static_cast<int>(idle_.size());
  closing.swap(idle_);
}

namespace {

int SocketOf(const pqxx::connection& connection) { return connection.sock(); }
int SocketOf(const PipelineConnection& connection) { return connection.socket(); }

}  // namespace

template <typename LeaseType, typename Connection, typename Connect>
absl::StatusOr<LeaseType> Database::AcquireFrom(std::vector<std::unique_ptr<Connection>>& idle,
                                                int& open, Connect connect) {
  bool reused = false;
  absl::StatusOr<std::unique_ptr<Connection>> connection = TakeSlot(idle, open, reused);
  if (!connection.ok()) return connection.status();
  if (*connection == nullptr) {
    connection = connect();
    if (!connection.ok()) {
      {
        absl::MutexLock lock(&mu_);
        --open;
      }
      HoldFallback(connection.status().message());
      return connection.status();
    }
  }
  Lent(connection->get(), SocketOf(**connection));
  return LeaseType(this, *std::move(connection), reused);
}

absl::StatusOr<Database::Lease> Database::Acquire() {
  return AcquireFrom<Lease>(idle_, open_, [this] { return Open(); });
}

absl::StatusOr<Database::PipelineLease> Database::AcquirePipeline() {
  return AcquireFrom<PipelineLease>(pipeline_idle_, pipeline_open_, [this] {
    return PipelineConnection::Open(connection_string_, &statement_texts_);
  });
}

void Database::Lent(const void* connection, int socket) {
  absl::MutexLock lock(&mu_);
  lent_[connection] = LentConnection{.since = absl::Now(), .socket = socket, .abandoned = false};
}

int Database::AbandonHungCalls(absl::Duration grace) {
  const absl::Time hung_since = absl::Now() - options_.statement_timeout - grace;
  int abandoned = 0;
  absl::MutexLock lock(&mu_);
  for (auto& [connection, lent] : lent_) {
    if (lent.abandoned || lent.since > hung_since || lent.socket < 0) continue;
    lent.abandoned = true;
    ++abandoned;
    // The blocked read returns at once; libpq reports the connection lost.
    ::shutdown(lent.socket, SHUT_RDWR);
    Log()->warn(
        "a database call has waited {} on its connection, past the statement timeout: "
        "its server hangs; abandoning the connection",
        absl::FormatDuration(absl::Now() - lent.since));
  }
  return abandoned;
}

bool Database::Returned(const void* connection) {
  auto lent = lent_.find(connection);
  if (lent == lent_.end()) return false;
  const bool abandoned = lent->second.abandoned;
  lent_.erase(lent);
  return abandoned;
}

void Database::Release(std::unique_ptr<pqxx::connection> connection, bool broken) {
  absl::MutexLock lock(&mu_);
  if (Returned(connection.get())) broken = true;
  if (broken || !connection->is_open()) {
    --open_;
    return;  // destroyed as it goes out of scope
  }
  idle_.push_back(std::move(connection));
}

void Database::Release(std::unique_ptr<PipelineConnection> connection, bool broken) {
  absl::MutexLock lock(&mu_);
  if (Returned(connection.get())) broken = true;
  if (broken || connection->broken() || !connection->idle()) {
    --pipeline_open_;
    return;
  }
  pipeline_idle_.push_back(std::move(connection));
}

Database::Lease::~Lease() {
  if (connection_ != nullptr) db_->Release(std::move(connection_), broken_);
}

Database::PipelineLease::~PipelineLease() {
  if (connection_ != nullptr) db_->Release(std::move(connection_), /*broken=*/false);
}

absl::Status Database::Ping() {
  absl::MutexLock lock(&ping_mu_);
  absl::Status status = ping_.Ping(options_.connect_timeout);
  if (!status.ok()) Log()->debug("ping failed: {}", status.message());
  return status;
}

void Database::SetReachable(bool reachable) {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  std::vector<std::unique_ptr<PipelineConnection>> dropped_pipelines;
  {
    absl::MutexLock lock(&mu_);
    reachable_ = reachable;
    if (reachable) return;
    open_ -= static_cast<int>(idle_.size());
    pipeline_open_ -= static_cast<int>(pipeline_idle_.size());
    dropped.swap(idle_);
    dropped_pipelines.swap(pipeline_idle_);
  }
  if (!dropped.empty() || !dropped_pipelines.empty()) {
    Log()->info("closed {} idle database connections", dropped.size() + dropped_pipelines.size());
  }
}

PoolStats Database::Stats() const {
  absl::MutexLock lock(&mu_);
  const int open = open_ + pipeline_open_;
  return PoolStats{.size = 2 * options_.pool_size,
                   .open = open,
                   .in_use = open - static_cast<int>(idle_.size() + pipeline_idle_.size()),
                   .waiting = waiting_};
}

}  // namespace warden::control::store
