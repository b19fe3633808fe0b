#include "controlplane/oidc/single_sign_on.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/admission/policy.h"
#include "controlplane/families/sealed_result.h"
#include "controlplane/oidc/http_client.h"
#include "controlplane/oidc/redirects.h"

namespace warden::control::oidc {
namespace {

const logging::Logger Log("control.oidc");

constexpr absl::Duration kCodeLoginLifetime = absl::Minutes(10);
// RFC 8628 3.5: each slow_down adds five seconds to the interval.
constexpr absl::Duration kSlowDownStep = absl::Seconds(5);
// Contexts of the sealed boxes: a box sealed for one purpose never opens as
// another.
constexpr char kPkceBox[] = "oidc pkce verifier";
constexpr char kDeviceBox[] = "oidc device code";
constexpr char kCallbackBox[] = "oidc callback code";

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string PkceChallenge(const std::string& verifier) {
  return Base64Url(absl::HexStringToBytes(secrets::Sha256Hex(verifier)));
}

absl::Status Refused(const Provider& provider, const TokenAnswer& answer) {
  // The provider does not accept Warden itself: the operator's to fix, not
  // the user's.
  if (answer.error == "invalid_client" || answer.error == "unauthorized_client") {
    return absl::FailedPreconditionError(absl::StrCat(
        "the identity provider ", provider.config().name, " does not accept Warden's client (",
        answer.error, "); ask an administrator to check its client id and credentials"));
  }
  return absl::UnauthenticatedError(absl::StrCat(
      "the identity provider ", provider.config().name, " refused the login: ", answer.error,
      answer.error_description.empty() ? "" : absl::StrCat(" (", answer.error_description, ")")));
}

// What Warden's callback page shows and the app gives back: 8 letters an
// eye does not confuse (no vowels, no look-alikes), about 34 bits, for a
// login that is spent by the first wrong guess.
std::string NewConfirmationCode() {
  static constexpr char kLetters[] = "BCDFGHJKLMNPQRSTVWXZ";
  const std::string random = secrets::RandomBytes(8);
  std::string code;
  for (size_t i = 0; i < random.size(); ++i) {
    if (i == 4) code.push_back('-');
    code.push_back(kLetters[static_cast<unsigned char>(random[i]) % (sizeof(kLetters) - 1)]);
  }
  return code;
}

// Typed by a person: case and separators do not matter.
std::string NormalizeConfirmationCode(absl::string_view typed) {
  std::string code;
  for (char c : typed) {
    if (absl::ascii_isalpha(c)) {
      if (code.size() == 4) code.push_back('-');
      code.push_back(absl::ascii_toupper(c));
    }
  }
  return code;
}

absl::Status CheckHandle(const std::string& handle, const char* prefix, const char* field) {
  if (secrets::LooksLikeToken(handle, prefix)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be \"", prefix, "\" followed by 64 lowercase hex digits"));
}

}  // namespace

SingleSignOn::SingleSignOn(std::vector<ProviderConfig> providers, SingleSignOnDeps deps)
    : deps_(std::move(deps)) {
  for (ProviderConfig& config : providers) {
    providers_.push_back(std::make_unique<Provider>(std::move(config), deps_.clock));
  }
}

std::vector<Provider*> SingleSignOn::providers() const {
  std::vector<Provider*> all;
  for (const auto& provider : providers_) all.push_back(provider.get());
  return all;
}

absl::StatusOr<Provider*> SingleSignOn::Find(const std::string& name) const {
  std::vector<std::string> names;
  for (const auto& provider : providers_) {
    if (provider->config().name == name) return provider.get();
    names.push_back(provider->config().name);
  }
  if (providers_.empty()) {
    return absl::FailedPreconditionError(
        "single sign-on is not configured on this server (warden-control --oidc-config)");
  }
  if (name.empty()) {
    if (providers_.size() == 1) return providers_.front().get();
    return absl::InvalidArgumentError(
        absl::StrCat("provider is required: one of ", absl::StrJoin(names, ", ")));
  }
  return absl::NotFoundError(absl::StrCat("no single sign-on provider is named \"", name,
                                          "\" (configured: ", absl::StrJoin(names, ", "), ")"));
}

