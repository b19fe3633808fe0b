#pragma once

// Shell completion scripts, generated from the command tree itself, so that
// they never fall behind the commands: `wardenctl completion bash` and
// `wardenctl completion zsh`. Commands, aliases, options and the words an
// option takes complete; files complete after --key-file, --ca, --config and
// --password-file, and contexts after --context.

#include <string>

namespace warden::wardenctl {

class Cli;

std::string BashCompletion(const Cli& cli);
std::string ZshCompletion(const Cli& cli);

}  // namespace warden::wardenctl
