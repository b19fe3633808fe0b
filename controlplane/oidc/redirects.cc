#include "controlplane/oidc/redirects.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace warden::control::oidc {

bool IsLoopbackRedirect(absl::string_view uri) {
  for (absl::string_view host : {"http://127.0.0.1", "http://[::1]", "http://localhost"}) {
    absl::string_view rest = uri;
    if (!absl::ConsumePrefix(&rest, host)) continue;
    if (absl::ConsumePrefix(&rest, ":")) {
      size_t digits = 0;
      while (digits < rest.size() && absl::ascii_isdigit(rest[digits])) ++digits;
      if (digits == 0 || digits > 5) return false;
      rest.remove_prefix(digits);
    }
    // The authority ends here: only a path (or nothing) may follow.
    return (rest.empty() || rest.front() == '/') && !absl::StrContains(rest, '#');
  }
  return false;
}

}  // namespace warden::control::oidc
