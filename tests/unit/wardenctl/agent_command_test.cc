#include "tools/wardenctl/commands/agent_command.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

TEST(AgentCommandTest, QuotesWordsOnlyWhenTheShellWouldReadThem) {
  EXPECT_EQ(ShellWord("wireguard:iface=wg0"), "wireguard:iface=wg0");
  EXPECT_EQ(ShellWord("openvpn:mgmt=unix:/run/o.sock;name=udp"),
            "'openvpn:mgmt=unix:/run/o.sock;name=udp'");
  EXPECT_EQ(ShellWord("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellWord(""), "''");
}

TEST(AgentCommandTest, PrintsTheAgentLineWithTheSameTransport) {
  ConnectionSettings plaintext{.server = "127.0.0.1:50051", .insecure = true};
  EXPECT_EQ(AgentCommandLine(plaintext, "wet_1", {"memory:/tmp/m.sock"}, {}),
            "  warden-agent --control 127.0.0.1:50051 --insecure \\\n"
            "    --state-dir /var/lib/warden-agent --enroll-ticket wet_1 \\\n"
            "    --driver memory:/tmp/m.sock");
  ConnectionSettings tls{.server = "control.example:50051", .ca = "/etc/warden/ca.crt"};
  EXPECT_EQ(AgentCommandLine(tls, "wet_2", {}, {v1::WIREGUARD, v1::OPENVPN}),
            "  warden-agent --control control.example:50051 --ca /etc/warden/ca.crt \\\n"
            "    --state-dir /var/lib/warden-agent --enroll-ticket wet_2 \\\n"
            "    --driver wireguard:iface=wg0 \\\n"
            "    --driver 'openvpn:mgmt=unix:/run/openvpn/server.sock'");
  EXPECT_EQ(AgentCommandLine(tls, "wet_3", {}, {}),
            "  warden-agent --control control.example:50051 --ca /etc/warden/ca.crt \\\n"
            "    --state-dir /var/lib/warden-agent --enroll-ticket wet_3 \\\n"
            "    --driver <wireguard:iface=wg0 | openvpn:mgmt=...>");
}

}  // namespace
}  // namespace warden::wardenctl
