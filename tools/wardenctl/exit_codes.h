#pragma once

// What a failed command tells its caller: one sentence on stderr, and an exit
// code per class of failure, so that a script can tell "no such user" from
// "the control plane is down" without reading the sentence.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace warden::wardenctl {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,      // anything not below (INTERNAL, UNKNOWN, CANCELLED, DATA_LOSS)
  kExitUsage = 2,        // bad command line, or a value the server refused (INVALID_ARGUMENT)
  kExitNotFound = 3,     // NOT_FOUND
  kExitPermission = 4,   // no key, a key refused (UNAUTHENTICATED), or a role too weak
  kExitUnavailable = 5,  // cannot reach the control plane, or it cannot reach its database
  kExitConflict = 6,     // ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED
  kExitExhausted = 7,    // RESOURCE_EXHAUSTED: a limit of the server; try again later
  kExitTimeout = 8,      // DEADLINE_EXCEEDED, e.g. a kill --wait the agent did not answer
  kExitUnsupported = 9,  // UNIMPLEMENTED: this server does not have the feature yet
};

ExitCode ExitCodeFor(const absl::Status& status);

// An error found before or without asking the server (no key configured, an
// unreadable file): DescribeError shows its message as it is.
absl::Status LocalError(absl::StatusCode code, absl::string_view message);

// The sentence for `status` from a call to the control plane at `server`:
// the server's own message (safe and specific by Warden's convention) with
// what to check next.
std::string DescribeError(const absl::Status& status, const std::string& server);

}  // namespace warden::wardenctl
