#include "controlplane/dispatch/link_registry.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <vector>

namespace warden::control::dispatch {
namespace {

class FakeClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration by) { now_ += by; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'800'000'000);
};

class FakeChannel final : public AgentChannel {
 public:
  bool Send(const model::Command&) override { return true; }
  void SendHeartbeat() override {}
  void Close(const absl::Status&) override {}
};

model::Command CommandWithId(int64_t id) {
  model::Command command;
  command.id = id;
  command.kind = model::CommandKind::kKillSession;
  return command;
}

class LinkRegistryTest : public ::testing::Test {
 protected:
  LinkRegistryTest()
      : links_({.heartbeat_interval = absl::Seconds(10), .hello_timeout = absl::Seconds(5)},
               clock_) {}

  std::shared_ptr<AgentChannel> Attached(const std::string& node, int64_t epoch) {
    auto channel = std::make_shared<FakeChannel>();
    EXPECT_TRUE(links_.Register(node, epoch, channel).ok());
    return channel;
  }

  FakeClock clock_;
  LinkRegistry links_;
};

TEST_F(LinkRegistryTest, ANewerEpochFencesTheOlderLink) {
  std::shared_ptr<AgentChannel> old_stream = Attached("n1", 1);
  EXPECT_EQ(links_.Fence("n1", 1), nullptr) << "the same epoch is not newer";
  EXPECT_EQ(links_.Fence("n1", 2), old_stream);
  EXPECT_FALSE(links_.IsAttached("n1"));
  EXPECT_EQ(links_.Fence("n1", 3), nullptr) << "nothing left to fence";
}

TEST_F(LinkRegistryTest, AnOlderEpochCannotReplaceANewerLink) {
  std::shared_ptr<AgentChannel> newer = Attached("n1", 5);
  absl::StatusOr<std::shared_ptr<AgentChannel>> older =
      links_.Register("n1", 4, std::make_shared<FakeChannel>());
  EXPECT_EQ(older.status().code(), absl::StatusCode::kAborted);
  absl::StatusOr<std::shared_ptr<AgentChannel>> newest =
      links_.Register("n1", 6, std::make_shared<FakeChannel>());
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(*newest, newer) << "the replaced stream is handed back to be closed";
}

TEST_F(LinkRegistryTest, DeliversOnlyBehindTheWelcome) {
  Attached("n1", 1);
  EXPECT_FALSE(links_.ClaimDelivery("n1")) << "the Welcome is not out yet";
  EXPECT_TRUE(links_.Welcome("n1"));
  EXPECT_TRUE(links_.ClaimDelivery("n1"));
  EXPECT_FALSE(links_.ClaimDelivery("elsewhere"));
  EXPECT_FALSE(links_.Welcome("elsewhere"));
}

TEST_F(LinkRegistryTest, QueuesOneDeliveryPerNodeAtATime) {
  Attached("n1", 1);
  links_.Welcome("n1");
  EXPECT_TRUE(links_.ClaimDelivery("n1"));
  EXPECT_FALSE(links_.ClaimDelivery("n1")) << "a wake while one is queued joins it";
  EXPECT_TRUE(links_.BeginDelivery("n1"));
  EXPECT_TRUE(links_.ClaimDelivery("n1")) << "once it started, a new wake queues another";
  links_.ReleaseDelivery("n1");
  EXPECT_TRUE(links_.ClaimDelivery("n1")) << "a delivery the pool refused is not held";
}

TEST_F(LinkRegistryTest, SendsEachCommandOnceUntilItIsAnswered) {
  std::shared_ptr<AgentChannel> stream = Attached("n1", 1);
  const std::vector<model::Command> pending = {CommandWithId(7), CommandWithId(8)};
  std::vector<const model::Command*> unsent;
  EXPECT_EQ(links_.TakeUnsent("n1", pending, unsent), stream);
  ASSERT_EQ(unsent.size(), 2u);

  unsent.clear();
  links_.TakeUnsent("n1", pending, unsent);
  EXPECT_TRUE(unsent.empty()) << "already on the stream";

  clock_.Advance(absl::Milliseconds(30));
  std::optional<InFlight> answered = links_.Answered("n1", 7);
  ASSERT_TRUE(answered.has_value());
  EXPECT_EQ(answered->kind, model::CommandKind::kKillSession);
  EXPECT_FALSE(links_.Answered("n1", 7).has_value()) << "answered once";
  EXPECT_FALSE(links_.Answered("n1", 99).has_value()) << "never sent here";
}

TEST_F(LinkRegistryTest, TakesNothingForANodeThatIsGone) {
  const std::vector<model::Command> pending = {CommandWithId(7)};
  std::vector<const model::Command*> unsent;
  EXPECT_EQ(links_.TakeUnsent("n1", pending, unsent), nullptr);
  EXPECT_TRUE(unsent.empty());
  EXPECT_FALSE(links_.BeginDelivery("n1"));
}

TEST_F(LinkRegistryTest, DropsLinksSilentForThreeHeartbeatIntervals) {
  std::shared_ptr<AgentChannel> quiet = Attached("quiet", 1);
  Attached("chatty", 1);
  clock_.Advance(absl::Seconds(25));
  links_.Heard("chatty");
  HeartbeatRound early = links_.Heartbeat();
  EXPECT_EQ(early.alive.size(), 2u);
  EXPECT_TRUE(early.silent.empty());

  clock_.Advance(absl::Seconds(6));  // quiet: 31 s unheard; chatty: 6 s
  HeartbeatRound round = links_.Heartbeat();
  ASSERT_EQ(round.silent.size(), 1u);
  EXPECT_EQ(round.silent[0], quiet);
  EXPECT_EQ(round.alive_nodes, std::vector<std::string>{"chatty"});
  EXPECT_FALSE(links_.IsAttached("quiet"));
}

TEST_F(LinkRegistryTest, SlicedRoundsVisitEveryLinkOnceAndDropOnlyTheirOwnSilentOnes) {
  constexpr int kNodes = 200;
  constexpr int kSlices = 8;
  for (int i = 0; i < kNodes; ++i) Attached("n" + std::to_string(i), 1);
  std::map<std::string, int> visits;
  size_t largest = 0;
  for (int slice = 0; slice < kSlices; ++slice) {
    HeartbeatRound round = links_.Heartbeat(slice, kSlices);
    EXPECT_TRUE(round.silent.empty());
    largest = std::max(largest, round.alive_nodes.size());
    for (const std::string& node : round.alive_nodes) ++visits[node];
  }
  EXPECT_EQ(visits.size(), static_cast<size_t>(kNodes)) << "every link in some slice";
  for (const auto& [node, count] : visits) EXPECT_EQ(count, 1) << node;
  EXPECT_LT(largest, static_cast<size_t>(kNodes / 2)) << "the links are spread";

  // All silent now: a slice's round drops its own links and no others.
  clock_.Advance(absl::Seconds(31));
  HeartbeatRound first = links_.Heartbeat(0, kSlices);
  EXPECT_TRUE(first.alive.empty());
  EXPECT_EQ(links_.size(), kNodes - static_cast<int>(first.silent.size()));
  for (int slice = 1; slice < kSlices; ++slice) (void)links_.Heartbeat(slice, kSlices);
  EXPECT_EQ(links_.size(), 0);
}

TEST_F(LinkRegistryTest, ClosesStreamsThatDoNotSayHelloInTime) {
  auto mute = std::make_shared<FakeChannel>();
  auto polite = std::make_shared<FakeChannel>();
  links_.AwaitHello(mute);
  links_.AwaitHello(polite);
  clock_.Advance(absl::Seconds(4));
  EXPECT_TRUE(links_.ExpireHellos().empty());
  links_.HelloHeard(polite.get());
  clock_.Advance(absl::Seconds(1));
  std::vector<std::shared_ptr<AgentChannel>> expired = links_.ExpireHellos();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0], mute);
  EXPECT_TRUE(links_.ExpireHellos().empty()) << "closed once";
}

TEST_F(LinkRegistryTest, AStaleStreamEndingLeavesItsSuccessorAttached) {
  std::shared_ptr<AgentChannel> first = Attached("n1", 1);
  Attached("n1", 2);
  links_.Detach("n1", first.get());
  EXPECT_TRUE(links_.IsAttached("n1"));
  EXPECT_EQ(links_.size(), 1);
  EXPECT_EQ(links_.TakeAll().size(), 1u);
  EXPECT_EQ(links_.size(), 0);
}

}  // namespace
}  // namespace warden::control::dispatch
