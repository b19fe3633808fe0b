#include "controlplane/admission/policy_sweeper.h"

#include <algorithm>

#include "common/logging.h"
#include "controlplane/admission/policy.h"

namespace warden::control::admission {
namespace {

const logging::Logger Log("control.policy");

}  // namespace

PolicySweeper::PolicySweeper(PolicySweeperOptions options, store::PolicyStore& store,
                             const Clock& clock, metrics::Registry& metrics)
    : options_(options),
      store_(store),
      clock_(clock),
      ended_(metrics.AddCounter("warden_policy_sessions_ended_total",
                                "Live sessions the policy sweep ended, by reason (max_session, "
                                "idle, account_expired, device_expired).",
                                {"reason"})),
      duration_(metrics
                    .AddHistogram("warden_policy_sweep_seconds",
                                  "Time one policy sweep took (database work included).", {})
                    .With({})) {
  for (const char* reason : {"max_session", "idle", "account_expired", "device_expired"}) {
    ended_.With({reason});
  }
}

PolicySweeper::~PolicySweeper() { Stop(); }

void PolicySweeper::Start() {
  thread_ = std::thread([this] { Run(); });
}

void PolicySweeper::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int PolicySweeper::SweepOnce() {
  const absl::Time started = absl::Now();
  const absl::Time now = clock_.Now();
  if (absl::StatusOr<int> announced = store_.AnnounceExpiring(now, options_.expiry_warning);
      !announced.ok()) {
    Log()->warn("cannot announce expiring accounts: {}", announced.status().message());
  } else if (*announced > 0) {
    Log()->info("accounts expiring within {}: {}", absl::FormatDuration(options_.expiry_warning),
                *announced);
  }
  int ended = 0;
  while (true) {
    absl::StatusOr<store::SweepResult> swept = store_.SweepDue(
        now, options_.batch,
        [&](const model::UserLimits& limits, const model::LiveSession& session) {
          const TimeVerdict verdict = JudgeTimeLimits(limits, session, now);
          return store::DueVerdict{.end_reason = verdict.end_reason, .next_due = verdict.next_due};
        });
    if (!swept.ok()) {
      Log()->warn("policy sweep failed: {}", swept.status().message());
      break;
    }
    // Counted once committed: a transaction run again judges its rows again.
    for (const auto& [reason, count] : swept->ended) {
      ended_.With({reason}).Increment(count);
      ended += count;
    }
    if (swept->examined < options_.batch) break;
  }
  duration_.ObserveDuration(absl::Now() - started);
  if (ended > 0) Log()->info("ended {} sessions past their time limits", ended);
  return ended;
}

void PolicySweeper::Run() {
  absl::Duration wait = absl::ZeroDuration();
  while (!stop_.WaitForNotificationWithTimeout(wait)) {
    SweepOnce();
    wait = options_.max_wait;
    absl::StatusOr<std::optional<absl::Time>> next = store_.EarliestDue();
    if (next.ok() && *next) {
      wait = std::clamp(**next - clock_.Now(), absl::Milliseconds(50), options_.max_wait);
    }
  }
}

}  // namespace warden::control::admission
