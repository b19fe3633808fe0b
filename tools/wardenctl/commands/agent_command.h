#pragma once

// The warden-agent command line `wardenctl enroll` prints: the ticket, the
// control plane as this wardenctl reaches it (the same TLS settings), and
// drivers for the protocols the node may carry.

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "tools/wardenctl/connection_settings.h"
#include "warden/v1/common.pb.h"

namespace warden::wardenctl {

std::string AgentCommandLine(const ConnectionSettings& settings, const std::string& ticket,
                             const std::vector<std::string>& drivers,
                             const std::vector<v1::Protocol>& protocols);

// `text` as one shell word: as it is when it holds nothing the shell would
// read, else in single quotes.
std::string ShellWord(absl::string_view text);

}  // namespace warden::wardenctl
