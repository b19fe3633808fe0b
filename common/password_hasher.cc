#include "common/password_hasher.h"

#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace warden {
namespace {

// CFS gives a nice-5 thread about a third of a nice-0 thread's share of a
// contended core: enough that admissions win, not so much that logins starve.
constexpr int kGeneralLaneNice = 5;

void Wipe(std::string& secret) {
  sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

// Linux keeps a nice value per thread; the pool's threads are ours alone, so
// the first task each one runs lowers it for good.
void LowerThisThreadsPriorityOnce() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kGeneralLaneNice);
}

}  // namespace

struct PasswordHasher::LaneState {
  LaneState(Lane which, const char* name, PasswordLaneOptions options,
            metrics::Family<metrics::Counter>& checks_by_lane,
            metrics::Family<metrics::Counter>& rejections_by_lane)
      : lane(which),
        pool(absl::StrCat("argon2-", name), options.threads, options.max_queued),
        checks(checks_by_lane.With({name})),
        queue_full(rejections_by_lane.With({name, "queue_full"})),
        deadline_passed(rejections_by_lane.With({name, "deadline"})) {}

  absl::Status Saturated() const {
    if (lane == Lane::kAdmission) {
      return absl::UnavailableError(
          "too many VPN login password checks in progress; retry in a moment");
    }
    return absl::ResourceExhaustedError("too many password checks in progress; retry with backoff");
  }

  // Called on a lane thread before the hash: false (and counted) when the
  // caller's deadline passed while the work waited.
  bool StartBefore(absl::Time deadline) {
    if (absl::Now() > deadline) {
      deadline_passed.Increment();
      return false;
    }
    if (lane == Lane::kGeneral) LowerThisThreadsPriorityOnce();
    checks.Increment();
    return true;
  }

  // Submits `task`; when the queue refuses it, counts that and returns false.
  bool Submit(absl::AnyInvocable<void() &&> task) {
    if (pool.TrySubmit(std::move(task))) return true;
    queue_full.Increment();
    return false;
  }

  const Lane lane;
  WorkerPool pool;
  metrics::Counter& checks;
  metrics::Counter& queue_full;
  metrics::Counter& deadline_passed;
};

PasswordHasher::PasswordHasher(PasswordHasherOptions options, metrics::Registry& metrics)
    : cost_(options.cost) {
  auto& checks = metrics.AddCounter("warden_password_checks_total",
                                    "argon2id hashes and verifications started, by lane "
                                    "(admission: VPN logins; general: Login, rooms, admin).",
                                    {"lane"});
  auto& rejections = metrics.AddCounter(
      "warden_password_rejections_total",
      "Password work refused by lane and reason (queue_full, deadline): the caller got "
      "RESOURCE_EXHAUSTED (general) or UNAVAILABLE (admission) without a check.",
      {"lane", "reason"});
  auto& depth =
      metrics.AddGauge("warden_password_queue_depth",
                       "Password work waiting for an argon2id thread, by lane.", {"lane"});
  general_ =
      std::make_unique<LaneState>(Lane::kGeneral, "general", options.general, checks, rejections);
  admission_ = std::make_unique<LaneState>(Lane::kAdmission, "admission", options.admission, checks,
                                           rejections);
  metrics.OnScrape(
      [this, general = &depth.With({"general"}), admission = &depth.With({"admission"})] {
        general->Set(static_cast<double>(general_->pool.queued()));
        admission->Set(static_cast<double>(admission_->pool.queued()));
      });
}

PasswordHasher::~PasswordHasher() = default;

PasswordHasher::LaneState& PasswordHasher::StateOf(Lane lane) const {
  return lane == Lane::kAdmission ? *admission_ : *general_;
}

size_t PasswordHasher::queued(Lane lane) const { return StateOf(lane).pool.queued(); }

void PasswordHasher::Hash(std::string password, absl::Time deadline, HashDone done) {
  LaneState& lane = StateOf(Lane::kGeneral);
  // The task owns `done` until it runs; when the queue refuses the task, the
  // holder below still has it and answers.
  auto holder = std::make_shared<HashDone>(std::move(done));
  auto task = [this, &lane, password = std::move(password), deadline, holder]() mutable {
    if (!lane.StartBefore(deadline)) {
      Wipe(password);
      std::move (*holder)(lane.Saturated());
      return;
    }
    absl::StatusOr<std::string> hash = secrets::HashPassword(password, cost_);
    Wipe(password);
    std::move (*holder)(std::move(hash));
  };
  if (!lane.Submit(std::move(task))) std::move (*holder)(lane.Saturated());
}

void PasswordHasher::Verify(std::string password, std::string phc_hash, absl::Time deadline,
                            VerifyDone done, Lane which) {
  LaneState& lane = StateOf(which);
  auto holder = std::make_shared<VerifyDone>(std::move(done));
  auto task = [&lane, password = std::move(password), phc_hash = std::move(phc_hash), deadline,
               holder]() mutable {
    if (!lane.StartBefore(deadline)) {
      Wipe(password);
      std::move (*holder)(lane.Saturated());
      return;
    }
    const bool ok = secrets::VerifyPassword(password, phc_hash);
    Wipe(password);
    std::move (*holder)(ok);
  };
  if (!lane.Submit(std::move(task))) std::move (*holder)(lane.Saturated());
}

absl::StatusOr<std::string> PasswordHasher::HashAndWait(std::string password, absl::Time deadline) {
  absl::Notification done;
  absl::StatusOr<std::string> result;
  Hash(std::move(password), deadline, [&](absl::StatusOr<std::string> hash) {
    result = std::move(hash);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace warden
