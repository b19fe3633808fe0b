#pragma once

// Login session families: a login, its rotating refresh tokens, its access
// tokens and the connect tickets issued from it. Every token arrives here as
// the hex SHA-256 of its text; the store never sees a token itself.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/family.h"
#include "controlplane/store/command_store.h"

namespace warden::control::store {

class Database;

struct FamilyPolicy {
  absl::Duration access_ttl = absl::Minutes(15);
  absl::Duration lifetime = absl::Hours(24 * 30);
  absl::Duration idle_timeout = absl::Hours(24 * 7);
  absl::Duration refresh_lease = absl::Seconds(5);
  absl::Duration ticket_ttl = absl::Seconds(30);
  int max_tickets_per_user = 10;
  // Unused connect tickets fleet-wide (0 = no cap). Approximate: each
  // replica counts them at most once a second and adds what it issued since,
  // so the cap may be passed by what the replicas issue within a second.
  int max_tickets_total = 100000;
};

struct FamilyRecord {
  std::string id;
  std::string user_id;
  std::string username;
  std::string device_label;
  absl::Time created_at;
  absl::Time last_seen_at;
  absl::Time expires_at;
  std::optional<absl::Time> revoked_at;
  std::string revoke_reason;
  int64_t rotations = 0;
};

struct FamilyPage {
  std::vector<FamilyRecord> families;
  // Keyset position of the last family, set when more may follow.
  std::optional<std::pair<absl::Time, std::string>> last;
};

struct FamilyFilter {
  std::string user_id{};
  std::string username{};
  bool include_revoked = false;
  // keyset: families created before (created_at, id), newest first
  std::optional<std::pair<absl::Time, std::string>> before{};
  int limit = 100;
};

struct IssuedLogin {
  std::string family_id;
  absl::Time access_expires_at;
  absl::Time family_expires_at;
};

// What a refresh token's renewal lease attempt found.
struct RefreshLease {
  bool acquired = false;
  std::string family_id;  // when acquired, or when the token was found
  std::string user_id;
  model::PresentedToken token;  // when not acquired
  std::string sealed_result;    // when the token was spent by this request
};

struct RotatedTokens {
  absl::Time access_expires_at;
};

// The user an access token speaks for.
struct AccessGrant {
  std::string family_id;
  std::string user_id;
  std::string username;
  bool user_disabled = false;
};

struct FamilyRevocation {
  int families_revoked = 0;
  std::vector<QueuedCommand> kills;
};

// How a family's user proved who they are, for its family.login audit event.
struct LoginMethod {
  std::string method = "password";  // or "oidc"
  std::string provider;             // oidc: the configured provider, its issuer
  std::string issuer;
  std::string subject;  // and the user's subject there
};

class FamilyStore {
 public:
  FamilyStore(Database& db, FamilyPolicy policy) : db_(db), policy_(policy) {}

  const FamilyPolicy& policy() const { return policy_; }

  // A new family with its first refresh and access tokens; audited.
  absl::StatusOr<IssuedLogin> Create(const std::string& user_id, const std::string& device_label,
                                     const std::string& refresh_hash_hex,
                                     const std::string& access_hash_hex,
                                     const std::string& client_address,
                                     const LoginMethod& method = {});

  // Takes the renewal lease of a current refresh token of a live family,
  // atomically; or reports what stands in the way.
  absl::StatusOr<RefreshLease> TakeRefreshLease(const std::string& refresh_hash_hex,
                                                const std::string& request_hash_hex);
  // Spends the leased token (only while this request holds its lease:
  // ABORTED otherwise), keeps `sealed_result` for a retry of the same
  // request, and stores the new tokens.
  // FAILED_PRECONDITION when the family was revoked meanwhile.
  absl::StatusOr<RotatedTokens> Rotate(const std::string& family_id,
                                       const std::string& refresh_hash_hex,
                                       const std::string& request_hash_hex,
                                       const std::string& sealed_result,
                                       const std::string& new_refresh_hash_hex,
                                       const std::string& new_access_hash_hex);

  // UNAUTHENTICATED for an unknown or expired access token, or a family that
  // is no longer live. Touches the family's last_seen_at at most once a minute.
  absl::StatusOr<AccessGrant> Authenticate(const std::string& access_hash_hex);

  // RESOURCE_EXHAUSTED beyond the per-user cap of outstanding connect
  // tickets (exact: issuing is serialised per user) or the fleet-wide one
  // (approximate, see FamilyPolicy).
  absl::StatusOr<absl::Time> IssueConnectTicket(const AccessGrant& grant,
                                                const std::string& ticket_hash_hex);

  // Revokes a live family; with kill_sessions, queues a kill for each of
  // its live sessions (with NOTIFY), also when the family was revoked before
  // without them. Audited as `action`. FAILED_PRECONDITION when already
  // revoked with nothing left to kill, NOT_FOUND when unknown (or, with
  // `owner_user_id`, another user's).
  absl::StatusOr<FamilyRevocation> Revoke(const model::Actor& actor, const std::string& family_id,
                                          const std::string& reason, bool kill_sessions,
                                          const std::string& action = "family.revoke",
                                          const std::string& owner_user_id = "");
  // Every live family of the user (user_id or username), and their sessions.
  absl::StatusOr<FamilyRevocation> RevokeAllOfUser(const model::Actor& actor,
                                                   const std::string& user_id,
                                                   const std::string& username,
                                                   const std::string& reason);

  absl::StatusOr<FamilyPage> List(const FamilyFilter& filter);

  // Expired access tokens, and families revoked or expired a week ago.
  absl::StatusOr<int64_t> Sweep();

 private:
  static constexpr absl::Duration kOutstandingRecount = absl::Seconds(1);
  // `count_all` counts unused tickets in the caller's transaction; called
  // at most once a second across callers.
  bool OutstandingTicketsAtCap(absl::FunctionRef<int64_t()> count_all);

  Database& db_;
  const FamilyPolicy policy_;
  // The fleet-wide estimate of unused connect tickets: counted in the
  // database at most once a second, counted up here in between.
  absl::Mutex outstanding_mu_;
  int64_t outstanding_ ABSL_GUARDED_BY(outstanding_mu_) = 0;
  absl::Time outstanding_counted_at_ ABSL_GUARDED_BY(outstanding_mu_) = absl::InfinitePast();
};

}  // namespace warden::control::store
