#include "controlplane/health_monitor.h"

#include <grpcpp/health_check_service_interface.h>

#include "common/logging.h"

namespace warden::control {
namespace {

const logging::Logger Log("control.health");

}  // namespace

HealthMonitor::HealthMonitor(store::Database& db, grpc::HealthCheckServiceInterface* health,
                             std::vector<std::string> services, absl::Duration interval,
                             std::function<void(bool serving)> on_change)
    : db_(db),
      health_(health),
      services_(std::move(services)),
      interval_(interval),
      on_change_(std::move(on_change)) {}

HealthMonitor::~HealthMonitor() {
  stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::Start() {
  CheckOnce();
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) CheckOnce();
  });
}

void HealthMonitor::CheckOnce() {
  // Before the ping: a hung primary's failover is over by the time calls
  // waiting on it are found, and they fail over with it.
  db_.AbandonHungCalls();
  for (store::Database* other : guarded_) other->AbandonHungCalls();
  const bool up = db_.Ping().ok();
  if (known_ && up == serving_.load()) return;
  known_ = true;
  serving_.store(up);
  db_.SetReachable(up);
  if (up) {
    Log()->info("database reachable: serving");
  } else {
    Log()->error("database unreachable: not serving");
  }
  if (health_ != nullptr) {
    for (const std::string& service : services_) health_->SetServingStatus(service, up);
  }
  if (on_change_) on_change_(up);
}

}  // namespace warden::control
