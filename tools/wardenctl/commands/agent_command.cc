#include "tools/wardenctl/commands/agent_command.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace warden::wardenctl {
namespace {

// A driver for each protocol, with the settings of the README's examples.
std::vector<std::string> DriverArgs(const std::vector<std::string>& drivers,
                                    const std::vector<v1::Protocol>& protocols) {
  std::vector<std::string> args;
  for (const std::string& driver : drivers) {
    args.push_back("--driver " + ShellWord(driver));
  }
  if (!drivers.empty()) return args;
  for (v1::Protocol protocol : protocols) {
    switch (protocol) {
      case v1::WIREGUARD:
        args.push_back("--driver wireguard:iface=wg0");
        break;
      case v1::OPENVPN:
        args.push_back("--driver 'openvpn:mgmt=unix:/run/openvpn/server.sock'");
        break;
      case v1::QUIC:
        args.push_back(
            "--quic-listen 0.0.0.0:4433 --quic-cert /etc/warden/quic.crt "
            "--quic-key /etc/warden/quic.key");
        break;
      default:
        break;
    }
  }
  if (args.empty()) args.push_back("--driver <wireguard:iface=wg0 | openvpn:mgmt=...>");
  return args;
}

}  // namespace

std::string ShellWord(absl::string_view text) {
  bool plain = !text.empty();
  for (char c : text) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '=' ||
                      c == ',' || c == '@' || c == '+';
    if (!safe) plain = false;
  }
  if (plain) return std::string(text);
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

std::string AgentCommandLine(const ConnectionSettings& settings, const std::string& ticket,
                             const std::vector<std::string>& drivers,
                             const std::vector<v1::Protocol>& protocols) {
  std::string line = absl::StrCat("  warden-agent --control ", ShellWord(settings.server));
  if (settings.insecure) {
    absl::StrAppend(&line, " --insecure");
  } else if (!settings.ca.empty()) {
    absl::StrAppend(&line, " --ca ", ShellWord(settings.ca));
  }
  if (!settings.server_name.empty()) {
    absl::StrAppend(&line, " --server-name ", ShellWord(settings.server_name));
  }
  absl::StrAppend(&line, " \\\n    --state-dir /var/lib/warden-agent --enroll-ticket ", ticket);
  for (const std::string& arg : DriverArgs(drivers, protocols)) {
    absl::StrAppend(&line, " \\\n    ", arg);
  }
  return line;
}

}  // namespace warden::wardenctl
