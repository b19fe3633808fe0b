#include "tools/wardenctl/names.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

TEST(NamesTest, ShowsEnumsInOperatorWords) {
  EXPECT_EQ(ProtocolName(v1::WIREGUARD), "wireguard");
  EXPECT_EQ(PolicyName(v1::EVICT_OLDEST), "evict-oldest");
  EXPECT_EQ(NodeStateName(v1::NODE_STATE_DRAINING), "draining");
  EXPECT_EQ(SessionStateName(v1::SESSION_STATE_CLOSING), "closing");
  EXPECT_EQ(RoleName(v1::VIEWER), "viewer");
  google::protobuf::RepeatedField<int> protocols;
  EXPECT_EQ(ProtocolsText(protocols), "any");
  protocols.Add(v1::OPENVPN);
  protocols.Add(v1::QUIC);
  EXPECT_EQ(ProtocolsText(protocols), "openvpn,quic");
}

TEST(NamesTest, ParsesOperatorWordsAndTheApisSpelling) {
  EXPECT_EQ(*ParsePolicy("evict-oldest"), v1::EVICT_OLDEST);
  EXPECT_EQ(*ParsePolicy("EVICT_OLDEST"), v1::EVICT_OLDEST);
  EXPECT_EQ(*ParsePolicy("Reject"), v1::REJECT);
  EXPECT_EQ(*ParseProtocol("WireGuard"), v1::WIREGUARD);
  EXPECT_EQ(*ParseRole("ADMIN"), v1::ADMIN);
  EXPECT_EQ(*ParseSessionState("SESSION_STATE_CLOSED"), v1::SESSION_STATE_CLOSED);
  EXPECT_EQ(*ParseSessionState("any"), v1::SESSION_STATE_UNSPECIFIED);
}

TEST(NamesTest, RefusesUnknownWordsNamingTheKnownOnes) {
  absl::StatusOr<v1::LimitPolicy> policy = ParsePolicy("evict-newest");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(policy.status().message(),
            "\"evict-newest\" is not a limit policy (evict-oldest, reject)");
  EXPECT_FALSE(ParseProtocol("ipsec").ok());
  EXPECT_FALSE(ParseProtocol("protocol-unspecified").ok());
}

TEST(NamesTest, ParsesAndShowsByteRates) {
  EXPECT_EQ(*ParseByteRate("1048576"), 1048576);
  EXPECT_EQ(*ParseByteRate("500k"), 500000);
  EXPECT_EQ(*ParseByteRate("10MiB"), 10 * 1024 * 1024);
  EXPECT_EQ(*ParseByteRate("10MiB/s"), 10 * 1024 * 1024);
  EXPECT_EQ(*ParseByteRate("2GB"), 2000000000);
  EXPECT_EQ(*ParseByteRate("64B"), 64);
  EXPECT_EQ(*ParseByteRate("2TiB"), int64_t{2} << 40);
  EXPECT_FALSE(ParseByteRate("99999999999TiB").ok()) << "overflows 64 bits";
  EXPECT_FALSE(ParseByteRate("fast").ok());
  EXPECT_FALSE(ParseByteRate("10 parsecs").ok());
  EXPECT_EQ(RateText(0), "unlimited");
  EXPECT_EQ(RateText(10 * 1024 * 1024), "10.0 MiB/s");
  EXPECT_EQ(BytesText(1023), "1023 B");
  EXPECT_EQ(BytesText(1536), "1.5 KiB");
}

}  // namespace
}  // namespace warden::wardenctl
