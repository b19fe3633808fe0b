#pragma once

// A value taken from an untrusted token (an algorithm name, a kid, an
// issuer), for an error message: quoted, and cut short so that a hostile
// token cannot fill the log.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace warden::control::oidc {

inline std::string ShownValue(absl::string_view value) {
  constexpr size_t kMaxShown = 80;
  if (value.size() <= kMaxShown) return absl::StrCat("\"", value, "\"");
  size_t cut = kMaxShown;
  // Never end inside a UTF-8 sequence: back off over continuation bytes.
  while (cut > 0 && (static_cast<unsigned char>(value[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat("\"", value.substr(0, cut), "\"...");
}

}  // namespace warden::control::oidc
