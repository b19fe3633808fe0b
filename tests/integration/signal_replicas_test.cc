// Two control-plane replicas on one database: members of one room attached
// to different replicas hear each other's events and relays through
// PostgreSQL LISTEN/NOTIFY; a replica that stops beating loses its members;
// a key revoked through one replica ends its streams on the other.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/signal_client.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

class SignalReplicasTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.replica_id = "replica-a";
    config.signal_sweep_interval = absl::Milliseconds(200);
  }

  void SetUp() override {
    ControlPlaneTest::SetUp();
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    config.replica_id = "replica-b";
    config.signal_sweep_interval = SecondSweepInterval();
    auto started = control::ControlPlane::Start(config);
    ASSERT_TRUE(started.ok()) << started.status();
    second_ = *std::move(started);
  }
  void TearDown() override {
    second_.reset();
    ControlPlaneTest::TearDown();
  }
  virtual absl::Duration SecondSweepInterval() { return absl::Milliseconds(200); }

  std::unique_ptr<SignalClient> MemberOn(const control::ControlPlane& replica) {
    auto client = std::make_unique<SignalClient>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", replica.port()),
                            grpc::InsecureChannelCredentials()),
        kTestAdminKey);
    absl::Status identified = client->Identify();
    EXPECT_TRUE(identified.ok()) << identified;
    return client;
  }

  std::unique_ptr<control::ControlPlane> second_;
};

TEST_F(SignalReplicasTest, MembersOnDifferentReplicasRelayAndSeeEvents) {
  auto a = MemberOn(*control_);
  auto b = MemberOn(*second_);
  auto a2 = MemberOn(*control_);
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("across");
  ASSERT_TRUE(room.ok()) << room.status();

  absl::StatusOr<v1::RoomState> joined = b->JoinRoom(room->room_id());
  ASSERT_TRUE(joined.ok()) << joined.status();
  ASSERT_EQ(joined->members_size(), 2);
  std::optional<v1::SignalEvent> seen = a->NextEvent(v1::SignalEvent::kMemberJoined);
  ASSERT_TRUE(seen.has_value()) << "replica A never heard of B's join";
  EXPECT_EQ(seen->member_joined().member().key(), b->public_key());

  ASSERT_TRUE(a2->JoinRoom(room->room_id()).ok());
  seen = b->NextEvent(v1::SignalEvent::kMemberJoined);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->member_joined().member().key(), a2->public_key());

  // B → everyone: both members on A hear it.
  EXPECT_EQ(*b->Relay(room->room_id(), "", "from b"), 2);
  for (SignalClient* member : {a.get(), a2.get()}) {
    std::optional<v1::SignalEvent> relayed = member->NextEvent(v1::SignalEvent::kRelayed);
    ASSERT_TRUE(relayed.has_value());
    EXPECT_EQ(relayed->relayed().payload(), "from b");
    EXPECT_EQ(relayed->relayed().from(), b->public_key());
  }
  // A → B only; A's other member does not hear it.
  EXPECT_EQ(*a->Relay(room->room_id(), b->public_key(), "for b"), 1);
  std::optional<v1::SignalEvent> relayed = b->NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(relayed.has_value());
  EXPECT_EQ(relayed->relayed().payload(), "for b");
  EXPECT_FALSE(a2->NextEvent(v1::SignalEvent::kRelayed, absl::Milliseconds(300)).has_value());

  ASSERT_TRUE(a->RenameRoom(room->room_id(), "renamed on A").ok());
  std::optional<v1::SignalEvent> renamed = b->NextEvent(v1::SignalEvent::kRoomRenamed);
  ASSERT_TRUE(renamed.has_value());
  EXPECT_EQ(renamed->room_renamed().name(), "renamed on A");

  ASSERT_TRUE(a->Kick(room->room_id(), b->public_key()).ok());
  std::optional<v1::SignalEvent> kicked = b->NextEvent(v1::SignalEvent::kMemberKicked);
  ASSERT_TRUE(kicked.has_value()) << "the kicked member on B was not told";
  EXPECT_EQ(b->Relay(room->room_id(), "", "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SignalReplicasTest, RelaysTooBigToCrossReplicasAreRefusedWhole) {
  auto a = MemberOn(*control_);
  auto b = MemberOn(*second_);
  auto a2 = MemberOn(*control_);
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("big payloads");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(a2->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  // A's view of the room has B once A has told its member of B's join.
  std::optional<v1::SignalEvent> joined;
  while ((joined = a->NextEvent(v1::SignalEvent::kMemberJoined)) &&
         joined->member_joined().member().key() != b->public_key()) {
  }
  ASSERT_TRUE(joined.has_value());

  const std::string big(10 * 1024, 'x');
  absl::StatusOr<int> refused = a->Relay(room->room_id(), "", big);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_NE(refused.status().message().find("other replicas"), std::string::npos);
  // Refused whole: the member on the same replica did not get it either.
  EXPECT_FALSE(a2->NextEvent(v1::SignalEvent::kRelayed, absl::Milliseconds(300)).has_value());
  // Only to the member here, it goes.
  EXPECT_EQ(*a->Relay(room->room_id(), a2->public_key(), big), 1);
  // 5000 bytes fit a notice.
  EXPECT_EQ(*a->Relay(room->room_id(), b->public_key(), std::string(5000, 'y')), 1);
  std::optional<v1::SignalEvent> relayed = b->NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(relayed.has_value());
  EXPECT_EQ(relayed->relayed().payload().size(), 5000u);
}

TEST_F(SignalReplicasTest, ReplicaShutdownTellsTheOtherReplicasMembers) {
  auto a = MemberOn(*control_);
  auto b = MemberOn(*second_);
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("survivor");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  second_->Shutdown();
  std::optional<v1::SignalEvent> left = a->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), b->public_key());
  // B's client reconnects to A and joins again.
  auto b_again = std::make_unique<SignalClient>(Channel(), kTestAdminKey);
  ASSERT_TRUE(b_again->Identify().ok());
  EXPECT_TRUE(b_again->JoinRoom(room->room_id()).ok());
}

