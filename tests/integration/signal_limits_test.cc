// Signalling streams that cannot be abused and that end with their
// credential, through gRPC against a real PostgreSQL: the authentication
// deadline, the cap on streams per principal, the byte bound on a slow
// reader's queue, and the end of a stream whose user is disabled or whose
// login is revoked or expires.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/signal_client.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

constexpr char kPassword[] = "correct horse battery staple";

class SignalLimitsTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.metrics_listen = "127.0.0.1:0";
    config.signal_auth_deadline = absl::Milliseconds(700);
    config.signal_max_streams_per_principal = 3;
    config.signal_max_queued_bytes = 256 * 1024;
    config.signal_relay_rate = 0;
    config.credential_recheck_interval = absl::Milliseconds(500);
  }

  std::unique_ptr<SignalClient> Member(const std::string& token = kTestAdminKey) {
    auto client = std::make_unique<SignalClient>(Channel(), token);
    absl::Status identified = client->Identify();
    EXPECT_TRUE(identified.ok()) << identified;
    return client;
  }

  double Ended(const std::string& reason) {
    absl::StatusOr<PrometheusText> scraped = ScrapeMetrics(control_->metrics_port());
    EXPECT_TRUE(scraped.ok()) << scraped.status();
    return scraped.ok() ? scraped->Value("warden_signal_streams_ended_total", {{"reason", reason}})
                        : -1;
  }

  // alice, logged in: her access token and login family.
  v1::LoginResponse LogIn(const std::string& username = "alice") {
    FleetClient fleet(Channel(), kTestAdminKey);
    user_ = fleet.CreateUser(username, 3, v1::EVICT_OLDEST, 0, kPassword);
    auto sessions = v1::SessionService::NewStub(Channel());
    v1::LoginRequest login;
    login.set_username(username);
    login.set_password(kPassword);
    v1::LoginResponse tokens;
    grpc::ClientContext context;
    grpc::Status status = sessions->Login(&context, login, &tokens);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return tokens;
  }

  v1::User user_;
};

TEST_F(SignalLimitsTest, SilentStreamsAreEndedAtTheAuthenticationDeadline) {
  // No header and no authenticate message.
  SignalClient silent(Channel(), "");
  // Authenticated, but never answers the challenge.
  SignalClient unidentified(Channel(), kTestAdminKey);
  ASSERT_TRUE(unidentified.NextEvent(v1::SignalEvent::kChallenge).has_value());
  auto honest = Member();
  for (SignalClient* late : {&silent, &unidentified}) {
    std::optional<grpc::Status> ended = late->WaitEnded(absl::Seconds(5));
    ASSERT_TRUE(ended.has_value()) << "a silent stream outlived the deadline";
    EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);
    EXPECT_NE(ended->error_message().find("within"), std::string::npos) << ended->error_message();
  }
  EXPECT_EQ(Ended("auth_deadline"), 2);
  // An identified stream is past the deadline too, and goes on.
  EXPECT_TRUE(honest->CreateRoom("still here").ok());
}

TEST_F(SignalLimitsTest, OneStreamMoreThanAPrincipalMayHoldIsRefused) {
  std::vector<std::unique_ptr<SignalClient>> held;
  for (int i = 0; i < 3; ++i) held.push_back(Member());
  SignalClient extra(Channel(), kTestAdminKey);
  std::optional<grpc::Status> ended = extra.WaitEnded();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(ended->error_message().find("key:bootstrap already has 3 signalling streams"),
            std::string::npos)
      << ended->error_message();
  EXPECT_EQ(Ended("too_many_streams"), 1);
  // Another principal is not counted against this one.
  v1::LoginResponse alice = LogIn();
  auto other = Member(alice.access_token());
  EXPECT_TRUE(other->CreateRoom("alice's").ok());
  // Once one of the three goes, a new stream fits.
  ASSERT_TRUE(held.back()->Close().ok());
  held.pop_back();
  EXPECT_TRUE(WaitFor([&] {
    SignalClient again(Channel(), kTestAdminKey);
    return again.Identify().ok();
  }));
}

