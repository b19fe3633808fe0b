// Building the drivers from the agent's configuration: each kind from its
// spec, the QUIC endpoint from its flags, and the agent refusing what
// cannot work. Nothing is started: no sockets, no devices.

#include "agent/drivers/driver_registry.h"

#include <string>
#include <vector>

#include "agent/agent.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Names(const std::vector<std::unique_ptr<Driver>>& drivers) {
  std::vector<std::string> names;
  for (const auto& driver : drivers) names.push_back(driver->name());
  return names;
}

TEST(DriverRegistryTest, BuildsEachKindFromItsSpec) {
  metrics::Registry metrics;
  DriverConfig config;
  config.specs = {"memory:/tmp/warden-test.sock", "openvpn:mgmt=unix:/run/ovpn.sock",
                  "wireguard:iface=wg0;poll=2"};
  config.state_dir = "/tmp";
  config.quic.listen.clear();
  absl::StatusOr<std::vector<std::unique_ptr<Driver>>> drivers = MakeDrivers(config, metrics);
  ASSERT_TRUE(drivers.ok()) << drivers.status();
  EXPECT_THAT(Names(*drivers), ElementsAre("memory", "openvpn", "wireguard"));
}

TEST(DriverRegistryTest, RefusesAnUnknownKindNamingTheKnownOnes) {
  for (const char* spec : {"ipsec:x", "memory:", "openvpn"}) {
    absl::StatusOr<std::unique_ptr<Driver>> driver = MakeDriver(spec, "/tmp");
    EXPECT_EQ(driver.status().code(), absl::StatusCode::kInvalidArgument) << spec;
    EXPECT_THAT(std::string(driver.status().message()), HasSubstr("known: openvpn:")) << spec;
  }
}

TEST(DriverRegistryTest, PassesOnADriversOwnSpecError) {
  absl::StatusOr<std::unique_ptr<Driver>> driver = MakeDriver("wireguard:poll=2", "/tmp");
  EXPECT_EQ(driver.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(driver.status().message()), HasSubstr("iface=<interface>"));
}

TEST(DriverRegistryTest, AddsTheQuicEndpointLastWhenListening) {
  metrics::Registry metrics;
  DriverConfig config;
  config.specs = {"memory:/tmp/warden-test.sock"};
  config.quic.listen = "127.0.0.1:0";
  config.quic.cert_file = "cert.pem";
  config.quic.key_file = "key.pem";
  absl::StatusOr<std::vector<std::unique_ptr<Driver>>> drivers = MakeDrivers(config, metrics);
  ASSERT_TRUE(drivers.ok()) << drivers.status();
  EXPECT_THAT(Names(*drivers), ElementsAre("memory", "quic"));
  EXPECT_FALSE((*drivers)[0]->EndsSessionsOnStop());
  EXPECT_TRUE((*drivers)[1]->EndsSessionsOnStop()) << "stopped while the link still reports";
}

TEST(DriverRegistryTest, QuicNeedsACertificateAndKey) {
  metrics::Registry metrics;
  DriverConfig config;
  config.quic.listen = "0.0.0.0:4433";
  absl::StatusOr<std::vector<std::unique_ptr<Driver>>> drivers = MakeDrivers(config, metrics);
  EXPECT_EQ(drivers.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(drivers.status().message()), HasSubstr("--quic-cert and --quic-key"));
}

TEST(AgentTest, RefusesPlaintextCombinedWithTlsFiles) {
  AgentConfig config;
  config.insecure = true;
  config.tls_files.ca = "ca.pem";
  config.drivers.quic.listen.clear();
  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(config);
  EXPECT_EQ(agent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(agent.status().message()), HasSubstr("--insecure cannot be combined"));
}

TEST(AgentTest, BuildsWithoutStartingAnything) {
  AgentConfig config;
  config.insecure = true;
  config.drivers.specs = {"memory:/tmp/warden-agent-test.sock"};
  config.drivers.quic.listen.clear();
  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(config);
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_THAT((*agent)->driver_names(), ElementsAre("memory"));
}

}  // namespace
}  // namespace warden::agent
