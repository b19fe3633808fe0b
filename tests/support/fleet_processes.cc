#include "tests/support/fleet_processes.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/netns_rig.h"

namespace warden::testing {

int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

namespace {

// The binary to start for `binary` with `args` to run in `netns` ("": here):
// `ip netns exec` enters the namespace and execs, so the pid is the program's.
std::string InNamespace(const std::string& binary, const std::string& netns,
                        std::vector<std::string>& args) {
  if (netns.empty()) return binary;
  args.insert(args.begin(), {"netns", "exec", netns, binary});
  return FindExecutable("ip");
}

}  // namespace

std::string FleetProcessTest::CreateFleetDatabase() {
  db_ = Cluster().CreateDatabase();
  return db_->url();
}

void FleetProcessTest::SetUp() {
  database_url_ = CreateFleetDatabase();
  char pattern[] = "/tmp/warden-fleet.XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  work_dir_ = pattern;
}

void FleetProcessTest::TearDown() {
  const bool failed = HasFailure();
  for (auto& agent : agents_) {
    if (failed && agent->process) {
      std::cerr << "----- agent " << agent->node << " log:\n" << agent->process->Log();
    }
    agent->process.reset();
  }
  for (auto& control : controls_) {
    if (failed && control->process) {
      std::cerr << "----- control " << control->name << " log:\n" << control->process->Log();
    }
    control->process.reset();
  }
  if (!work_dir_.empty()) std::filesystem::remove_all(work_dir_);
  db_.reset();
}

void FleetProcessTest::Launch(Control& control) {
  ++control.starts;
  const Placement& placement = control.placement;
  std::vector<std::string> args{
      "--insecure",
      "--listen",
      control.address(),
      "--database-url",
      placement.database_url.empty() ? database_url_ : placement.database_url,
      "--heartbeat-seconds",
      "1",
      "--replica-id",
      control.name,
      "--db-pool-size",
      "4"};
  args.insert(args.end(), control.extra_args.begin(), control.extra_args.end());
  std::string binary = InNamespace(WARDEN_CONTROL_BIN, placement.netns, args);
  control.process = std::make_unique<Process>(
      binary, std::move(args),
      std::map<std::string, std::string>{{"WARDEN_ADMIN_KEY", kTestAdminKey},
                                         {"WARDEN_ARGON2_MEMORY_KIB", "1024"},
                                         {"WARDEN_ARGON2_OPS", "1"}},
      absl::StrCat(work_dir_, "/control-", control.name, "-", control.starts, ".log"));
  ASSERT_EQ(WaitForServingPort(*control.process, absl::Seconds(30)), control.port)
      << control.process->Log();
}

FleetProcessTest::Control& FleetProcessTest::StartControl(const std::string& name,
                                                          std::vector<std::string> extra_args,
                                                          Placement placement) {
  controls_.push_back(std::make_unique<Control>());
  Control& control = *controls_.back();
  control.name = name;
  control.extra_args = std::move(extra_args);
  control.placement = std::move(placement);
  control.port = FreePort();
  Launch(control);
  return control;
}

void FleetProcessTest::RestartControl(Control& control) {
  control.process.reset();  // SIGKILL if still running
  Launch(control);
}

void FleetProcessTest::Launch(Agent& agent, const std::string& ticket) {
  ++agent.starts;
  std::string control = agent.control->address();
  for (const Control* more : agent.more_controls) absl::StrAppend(&control, ",", more->address());
  std::vector<std::string> args{"--control",     control,     "--state-dir",
                                agent.state_dir, "--driver",  absl::StrCat("memory:", agent.socket),
                                "--node-name",   agent.node,  "--admit-timeout-ms",
                                "2000",          "--insecure"};
  if (!ticket.empty()) {
    args.push_back("--enroll-ticket");
    args.push_back(ticket);
  }
  args.insert(args.end(), agent.extra_args.begin(), agent.extra_args.end());
  std::string binary = InNamespace(WARDEN_AGENT_BIN, agent.netns, args);
  agent.process = std::make_unique<Process>(
      binary, args, std::map<std::string, std::string>{},
      absl::StrCat(work_dir_, "/agent-", agent.node, "-", agent.starts, ".log"));
}

FleetProcessTest::Agent& FleetProcessTest::StartAgent(const std::string& node, Control& control,
                                                      std::vector<std::string> extra_args,
                                                      std::vector<Control*> more_controls,
                                                      std::string netns) {
  agents_.push_back(std::make_unique<Agent>());
  Agent& agent = *agents_.back();
  agent.node = node;
  agent.state_dir = absl::StrCat(work_dir_, "/state-", node);
  agent.socket = absl::StrCat(work_dir_, "/", node, ".sock");
  agent.extra_args = std::move(extra_args);
  agent.control = &control;
  agent.more_controls = std::move(more_controls);
  agent.netns = std::move(netns);
  v1::CreateEnrollmentTicketRequest request;
  request.set_node_name(node);
  // The memory driver names its users itself, as a trusted gateway would.
  request.set_trusted_authenticator(true);
  v1::CreateEnrollmentTicketResponse ticket;
  grpc::Status status =
      Admin(control)->CreateEnrollmentTicket(AdminContext().get(), request, &ticket);
  EXPECT_TRUE(status.ok()) << status.error_message();
  Launch(agent, ticket.ticket());
  EXPECT_TRUE(WaitAttached(agent)) << agent.process->Log();
  return agent;
}

void FleetProcessTest::RestartAgent(Agent& agent) {
  agent.process.reset();
  Launch(agent, "");
}

bool FleetProcessTest::WaitAttached(const Agent& agent, absl::Duration timeout) {
  return agent.process->WaitForLog("attached node=" + agent.node, timeout);
}

std::unique_ptr<v1::AdminService::Stub> FleetProcessTest::Admin(const Control& control) const {
  return v1::AdminService::NewStub(
      grpc::CreateChannel(control.address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::AgentService::Stub> FleetProcessTest::AgentApi(const Control& control) const {
  return v1::AgentService::NewStub(
      grpc::CreateChannel(control.address(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<grpc::ClientContext> FleetProcessTest::AdminContext(absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", kTestAdminKey));
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

v1::User FleetProcessTest::CreateUser(const Control& control, const std::string& username,
                                      int max_connections, int grace_seconds,
                                      v1::LimitPolicy policy) {
  v1::CreateUserRequest request;
  request.mutable_user()->set_username(username);
  request.mutable_user()->set_max_connections(max_connections);
  request.mutable_user()->set_grace_seconds(grace_seconds);
  request.mutable_user()->set_limit_policy(policy);
  v1::User user;
  grpc::Status status = Admin(control)->CreateUser(AdminContext().get(), request, &user);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return user;
}

std::unique_ptr<pqxx::connection> FleetProcessTest::Connect() const {
  // A failing-over cluster may hang or drop a connection being made: the
  // first host of a multi-host URL can be a frozen or demoted primary.
  const std::string url = absl::StrCat(
      database_url_, absl::StrContains(database_url_, '?') ? "&" : "?", "connect_timeout=2");
  for (int attempt = 1;; ++attempt) {
    try {
      return std::make_unique<pqxx::connection>(url);
    } catch (const pqxx::broken_connection&) {
      if (attempt == 10) throw;
      absl::SleepFor(absl::Milliseconds(500));
    }
  }
}

std::string FleetProcessTest::LiveSessionId(const std::string& key) const {
  std::unique_ptr<pqxx::connection> connected = Connect();
  pqxx::connection& connection = *connected;
  pqxx::nontransaction tx(connection);
  pqxx::result rows = tx.exec_params(
      "SELECT id::text FROM sessions WHERE session_key = $1 AND state = 'active'", key);
  return rows.empty() ? "" : rows[0][0].as<std::string>();
}

int64_t FleetProcessTest::Query(const std::string& sql) const {
  std::unique_ptr<pqxx::connection> connected = Connect();
  pqxx::connection& connection = *connected;
  pqxx::nontransaction tx(connection);
  return tx.exec1(sql)[0].as<int64_t>();
}

}  // namespace warden::testing