absl::Status SingleSignOn::CheckRedirect(const Provider& provider,
                                         const std::string& redirect_uri) const {
  const auto& allowed = provider.config().redirect_uris;
  if (IsLoopbackRedirect(redirect_uri) ||
      (!deps_.callback_url.empty() && redirect_uri == deps_.callback_url) ||
      std::find(allowed.begin(), allowed.end(), redirect_uri) != allowed.end()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "redirect_uri must be a loopback address (http://127.0.0.1:PORT/...), Warden's own "
      "callback page",
      deps_.callback_url.empty() ? "" : absl::StrCat(" (", deps_.callback_url, ")"),
      ", or one of the provider's redirect_uris; got \"", redirect_uri, "\""));
}

absl::StatusOr<BegunLogin> SingleSignOn::Begin(const BeginInput& input) {
  WARDEN_ASSIGN_OR_RETURN(Provider * provider, Find(input.provider));
  WARDEN_RETURN_IF_ERROR(CheckRedirect(*provider, input.redirect_uri));
  WARDEN_ASSIGN_OR_RETURN(ProviderMetadata metadata, provider->Metadata());
  BegunLogin begun;
  begun.login_id = secrets::NewToken(kCodeLoginPrefix);
  begun.state = secrets::NewToken("");
  const std::string nonce = secrets::NewToken("");
  const std::string verifier = Base64Url(secrets::RandomBytes(32));  // 43 characters
  store::NewOidcLogin row;
  row.flow = store::OidcFlow::kCode;
  row.provider = provider->config().name;
  row.handle_hash_hex = secrets::Sha256Hex(begun.login_id);
  row.state_hash_hex = secrets::Sha256Hex(begun.state);
  row.nonce_hash_hex = secrets::Sha256Hex(nonce);
  row.sealed = families::SealUnderSecret(verifier, begun.login_id, kPkceBox);
  row.redirect_uri = input.redirect_uri;
  row.device_label = input.device_label;
  row.client_address = input.client_address;
  row.ttl = kCodeLoginLifetime;
  WARDEN_ASSIGN_OR_RETURN(begun.expires_at, deps_.logins.CreateLogin(row));
  const ProviderConfig& config = provider->config();
  begun.authorization_url =
      absl::StrCat(metadata.authorization_endpoint,
                   absl::StrContains(metadata.authorization_endpoint, '?') ? "&" : "?",
                   FormEncode({{"response_type", "code"},
                               {"client_id", config.client_id},
                               {"redirect_uri", input.redirect_uri},
                               {"scope", absl::StrJoin(config.scopes, " ")},
                               {"state", begun.state},
                               {"nonce", nonce},
                               {"code_challenge", PkceChallenge(verifier)},
                               {"code_challenge_method", "S256"}}));
  return begun;
}

absl::StatusOr<families::NewLogin> SingleSignOn::Complete(const CompleteInput& input) {
  WARDEN_RETURN_IF_ERROR(CheckHandle(input.login_id, kCodeLoginPrefix, "login_id"));
  if (input.state.empty() || input.state.size() > 256) {
    return absl::InvalidArgumentError("state must be the one BeginOidcLogin returned");
  }
  if (input.code.empty() || input.code.size() > 4096) {
    return absl::InvalidArgumentError(
        "code is required: the one the provider's redirect carried, or the confirmation code "
        "Warden's sign-in page showed");
  }
  WARDEN_ASSIGN_OR_RETURN(
      store::OidcLogin login,
      deps_.logins.TakeCodeLogin(secrets::Sha256Hex(input.login_id), deps_.callback_url));
  // The login is spent from here on, whatever follows: a state or code that
  // fails is not tried again against it.
  if (!secrets::ConstantTimeEquals(secrets::Sha256Hex(input.state), login.state_hash_hex)) {
    return absl::UnauthenticatedError("state does not match this login");
  }
  WARDEN_ASSIGN_OR_RETURN(Provider * provider, Find(login.provider));
  std::string code = input.code;
  if (!deps_.callback_url.empty() && login.redirect_uri == deps_.callback_url) {
    if (!login.callback_error.empty()) {
      return absl::UnauthenticatedError(absl::StrCat("the identity provider ", login.provider,
                                                     " refused the login: ", login.callback_error));
    }
    // Whoever started the login holds login_id and state; only the person
    // who signed in saw the confirmation code.
    if (!secrets::ConstantTimeEquals(secrets::Sha256Hex(NormalizeConfirmationCode(input.code)),
                                     login.callback_confirmation_hash)) {
      return absl::UnauthenticatedError(
          "the confirmation code is not the one Warden's sign-in page showed; start again");
    }
    absl::StatusOr<std::string> opened =
        families::OpenUnderSecret(login.callback_code.value_or(""), input.state, kCallbackBox);
    if (!opened.ok()) return absl::UnauthenticatedError("state does not match this login");
    code = *std::move(opened);
  }
  absl::StatusOr<std::string> verifier =
      families::OpenUnderSecret(login.sealed, input.login_id, kPkceBox);
  if (!verifier.ok()) return absl::UnauthenticatedError("unknown, used or expired login");
  WARDEN_ASSIGN_OR_RETURN(TokenAnswer answer, provider->Token({{"grant_type", "authorization_code"},
                                                               {"code", code},
                                                               {"redirect_uri", login.redirect_uri},
                                                               {"code_verifier", *verifier}}));
  if (!answer.error.empty()) return Refused(*provider, answer);
  return SignIn(*provider, answer.id_token, login.nonce_hash_hex, login.device_label,
                login.client_address);
}

