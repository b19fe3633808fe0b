#include "controlplane/services/oidc_callback_page.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"

namespace warden::control::services {
namespace {

// Nothing the request brought is echoed back: the page has no input to
// escape, and states or codes never reach a log or a referrer.
void Answer(httplib::Response& response, int status, absl::string_view title,
            absl::string_view text) {
  response.status = status;
  response.set_header("Cache-Control", "no-store");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("Content-Security-Policy", "default-src 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_content(
      absl::StrCat("<!doctype html><html><head><meta charset=\"utf-8\"><title>", title,
                   "</title></head><body><h1>", title, "</h1><p>", text, "</p></body></html>"),
      "text/html; charset=utf-8");
}

}  // namespace

absl::StatusOr<std::unique_ptr<OidcCallbackPage>> OidcCallbackPage::Start(
    const std::string& address, oidc::SingleSignOn& sso) {
  absl::StatusOr<std::unique_ptr<HttpListener>> listener = HttpListener::Start(
      address, "the single sign-on callback", 4, [&sso](httplib::Server& server) {
        server.Get(kOidcCallbackPath, [&sso](const httplib::Request& request,
                                             httplib::Response& response) {
          const std::string state = request.get_param_value("state");
          const std::string code = request.get_param_value("code");
          const std::string error = request.get_param_value("error");
          const absl::StatusOr<std::string> confirmation = sso.RecordCallback(state, code, error);
          if (!confirmation.ok()) {
            Answer(response, 400, "Sign-in link not recognised",
                   "This sign-in link is unknown, already used or expired. Start the login "
                   "again from your application.");
          } else if (!error.empty()) {
            Answer(response, 200, "Sign-in refused",
                   "The identity provider did not sign you in. Return to your application "
                   "for details.");
          } else {
            // The code is Warden's own (letters and a dash), never the request's.
            Answer(response, 200, "Signed in to Warden",
                   absl::StrCat("Your confirmation code is <strong>", *confirmation,
                                "</strong>. Enter it in the application where you started "
                                "this login. Never give it to anyone else: it finishes the "
                                "login for whoever enters it."));
          }
        });
      });
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<OidcCallbackPage>(new OidcCallbackPage(*std::move(listener)));
}

}  // namespace warden::control::services
