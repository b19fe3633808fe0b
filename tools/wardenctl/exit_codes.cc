#include "tools/wardenctl/exit_codes.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace warden::wardenctl {
namespace {

constexpr char kLocalPayload[] = "type.warden.dev/wardenctl.local";

// gRPC's own words when the channel never got as far as the server.
bool IsConnectFailure(absl::string_view message) {
  return absl::StrContains(message, "failed to connect") ||
         absl::StrContains(message, "DNS resolution failed") ||
         absl::StrContains(message, "Socket closed") || absl::StrContains(message, "handshake") ||
         absl::StrContains(message, "Connection reset");
}

}  // namespace

absl::Status LocalError(absl::StatusCode code, absl::string_view message) {
  absl::Status status(code, message);
  status.SetPayload(kLocalPayload, absl::Cord("1"));
  return status;
}

ExitCode ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitPermission;
    case absl::StatusCode::kUnavailable:
      return kExitUnavailable;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return kExitConflict;
    case absl::StatusCode::kResourceExhausted:
      return kExitExhausted;
    case absl::StatusCode::kDeadlineExceeded:
      return kExitTimeout;
    case absl::StatusCode::kUnimplemented:
      return kExitUnsupported;
    default:
      return kExitFailure;
  }
}

std::string DescribeError(const absl::Status& status, const std::string& server) {
  const std::string message(status.message());
  if (status.GetPayload(kLocalPayload).has_value()) return message;
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
      if (!IsConnectFailure(message)) {
        return absl::StrCat("the control plane at ", server, " is unavailable: ", message);
      }
      return absl::StrCat("cannot reach the control plane at ", server, ": ", message,
                          "\n  Is warden-control running there? A plaintext server needs "
                          "--insecure; a private CA needs --ca (or WARDEN_CA).");
    case absl::StatusCode::kUnauthenticated:
      return absl::StrCat("the control plane refused the API key: ", message,
                          "\n  Check WARDEN_KEY, --key-file or the context's key-file.");
    case absl::StatusCode::kPermissionDenied:
      return absl::StrCat("not allowed: ", message, "\n  This needs a key with role ADMIN.");
    case absl::StatusCode::kNotFound:
      return absl::StrCat("not found: ", message);
    case absl::StatusCode::kAlreadyExists:
      return absl::StrCat("already exists: ", message);
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return absl::StrCat("refused: ", message);
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return absl::StrCat("invalid: ", message);
    case absl::StatusCode::kResourceExhausted:
      return absl::StrCat("over a limit of the control plane: ", message, "\n  Try again later.");
    case absl::StatusCode::kDeadlineExceeded:
      return absl::StrCat("no answer in time: ", message);
    case absl::StatusCode::kUnimplemented:
      return absl::StrCat("not available on this server: ", message);
    default:
      return absl::StrCat("failed (", absl::StatusCodeToString(status.code()), "): ", message);
  }
}

}  // namespace warden::wardenctl
