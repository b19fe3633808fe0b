#include "agent/agent.h"

#include <unistd.h>

#include <utility>

#include "agent/link/control_endpoints.h"
#include "agent/link/control_link.h"
#include "agent/link/enrollment.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/status_macros.h"

namespace warden::agent {
namespace {

const logging::Logger Log("agent.main");

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const AgentConfig& config) {
  if (!config.insecure) return tls::MakeChannelCredentials(config.tls_files);
  if (!config.tls_files.ca.empty() || !config.tls_files.cert.empty()) {
    return absl::InvalidArgumentError("--insecure cannot be combined with --ca, --cert or --key");
  }
  Log()->warn(
      "connecting in PLAINTEXT (--insecure): the node credential crosses the network "
      "unencrypted");
  return grpc::InsecureChannelCredentials();
}

std::string HostName() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(AgentConfig config) {
  config.drivers.state_dir = config.state_dir;
  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                          ChannelCredentials(config));
  // The registry lives in the agent, so the drivers are made once it exists.
  std::unique_ptr<Agent> agent(new Agent(std::move(config), {}, std::move(credentials)));
  WARDEN_ASSIGN_OR_RETURN(agent->drivers_, MakeDrivers(agent->config_.drivers, agent->metrics_));
  std::vector<Driver*> pointers;
  for (const std::unique_ptr<Driver>& driver : agent->drivers_) {
    agent->driver_names_.push_back(driver->name());
    pointers.push_back(driver.get());
  }
  if (pointers.empty()) Log()->warn("no --driver given: this agent carries no sessions");
  agent->core_ = std::make_unique<AgentCore>(agent->config_.core, std::move(pointers),
                                             RealClock::Get(), agent->metrics_);
  return agent;
}

Agent::Agent(AgentConfig config, std::vector<std::unique_ptr<Driver>> drivers,
             std::shared_ptr<grpc::ChannelCredentials> credentials)
    : config_(std::move(config)),
      drivers_(std::move(drivers)),
      channel_credentials_(std::move(credentials)) {}

Agent::~Agent() { Stop(); }

absl::Status Agent::Start() {
  const std::string host = HostName();
  v1::NodeFacts facts;
  facts.set_hostname(host);
  facts.set_agent_version(config_.version);
  WARDEN_ASSIGN_OR_RETURN(std::vector<std::string> targets, ParseControlTargets(config_.control));
  absl::StatusOr<std::string> credential =
      EnsureCredential(config_.state_dir, config_.enroll_ticket, targets, channel_credentials_,
                       config_.server_name, facts, absl::Minutes(10));
  if (!credential.ok()) {
    return absl::Status(
        credential.status().code(),
        absl::StrCat("cannot obtain a node credential: ", credential.status().message()));
  }
  link_ = std::make_unique<ControlLink>(LinkOptions{.targets = targets,
                                                    .credential = *credential,
                                                    .agent_version = config_.version,
                                                    .drivers = driver_names_,
                                                    .channel_credentials = channel_credentials_,
                                                    .server_name = config_.server_name},
                                        *core_, metrics_);
  core_->SetControlClient(link_.get());
  for (const std::unique_ptr<Driver>& driver : drivers_) {
    if (absl::Status started = driver->Start(*core_); !started.ok()) {
      return absl::Status(started.code(), absl::StrCat("driver ", driver->name(),
                                                       " cannot start: ", started.message()));
    }
  }
  if (!config_.metrics_listen.empty()) {
    // Ready while the link to a control-plane replica is up (a DaemonSet's
    // rolling update waits for it); the server goes before the link.
    WARDEN_ASSIGN_OR_RETURN(metrics_server_,
                            metrics::MetricsServer::Start(config_.metrics_listen, metrics_,
                                                          [this] { return link_->up(); }));
  }
  link_->Start();
  Log()->info("warden-agent {} running node={} drivers={} fail_mode={}", config_.version,
              config_.node_name.empty() ? host : config_.node_name, driver_names_.size(),
              config_.core.fail_mode == FailMode::kOpen ? "open" : "closed");
  return absl::OkStatus();
}

void Agent::Stop() {
  if (stopped_) return;
  stopped_ = true;
  metrics_server_.reset();
  // Tunnel clients hear why they are cut off while the link can still
  // report their sessions closed.
  for (const std::unique_ptr<Driver>& driver : drivers_) {
    if (driver->EndsSessionsOnStop()) driver->Stop();
  }
  if (link_ != nullptr) link_->Stop();
  for (const std::unique_ptr<Driver>& driver : drivers_) driver->Stop();
}

}  // namespace warden::agent
