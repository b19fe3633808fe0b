#pragma once

// Values commands read from outside the command line.

#include <string>

#include "absl/status/statusor.h"

namespace warden::wardenctl {

// A password from a file ("-" = standard input), without its final newline:
// passwords never go on the command line, where `ps` and shell history show
// them.
absl::StatusOr<std::string> ReadPasswordFile(const std::string& path);

}  // namespace warden::wardenctl
