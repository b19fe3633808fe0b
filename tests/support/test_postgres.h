#pragma once

// Real PostgreSQL for integration tests. The shared cluster is the one the
// CTest fixture started for the whole run (WARDEN_TEST_PG_ENV names its
// coordinates); a test binary run by hand starts a private one instead.
// Each test gets a fresh database, copied from a migrated template.

#include <memory>
#include <span>
#include <string>

#include "controlplane/store/migrations.h"

namespace warden::testing {

class TestDatabase;

class TestPostgres {
 public:
  // The cluster shared by this test run.
  static TestPostgres& Shared();
  // A cluster of the caller's own, e.g. to stop and restart it. The shared
  // one trades durability for speed (synchronous_commit off: a crash loses
  // the last commits it acknowledged); a durable one does not, as
  // PostgreSQL's defaults do not.
  enum class Durability { kFast, kDurable };
  static std::unique_ptr<TestPostgres> StartPrivate(Durability durability = Durability::kFast);
  // Only for private clusters: a hot standby streaming from this one.
  std::unique_ptr<TestPostgres> StartStandby();

  ~TestPostgres();

  // A new database: migrated (a copy of the template) or empty.
  std::unique_ptr<TestDatabase> CreateDatabase(bool migrated = true);

  // Only for private clusters: stop the server ("fast", or "immediate": as
  // if it crashed), start it again on the same port.
  void Stop(const std::string& mode = "fast");
  void Start();
  // Only for private clusters: SIGSTOP / SIGCONT the postmaster and every
  // backend, as a server frozen by its host would be.
  void Freeze();
  void Thaw();
  // Only for private clusters: also listen on `address` (restarts), trusting
  // clients from `cidr`.
  void ListenAlso(const std::string& address, const std::string& cidr);
  // Only for private clusters: serve TLS with this certificate and key (PEM).
  void ServeTls(const std::string& cert, const std::string& key);

  std::string UrlFor(const std::string& database) const;
  std::string UrlFor(const std::string& database, const std::string& host) const;
  int port() const { return port_; }

 private:
  TestPostgres(std::string dir, int port, bool owned);
  void EnsureTemplate();
  void SignalServer(int signal);

  std::string dir_;
  int port_;
  bool owned_;
};

// The embedded migrations up to and including `version`: a database as an
// earlier release left it, to test the upgrade from there.
std::span<const control::store::Migration> MigrationsThrough(int version);

// A database that is dropped when this object goes away.
class TestDatabase {
 public:
  TestDatabase(TestPostgres& cluster, std::string name)
      : cluster_(cluster), name_(std::move(name)) {}
  ~TestDatabase();

  const std::string& name() const { return name_; }
  std::string url() const { return cluster_.UrlFor(name_); }

  // One statement on a connection of its own: the first column of its one
  // row as a number; or nothing.
  int64_t QueryInt(const std::string& sql) const;
  void Exec(const std::string& sql) const;

 private:
  TestPostgres& cluster_;
  std::string name_;
};

}  // namespace warden::testing
