#include "common/kill_reason.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace warden {

KillReason SplitKillReason(absl::string_view reason) {
  auto is_code = [](absl::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(),
                                        [](char c) { return absl::ascii_islower(c) || c == '_'; });
  };
  if (is_code(reason)) return KillReason{std::string(reason), std::string(reason)};
  const size_t colon = reason.find(": ");
  if (colon != absl::string_view::npos && is_code(reason.substr(0, colon))) {
    return KillReason{std::string(reason.substr(0, colon)), std::string(reason.substr(colon + 2))};
  }
  return KillReason{"", std::string(reason)};
}

std::string JoinKillReason(absl::string_view code, absl::string_view sentence) {
  if (code.empty()) return std::string(sentence);
  if (sentence.empty() || sentence == code) return std::string(code);
  return absl::StrCat(code, ": ", sentence);
}

}  // namespace warden
