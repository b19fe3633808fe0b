#pragma once

// Serves a Registry's exposition at GET /metrics over plain HTTP (cpp-httplib),
// on its own small thread pool, so a slow scraper never touches gRPC threads.
// The address is "host:port", "[v6]:port" or ":port" (all interfaces);
// port 0 picks a free port (see port()).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_listener.h"
#include "common/metrics.h"

namespace warden::metrics {

class MetricsServer {
 public:
  // Binds at once, so a taken port is an error at startup, not later.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                              const Registry& registry);
  ~MetricsServer();  // stops and joins

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;

 private:
  explicit MetricsServer(std::unique_ptr<HttpListener> listener);

  std::unique_ptr<HttpListener> listener_;
};

}  // namespace warden::metrics
