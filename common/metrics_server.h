#pragma once

// Serves a Registry's exposition at GET /metrics over plain HTTP (cpp-httplib),
// on its own small thread pool, so a slow scraper never touches gRPC threads.
// The address is "host:port", "[v6]:port" or ":port" (all interfaces);
// port 0 picks a free port (see port()).

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "common/metrics.h"

namespace httplib {
class Server;
}

namespace warden::metrics {

class MetricsServer {
 public:
  // Binds at once, so a taken port is an error at startup, not later.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              const Registry& registry);
  ~MetricsServer();  // stops and joins

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<httplib::Server> server, int port);

  std::unique_ptr<httplib::Server> server_;
  int port_;
  std::thread thread_;
};

}  // namespace warden::metrics
