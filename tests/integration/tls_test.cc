// TLS on the wire: a control plane with a server certificate, the agent API
// on a port of its own with mTLS, certificates from a CA the test makes.

#include "common/tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/link/enrollment.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/test_ca.h"
#include "tests/support/wait.h"

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
    // A copy of its own, laid out as the kubelet mounts a Secret: the files
    // are symlinks into ..data, itself a symlink to a versioned directory,
    // so that an update replaces both at once.
    served_dir_ = std::filesystem::temp_directory_path() /
                  absl::StrCat("warden-tls-", getpid(), "-", reinterpret_cast<uintptr_t>(this));
    std::filesystem::create_directories(served_dir_);
    Publish(*server_, "v1");
    std::filesystem::create_symlink("..data/tls.crt", served_dir_ / "tls.crt");
    std::filesystem::create_symlink("..data/tls.key", served_dir_ / "tls.key");
    config.tls_cert = served_dir_ / "tls.crt";
    config.tls_key = served_dir_ / "tls.key";
    config.tls_reload_interval = absl::Seconds(1);
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
  void TearDown() override {
    ControlPlaneTest::TearDown();
    if (!served_dir_.empty()) std::filesystem::remove_all(served_dir_);
  }
  FleetClient Fleet() const { return FleetClient(TlsChannel(control_->port()), kTestAdminKey); }
  // The certificate the admin port presents to a new connection ("" when
  // the handshake or the call fails).
  std::string ServedCertificate() const {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    auto credentials = tls::MakeChannelCredentials({.ca = ca_->ca_cert()});
    auto health = grpc::health::v1::Health::NewStub(grpc::CreateCustomChannel(
        absl::StrCat("127.0.0.1:", control_->port()), *credentials, args));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckResponse response;
    if (!health->Check(&context, {}, &response).ok()) return "";
    std::vector<grpc::string_ref> pem =
        context.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
    return pem.empty() ? "" : std::string(pem[0].data(), pem[0].size());
  }
  // Writes `files` into a new version directory and points ..data at it
  // with one rename, as the kubelet updates a Secret volume.
  void Publish(const TestCa::Files& files, const std::string& version) {
    std::filesystem::create_directories(served_dir_ / version);
    std::filesystem::copy_file(files.cert, served_dir_ / version / "tls.crt");
    std::filesystem::copy_file(files.key, served_dir_ / version / "tls.key");
    std::filesystem::create_symlink(version, served_dir_ / "..data_tmp");
    std::filesystem::rename(served_dir_ / "..data_tmp", served_dir_ / "..data");
  }

  std::filesystem::path served_dir_;
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

// cert-manager renews a certificate by rewriting its Secret, which the
// kubelet swaps in whole: new connections get the new certificate without a
// restart, and no handshake fails on the way.
TEST_F(TlsTest, ARenewedCertificateIsServedWithoutARestart) {
  const std::string before = ServedCertificate();
  ASSERT_EQ(before, TestCa::Read(served_dir_ / "tls.crt"));
  absl::StatusOr<TestCa::Files> renewed = ca_->Server();
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  const std::string renewed_cert = TestCa::Read(renewed->cert);
  ASSERT_NE(renewed_cert, before);

  std::atomic<bool> stop{false};
  std::atomic<int> handshakes{0};
  std::atomic<int> failed{0};
  std::thread clients([&] {
    while (!stop.load()) {
      (ServedCertificate().empty() ? failed : handshakes).fetch_add(1);
    }
  });
  Publish(*renewed, "v2");
  EXPECT_TRUE(WaitFor([&] { return ServedCertificate() == renewed_cert; }, absl::Seconds(10)));
  stop.store(true);
  clients.join();
  EXPECT_GT(handshakes.load(), 0);
  EXPECT_EQ(failed.load(), 0) << "of " << handshakes.load() + failed.load() << " connections";
  EXPECT_EQ(Fleet().CreateUser("renewed", 1).username(), "renewed");
}

TEST(TlsConfigTest, AKeyThatIsNotTheCertificatesIsRefusedAtStart) {
  if (std::string why = TestCa::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
  TestCa ca;
  ASSERT_TRUE(ca.Create().ok());
  absl::StatusOr<TestCa::Files> server = ca.Server();
  absl::StatusOr<TestCa::Files> other = ca.Client("someone-else");
  ASSERT_TRUE(server.ok() && other.ok());
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials = tls::MakeServerCredentials(
      {.cert = server->cert, .key = other->key, .client_ca = ""}, tls::ClientCertificates::kNone);
  ASSERT_FALSE(credentials.ok());
  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(credentials.status().message()),
              HasSubstr("is not the private key of the certificate"));
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
