#pragma once

// Warden's own single sign-on callback page (--oidc-callback-listen): the
// identity provider sends the user's browser here with `code` and `state`;
// the page keeps the code for the login with that state (sealed under the
// state) and shows a confirmation code, which the person types into the app
// that started the login; the app gives it to CompleteOidcLogin as `code`.
// Without it, whoever started a login could send someone else the
// provider's link and finish the login with their sign-in. For apps that
// cannot listen on a loopback port of their own.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/http_listener.h"
#include "controlplane/oidc/single_sign_on.h"

namespace warden::control::services {

inline constexpr char kOidcCallbackPath[] = "/oidc/callback";

class OidcCallbackPage {
 public:
  static absl::StatusOr<std::unique_ptr<OidcCallbackPage>> Start(const std::string& address,
                                                                 oidc::SingleSignOn& sso);
  int port() const { return listener_->port(); }

 private:
  explicit OidcCallbackPage(std::unique_ptr<HttpListener> listener)
      : listener_(std::move(listener)) {}

  std::unique_ptr<HttpListener> listener_;
};

}  // namespace warden::control::services
