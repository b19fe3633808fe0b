// One LISTEN connection for several subscribers, on a real PostgreSQL:
// each hears its own channels only, all are told of every (re)connect, an
// unsubscribed one hears nothing more, and the replica holds one listening
// backend however many parts listen.

#include "controlplane/store/shared_listener.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/test_postgres.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using control::store::SharedListener;

class SharedListenerTest : public ::testing::Test {
 protected:
  void SetUp() override { database_ = TestPostgres::Shared().CreateDatabase(/*migrated=*/false); }

  void Notify(const std::string& channel, const std::string& payload) {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction tx(connection);
    tx.exec("SELECT pg_notify(" + tx.quote(channel) + ", " + tx.quote(payload) + ")");
  }
  // Client backends of this database besides the asking one: before any
  // Notify, the listener's alone.
  int OtherBackends() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction tx(connection);
    return tx
        .exec1(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")[0]
        .as<int>();
  }
  void TerminateOtherBackends() {
    pqxx::connection connection(database_->url());
    pqxx::nontransaction tx(connection);
    tx.exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND backend_type = 'client backend' "
        "AND pid <> pg_backend_pid()");
  }

  struct Heard {
    std::mutex mu;
    std::vector<std::string> notices;
    std::atomic<int> connects{0};
    void Add(const std::string& channel, const std::string& payload) {
      std::lock_guard lock(mu);
      notices.push_back(channel + ":" + payload);
    }
    std::vector<std::string> Get() {
      std::lock_guard lock(mu);
      return notices;
    }
  };
  int Subscribe(SharedListener& listener, std::vector<std::string> channels, Heard& heard) {
    return listener.Subscribe(
        std::move(channels),
        [&heard](const std::string& channel, const std::string& payload) {
          heard.Add(channel, payload);
        },
        [&heard] { heard.connects.fetch_add(1); });
  }

  std::unique_ptr<TestDatabase> database_;
};

TEST_F(SharedListenerTest, HandsEachSubscriberItsOwnChannelsOverOneConnection) {
  SharedListener listener(database_->url());
  Heard commands, signals;
  Subscribe(listener, {"t_commands", "t_acks"}, commands);
  Subscribe(listener, {"t_signal"}, signals);
  listener.Start();
  ASSERT_TRUE(WaitFor([&] {
    return commands.connects.load() == 1 && signals.connects.load() == 1;
  })) << "every subscriber is told of the connect";
  EXPECT_EQ(OtherBackends(), 1) << "one listening connection for both";

  Notify("t_commands", "node-1");
  Notify("t_signal", "room-1");
  Notify("t_acks", "7");
  Notify("t_other", "nobody");
  ASSERT_TRUE(WaitFor([&] { return commands.Get().size() == 2 && signals.Get().size() == 1; }));
  EXPECT_EQ(commands.Get(), (std::vector<std::string>{"t_commands:node-1", "t_acks:7"}));
  EXPECT_EQ(signals.Get(), (std::vector<std::string>{"t_signal:room-1"}));
  listener.Stop();
}

TEST_F(SharedListenerTest, TellsEverySubscriberOfAReconnect) {
  SharedListener listener(database_->url());
  Heard first, second;
  Subscribe(listener, {"t_one"}, first);
  Subscribe(listener, {"t_two"}, second);
  listener.Start();
  ASSERT_TRUE(WaitFor([&] { return first.connects.load() == 1 && second.connects.load() == 1; }));

  TerminateOtherBackends();
  ASSERT_TRUE(WaitFor([&] { return first.connects.load() == 2 && second.connects.load() == 2; },
                      absl::Seconds(10)))
      << "after the connection was lost, both catch up again";
  Notify("t_two", "after");
  EXPECT_TRUE(WaitFor([&] { return second.Get() == std::vector<std::string>{"t_two:after"}; }));
  listener.Stop();
}

TEST_F(SharedListenerTest, AnUnsubscribedPartHearsNothingMore) {
  SharedListener listener(database_->url());
  Heard kept, gone;
  Subscribe(listener, {"t_shared"}, kept);
  const int id = Subscribe(listener, {"t_shared"}, gone);
  listener.Start();
  ASSERT_TRUE(WaitFor([&] { return kept.connects.load() == 1; }));
  Notify("t_shared", "1");
  ASSERT_TRUE(WaitFor([&] { return kept.Get().size() == 1 && gone.Get().size() == 1; }));

  listener.Unsubscribe(id);
  Notify("t_shared", "2");
  ASSERT_TRUE(WaitFor([&] { return kept.Get().size() == 2; }));
  EXPECT_EQ(gone.Get(), std::vector<std::string>{"t_shared:1"});
  listener.Stop();
}

TEST_F(SharedListenerTest, RefusesASubscriptionOnceListening) {
  SharedListener listener(database_->url());
  Heard early;
  Subscribe(listener, {"t_early"}, early);
  listener.Start();
  Heard late;
  EXPECT_THROW(Subscribe(listener, {"t_late"}, late), std::logic_error)
      << "a channel added after the LISTENs would go unheard";
  listener.Stop();
}

}  // namespace
}  // namespace warden::testing
