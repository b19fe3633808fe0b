// Enrolment tickets, the Attach stream's rules, and WatchEvents, against a
// real PostgreSQL through gRPC (in process).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class AgentLinkApiTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  grpc::Status CreateTicket(const std::string& node, int ttl, std::string* ticket) {
    v1::CreateEnrollmentTicketRequest request;
    request.set_node_name(node);
    request.set_ttl_seconds(ttl);
    v1::CreateEnrollmentTicketResponse response;
    grpc::Status status =
        fleet_->admin().CreateEnrollmentTicket(fleet_->AdminContext().get(), request, &response);
    if (ticket != nullptr) *ticket = response.ticket();
    return status;
  }

  grpc::Status Enroll(const std::string& ticket, v1::EnrollResponse* response) {
    v1::EnrollRequest request;
    request.set_ticket(ticket);
    request.mutable_facts()->set_hostname("vpn-host");
    request.mutable_facts()->set_agent_version("test");
    grpc::ClientContext context;
    return fleet_->agent().Enroll(&context, request, response);
  }

  void Exec(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    tx.exec(sql);
  }
  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  // Opens Attach as `credential`, sends `first`, returns the final status
  // after reading until the server ends the stream (or `welcome` arrives,
  // then `then` is sent).
  grpc::Status AttachAndSend(const std::string& credential, const v1::AgentMessage& first,
                             const v1::AgentMessage* then = nullptr, bool* welcomed = nullptr) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + credential);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = fleet_->agent().Attach(&context);
    stream->Write(first);
    v1::ControlMessage message;
    while (stream->Read(&message)) {
      if (message.has_welcome()) {
        if (welcomed != nullptr) *welcomed = true;
        if (then != nullptr) stream->Write(*then);
      }
    }
    return stream->Finish();
  }

  std::unique_ptr<FleetClient> fleet_;
};

v1::AgentMessage Hello() {
  v1::AgentMessage message;
  message.mutable_hello()->set_agent_version("test");
  return message;
}

TEST_F(AgentLinkApiTest, EnrolmentTicketsAreSingleUseAndStoredHashed) {
  std::string ticket;
  ASSERT_TRUE(CreateTicket("vpn-1", 0, &ticket).ok());
  EXPECT_TRUE(secrets::LooksLikeToken(ticket, "wet_"));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM tickets WHERE hash = sha256('", ticket,
                               "'::bytea) AND expires_at > now() + interval '9 minutes'")),
            1);
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(Enroll(ticket, &enrolled).ok());
  EXPECT_EQ(enrolled.node_name(), "vpn-1");
  EXPECT_TRUE(secrets::LooksLikeToken(enrolled.credential(), "wnc_"));
  EXPECT_EQ(Count("SELECT count(*) FROM nodes WHERE name = 'vpn-1' AND hostname = 'vpn-host'"), 1);

  v1::EnrollResponse again;
  grpc::Status reused = Enroll(ticket, &again);
  EXPECT_EQ(reused.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(reused.error_message(), HasSubstr("already used or expired"));
  EXPECT_EQ(Enroll("wet_not-a-ticket", &again).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Enroll(secrets::NewToken("wet_"), &again).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AgentLinkApiTest, ExpiredTicketsAreRefused) {
  std::string ticket;
  ASSERT_TRUE(CreateTicket("vpn-2", 60, &ticket).ok());
  Exec("UPDATE tickets SET expires_at = now() - interval '1 second'");
  v1::EnrollResponse response;
  EXPECT_EQ(Enroll(ticket, &response).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Count("SELECT count(*) FROM nodes"), 0);
}

TEST_F(AgentLinkApiTest, TwoEnrolmentsWithOneTicketHaveOneWinner) {
  for (int round = 0; round < 10; ++round) {
    std::string ticket;
    ASSERT_TRUE(CreateTicket(absl::StrCat("race-", round), 0, &ticket).ok());
    std::atomic<int> winners{0}, refused{0};
    std::vector<std::thread> racers;
    for (int i = 0; i < 2; ++i) {
      racers.emplace_back([&] {
        v1::EnrollResponse response;
        grpc::Status status = Enroll(ticket, &response);
        if (status.ok()) ++winners;
        if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) ++refused;
      });
    }
    for (auto& racer : racers) racer.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(refused.load(), 1) << "round " << round;
  }
}