TEST_F(SignalReplicasTest, RevokingAKeyOnOneReplicaEndsItsStreamsOnTheOther) {
  auto admin = v1::AdminService::NewStub(Channel());
  v1::CreateApiKeyRequest create;
  create.set_name("mesh-bot");
  create.set_role(v1::VIEWER);
  v1::CreateApiKeyResponse key;
  ASSERT_TRUE(admin->CreateApiKey(Context().get(), create, &key).ok());
  auto a = MemberOn(*control_);
  auto bot = std::make_unique<SignalClient>(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", second_->port()),
                          grpc::InsecureChannelCredentials()),
      key.secret());
  ASSERT_TRUE(bot->Identify().ok());
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("bots");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(bot->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(a->NextEvent(v1::SignalEvent::kMemberJoined).has_value());

  v1::RevokeApiKeyRequest revoke;
  revoke.set_id(key.key().id());
  v1::ApiKey revoked;
  const absl::Time revoked_at = absl::Now();
  ASSERT_TRUE(admin->RevokeApiKey(Context().get(), revoke, &revoked).ok());  // on replica A
  std::optional<grpc::Status> ended = bot->WaitEnded(absl::Seconds(5));      // attached to B
  ASSERT_TRUE(ended.has_value()) << "replica B kept a stream of a revoked key";
  EXPECT_LT(absl::Now() - revoked_at, absl::Seconds(3));
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ended->error_message(), "the API key mesh-bot was revoked");
  std::optional<v1::SignalEvent> left = a->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), bot->public_key());
}

class SignalLostReplicaTest : public SignalReplicasTest {
 protected:
  // Replica B beats once at start, then not for an hour.
  absl::Duration SecondSweepInterval() override { return absl::Hours(1); }
};

TEST_F(SignalLostReplicaTest, MembersOfASilentReplicaAreRemoved) {
  auto a = MemberOn(*control_);
  auto b = MemberOn(*second_);
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("heartbeats");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(a->NextEvent(v1::SignalEvent::kMemberJoined).has_value());
  {
    // As if B had crashed a minute ago.
    pqxx::connection connection(db_->url());
    pqxx::work tx(connection);
    tx.exec0(
        "UPDATE signal_replicas SET last_seen_at = now() - interval '1 minute' "
        "WHERE replica = 'replica-b'");
    tx.commit();
  }
  std::optional<v1::SignalEvent> left = a->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), b->public_key());
  EXPECT_EQ(left->member_left().reason(), "replica lost");
}

}  // namespace
}  // namespace warden::testing
