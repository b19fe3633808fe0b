#pragma once

// What an agent tells a user whose tunnel is killed: "<end reason code>:
// <sentence>", or the code alone when it is its own sentence ("evicted",
// "idle"). Older control planes sent a sentence alone.

#include <string>

#include "absl/strings/string_view.h"

namespace warden {

struct KillReason {
  std::string code;  // "" when the text carries none
  std::string sentence;
};

KillReason SplitKillReason(absl::string_view reason);
std::string JoinKillReason(absl::string_view code, absl::string_view sentence);

}  // namespace warden
