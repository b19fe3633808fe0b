#include "common/metrics_server.h"

#include <httplib.h>

namespace warden::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                                    const Registry& registry,
                                                                    std::function<bool()> ready) {
  // Scrapes are rare and cheap: two threads, not httplib's default of one per core.
  absl::StatusOr<std::unique_ptr<HttpListener>> listener = HttpListener::Start(
      address, "/metrics", 2, [&registry, ready = std::move(ready)](httplib::Server& server) {
        server.Get("/metrics", [&registry](const httplib::Request&, httplib::Response& response) {
          response.set_content(registry.Expose(), kContentType);
        });
        server.Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
          response.set_content("ok\n", "text/plain");
        });
        server.Get("/readyz", [ready](const httplib::Request&, httplib::Response& response) {
          const bool is_ready = !ready || ready();
          response.status = is_ready ? 200 : 503;
          response.set_content(is_ready ? "ready\n" : "not ready\n", "text/plain");
        });
      });
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<MetricsServer>(new MetricsServer(*std::move(listener)));
}

MetricsServer::MetricsServer(std::unique_ptr<HttpListener> listener)
    : listener_(std::move(listener)) {}

MetricsServer::~MetricsServer() = default;

int MetricsServer::port() const { return listener_->port(); }

}  // namespace warden::metrics
