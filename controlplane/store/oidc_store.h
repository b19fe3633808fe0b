#pragma once

// Single sign-on's rows: logins in flight at an OpenID Provider (single-use,
// expiring, their secrets sealed under the client's handle) and the links
// from a provider's (issuer, subject) to a Warden user.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/user.h"

namespace warden::control::store {

class Database;

enum class OidcFlow { kCode, kDevice };

struct NewOidcLogin {
  OidcFlow flow = OidcFlow::kCode;
  std::string provider;
  std::string handle_hash_hex;  // SHA-256 of the handle the client keeps
  std::string state_hash_hex;   // code flow
  std::string nonce_hash_hex;   // code flow
  std::string sealed;           // PKCE verifier or device code, sealed under the handle
  std::string redirect_uri;
  std::string device_label;
  std::string client_address;
  absl::Duration poll_interval = absl::Seconds(5);  // device flow
  absl::Duration ttl = absl::Minutes(10);
};

struct OidcLogin {
  std::string id;
  std::string provider;
  std::string sealed;
  std::string redirect_uri;
  std::string device_label;
  std::string client_address;
  std::string state_hash_hex;
  std::string nonce_hash_hex;
  std::optional<std::string> callback_code;  // sealed under the state
  std::string callback_error;
  std::string callback_confirmation_hash;
  absl::Duration poll_interval = absl::ZeroDuration();
};

// A device login's poll: the login, or how long until the provider may be
// asked again; `ended` when it expired or was used.
struct DevicePollSlot {
  std::optional<OidcLogin> login;
  absl::Duration wait = absl::ZeroDuration();      // until the provider may be asked
  absl::Duration interval = absl::ZeroDuration();  // the login's poll interval
  bool ended = false;
};

// Who signed in, as the provider said, and what Warden may do about a
// stranger.
struct IdentitySignIn {
  std::string provider;
  std::string issuer;
  std::string subject;
  std::string username;  // normalised, from the configured claim
  std::string plan;      // a created user's plan ("" = none)
  bool create_users = false;
  bool link_by_username = false;
};

struct SignedInUser {
  model::User user;
  bool created = false;
  bool linked = false;  // linked now to an existing user by username
};

class OidcStore {
 public:
  explicit OidcStore(Database& db) : db_(db) {}

  // The login's expiry.
  absl::StatusOr<absl::Time> CreateLogin(const NewOidcLogin& login);

  // Ends a code-flow login (at most once): UNAUTHENTICATED for an unknown,
  // used or expired one. A login whose redirect is Warden's callback page
  // (`callback_url`, "" = none) only once the page has recorded the
  // provider's answer: FAILED_PRECONDITION until then, and the login stays.
  absl::StatusOr<OidcLogin> TakeCodeLogin(const std::string& handle_hash_hex,
                                          const std::string& callback_url);

  // Warden's callback page: keeps the code (sealed under the state) or the
  // provider's error for the login with this state, with the hash of the
  // confirmation code shown to the person. NOT_FOUND when no pending login
  // has it, or its answer was recorded already.
  absl::Status RecordCallback(const std::string& state_hash_hex, const std::string& sealed_code,
                              const std::string& error, const std::string& confirmation_hash_hex);

  // Claims the right to ask the provider about a device login now (one
  // replica at a time, never sooner than its interval). UNAUTHENTICATED for
  // an unknown handle.
  absl::StatusOr<DevicePollSlot> ClaimDevicePoll(const std::string& handle_hash_hex);
  // The provider said slow_down: ask it less often from now on.
  absl::Status SlowDown(const std::string& login_id, absl::Duration interval);
  // Ends a device login; UNAUTHENTICATED when another poll ended it first.
  absl::Status EndDeviceLogin(const std::string& login_id);

  // The Warden user of an identity: linked before, linked now to the user of
  // the same username (link_by_username), or created now (create_users,
  // without a password), with the audit events. FAILED_PRECONDITION when
  // none of these applies, saying why.
  absl::StatusOr<SignedInUser> SignIn(const model::Actor& actor, const IdentitySignIn& sign_in);

  // Removes logins that expired an hour ago or more.
  absl::StatusOr<int64_t> Sweep();

 private:
  Database& db_;
};

}  // namespace warden::control::store
