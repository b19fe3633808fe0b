#pragma once

// YAML from JSON, for `-o yaml`. Debian packages no YAML library that the
// project may use, and the output only ever comes from protobuf JSON, so a
// small emitter of block-style YAML is enough: mappings, sequences and
// scalars, with every string quoted when a YAML reader could take it for
// anything but that string.

#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/string_view.h"

namespace warden::wardenctl {

// One YAML document (no "---" marker), ending in a newline. Key order is kept.
std::string ToYaml(const nlohmann::ordered_json& value);

// A scalar for `text`: as it is when a YAML 1.1 or 1.2 reader would read it
// back as the same string, else double-quoted with JSON escapes (which YAML's
// double-quoted style shares).
std::string YamlString(absl::string_view text);

}  // namespace warden::wardenctl
