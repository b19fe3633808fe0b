// Signalling rooms through gRPC against a real PostgreSQL: identity by
// challenge, create/join/leave/rename/kick, relays, passwords, capacity,
// expiry, bad input, stats, and the shutdown notice.

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/signal_client.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

constexpr char kPassword[] = "correct horse battery staple";

class SignalTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.signal_sweep_interval = absl::Milliseconds(200);
    config.signal_empty_grace = absl::Milliseconds(600);
    config.signal_max_ttl = absl::Hours(2);
    config.metrics_listen = "127.0.0.1:0";
  }

  // A client on this replica, identified.
  std::unique_ptr<SignalClient> Member(const std::string& token = kTestAdminKey) {
    auto client = std::make_unique<SignalClient>(Channel(), token);
    absl::Status identified = client->Identify();
    EXPECT_TRUE(identified.ok()) << identified;
    return client;
  }
};

TEST_F(SignalTest, TwoClientsCreateJoinRelayAndLeave) {
  auto owner = Member();
  auto guest = Member();
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("kitchen", "", 4, 600);
  ASSERT_TRUE(room.ok()) << room.status();
  EXPECT_EQ(room->name(), "kitchen");
  EXPECT_EQ(room->owner(), owner->public_key());
  EXPECT_EQ(room->max_clients(), 4);
  EXPECT_FALSE(room->has_password());
  ASSERT_EQ(room->members_size(), 1);

  absl::StatusOr<v1::RoomState> joined = guest->JoinRoom(room->room_id());
  ASSERT_TRUE(joined.ok()) << joined.status();
  ASSERT_EQ(joined->members_size(), 2);
  EXPECT_EQ(joined->members(0).key(), owner->public_key());
  EXPECT_EQ(joined->members(1).key(), guest->public_key());

  std::optional<v1::SignalEvent> seen = owner->NextEvent(v1::SignalEvent::kMemberJoined);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->member_joined().room_id(), room->room_id());
  EXPECT_EQ(seen->member_joined().member().key(), guest->public_key());

  absl::StatusOr<int> delivered = guest->Relay(room->room_id(), "", "offer: 192.0.2.7:51820");
  ASSERT_TRUE(delivered.ok()) << delivered.status();
  EXPECT_EQ(*delivered, 1);
  std::optional<v1::SignalEvent> relayed = owner->NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(relayed.has_value());
  EXPECT_EQ(relayed->relayed().from(), guest->public_key());
  EXPECT_EQ(relayed->relayed().payload(), "offer: 192.0.2.7:51820");
  // The sender does not hear its own relay.
  EXPECT_FALSE(guest->NextEvent(v1::SignalEvent::kRelayed, absl::Milliseconds(200)).has_value());

  ASSERT_TRUE(guest->LeaveRoom(room->room_id()).ok());
  std::optional<v1::SignalEvent> left = owner->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), guest->public_key());
  EXPECT_EQ(left->member_left().reason(), "left");
  // Gone means gone: no more relays from or to it.
  EXPECT_EQ(guest->Relay(room->room_id(), "", "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(owner->Relay(room->room_id(), guest->public_key(), "x").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SignalTest, ThreeClientsRelayToAllAndToOne) {
  auto a = Member();
  auto b = Member();
  auto c = Member();
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("mesh");
  ASSERT_TRUE(room.ok()) << room.status();
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(c->JoinRoom(room->room_id()).ok());

  EXPECT_EQ(*a->Relay(room->room_id(), "", "to everyone"), 2);
  for (SignalClient* receiver : {b.get(), c.get()}) {
    std::optional<v1::SignalEvent> got = receiver->NextEvent(v1::SignalEvent::kRelayed);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->relayed().payload(), "to everyone");
  }
  EXPECT_EQ(*a->Relay(room->room_id(), c->public_key(), "only for c"), 1);
  std::optional<v1::SignalEvent> got = c->NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->relayed().payload(), "only for c");
  EXPECT_FALSE(b->NextEvent(v1::SignalEvent::kRelayed, absl::Milliseconds(300)).has_value());
  EXPECT_EQ(a->Relay(room->room_id(), a->public_key(), "me").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SignalTest, OwnerRenamesAndKicksOthersMayNot) {
  auto owner = Member();
  auto b = Member();
  auto c = Member();
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("old name");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(c->JoinRoom(room->room_id()).ok());

  EXPECT_EQ(b->RenameRoom(room->room_id(), "mine now").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(b->Kick(room->room_id(), c->public_key()).code(), absl::StatusCode::kPermissionDenied);

  ASSERT_TRUE(owner->RenameRoom(room->room_id(), "new name").ok());
  for (SignalClient* member : {b.get(), c.get()}) {
    std::optional<v1::SignalEvent> renamed = member->NextEvent(v1::SignalEvent::kRoomRenamed);
    ASSERT_TRUE(renamed.has_value());
    EXPECT_EQ(renamed->room_renamed().name(), "new name");
  }

  ASSERT_TRUE(owner->Kick(room->room_id(), c->public_key()).ok());
  for (SignalClient* member : {b.get(), c.get()}) {
    std::optional<v1::SignalEvent> kicked = member->NextEvent(v1::SignalEvent::kMemberKicked);
    ASSERT_TRUE(kicked.has_value());
    EXPECT_EQ(kicked->member_kicked().member(), c->public_key());
  }
  // The kicked member is out: it can neither relay nor be relayed to.
  EXPECT_EQ(c->Relay(room->room_id(), "", "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*owner->Relay(room->room_id(), "", "after the kick"), 1);
  EXPECT_EQ(owner->Kick(room->room_id(), c->public_key()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(owner->Kick(room->room_id(), owner->public_key()).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SignalTest, ClientThatCannotSignTheChallengeIsRefused) {
  SignalClient impostor(Channel(), kTestAdminKey);
  absl::Status identified = impostor.Identify(/*sign_wrong=*/true);
  EXPECT_EQ(identified.code(), absl::StatusCode::kUnauthenticated) << identified;
  std::optional<grpc::Status> ended = impostor.WaitEnded();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(ended->error_message().find("signature does not verify"), std::string::npos);
  // The server goes on.
  auto honest = Member();
  EXPECT_TRUE(honest->CreateRoom("still serving").ok());
}

TEST_F(SignalTest, StreamsNeedAValidTokenInTheHeaderOrFirstMessage) {
  SignalClient anonymous(Channel(), "");
  v1::SignalRequest create;
  create.mutable_create_room()->set_name("x");
  anonymous.Send(create);
  std::optional<grpc::Status> ended = anonymous.WaitEnded();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);

  SignalClient forged(Channel(), "wak_" + std::string(64, 'f'));
  ended = forged.WaitEnded();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Without headers: an authenticate message first, then the challenge.
  SignalClient late(Channel(), "");
  v1::SignalRequest authenticate;
  authenticate.mutable_authenticate()->set_token(kTestAdminKey);
  late.Send(authenticate);
  ASSERT_TRUE(late.Identify().ok());
  EXPECT_TRUE(late.CreateRoom("authenticated late").ok());
}

TEST_F(SignalTest, AccessTokenFromALoginIsAccepted) {
  FleetClient fleet(Channel(), kTestAdminKey);
  fleet.CreateUser("alice", 3, v1::EVICT_OLDEST, 0, kPassword);
  auto sessions = v1::SessionService::NewStub(Channel());
  v1::LoginRequest login;
  login.set_username("alice");
  login.set_password(kPassword);
  v1::LoginResponse tokens;
  grpc::ClientContext context;
  ASSERT_TRUE(sessions->Login(&context, login, &tokens).ok());

  SignalClient client(Channel(), tokens.access_token());
  std::optional<v1::SignalEvent> challenge = client.NextEvent(v1::SignalEvent::kChallenge);
  ASSERT_TRUE(challenge.has_value());
  EXPECT_EQ(challenge->challenge().nonce().size(), 32u);
  EXPECT_EQ(challenge->challenge().context(), "warden-signal-v1:");
  // Identify again, through the helper, on a fresh stream to see the principal.
  SignalClient second(Channel(), tokens.access_token());
  ASSERT_TRUE(second.Identify().ok());
  EXPECT_TRUE(second.CreateRoom("alice's devices").ok());
}

TEST_F(SignalTest, PasswordsCapacityAndUnknownRooms) {
  auto owner = Member();
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("locked", "s3cret", 2);
  ASSERT_TRUE(room.ok()) << room.status();
  EXPECT_TRUE(room->has_password());

  auto b = Member();
  EXPECT_EQ(b->JoinRoom(room->room_id()).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(b->JoinRoom(room->room_id(), "wrong").status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(b->JoinRoom(room->room_id(), "s3cret").ok());

  auto c = Member();
  absl::StatusOr<v1::RoomState> full = c->JoinRoom(room->room_id(), "s3cret");
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  // Joining again on the same stream is refused; the member count stays 2.
  EXPECT_EQ(b->JoinRoom(room->room_id(), "s3cret").status().code(),
            absl::StatusCode::kAlreadyExists);

  EXPECT_EQ(c->JoinRoom("0f8fad5b-d9cb-469f-a165-70867728950e").status().code(),
            absl::StatusCode::kNotFound);
  // The password is stored only as an argon2id hash.
  pqxx::connection connection(db_->url());
  pqxx::work tx(connection);
  const std::string stored =
      tx.exec1("SELECT password_hash FROM signal_rooms WHERE id = '" + room->room_id() + "'")[0]
          .as<std::string>();
  EXPECT_EQ(stored.rfind("$argon2id$", 0), 0u) << stored;
  EXPECT_EQ(stored.find("s3cret"), std::string::npos);
}

TEST_F(SignalTest, BadRequestsGetClearErrorsAndTheStreamGoesOn) {
  auto client = Member();
  const auto code_of = [&](const std::function<void(v1::SignalRequest&)>& fill) {
    v1::SignalRequest request;
    fill(request);
    return client->Call(request).status();
  };
  absl::Status status = code_of(
      [](v1::SignalRequest& r) { r.mutable_create_room()->set_name(std::string(65, 'n')); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("create_room.name"), std::string::npos) << status;
  EXPECT_EQ(
      code_of([](v1::SignalRequest& r) { r.mutable_create_room()->set_name("bell\a"); }).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of([](v1::SignalRequest& r) {
              r.mutable_create_room()->set_name("big");
              r.mutable_create_room()->set_max_clients(1000);
            }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of([](v1::SignalRequest& r) {
              r.mutable_create_room()->set_name("long");
              r.mutable_create_room()->set_ttl_seconds(3 * 3600);
            }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      code_of([](v1::SignalRequest& r) { r.mutable_join_room()->set_room_id("lobby"); }).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of([](v1::SignalRequest& r) { r.mutable_kick()->set_room_id("x"); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of([](v1::SignalRequest&) {}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code_of([](v1::SignalRequest& r) { r.mutable_identify(); }).code(),
            absl::StatusCode::kFailedPrecondition);

  absl::StatusOr<v1::RoomState> room = client->CreateRoom("fine");
  ASSERT_TRUE(room.ok()) << room.status();
  EXPECT_EQ(client->Relay(room->room_id(), "", std::string(16 * 1024 + 1, 'x')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(client->Relay(room->room_id(), "not a key", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  // A full 16 KiB relay to members on this replica is fine.
  auto peer = Member();
  ASSERT_TRUE(peer->JoinRoom(room->room_id()).ok());
  EXPECT_EQ(*client->Relay(room->room_id(), "", std::string(16 * 1024, 'x')), 1);
  std::optional<v1::SignalEvent> big = peer->NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(big->relayed().payload().size(), 16u * 1024);
}

TEST_F(SignalTest, StreamsMayBeInAtMostSixteenRooms) {
  auto client = Member();
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(client->CreateRoom(absl::StrCat("room ", i)).ok());
  EXPECT_EQ(client->CreateRoom("one too many").status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(SignalTest, RoomsExpireAfterTheirTtlAndMembersAreTold) {
  auto owner = Member();
  auto guest = Member();
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("brief", "", 0, 1);
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(guest->JoinRoom(room->room_id()).ok());
  for (SignalClient* member : {owner.get(), guest.get()}) {
    std::optional<v1::SignalEvent> closed = member->NextEvent(v1::SignalEvent::kRoomClosed);
    ASSERT_TRUE(closed.has_value());
    EXPECT_EQ(closed->room_closed().room_id(), room->room_id());
    EXPECT_EQ(closed->room_closed().reason(), "expired");
  }
  EXPECT_EQ(guest->Relay(room->room_id(), "", "x").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(guest->JoinRoom(room->room_id()).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SignalTest, EmptyRoomsCloseAfterTheGracePeriodOthersStay) {
  auto owner = Member();
  absl::StatusOr<v1::RoomState> empty = owner->CreateRoom("to be left");
  absl::StatusOr<v1::RoomState> kept = owner->CreateRoom("kept");
  absl::StatusOr<v1::RoomState> witness = owner->CreateRoom("left for good");
  ASSERT_TRUE(empty.ok() && kept.ok() && witness.ok());
  pqxx::connection connection(db_->url());
  const auto exists = [&](const std::string& room_id) {
    pqxx::nontransaction tx(connection);
    return tx.exec1("SELECT count(*) FROM signal_rooms WHERE id = '" + room_id + "'")[0]
               .as<int>() == 1;
  };
  // Rejoined within the grace period (600 ms), a room stays: it outlives a
  // room left for good just after it was left, which a sweep closes once
  // the grace period is over.
  ASSERT_TRUE(owner->LeaveRoom(empty->room_id()).ok());
  ASSERT_TRUE(owner->LeaveRoom(witness->room_id()).ok());
  ASSERT_TRUE(owner->JoinRoom(empty->room_id()).ok());
  EXPECT_TRUE(WaitFor([&] { return !exists(witness->room_id()); }, absl::Seconds(5)))
      << "the room left for good was never closed";
  EXPECT_TRUE(exists(empty->room_id()));
  // Left for good, it is closed; the occupied room is not.
  ASSERT_TRUE(owner->LeaveRoom(empty->room_id()).ok());
  EXPECT_TRUE(WaitFor([&] { return !exists(empty->room_id()); }, absl::Seconds(5)))
      << "the empty room was never closed";
  auto other = Member();
  EXPECT_EQ(other->JoinRoom(empty->room_id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(other->JoinRoom(kept->room_id()).ok());
}

TEST_F(SignalTest, ADisconnectedMemberLeavesItsRooms) {
  auto owner = Member();
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("drop");
  ASSERT_TRUE(room.ok());
  {
    auto guest = Member();
    ASSERT_TRUE(guest->JoinRoom(room->room_id()).ok());
    ASSERT_TRUE(owner->NextEvent(v1::SignalEvent::kMemberJoined).has_value());
  }  // the guest's stream is cancelled
  std::optional<v1::SignalEvent> left = owner->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().reason(), "disconnected");
}

TEST_F(SignalTest, StatsCountRoomsMembersAndRelays) {
  auto a = Member();
  auto b = Member();
  absl::StatusOr<v1::RoomState> room = a->CreateRoom("counted");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(b->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(a->CreateRoom("second").ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a->Relay(room->room_id(), "", "ping").ok());

  v1::Stats stats;
  ASSERT_TRUE(WaitFor([&] {
    stats.Clear();
    return Admin()->GetStats(Context().get(), v1::GetStatsRequest(), &stats).ok() &&
           stats.signal_relays_per_second() > 0;
  })) << "relays per second never reported";
  EXPECT_EQ(stats.signal_rooms(), 2);
  EXPECT_EQ(stats.signal_members(), 3);
  EXPECT_EQ(stats.signal_streams_here(), 2);

  absl::StatusOr<PrometheusText> scraped = ScrapeMetrics(control_->metrics_port());
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  EXPECT_EQ(scraped->Value("warden_signal_relays_total", {{"result", "delivered"}}), 20);
  EXPECT_EQ(scraped->Value("warden_signal_streams", {}), 2);
  EXPECT_EQ(scraped->Value("warden_signal_fleet", {{"kind", "rooms"}}), 2);
  EXPECT_EQ(scraped->Value("warden_signal_fleet", {{"kind", "members"}}), 3);
  EXPECT_EQ(scraped->Value("warden_signal_relay_bytes_total", {}), 80);
}

TEST_F(SignalTest, ShutdownNoticeArrivesBeforeTheStreamEnds) {
  auto member = Member();
  ASSERT_TRUE(member->CreateRoom("until shutdown").ok());
  std::thread stopper([this] { control_->Shutdown(); });
  std::optional<v1::SignalEvent> notice = member->NextEvent(v1::SignalEvent::kShutdown);
  ASSERT_TRUE(notice.has_value());
  EXPECT_NE(notice->shutdown().reason().find("connect again"), std::string::npos)
      << notice->shutdown().reason();
  std::optional<grpc::Status> ended = member->WaitEnded();
  stopper.join();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAVAILABLE) << ended->error_message();
  // Its memberships went with it.
  pqxx::connection connection(db_->url());
  pqxx::work tx(connection);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM signal_members")[0].as<int>(), 0);
}

class SignalRateLimitTest : public SignalTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    SignalTest::ConfigureControlPlane(config);
    config.signal_relay_rate = 5;  // bursts of 10
  }
};

TEST_F(SignalRateLimitTest, AFloodingStreamIsSlowedAndKeepsItsStream) {
  auto flooder = Member();
  auto other = Member();
  absl::StatusOr<v1::RoomState> room = flooder->CreateRoom("flood");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(other->JoinRoom(room->room_id()).ok());
  int passed = 0, limited = 0;
  for (int i = 0; i < 30; ++i) {
    absl::StatusOr<int> relayed = flooder->Relay(room->room_id(), "", "spam");
    if (relayed.ok()) ++passed;
    if (relayed.status().code() == absl::StatusCode::kResourceExhausted) ++limited;
  }
  EXPECT_GE(passed, 10);  // the burst
  EXPECT_LE(passed, 14);  // and what refilled meanwhile, at 5 a second
  EXPECT_EQ(passed + limited, 30);
  absl::StatusOr<PrometheusText> scraped = ScrapeMetrics(control_->metrics_port());
  ASSERT_TRUE(scraped.ok());
  EXPECT_EQ(scraped->Value("warden_signal_relays_total", {{"result", "rate_limited"}}), limited);
  // The stream goes on: once the budget refills, relays pass again; others
  // were never limited.
  EXPECT_TRUE(
      WaitFor([&] { return flooder->Relay(room->room_id(), "", "later").ok(); }, absl::Seconds(3)));
  EXPECT_TRUE(other->Relay(room->room_id(), "", "unaffected").ok());
}

}  // namespace
}  // namespace warden::testing
