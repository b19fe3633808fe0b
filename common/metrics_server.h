#pragma once

// Serves a Registry's exposition at GET /metrics over plain HTTP (cpp-httplib),
// on its own small thread pool, so a slow scraper never touches gRPC threads.
// Probes get GET /healthz (200 while the process serves) and GET /readyz (200
// while `ready` says so, else 503).
// The address is "host:port", "[address]:port" (IPv6, or either family when a
// template cannot tell which) or ":port" (all interfaces);
// port 0 picks a free port (see port()).

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_listener.h"
#include "common/metrics.h"

namespace warden::metrics {

class MetricsServer {
 public:
  // Binds at once, so a taken port is an error at startup, not later.
  // `ready` (none: always ready) is called from the server's threads.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& address, const Registry& registry, std::function<bool()> ready = nullptr);
  ~MetricsServer();  // stops and joins

  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;

 private:
  explicit MetricsServer(std::unique_ptr<HttpListener> listener);

  std::unique_ptr<HttpListener> listener_;
};

}  // namespace warden::metrics