TEST_F(AgentLinkApiTest, OutstandingTicketsAreCapped) {
  Exec(
      "INSERT INTO tickets (hash, kind, node_name, created_by, expires_at) "
      "SELECT sha256(g::text::bytea), 'enroll', 'n' || g, 'test', now() + interval '1 hour' "
      "FROM generate_series(1, 1000) g");
  grpc::Status full = CreateTicket("one-too-many", 0, nullptr);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(full.error_message(), HasSubstr("1000"));
  // Expired ones are cleared on the way and no longer count.
  Exec("UPDATE tickets SET expires_at = now() - interval '1 second' WHERE node_name <> 'n1'");
  EXPECT_TRUE(CreateTicket("fits-now", 0, nullptr).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM tickets"), 2);
}

TEST_F(AgentLinkApiTest, TicketRequestsAreValidated) {
  EXPECT_EQ(CreateTicket("Bad Name", 0, nullptr).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status too_long = CreateTicket("ok-name", 86401, nullptr);
  EXPECT_EQ(too_long.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_long.error_message(), HasSubstr("ttl_seconds"));
  EXPECT_EQ(Count("SELECT count(*) FROM tickets"), 0);
}

TEST_F(AgentLinkApiTest, AttachRefusesBadCredentials) {
  EXPECT_EQ(AttachAndSend(secrets::NewToken("wnc_"), Hello()).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(AttachAndSend("", Hello()).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AgentLinkApiTest, MalformedStreamMessagesEndOnlyThatStream) {
  TestNode node = fleet_->CreateNode("vpn-3");
  v1::AgentMessage heartbeat;
  heartbeat.mutable_heartbeat();
  grpc::Status first = AttachAndSend(node.credential, heartbeat);
  EXPECT_EQ(first.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(first.error_message(), HasSubstr("first message on Attach must be Hello"));

  v1::AgentMessage bad_result;
  bad_result.mutable_result()->set_command_id(0);
  bool welcomed = false;
  grpc::Status later = AttachAndSend(node.credential, Hello(), &bad_result, &welcomed);
  EXPECT_TRUE(welcomed);
  EXPECT_EQ(later.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(later.error_message(), HasSubstr("command_id"));

  v1::AgentMessage bad_inventory = Hello();
  bad_inventory.mutable_hello()->add_inventory()->set_protocol(v1::OPENVPN);
  grpc::Status inventory = AttachAndSend(node.credential, bad_inventory);
  EXPECT_EQ(inventory.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(inventory.error_message(), HasSubstr("hello.inventory[0].session_key"));

  // The server is unharmed.
  EXPECT_EQ(HealthStatus(), grpc::health::v1::HealthCheckResponse::SERVING);
  v1::Node fetched;
  v1::GetNodeRequest get;
  get.set_name("vpn-3");
  ASSERT_TRUE(fleet_->admin().GetNode(fleet_->AdminContext().get(), get, &fetched).ok());
  EXPECT_EQ(fetched.attach_epoch(), 1);  // only the stream with a valid Hello attached
}

TEST_F(AgentLinkApiTest, WatchEventsStreamsLiveAndResumes) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kTestAdminKey));
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::WatchEventsRequest request;
  request.set_action("user.");
  auto watch = fleet_->admin().WatchEvents(&context, request);
  // The subscription starts "from now": it is in place once an event made
  // after the call reaches it.
  std::atomic<bool> delivered{false};
  std::thread probe_reader([&] {
    v1::WatchEventsResponse probe;
    while (!delivered && watch->Read(&probe)) delivered = probe.has_event();
  });
  int probes = 0;
  const bool in_place = WaitFor([&] {
    if (!delivered) fleet_->CreateUser(absl::StrCat("probe-", probes++), 0);
    return delivered.load();
  });
  if (!in_place) context.TryCancel();
  probe_reader.join();
  ASSERT_TRUE(in_place) << "the watch never delivered an event";
  fleet_->CreateUser("watched", 0);
  fleet_->CreateNode("not-a-user-event");
  const auto is_probe = [](const auto& event) {
    const auto& fields = event.details().fields();
    const auto username = fields.find("username");
    return username != fields.end() && absl::StartsWith(username->second.string_value(), "probe-");
  };
  v1::WatchEventsResponse response;
  do {  // past the probes made while the first one travelled
    ASSERT_TRUE(watch->Read(&response));
  } while (!response.has_event() || is_probe(response.event()));
  EXPECT_EQ(response.event().action(), "user.create");
  EXPECT_EQ(response.event().details().fields().at("username").string_value(), "watched");
  const int64_t seen = response.event().id();
  context.TryCancel();
  watch->Finish();

  fleet_->CreateUser("later", 0);
  grpc::ClientContext resume_context;
  resume_context.AddMetadata("authorization", absl::StrCat("Bearer ", kTestAdminKey));
  resume_context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  request.set_after_id(seen);
  auto resumed = fleet_->admin().WatchEvents(&resume_context, request);
  do {
    ASSERT_TRUE(resumed->Read(&response));
  } while (!response.has_event());
  EXPECT_GT(response.event().id(), seen);
  EXPECT_EQ(response.event().details().fields().at("username").string_value(), "later");
  resume_context.TryCancel();
  resumed->Finish();

  grpc::ClientContext anonymous;
  auto refused = fleet_->admin().WatchEvents(&anonymous, request);
  EXPECT_FALSE(refused->Read(&response));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace warden::testing
