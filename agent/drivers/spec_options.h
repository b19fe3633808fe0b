#pragma once

// The options of a --driver spec after its "<kind>:": "key=value;key=value",
// whitespace around keys and values ignored, empty parts skipped. Each
// driver says which keys it knows.

#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace warden::agent {

struct SpecOption {
  absl::string_view key;
  absl::string_view value;  // "" when the part has no '='
};

inline std::vector<SpecOption> SplitSpecOptions(absl::string_view spec) {
  std::vector<SpecOption> options;
  for (absl::string_view part : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(part, absl::MaxSplits('=', 1));
    options.push_back(
        {absl::StripAsciiWhitespace(kv.first), absl::StripAsciiWhitespace(kv.second)});
  }
  return options;
}

}  // namespace warden::agent
