#pragma once

// warden-connect's account commands: login, logout, me, devices, sessions,
// logins, why. They speak to warden-control's SessionService and
// AccountService with the user's own login, never an operator's key.

#include <string>
#include <vector>

namespace warden::client {

// Whether argv[1] names an account command (otherwise warden-connect opens
// a tunnel, as it always has).
bool IsAccountCommand(int argc, const char* const* argv);

// Runs one; returns the exit code (0 done, 2 usage, 3 not found, 4 not
// logged in or refused, 5 the control plane unreachable, 6 conflict, 7 rate
// limited, 1 otherwise).
int RunAccountCommand(int argc, const char* const* argv);

}  // namespace warden::client