absl::StatusOr<StartedDeviceLogin> SingleSignOn::StartDevice(const std::string& provider_name,
                                                             const std::string& device_label,
                                                             const std::string& client_address) {
  WARDEN_ASSIGN_OR_RETURN(Provider * provider, Find(provider_name));
  WARDEN_ASSIGN_OR_RETURN(DeviceAuthorization authorization, provider->StartDeviceAuthorization());
  StartedDeviceLogin started;
  started.device_login_id = secrets::NewToken(kDeviceLoginPrefix);
  started.user_code = authorization.user_code;
  started.verification_uri = authorization.verification_uri;
  started.verification_uri_complete = authorization.verification_uri_complete;
  started.interval = authorization.interval;
  store::NewOidcLogin row;
  row.flow = store::OidcFlow::kDevice;
  row.provider = provider->config().name;
  row.handle_hash_hex = secrets::Sha256Hex(started.device_login_id);
  row.sealed =
      families::SealUnderSecret(authorization.device_code, started.device_login_id, kDeviceBox);
  row.device_label = device_label;
  row.client_address = client_address;
  row.poll_interval = authorization.interval;
  row.ttl = authorization.expires_in;
  WARDEN_ASSIGN_OR_RETURN(started.expires_at, deps_.logins.CreateLogin(row));
  return started;
}

absl::StatusOr<DevicePollAnswer> SingleSignOn::PollDevice(const std::string& device_login_id) {
  WARDEN_RETURN_IF_ERROR(CheckHandle(device_login_id, kDeviceLoginPrefix, "device_login_id"));
  WARDEN_ASSIGN_OR_RETURN(store::DevicePollSlot slot,
                          deps_.logins.ClaimDevicePoll(secrets::Sha256Hex(device_login_id)));
  DevicePollAnswer answer;
  if (slot.ended) {
    answer.state = DeviceLoginState::kExpired;
    answer.message = "this device login expired or was already used; start again";
    return answer;
  }
  if (!slot.login) {
    answer.state = DeviceLoginState::kSlowDown;
    answer.interval = slot.interval;
    answer.message = absl::StrCat("polled sooner than the interval; the next poll may come in ",
                                  absl::FormatDuration(absl::Ceil(slot.wait, absl::Seconds(1))));
    return answer;
  }
  const store::OidcLogin& login = *slot.login;
  answer.interval = login.poll_interval;
  WARDEN_ASSIGN_OR_RETURN(Provider * provider, Find(login.provider));
  absl::StatusOr<std::string> device_code =
      families::OpenUnderSecret(login.sealed, device_login_id, kDeviceBox);
  if (!device_code.ok()) return absl::UnauthenticatedError("unknown, used or expired login");
  std::vector<std::pair<std::string, std::string>> grant = {
      {"grant_type", "urn:ietf:params:oauth:grant-type:device_code"},
      {"device_code", *device_code}};
  // RFC 8628 3.4 wants client_id; the other client authentications send it
  // already, and a parameter twice is an invalid request (RFC 6749 3.2).
  if (provider->config().client_auth == ClientAuth::kSecretBasic) {
    grant.emplace_back("client_id", provider->config().client_id);
  }
  WARDEN_ASSIGN_OR_RETURN(TokenAnswer token, provider->Token(std::move(grant)));
  if (token.error == "authorization_pending") {
    answer.state = DeviceLoginState::kPending;
    return answer;
  }
  if (token.error == "slow_down") {
    answer.state = DeviceLoginState::kSlowDown;
    answer.interval = login.poll_interval + kSlowDownStep;
    WARDEN_RETURN_IF_ERROR(deps_.logins.SlowDown(login.id, answer.interval));
    return answer;
  }
  // Anything else ends the login, one way or the other.
  WARDEN_RETURN_IF_ERROR(deps_.logins.EndDeviceLogin(login.id));
  if (token.error == "access_denied") {
    answer.state = DeviceLoginState::kDenied;
    answer.message = absl::StrCat("the login was refused at ", login.provider);
    return answer;
  }
  if (token.error == "expired_token") {
    answer.state = DeviceLoginState::kExpired;
    answer.message = "the code expired before the user approved it; start again";
    return answer;
  }
  if (!token.error.empty()) return Refused(*provider, token);
  absl::StatusOr<families::NewLogin> signed_in =
      SignIn(*provider, token.id_token, std::nullopt, login.device_label, login.client_address);
  // The device login is spent: a retry would only hear that it was used.
  if (absl::IsUnavailable(signed_in.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("the login was approved, but Warden could not finish it (",
                     signed_in.status().message(), "); start again"));
  }
  if (!signed_in.ok()) return signed_in.status();
  answer.login = *std::move(signed_in);
  answer.state = DeviceLoginState::kComplete;
  return answer;
}

