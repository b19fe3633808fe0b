#pragma once

// Single sign-on: the two ways an OpenID Provider starts a Warden login
// family (authorization code with PKCE, and the device authorization grant),
// and what happens once the provider has vouched for someone: the ID token
// is verified, its claims mapped (username, groups, plan), the Warden user
// found, linked or created, and a family created exactly as after a
// password login, so tickets, refresh, logout and kills work unchanged.
//
// Every call blocks on the provider or the database: run it on the single
// sign-on workers.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/families/login.h"
#include "controlplane/oidc/claims.h"
#include "controlplane/oidc/provider.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/oidc_store.h"
#include "controlplane/store/user_store.h"

namespace warden::control::oidc {

inline constexpr char kCodeLoginPrefix[] = "wol_";
inline constexpr char kDeviceLoginPrefix[] = "wdl_";

struct BeginInput {
  std::string provider;
  std::string redirect_uri;
  std::string device_label;
  std::string client_address;
};

struct BegunLogin {
  std::string login_id;
  std::string authorization_url;
  std::string state;
  absl::Time expires_at;
};

struct CompleteInput {
  std::string login_id;
  // From the provider's redirect; with Warden's callback page, the
  // confirmation code the page showed.
  std::string code;
  std::string state;
};

struct StartedDeviceLogin {
  std::string device_login_id;
  std::string user_code;
  std::string verification_uri;
  std::string verification_uri_complete;
  absl::Duration interval;
  absl::Time expires_at;
};

enum class DeviceLoginState { kPending, kSlowDown, kComplete, kDenied, kExpired };

struct DevicePollAnswer {
  DeviceLoginState state = DeviceLoginState::kPending;
  absl::Duration interval = absl::ZeroDuration();
  std::optional<families::NewLogin> login;
  std::string message;
};

struct SingleSignOnDeps {
  store::OidcStore& logins;
  store::FamilyStore& families;
  store::UserStore& users;
  UsernameNormalizer normalize_username;
  const Clock& clock;
  // Warden's own callback page ("" = none): a redirect_uri it accepts, for
  // which CompleteOidcLogin needs no code.
  std::string callback_url;
};

class SingleSignOn {
 public:
  SingleSignOn(std::vector<ProviderConfig> providers, SingleSignOnDeps deps);

  absl::StatusOr<BegunLogin> Begin(const BeginInput& input);
  absl::StatusOr<families::NewLogin> Complete(const CompleteInput& input);
  absl::StatusOr<StartedDeviceLogin> StartDevice(const std::string& provider,
                                                 const std::string& device_label,
                                                 const std::string& client_address);
  absl::StatusOr<DevicePollAnswer> PollDevice(const std::string& device_login_id);

  // Warden's callback page: what the provider sent the browser back with.
  // The confirmation code to show the person, who gives it to the app that
  // started the login.
  absl::StatusOr<std::string> RecordCallback(const std::string& state, const std::string& code,
                                             const std::string& error);

  std::vector<Provider*> providers() const;

 private:
  absl::StatusOr<Provider*> Find(const std::string& name) const;
  absl::Status CheckRedirect(const Provider& provider, const std::string& redirect_uri) const;
  // After the provider vouched: verify, map, find the user, make the family.
  absl::StatusOr<families::NewLogin> SignIn(Provider& provider, const std::string& id_token,
                                            std::optional<std::string> nonce_hash,
                                            const std::string& device_label,
                                            const std::string& client_address);

  std::vector<std::unique_ptr<Provider>> providers_;
  SingleSignOnDeps deps_;
};

}  // namespace warden::control::oidc