TEST_F(SignalLimitsTest, AReaderThatFallsBehindIsEndedWhileOthersGoOn) {
  auto sender = Member();
  // The slow member's events reach it through a link that stops.
  TcpProxy link(control_->port());
  auto slow =
      std::make_unique<SignalClient>(grpc::CreateChannel(absl::StrCat("127.0.0.1:", link.port()),
                                                         grpc::InsecureChannelCredentials()),
                                     kTestAdminKey);
  ASSERT_TRUE(slow->Identify().ok());
  v1::LoginResponse alice = LogIn();
  auto keeping_up = Member(alice.access_token());
  absl::StatusOr<v1::RoomState> room = sender->CreateRoom("firehose");
  ASSERT_TRUE(room.ok()) << room.status();
  ASSERT_TRUE(slow->JoinRoom(room->room_id()).ok());
  ASSERT_TRUE(keeping_up->JoinRoom(room->room_id()).ok());
  link.Stall(true);
  // Relays of 16 KiB against a 256 KiB queue, until the slow member is cut
  // off (flow control holds some in the transport first).
  const std::string payload(16 * 1024, 'x');
  int sent = 0;
  int received = 0;
  while (Ended("slow_reader") < 1 && sent < 1024) {  // -1: not counted yet
    for (int i = 0; i < 16; ++i, ++sent) {
      ASSERT_TRUE(sender->Relay(room->room_id(), "", payload).ok()) << sent;
    }
    while (keeping_up->NextEvent(v1::SignalEvent::kRelayed, absl::ZeroDuration())) ++received;
  }
  EXPECT_EQ(Ended("slow_reader"), 1) << "the slow reader was kept after " << sent << " relays";
  EXPECT_TRUE(WaitFor([&] {
    while (keeping_up->NextEvent(v1::SignalEvent::kRelayed, absl::ZeroDuration())) ++received;
    return received == sent;
  })) << "the member that reads got "
      << received << " of " << sent << " relays";
  link.Stall(false);
  std::optional<grpc::Status> ended = slow->WaitEnded();
  ASSERT_TRUE(ended.has_value());
  // Nothing more reaches a client that far behind, its status included:
  // the call is cancelled (the reason is in the server's metrics).
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::CANCELLED) << ended->error_message();
  // Its membership went with it; the others go on.
  std::optional<v1::SignalEvent> left = sender->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), slow->public_key());
  EXPECT_EQ(*sender->Relay(room->room_id(), "", "after"), 1);
}

TEST_F(SignalLimitsTest, DisablingAUserEndsItsStreamsAndReleasesItsRooms) {
  v1::LoginResponse alice = LogIn();
  auto owner = Member();
  auto device = Member(alice.access_token());
  absl::StatusOr<v1::RoomState> room = owner->CreateRoom("mesh");
  ASSERT_TRUE(room.ok());
  ASSERT_TRUE(device->JoinRoom(room->room_id()).ok());

  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(user_.id());
  update.mutable_user()->set_disabled(true);
  update.mutable_update_mask()->add_paths("disabled");
  v1::User updated;
  const absl::Time disabled_at = absl::Now();
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), update, &updated).ok());
  std::optional<grpc::Status> ended = device->WaitEnded(absl::Seconds(5));
  ASSERT_TRUE(ended.has_value()) << "a disabled user's stream went on";
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ended->error_message(), "user alice is disabled");
  // Ended by the notice, not by the next periodic check.
  EXPECT_LT(absl::Now() - disabled_at, absl::Seconds(2));
  std::optional<v1::SignalEvent> left = owner->NextEvent(v1::SignalEvent::kMemberLeft);
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->member_left().member(), device->public_key());
  EXPECT_EQ(left->member_left().reason(), "disconnected");
}

TEST_F(SignalLimitsTest, RevokedOrExpiredLoginsEndTheirStreams) {
  v1::LoginResponse alice = LogIn();
  auto revoked = Member(alice.access_token());
  v1::RevokeFamilyRequest revoke;
  revoke.set_family_id(alice.family_id());
  revoke.set_reason("lost phone");
  v1::RevokeFamilyResponse revoked_families;
  ASSERT_TRUE(Admin()->RevokeFamily(Context().get(), revoke, &revoked_families).ok());
  std::optional<grpc::Status> ended = revoked->WaitEnded(absl::Seconds(5));
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(ended->error_message().find("revoked"), std::string::npos);

  // A second login runs out of lifetime while its stream is open.
  auto sessions = v1::SessionService::NewStub(Channel());
  v1::LoginRequest login;
  login.set_username("alice");
  login.set_password(kPassword);
  v1::LoginResponse again;
  grpc::ClientContext context;
  ASSERT_TRUE(sessions->Login(&context, login, &again).ok());
  auto expiring = Member(again.access_token());
  {
    pqxx::connection connection(db_->url());
    pqxx::work tx(connection);
    tx.exec_params0("UPDATE login_families SET expires_at = now() WHERE id = $1::uuid",
                    again.family_id());
    tx.commit();
  }
  ended = expiring->WaitEnded(absl::Seconds(5));
  ASSERT_TRUE(ended.has_value()) << "a stream outlived its login";
  EXPECT_EQ(ended->error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(ended->error_message().find("expired"), std::string::npos);
  // The API key's stream is not affected.
  auto admin_member = Member();
  EXPECT_TRUE(admin_member->CreateRoom("unaffected").ok());
}

}  // namespace
}  // namespace warden::testing
