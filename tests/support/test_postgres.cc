#include "tests/support/test_postgres.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/secrets.h"
#include "controlplane/store/migrations.h"

namespace warden::testing {
namespace {

std::string RunScript(const std::string& args) {
  const std::string command =
      absl::StrCat("bash " WARDEN_SOURCE_DIR "/tests/support/pg-cluster.sh ", args);
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run " + command);
  std::string output;
  char buffer[256];
  while (size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) throw std::runtime_error("failed: " + command + "\n" + output);
  return output;
}

std::string MakeTempDir() {
  char pattern[] = "/tmp/warden-test-pg.XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  return pattern;
}

int ParsePort(const std::string& text) {
  int port = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port)) {
    throw std::runtime_error("bad port from pg-cluster.sh: " + text);
  }
  return port;
}

constexpr char kTemplate[] = "warden_template";

}  // namespace

TestPostgres::TestPostgres(std::string dir, int port, bool owned)
    : dir_(std::move(dir)), port_(port), owned_(owned) {}

TestPostgres::~TestPostgres() {
  if (owned_) {
    try {
      RunScript(absl::StrCat("destroy ", dir_));
    } catch (const std::exception&) {
      // Best effort: the directory is under /tmp.
    }
  }
}

TestPostgres& TestPostgres::Shared() {
  static TestPostgres* shared = [] {
    const char* env_file = std::getenv("WARDEN_TEST_PG_ENV");
    if (env_file != nullptr) {
      std::ifstream in(env_file);
      std::string line, dir;
      int port = 0;
      while (std::getline(in, line)) {
        absl::string_view view(line);
        if (absl::ConsumePrefix(&view, "WARDEN_TEST_PG_DIR=")) dir = std::string(view);
        if (absl::ConsumePrefix(&view, "WARDEN_TEST_PG_PORT=")) port = ParsePort(std::string(view));
      }
      if (dir.empty() || port == 0) {
        throw std::runtime_error(
            absl::StrCat("no test cluster described in ", env_file, " (did the pg fixture run?)"));
      }
      return new TestPostgres(dir, port, /*owned=*/false);
    }
    // Run by hand: a private cluster for this process, removed at exit.
    static std::unique_ptr<TestPostgres> own = StartPrivate();
    return own.get();
  }();
  return *shared;
}

std::unique_ptr<TestPostgres> TestPostgres::StartPrivate(Durability durability) {
  std::string dir = MakeTempDir();
  const int port = ParsePort(RunScript(
      absl::StrCat("create ", dir, durability == Durability::kDurable ? " durable" : "")));
  return std::unique_ptr<TestPostgres>(new TestPostgres(dir, port, /*owned=*/true));
}

std::unique_ptr<TestPostgres> TestPostgres::StartStandby() {
  std::string dir = MakeTempDir();
  const int port = ParsePort(RunScript(absl::StrCat("standby ", dir, " ", dir_)));
  return std::unique_ptr<TestPostgres>(new TestPostgres(dir, port, /*owned=*/true));
}

void TestPostgres::Stop(const std::string& mode) {
  RunScript(absl::StrCat("stop ", dir_, " ", mode));
}
void TestPostgres::Start() { RunScript(absl::StrCat("start ", dir_, " ", port_)); }
void TestPostgres::ServeTls(const std::string& cert, const std::string& key) {
  RunScript(absl::StrCat("tls ", dir_, " ", cert, " ", key));
}

void TestPostgres::ListenAlso(const std::string& address, const std::string& cidr) {
  RunScript(absl::StrCat("listen ", dir_, " ", address, " ", cidr));
}

void TestPostgres::Freeze() { SignalServer(SIGSTOP); }
void TestPostgres::Thaw() { SignalServer(SIGCONT); }

void TestPostgres::SignalServer(int signal) {
  // postmaster.pid's first line; the backends are its children.
  std::ifstream pid_file(dir_ + "/data/postmaster.pid");
  pid_t postmaster = 0;
  if (!(pid_file >> postmaster) || postmaster <= 0) {
    throw std::runtime_error("no running postmaster in " + dir_);
  }
  std::vector<pid_t> server{postmaster};
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(entry.path().filename().string(), &pid)) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid ...": comm may hold spaces, so parse after ')'.
    const size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t parent = 0;
    if (rest >> state >> parent && parent == postmaster) server.push_back(pid);
  }
  // Stopped first so it forks no new backend meanwhile; resumed last.
  if (signal == SIGCONT) std::reverse(server.begin(), server.end());
  for (pid_t pid : server) ::kill(pid, signal);
}

std::string TestPostgres::UrlFor(const std::string& database) const {
  return UrlFor(database, "127.0.0.1");
}

std::string TestPostgres::UrlFor(const std::string& database, const std::string& host) const {
  return absl::StrCat("postgresql://postgres@", host, ":", port_, "/", database);
}

void TestPostgres::EnsureTemplate() {
  // Test processes run in parallel: the first one builds the template under
  // an advisory lock; the others find it ready.
  pqxx::connection admin(UrlFor("postgres"));
  pqxx::nontransaction session(admin);
  session.exec("SELECT pg_advisory_lock(42)");
  const bool exists =
      !session.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", kTemplate).empty();
  if (!exists) {
    const std::string building = absl::StrCat(kTemplate, "_building");
    session.exec(absl::StrCat("DROP DATABASE IF EXISTS ", building));
    session.exec(absl::StrCat("CREATE DATABASE ", building, " TEMPLATE template0"));
    auto migrated = control::store::Migrate(UrlFor(building), control::store::EmbeddedMigrations());
    if (!migrated.ok()) throw std::runtime_error(std::string(migrated.status().message()));
    session.exec(absl::StrCat("ALTER DATABASE ", building, " RENAME TO ", kTemplate));
  }
  session.exec("SELECT pg_advisory_unlock(42)");
}

std::unique_ptr<TestDatabase> TestPostgres::CreateDatabase(bool migrated) {
  if (migrated) EnsureTemplate();
  const std::string name = absl::StrCat("t_", secrets::NewToken("").substr(0, 16));
  pqxx::connection admin(UrlFor("postgres"));
  pqxx::nontransaction session(admin);
  // Copying a template fails while another session is connected to it (a
  // parallel test process creating its own copy): retry briefly.
  for (int attempt = 0;; ++attempt) {
    try {
      session.exec(
          absl::StrCat("CREATE DATABASE ", name, " TEMPLATE ", migrated ? kTemplate : "template0"));
      break;
    } catch (const pqxx::sql_error&) {
      if (attempt >= 50) throw;
      ::usleep(100 * 1000);
    }
  }
  return std::make_unique<TestDatabase>(*this, name);
}

int64_t TestDatabase::QueryInt(const std::string& sql) const {
  pqxx::connection connection(url());
  pqxx::nontransaction tx(connection);
  return tx.exec1(sql)[0].as<int64_t>();
}

void TestDatabase::Exec(const std::string& sql) const {
  pqxx::connection connection(url());
  pqxx::nontransaction tx(connection);
  tx.exec(sql);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(cluster_.UrlFor("postgres"));
    pqxx::nontransaction session(admin);
    session.exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  } catch (const std::exception&) {
    // The cluster may be stopped on purpose by the test; it is thrown away anyway.
  }
}

std::span<const control::store::Migration> MigrationsThrough(int version) {
  const std::span<const control::store::Migration> all = control::store::EmbeddedMigrations();
  size_t count = 0;
  while (count < all.size() && all[count].version <= version) ++count;
  return all.first(count);
}

}  // namespace warden::testing
