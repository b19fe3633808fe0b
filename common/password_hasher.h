#pragma once

// argon2id is slow and memory-hungry by design (tens of milliseconds and
// ~64 MiB per call at the default cost). Hashing and verification run on
// small pools of their own so that database work never queues behind them
// and memory stays bounded: at most general.threads + admission.threads
// calls run at once, so at most that many times the cost's memory is in use.
//
// Two lanes, each a pool with its own threads and its own bounded queue:
//   - kAdmission: password checks of VPN logins (AgentService.Admit), the
//     path paying users wait on;
//   - kGeneral: everything else a caller can trigger, often without any
//     credential of its own: SessionService.Login, signalling room
//     passwords, admin user creation and password changes.
// A flood of Login calls can fill the general lane's threads and queue, and
// nothing more: it never takes a thread or a queue slot of the admission
// lane. Two pools were chosen over one pool with reserved capacity because
// the guarantee is then plain to see (and to size): nothing the general
// lane does can reach the admission lane's threads. The price is that an
// idle admission lane does not lend its threads to logins. The general lane's threads
// also run at a lower CPU priority (nice), so that on a busy machine the
// admission lane's hashes win the cores they compete for.
//
// A lane whose queue is full, or whose caller's deadline passed while it
// waited, answers at once: RESOURCE_EXHAUSTED in the general lane (the
// caller backs off), UNAVAILABLE in the admission lane, so that the agent
// treats it as a control plane it cannot reach and applies its
// fail-open/fail-closed rule, never as a wrong password.

#include <atomic>
#include <cstddef>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/secrets.h"
#include "common/worker_pool.h"

namespace warden {

struct PasswordLaneOptions {
  int threads = 2;
  size_t max_queued = 256;
};

struct PasswordHasherOptions {
  secrets::PasswordHashCost cost;
  PasswordLaneOptions general;
  PasswordLaneOptions admission{.threads = 2, .max_queued = 1000};
};

class PasswordHasher {
 public:
  enum class Lane { kGeneral, kAdmission };

  // Metrics (per lane): warden_password_queue_depth,
  // warden_password_checks_total, warden_password_rejections_total{reason}.
  PasswordHasher(PasswordHasherOptions options, metrics::Registry& metrics);
  ~PasswordHasher();

  using HashDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;
  using VerifyDone = absl::AnyInvocable<void(absl::StatusOr<bool>) &&>;

  // `done` runs exactly once: on a hasher thread, or at once when the lane's
  // queue is full. New hashes are made only for the general lane's callers.
  void Hash(std::string password, absl::Time deadline, HashDone done);
  void Verify(std::string password, std::string phc_hash, absl::Time deadline, VerifyDone done,
              Lane lane = Lane::kGeneral);

  // Blocking forms, for threads that may block (database workers).
  absl::StatusOr<std::string> HashAndWait(std::string password, absl::Time deadline);

  const secrets::PasswordHashCost& cost() const { return cost_; }

  // Work waiting for a thread in `lane` (for tests and metrics).
  size_t queued(Lane lane) const;

 private:
  struct LaneState;
  LaneState& StateOf(Lane lane) const;

  const secrets::PasswordHashCost cost_;
  std::unique_ptr<LaneState> general_;
  std::unique_ptr<LaneState> admission_;
};

}  // namespace warden
