#pragma once

// Watches PostgreSQL and tells the gRPC health service: NOT_SERVING while the
// database is unreachable, SERVING again when it answers, without a restart.
// Each round also ends calls stuck on a hung server (Database::AbandonHungCalls).

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "controlplane/store/database.h"

namespace grpc {
class HealthCheckServiceInterface;
}

namespace warden::control {

// The health service name that answers SERVING for as long as the process
// serves, whatever the database does: for liveness probes, so that a
// database outage makes replicas unready but never gets them all restarted.
inline constexpr char kLivenessHealthService[] = "liveness";

class HealthMonitor {
 public:
  // `services`: the names whose status follows the database ("" = overall).
  // `on_change` (optional) hears every change, from the monitor's thread.
  HealthMonitor(store::Database& db, grpc::HealthCheckServiceInterface* health,
                std::vector<std::string> services, absl::Duration interval,
                std::function<void(bool serving)> on_change = {});
  ~HealthMonitor();

  // Calls waiting on a hung `other` (the pool of reads on a standby) are
  // abandoned each round too; its health is not this monitor's, so it is
  // not pinged. Before Start.
  void AlsoGuard(store::Database& other) { guarded_.push_back(&other); }

  // Checks once now (so the first answer is known before serving), then
  // keeps checking on a thread until destroyed.
  void Start();
  bool serving() const { return serving_.load(); }

 private:
  void CheckOnce();

  store::Database& db_;
  std::vector<store::Database*> guarded_;
  grpc::HealthCheckServiceInterface* health_;
  const std::vector<std::string> services_;
  const absl::Duration interval_;
  const std::function<void(bool serving)> on_change_;
  std::atomic<bool> serving_{false};
  bool known_ = false;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control
