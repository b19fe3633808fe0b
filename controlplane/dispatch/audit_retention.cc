#include "controlplane/dispatch/audit_retention.h"

#include "common/logging.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.audit");

}  // namespace

AuditRetention::AuditRetention(store::AuditStore& audit, AuditRetentionOptions options,
                               metrics::Registry& metrics)
    : audit_(audit),
      options_(options),
      expired_(metrics
                   .AddCounter("warden_audit_events_expired_total",
                               "Audit events deleted by the retention sweep "
                               "(--audit-retention-days).")
                   .With({})) {}

AuditRetention::~AuditRetention() { Stop(); }

void AuditRetention::Start() {
  if (options_.retention <= absl::ZeroDuration()) {
    Log()->info("audit events are kept forever (--audit-retention-days 0)");
    return;
  }
  thread_ = std::thread([this] {
    do {
      SweepOnce();
    } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
  });
}

void AuditRetention::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int64_t AuditRetention::SweepOnce() {
  if (options_.retention <= absl::ZeroDuration()) return 0;
  int64_t total = 0;
  for (int round = 0; round < options_.max_batches && !stop_.HasBeenNotified(); ++round) {
    absl::StatusOr<int64_t> deleted = audit_.Expire(options_.retention, options_.batch);
    if (!deleted.ok()) {
      Log()->warn("audit retention sweep failed (retrying next round): {}",
                  deleted.status().message());
      break;
    }
    total += *deleted;
    expired_.Increment(static_cast<double>(*deleted));
    if (*deleted < options_.batch) break;
  }
  if (total > 0) Log()->info("audit retention: deleted {} expired events", total);
  return total;
}

}  // namespace warden::control::dispatch
