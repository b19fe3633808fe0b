#pragma once

// Which redirect URIs a single sign-on login may name. Pure.

#include "absl/strings/string_view.h"

namespace warden::control::oidc {

// A native app's own listener (RFC 8252 7.3): http to 127.0.0.1, [::1] or
// localhost, any port, a path, no fragment, and nothing that makes another
// host of it ("127.0.0.1.evil.example", "127.0.0.1@evil.example").
bool IsLoopbackRedirect(absl::string_view uri);

}  // namespace warden::control::oidc
