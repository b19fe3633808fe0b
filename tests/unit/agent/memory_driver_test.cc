// The memory driver's control protocol: any password or label fits in a
// word, open takes a label and a protocol, and the driver hands them to the
// agent's core. The driver is driven through its unix control socket, in
// process, with a recording core; no network.

#include "agent/drivers/memory/memory_driver.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "agent/drivers/memory/memory_driver_client.h"
#include "agent/drivers/memory/memory_protocol.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/recording_driver_host.h"

namespace warden::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using warden::testing::RecordingDriverHost;

TEST(MemoryProtocolTest, RoundTripsAnyWord) {
  const std::vector<std::string> words = {"correct horse", "100%=sure", "tab\there", "naïve", ""};
  for (const std::string& word : words) {
    const std::string encoded = memory::EncodeWord(word);
    EXPECT_EQ(encoded.find_first_of(" =\t"), std::string::npos) << encoded;
    absl::StatusOr<std::string> decoded = memory::DecodeWord(encoded);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, word);
  }
  EXPECT_EQ(memory::EncodeWord("correct horse"), "correct%20horse");
  EXPECT_EQ(memory::EncodeWord("laptop-1"), "laptop-1") << "plain words need no encoding";
}

TEST(MemoryProtocolTest, RefusesABrokenEscape) {
  EXPECT_FALSE(memory::DecodeWord("50%").ok());
  EXPECT_FALSE(memory::DecodeWord("%2").ok());
  EXPECT_FALSE(memory::DecodeWord("%zz").ok());
}

TEST(MemoryProtocolTest, ParsesOpenWithPasswordLabelAndProtocol) {
  absl::StatusOr<memory::Request> request = memory::ParseRequest(
      "open laptop alice correct%20horse label=alice%27s%20laptop protocol=wireguard");
  ASSERT_TRUE(request.ok()) << request.status();
  absl::StatusOr<memory::OpenRequest> open = memory::ParseOpen(*request);
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->session_key, "laptop");
  EXPECT_EQ(open->username, "alice");
  EXPECT_EQ(open->password, "correct horse");
  EXPECT_FALSE(open->connect_ticket.has_value());
  EXPECT_EQ(open->device_label, "alice's laptop");
  EXPECT_EQ(open->protocol, Protocol::kWireGuard);
}

TEST(MemoryProtocolTest, OpenDefaultsToTheKeyAsLabelAndOpenVpn) {
  absl::StatusOr<memory::OpenRequest> open =
      memory::ParseOpen(*memory::ParseRequest("open k1 bob"));
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->device_label, "k1");
  EXPECT_EQ(open->protocol, Protocol::kOpenVpn);
  EXPECT_FALSE(open->password.has_value()) << "no secret: the driver vouches";
}

TEST(MemoryProtocolTest, TakesAWctWordAsATicket) {
  const std::string ticket = "wct_" + std::string(64, 'a');
  absl::StatusOr<memory::OpenRequest> open =
      memory::ParseOpen(*memory::ParseRequest("open q1 carol " + ticket + " protocol=QUIC"));
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_EQ(open->connect_ticket, ticket);
  EXPECT_FALSE(open->password.has_value());
  EXPECT_EQ(open->protocol, Protocol::kQuic);
}

TEST(MemoryProtocolTest, RefusesWhatItDoesNotKnow) {
  EXPECT_FALSE(memory::ParseOpen(*memory::ParseRequest("open k1")).ok());
  EXPECT_FALSE(memory::ParseOpen(*memory::ParseRequest("open k1 a b c")).ok());
  EXPECT_THAT(
      std::string(
          memory::ParseOpen(*memory::ParseRequest("open k1 a colour=red")).status().message()),
      HasSubstr("unknown option \"colour\""));
  EXPECT_FALSE(memory::ParseOpen(*memory::ParseRequest("open k1 a protocol=ipsec")).ok());
  EXPECT_FALSE(memory::ParseRequest("   ").ok());
}

class MemoryDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/warden-memory-unit.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    driver_ = std::make_unique<MemoryDriver>(dir_ + "/memory.sock");
    ASSERT_TRUE(driver_->Start(host_).ok());
  }
  void TearDown() override {
    driver_->Stop();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  RecordingDriverHost host_;
  std::unique_ptr<MemoryDriver> driver_;
};

TEST_F(MemoryDriverTest, AsksWithThePasswordLabelAndProtocolGiven) {
  MemoryDriverClient client(dir_ + "/memory.sock");
  EXPECT_THAT(client.Request("open laptop alice correct%20horse label=alice%27s%20laptop "
                             "protocol=wireguard"),
              StartsWith("admitted "));
  ASSERT_THAT(host_.queries(), SizeIs(1));
  const AdmitQuery query = host_.queries()[0];
  EXPECT_EQ(query.password, "correct horse");
  EXPECT_EQ(query.device_label, "alice's laptop");
  EXPECT_EQ(query.protocol, Protocol::kWireGuard);
  ASSERT_THAT(driver_->Inventory(), SizeIs(1));
  EXPECT_EQ(driver_->Inventory()[0].device_label, "alice's laptop");
  EXPECT_EQ(driver_->Inventory()[0].protocol, Protocol::kWireGuard);
  EXPECT_THAT(client.Request("list"), HasSubstr("session laptop alice wireguard alice's%20laptop"));
}

TEST_F(MemoryDriverTest, ClientEncodesWhatItSends) {
  MemoryDriverClient client(dir_ + "/memory.sock");
  EXPECT_THAT(client.Open("my phone", "bob", "pass word=1"), StartsWith("admitted "));
  EXPECT_EQ(host_.queries()[0].session_key, "my phone");
  EXPECT_EQ(host_.queries()[0].password, "pass word=1");
  EXPECT_THAT(client.Sessions(), ElementsAre("my phone"));
  EXPECT_EQ(client.Close("my phone"), "ok");
}

TEST_F(MemoryDriverTest, KeepsLabelsAndProtocolsAcrossARestart) {
  MemoryDriverClient client(dir_ + "/memory.sock");
  ASSERT_THAT(client.Request("open q1 carol label=tablet protocol=quic"), StartsWith("admitted "));
  driver_->Stop();
  driver_ = std::make_unique<MemoryDriver>(dir_ + "/memory.sock");
  ASSERT_TRUE(driver_->Start(host_).ok());
  ASSERT_THAT(driver_->Inventory(), SizeIs(1));
  EXPECT_EQ(driver_->Inventory()[0].device_label, "tablet");
  EXPECT_EQ(driver_->Inventory()[0].protocol, Protocol::kQuic);
}

}  // namespace
}  // namespace warden::agent
