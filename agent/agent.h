#pragma once

// warden-agent as one component: its drivers, its core, its link to the
// control plane and its metrics endpoint, built from one configuration,
// started in order and stopped in reverse. main() parses flags into an
// AgentConfig and waits for a signal; everything else is here.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/agent_core.h"
#include "agent/drivers/driver_registry.h"
#include "common/metrics.h"
#include "common/tls.h"

namespace warden::metrics {
class MetricsServer;
}

namespace warden::agent {

class ControlLink;

struct AgentConfig {
  std::string version;
  // warden-control's host:port, or several replicas' separated by commas.
  std::string control = "127.0.0.1:50051";
  std::string node_name;                    // for the logs; the ticket names the node
  std::string state_dir = "/var/lib/warden-agent";
  std::string enroll_ticket;  // "" once the credential is kept in state_dir
  DriverConfig drivers;       // its state_dir is set from the one above
  CoreOptions core;
  tls::ClientTlsFiles tls_files;
  std::string server_name;     // "" = the host of `control`
  bool insecure = false;       // plaintext: private networks and tests
  std::string metrics_listen;  // "" = no /metrics
};

class Agent {
 public:
  // Builds the drivers and the channel credentials; nothing runs yet. An
  // error here is the configuration's.
  static absl::StatusOr<std::unique_ptr<Agent>> Create(AgentConfig config);
  ~Agent();

  // Obtains the node credential (enrolling with the ticket when there is
  // none yet), starts the drivers, the metrics endpoint and the link.
  absl::Status Start();
  // Stops in reverse order; drivers that end their sessions on stop go
  // first, while the link can still report those sessions closed.
  void Stop();

  const std::vector<std::string>& driver_names() const { return driver_names_; }

 private:
  Agent(AgentConfig config, std::vector<std::unique_ptr<Driver>> drivers,
        std::shared_ptr<grpc::ChannelCredentials> credentials);

  const AgentConfig config_;
  // Declared first: the drivers, the core and the link export to it.
  metrics::Registry metrics_;
  std::vector<std::unique_ptr<Driver>> drivers_;
  std::vector<std::string> driver_names_;
  std::shared_ptr<grpc::ChannelCredentials> channel_credentials_;
  std::unique_ptr<AgentCore> core_;
  std::unique_ptr<ControlLink> link_;
  std::unique_ptr<metrics::MetricsServer> metrics_server_;
  bool stopped_ = false;
};

}  // namespace warden::agent
