#include "controlplane/oidc/base64url.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace warden::control::oidc {
namespace {

bool IsBase64UrlLetter(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

absl::StatusOr<std::string> DecodeBase64Url(absl::string_view encoded) {
  // absl also takes padding and skips some characters; JOSE allows neither.
  for (char c : encoded) {
    if (!IsBase64UrlLetter(c)) {
      return absl::InvalidArgumentError("not base64url (a character outside its alphabet)");
    }
  }
  // One letter left over carries only 6 bits: no byte string encodes so.
  if (encoded.size() % 4 == 1) {
    return absl::InvalidArgumentError("not base64url (truncated)");
  }
  std::string bytes;
  if (!absl::WebSafeBase64Unescape(encoded, &bytes)) {
    return absl::InvalidArgumentError("not base64url");
  }
  return bytes;
}

}  // namespace warden::control::oidc
