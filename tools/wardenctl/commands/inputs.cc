#include "tools/wardenctl/commands/inputs.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tools/wardenctl/exit_codes.h"

namespace warden::wardenctl {

absl::StatusOr<std::string> ReadPasswordFile(const std::string& path) {
  std::stringstream content;
  if (path == "-") {
    content << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("cannot read the password file ", path));
    }
    content << in.rdbuf();
  }
  std::string password = content.str();
  absl::string_view trimmed = password;
  if (!absl::ConsumeSuffix(&trimmed, "\r\n")) absl::ConsumeSuffix(&trimmed, "\n");
  return std::string(trimmed);
}

}  // namespace warden::wardenctl
