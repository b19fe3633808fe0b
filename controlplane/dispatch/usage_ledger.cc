#include "controlplane/dispatch/usage_ledger.h"

#include <string>
#include <utility>

#include "absl/time/civil_time.h"
#include "common/logging.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/store/node_store.h"
#include "controlplane/usage/quota_rule.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.usage");

constexpr int kSweepPage = 500;

}  // namespace

UsageLedger::UsageLedger(UsageLedgerOptions options, store::UsageStore& usage, Commands& commands,
                         const Clock& clock, metrics::Registry& metrics)
    : options_(options),
      usage_(usage),
      commands_(commands),
      clock_(clock),
      traffic_bytes_(metrics.AddCounter(
          "warden_traffic_bytes_total",
          "Bytes counted by the usage ledger on this replica, by direction (rx: from clients, "
          "tx: to clients) and protocol.",
          {"direction", "protocol"})),
      samples_(metrics.AddCounter(
          "warden_usage_samples_total",
          "Usage samples taken from agents' streams, by result (applied: committed, whether "
          "they counted bytes or were repeats; failed: their batch could not be written).",
          {"result"})),
      quota_actions_(metrics.AddCounter(
          "warden_quota_actions_total",
          "Quota settlements, by action (announced a threshold, held a user, released one).",
          {"action"})),
      apply_seconds_(metrics
                         .AddHistogram("warden_usage_apply_seconds",
                                       "Time one batch of usage samples took to commit.", {})
                         .With({})) {
  for (const char* protocol : {"wireguard", "openvpn", "quic"}) {
    traffic_bytes_.With({"rx", protocol});
    traffic_bytes_.With({"tx", protocol});
  }
  samples_.With({"applied"});
  samples_.With({"failed"});
  metrics.AddGaugeFunc("warden_usage_samples_queued",
                       "Usage samples waiting for the ledger's next batch.", [this] {
                         absl::MutexLock lock(&mu_);
                         return static_cast<double>(queue_.size());
                       });
}

UsageLedger::~UsageLedger() { Stop(); }

void UsageLedger::Start() {
  thread_ = std::thread([this] { Run(); });
}

void UsageLedger::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool UsageLedger::Submit(model::UsageReport report, Applied applied) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || queue_.size() >= options_.max_queued) return false;
  queue_.push_back(Pending{.report = std::move(report), .applied = std::move(applied)});
  return true;
}

void UsageLedger::Counted(store::LedgerUpdate update) {
  if (update.traffic.empty() && update.standings.empty()) return;
  absl::MutexLock lock(&mu_);
  counted_.push_back(std::move(update));
}

void UsageLedger::Run() {
  absl::Time next_sweep = clock_.Now();
  while (true) {
    std::vector<Pending> batch;
    std::vector<store::LedgerUpdate> counted;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty() || !counted_.empty();
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready),
                           std::max(absl::ZeroDuration(), next_sweep - clock_.Now()));
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      counted.swap(counted_);
      if (stopping_ && batch.empty() && counted.empty()) return;
    }
    if (!batch.empty()) ApplyBatch(std::move(batch));
    for (const store::LedgerUpdate& update : counted) {
      Export(update.traffic);
      SettleChanged(update.standings);
    }
    if (clock_.Now() >= next_sweep) {
      Sweep();
      next_sweep = clock_.Now() + options_.sweep_interval;
    }
  }
}

void UsageLedger::ApplyBatch(std::vector<Pending> batch) {
  std::vector<model::UsageReport> reports;
  reports.reserve(batch.size());
  for (const Pending& pending : batch) reports.push_back(pending.report);
  const absl::Time start = clock_.Now();
  absl::StatusOr<store::LedgerUpdate> update = usage_.Apply(reports);
  apply_seconds_.ObserveDuration(clock_.Now() - start);
  samples_.With({update.ok() ? "applied" : "failed"}).Increment(static_cast<double>(batch.size()));
  if (!update.ok()) {
    Log()->warn("cannot apply {} usage samples: {}", batch.size(), update.status().message());
  }
  // The streams read on before quotas are settled: settling waits on the
  // users' rows, which their admissions hold.
  for (Pending& pending : batch) std::move(pending.applied)();
  if (!update.ok()) return;
  Export(update->traffic);
  SettleChanged(update->standings);
}

void UsageLedger::Export(const std::vector<model::TrafficCount>& traffic) {
  for (const model::TrafficCount& count : traffic) {
    const std::string protocol(store::ProtocolName(count.protocol));
    traffic_bytes_.With({"rx", protocol}).Increment(static_cast<double>(count.rx_bytes));
    traffic_bytes_.With({"tx", protocol}).Increment(static_cast<double>(count.tx_bytes));
  }
}

void UsageLedger::SettleChanged(const std::vector<model::QuotaStanding>& standings) {
  for (const model::QuotaStanding& standing : standings) {
    if (usage::JudgeQuota(standing).Changes(standing)) Settle(standing.user_id);
  }
}

void UsageLedger::Settle(const std::string& user_id) {
  absl::StatusOr<store::QuotaSettlement> settled = commands_.SettleQuota(user_id);
  if (!settled.ok()) {
    // Not lost: the next sample or sweep judges the user again.
    Log()->warn("cannot settle the quota of user_id={}: {}", user_id, settled.status().message());
    return;
  }
  const model::QuotaVerdict& verdict = settled->verdict;
  for (int percent : verdict.announce) {
    quota_actions_.With({"announced"}).Increment();
    Log()->info("user_id={} reached {}% of the data quota ({} of {} bytes)", user_id, percent,
                settled->standing.used_bytes,
                settled->standing.quota_bytes + settled->standing.granted_bytes);
  }
  if (verdict.hold) {
    quota_actions_.With({"held"}).Increment();
    Log()->info("user_id={} over quota: {} sessions ended, {} nodes throttled", user_id,
                settled->sessions_ended, settled->nodes_throttled);
  }
  if (verdict.release) {
    quota_actions_.With({"released"}).Increment();
    Log()->info("user_id={} under quota again", user_id);
  }
}

void UsageLedger::Sweep() {
  std::string after;
  while (true) {
    absl::StatusOr<std::vector<std::string>> users = usage_.MarkedUsers(after, kSweepPage);
    if (!users.ok()) {
      Log()->warn("cannot list users with quota marks: {}", users.status().message());
      break;
    }
    for (const std::string& user_id : *users) {
      absl::StatusOr<model::QuotaStanding> standing = usage_.Standing(user_id);
      if (standing.ok() && usage::JudgeQuota(*standing).Changes(*standing)) Settle(user_id);
    }
    if (users->size() < static_cast<size_t>(kSweepPage)) break;
    after = users->back();
  }
}

}  // namespace warden::control::dispatch
