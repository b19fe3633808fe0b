#include "controlplane/admission/admitter.h"

#include "absl/strings/str_cat.h"
#include "controlplane/admission/decide.h"

namespace warden::control::admission {
namespace {

absl::Status PoolFull() {
  return absl::ResourceExhaustedError("the server is overloaded; retry with backoff");
}

store::AdmissionResult BadCredentials() {
  store::AdmissionResult result;
  result.decision.reason = model::DenyReason::kBadCredentials;
  result.decision.message = "unknown user or wrong password";
  return result;
}

}  // namespace

Admitter::Admitter(store::SessionStore& sessions, store::UserStore& users, PasswordHasher& hasher,
                   WorkerPool& db_workers, const Clock& clock, absl::Duration family_idle_timeout)
    : sessions_(sessions),
      users_(users),
      hasher_(hasher),
      db_workers_(db_workers),
      clock_(clock),
      family_idle_timeout_(family_idle_timeout),
      decoy_hash_(secrets::HashPassword(secrets::NewToken(""), hasher.cost()).value_or("")) {}

absl::StatusOr<store::AdmissionResult> Admitter::AdmitVerified(
    const store::AdmissionRequest& request) {
  return sessions_.Admit(
      request,
      [this](const model::UserLimits& limits, std::span<const model::LiveSession> live,
             bool node_draining) { return Decide(limits, live, node_draining, clock_.Now()); });
}

void Admitter::Admit(AdmitInput input, absl::Time deadline, Done done) {
  if (auto* ticket = std::get_if<ConnectTicket>(&input.credential)) {
    // A random 32-byte token: SHA-256 is all the protection it needs.
    input.request.ticket =
        store::AdmissionRequest::ConnectTicket{.hash_hex = secrets::Sha256Hex(ticket->ticket),
                                               .family_idle_timeout = family_idle_timeout_};
    std::move(done)(AdmitVerified(input.request));
    return;
  }
  auto* login = std::get_if<PasswordLogin>(&input.credential);
  if (login == nullptr) {
    std::move(done)(AdmitVerified(input.request));
    return;
  }
  absl::StatusOr<std::pair<model::User, std::string>> found =
      users_.GetWithPasswordHash(login->username);
  if (!found.ok() && found.status().code() != absl::StatusCode::kNotFound) {
    std::move(done)(found.status());
    return;
  }
  store::AdmissionRequest request = std::move(input.request);
  request.user.username = login->username;
  const bool exists = found.ok();
  if (exists) request.user.id = found->first.id;
  std::string hash = exists ? found->second : decoy_hash_;
  hasher_.Verify(std::move(login->password), std::move(hash), deadline,
                 [this, request = std::move(request), exists,
                  done = std::move(done)](absl::StatusOr<bool> verified) mutable {
                   if (!verified.ok()) {
                     std::move(done)(verified.status());
                     return;
                   }
                   AfterPasswordCheck(std::move(request), exists && *verified, std::move(done));
                 });
}

void Admitter::AfterPasswordCheck(store::AdmissionRequest request, bool verified, Done done) {
  // Back from the hasher thread to a database worker.
  auto holder = std::make_shared<Done>(std::move(done));
  const bool queued =
      db_workers_.TrySubmit([this, request = std::move(request), verified, holder]() mutable {
        if (verified) {
          std::move (*holder)(AdmitVerified(request));
          return;
        }
        store::AdmissionResult denied = BadCredentials();
        if (absl::Status audited = sessions_.AuditDenial(request, denied.decision); !audited.ok()) {
          std::move (*holder)(audited);
          return;
        }
        std::move (*holder)(std::move(denied));
      });
  if (!queued) std::move (*holder)(PoolFull());
}

}  // namespace warden::control::admission
