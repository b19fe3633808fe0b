#include "controlplane/admission/admitter.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "controlplane/admission/decide.h"

namespace warden::control::admission {
namespace {

const logging::Logger Log("control.admission");

store::AdmissionResult BadCredentials() {
  store::AdmissionResult result;
  result.decision.reason = model::DenyReason::kBadCredentials;
  result.decision.message = "unknown user or wrong password";
  return result;
}

}  // namespace

Admitter::Admitter(store::SessionStore& sessions, PasswordCheck& passwords, const Clock& clock,
                   metrics::Registry& metrics, absl::Duration family_idle_timeout,
                   DecideOptions decide_options)
    : sessions_(sessions),
      passwords_(passwords),
      clock_(clock),
      family_idle_timeout_(family_idle_timeout),
      decide_options_(decide_options),
      admissions_(metrics.AddCounter(
          "warden_admissions_total",
          "Admission requests by result (admitted, denied, error) and reason: the deny reason, "
          "or the status code of an error.",
          {"result", "reason"})),
      evictions_(metrics
                     .AddCounter("warden_evictions_total",
                                 "Sessions evicted to make room for a newer one (EVICT_OLDEST).")
                     .With({})),
      duration_(metrics
                    .AddHistogram("warden_admission_duration_seconds",
                                  "Time from an admission request to its answer, password "
                                  "check included.",
                                  {})
                    .With({})) {
  // Present from the start, so that rate() sees the first event.
  admissions_.With({"admitted", "none"});
  for (model::DenyReason reason :
       {model::DenyReason::kBadCredentials, model::DenyReason::kUserDisabled,
        model::DenyReason::kDeviceLimitReached, model::DenyReason::kNodeDraining,
        model::DenyReason::kSessionEnding, model::DenyReason::kAccountExpired,
        model::DenyReason::kDeviceExpired, model::DenyReason::kProtocolNotAllowed,
        model::DenyReason::kNodeNotAllowed, model::DenyReason::kNodeLimitReached,
        model::DenyReason::kLabelLimitReached, model::DenyReason::kQuotaExceeded}) {
    admissions_.With({"denied", store::DenyReasonName(reason)});
  }
}

void Admitter::Record(const std::string& node, const absl::StatusOr<store::AdmissionResult>& result,
                      absl::Duration took) {
  duration_.ObserveDuration(took);
  if (!result.ok()) {
    Log()->warn("admission failed node={} code={}: {}", node,
                absl::StatusCodeToString(result.status().code()), result.status().message());
    admissions_
        .With({"error", absl::AsciiStrToLower(absl::StatusCodeToString(result.status().code()))})
        .Increment();
    return;
  }
  if (!result->decision.admit) {
    Log()->debug("denied node={} user={} reason={}", node, result->username,
                 store::DenyReasonName(result->decision.reason));
    admissions_.With({"denied", store::DenyReasonName(result->decision.reason)}).Increment();
    return;
  }
  Log()->debug("admitted node={} user={} session={} evicted={}", node, result->username,
               result->session_id, result->evictions.size());
  admissions_.With({"admitted", "none"}).Increment();
  evictions_.Increment(static_cast<double>(result->evictions.size()));
}

absl::StatusOr<store::AdmissionResult> Admitter::AdmitVerified(
    const store::AdmissionRequest& request) {
  return sessions_.Admit(request, [this](const model::AdmissionFacts& facts) {
    return Decide(facts, clock_.Now(), decide_options_);
  });
}

void Admitter::Admit(AdmitInput input, absl::Time deadline, Done done) {
  done = [this, start = absl::Now(), node = input.request.node_name,
          done = std::move(done)](absl::StatusOr<store::AdmissionResult> result) mutable {
    Record(node, result, absl::Now() - start);
    std::move(done)(std::move(result));
  };
  // A margin before the caller's deadline, so that an answer that commits
  // also reaches the caller in time (an agent that gives up closes whatever
  // its abandoned attempt made, but is better not put to it). Deadlines are
  // wall-clock time, whatever clock decisions use.
  input.request.commit_by =
      deadline - std::min(absl::Milliseconds(100), (deadline - absl::Now()) / 10);
  if (auto* ticket = std::get_if<ConnectTicket>(&input.credential)) {
    // A random 32-byte token: SHA-256 is all the protection it needs.
    input.request.credential = store::AdmissionRequest::Credential::kTicket;
    input.request.ticket =
        store::AdmissionRequest::ConnectTicket{.hash_hex = secrets::Sha256Hex(ticket->ticket),
                                               .family_idle_timeout = family_idle_timeout_};
    std::move(done)(AdmitVerified(input.request));
    return;
  }
  auto* login = std::get_if<PasswordLogin>(&input.credential);
  if (login == nullptr) {
    input.request.credential = store::AdmissionRequest::Credential::kVouched;
    std::move(done)(AdmitVerified(input.request));
    return;
  }
  store::AdmissionRequest request = std::move(input.request);
  request.credential = store::AdmissionRequest::Credential::kPassword;
  request.user.username = login->username;
  passwords_.Check(login->username, std::move(login->password), deadline,
                   [this, request = std::move(request),
                    done = std::move(done)](absl::StatusOr<PasswordCheckResult> checked) mutable {
                     if (!checked.ok()) {
                       std::move(done)(checked.status());
                       return;
                     }
                     if (checked->user) request.user.id = checked->user->id;
                     if (checked->verified) {
                       std::move(done)(AdmitVerified(request));
                       return;
                     }
                     store::AdmissionResult denied = BadCredentials();
                     if (absl::Status audited = sessions_.AuditDenial(request, denied.decision);
                         !audited.ok()) {
                       std::move(done)(audited);
                       return;
                     }
                     std::move(done)(std::move(denied));
                   });
}

}  // namespace warden::control::admission