absl::StatusOr<std::string> SingleSignOn::RecordCallback(const std::string& state,
                                                         const std::string& code,
                                                         const std::string& error) {
  // RFC 6749 4.1.2.1: an error code is a short ASCII token; anything else is
  // not the provider's and is not kept.
  bool error_ok = error.size() <= 64;
  for (char c : error) error_ok = error_ok && (absl::ascii_isalnum(c) || c == '_');
  if (state.empty() || state.size() > 256 || code.size() > 4096 || !error_ok ||
      (code.empty() == error.empty())) {
    return absl::InvalidArgumentError("the callback needs state and either code or error");
  }
  const std::string confirmation = NewConfirmationCode();
  const std::string sealed =
      code.empty() ? "" : families::SealUnderSecret(code, state, kCallbackBox);
  WARDEN_RETURN_IF_ERROR(deps_.logins.RecordCallback(secrets::Sha256Hex(state), sealed, error,
                                                     secrets::Sha256Hex(confirmation)));
  return confirmation;
}

absl::StatusOr<families::NewLogin> SingleSignOn::SignIn(Provider& provider,
                                                        const std::string& id_token,
                                                        std::optional<std::string> nonce_hash,
                                                        const std::string& device_label,
                                                        const std::string& client_address) {
  const ProviderConfig& config = provider.config();
  absl::StatusOr<IdToken> verified = provider.Verify(id_token, std::move(nonce_hash));
  if (!verified.ok()) {
    Log()->warn("provider={} ID token refused: {}", config.name, verified.status().message());
    return verified.status();
  }
  WARDEN_ASSIGN_OR_RETURN(MappedUser mapped,
                          MapClaims(config, verified->claims, deps_.normalize_username));
  const model::Actor actor{absl::StrCat("oidc:", config.name)};
  WARDEN_ASSIGN_OR_RETURN(
      store::SignedInUser signed_in,
      deps_.logins.SignIn(
          actor, store::IdentitySignIn{
                     .provider = config.name,
                     .issuer = config.issuer,
                     .subject = verified->subject,
                     .username = mapped.username,
                     .plan = mapped.plan,
                     .create_users = config.create_users,
                     // Linking trusts the name: only one the provider vouches for.
                     .link_by_username = config.link_by_username && mapped.username_verified}));
  model::User& user = signed_in.user;
  if (user.disabled) {
    return absl::PermissionDeniedError(absl::StrCat("user ", user.username, " is disabled"));
  }
  if (!mapped.plan.empty() && mapped.plan != user.plan_name) {
    model::UserChanges changes;
    changes.plan_name = std::optional<std::string>(mapped.plan);
    absl::StatusOr<model::User> updated =
        deps_.users.Update(actor, user.id, changes, admission::ApplyPolicy);
    if (absl::IsNotFound(updated.status())) {
      return absl::FailedPreconditionError(
          absl::StrCat("the ", config.name, " group mapping names plan \"", mapped.plan,
                       "\", which does not exist; ask an administrator"));
    }
    if (!updated.ok()) return updated.status();
  }
  Log()->info("provider={} user={} subject={} signed in{}", config.name, user.username,
              verified->subject, signed_in.created ? " (created)" : "");
  return families::CreateFamily(deps_.families, user.id, device_label, client_address,
                                store::LoginMethod{.method = "oidc",
                                                   .provider = config.name,
                                                   .issuer = config.issuer,
                                                   .subject = verified->subject});
}

}  // namespace warden::control::oidc
