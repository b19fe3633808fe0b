#pragma once

// The admission path: check the credential, then run the admission
// transaction with admission::Decide. Passwords are checked by PasswordCheck,
// before and outside the transaction, so no row lock is held while hashing.

#include <string>
#include <variant>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "controlplane/admission/decide.h"
#include "controlplane/admission/password_check.h"
#include "controlplane/store/session_store.h"

namespace warden::control::admission {

struct PasswordLogin {
  std::string username;
  std::string password;
};

// A SessionService connect ticket ("wct_..."), redeemed in the transaction.
struct ConnectTicket {
  std::string ticket;
};

struct AdmitInput {
  store::AdmissionRequest request;  // request.user is filled for asserted users
  // monostate: asserted user
  std::variant<std::monostate, PasswordLogin, ConnectTicket> credential;
};

class Admitter {
 public:
  Admitter(store::SessionStore& sessions, PasswordCheck& passwords, const Clock& clock,
           metrics::Registry& metrics, absl::Duration family_idle_timeout = absl::Hours(24 * 7),
           DecideOptions decide_options = {});

  using Done = absl::AnyInvocable<void(absl::StatusOr<store::AdmissionResult>) &&>;

  // Call from a database worker. `done` runs exactly once, on a database
  // worker, or at once when a pool refuses more work. Nothing is committed
  // after `deadline`. Every outcome is counted in warden_admissions_total
  // and timed in warden_admission_duration_seconds.
  void Admit(AdmitInput input, absl::Time deadline, Done done);

  // The transaction itself, for a user whose credential is settled.
  absl::StatusOr<store::AdmissionResult> AdmitVerified(const store::AdmissionRequest& request);

  const DecideOptions& decide_options() const { return decide_options_; }

 private:
  // Counts, times and logs (control.admission) one outcome.
  void Record(const std::string& node, const absl::StatusOr<store::AdmissionResult>& result,
              absl::Duration took);

  store::SessionStore& sessions_;
  PasswordCheck& passwords_;
  const Clock& clock_;
  const absl::Duration family_idle_timeout_;
  const DecideOptions decide_options_;

  metrics::Family<metrics::Counter>& admissions_;
  metrics::Counter& evictions_;
  metrics::Histogram& duration_;
};

}  // namespace warden::control::admission
