// TLS on the wire: a control plane with a server certificate, the agent API
// on a port of its own with mTLS, certificates from a CA the test makes.

#include "common/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/link/enrollment.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/test_ca.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ControlPlaneTest {
 protected:
  static void SetUpTestSuite() {
    if (!TestCa::UnusableReason().empty()) return;
    ca_ = new TestCa();
    ASSERT_TRUE(ca_->Create().ok());
    absl::StatusOr<TestCa::Files> server = ca_->Server();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = new TestCa::Files(*server);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete ca_;
    server_ = nullptr;
    ca_ = nullptr;
  }
  void SetUp() override {
    if (std::string why = TestCa::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(server_, nullptr);
    ControlPlaneTest::SetUp();
  }
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.insecure = false;
    config.tls_cert = server_->cert;
    config.tls_key = server_->key;
    config.client_ca = ca_->ca_cert();
    config.admin_listen = "127.0.0.1:0";
    config.agent_listen = "127.0.0.1:0";
  }

  // Made the way warden-agent makes its channel (--ca, --cert, --key).
  static std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& client = "") {
    tls::ClientTlsFiles files{.ca = ca_->ca_cert()};
    if (!client.empty()) {
      absl::StatusOr<TestCa::Files> issued = ca_->Client(client);
      EXPECT_TRUE(issued.ok()) << issued.status();
      files.cert = issued->cert;
      files.key = issued->key;
    }
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        tls::MakeChannelCredentials(files);
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return grpc::CreateChannel(absl::StrCat("127.0.0.1:", port), *credentials);
  }
  FleetClient Fleet() const { return FleetClient(TlsChannel(control_->port()), kTestAdminKey); }
  // The agent API over mTLS with a certificate naming `client` ("" = none).
  std::unique_ptr<v1::AgentService::Stub> AgentApi(const std::string& client) const {
    return v1::AgentService::NewStub(TlsChannel(control_->agent_port(), client));
  }
  static grpc::Status AdmitAs(v1::AgentService::Stub& agent, const TestNode& node) {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key("ovpn:tls:1");
    request.mutable_asserted_user()->set_username("alice");
    v1::AdmitResponse response;
    return agent.Admit(FleetClient::NodeContext(node.credential).get(), request, &response);
  }

  static TestCa* ca_;
  static TestCa::Files* server_;
};

TestCa* TlsTest::ca_ = nullptr;
TestCa::Files* TlsTest::server_ = nullptr;

TEST_F(TlsTest, PlaintextClientsAreRefusedAndTlsClientsServed) {
  ASSERT_NE(control_->port(), control_->agent_port());
  v1::ListUsersRequest request;
  v1::ListUsersResponse response;
  auto plaintext = v1::AdminService::NewStub(Channel());  // the fixture's plaintext channel
  grpc::Status refused = plaintext->ListUsers(Context().get(), request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();

  auto tls = v1::AdminService::NewStub(TlsChannel(control_->port()));
  grpc::Status served = tls->ListUsers(Context().get(), request, &response);
  EXPECT_TRUE(served.ok()) << served.error_message();
}

TEST_F(TlsTest, TheAdminApiIsNotServedOnTheAgentPort) {
  auto admin = v1::AdminService::NewStub(TlsChannel(control_->agent_port(), "ams-1"));
  v1::ListUsersResponse response;
  EXPECT_EQ(admin->ListUsers(Context().get(), v1::ListUsersRequest(), &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(TlsTest, AnAgentNeedsACertificateThatNamesItsNode) {
  FleetClient fleet = Fleet();
  fleet.CreateUser("alice", 5);
  TestNode node = fleet.CreateNode("ams-1");

  grpc::Status without = AdmitAs(*AgentApi(""), node);
  EXPECT_EQ(without.error_code(), grpc::StatusCode::UNAVAILABLE) << without.error_message();

  grpc::Status other = AdmitAs(*AgentApi("fra-1"), node);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED) << other.error_message();
  EXPECT_THAT(other.error_message(), HasSubstr("not node ams-1"));

  grpc::Status own = AdmitAs(*AgentApi("ams-1"), node);
  EXPECT_TRUE(own.ok()) << own.error_message();
}

TEST_F(TlsTest, EnrolmentChecksTheCertificateAndKeepsTheTicketOnRefusal) {
  FleetClient fleet = Fleet();
  v1::CreateEnrollmentTicketRequest create;
  create.set_node_name("ams-2");
  v1::CreateEnrollmentTicketResponse ticket;
  ASSERT_TRUE(
      fleet.admin().CreateEnrollmentTicket(fleet.AdminContext().get(), create, &ticket).ok());
  v1::EnrollRequest enroll;
  enroll.set_ticket(ticket.ticket());
  v1::EnrollResponse enrolled;
  grpc::ClientContext wrong;
  grpc::Status refused = AgentApi("fra-1")->Enroll(&wrong, enroll, &enrolled);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::PERMISSION_DENIED) << refused.error_message();
  grpc::ClientContext right;
  grpc::Status accepted = AgentApi("ams-2")->Enroll(&right, enroll, &enrolled);
  EXPECT_TRUE(accepted.ok()) << accepted.error_message();
  EXPECT_EQ(enrolled.node_name(), "ams-2");
}

TEST_F(TlsTest, TheAgentEnrolsOverMutualTlsWithItsOwnCredentials) {
  FleetClient fleet = Fleet();
  v1::CreateEnrollmentTicketRequest create;
  create.set_node_name("ams-3");
  v1::CreateEnrollmentTicketResponse ticket;
  ASSERT_TRUE(
      fleet.admin().CreateEnrollmentTicket(fleet.AdminContext().get(), create, &ticket).ok());
  absl::StatusOr<TestCa::Files> client = ca_->Client("ams-3");
  ASSERT_TRUE(client.ok());
  auto credentials = tls::MakeChannelCredentials(
      tls::ClientTlsFiles{.ca = ca_->ca_cert(), .cert = client->cert, .key = client->key});
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  char state_dir[] = "/tmp/warden-tls-agent.XXXXXX";
  ASSERT_NE(::mkdtemp(state_dir), nullptr);
  // "localhost" is what the server certificate names; the agent dials an IP.
  absl::StatusOr<std::string> credential = agent::EnsureCredential(
      state_dir, ticket.ticket(), {absl::StrCat("127.0.0.1:", control_->agent_port())},
      *credentials, "localhost", v1::NodeFacts(), absl::Seconds(20));
  std::filesystem::remove_all(state_dir);
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_TRUE(absl::StartsWith(*credential, "wnc_"));

  EXPECT_FALSE(tls::MakeChannelCredentials(
                   tls::ClientTlsFiles{.ca = "/nonexistent.pem", .cert = "", .key = ""})
                   .ok());
}

TEST(TlsConfigTest, PlaintextNeedsToBeAskedFor) {
  control::ControlPlaneConfig config;
  config.database_url = "postgresql://unused";
  auto started = control::ControlPlane::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("--insecure"));
  config.insecure = true;
  config.tls_cert = "/nonexistent.pem";
  started = control::ControlPlane::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(std::string(started.status().message()), HasSubstr("cannot be combined"));
}

}  // namespace
}  // namespace warden::testing
