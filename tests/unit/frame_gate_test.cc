// The WebSocket front door's frame check: what a client sends goes on to
// civetweb until a frame header declares more than the limit.

#include <gtest/gtest.h>

#include <string>

#include "controlplane/services/signal_websocket_front.h"

namespace warden::control::services {
namespace {

constexpr char kUpgrade[] = "GET /v1/signal HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n";

// A masked client frame header declaring `length` payload bytes.
std::string Header(uint64_t length) {
  std::string header{static_cast<char>(0x81)};
  if (length < 126) {
    header += static_cast<char>(0x80 | length);
  } else if (length <= 0xFFFF) {
    header += static_cast<char>(0x80 | 126);
    header += static_cast<char>(length >> 8);
    header += static_cast<char>(length & 0xFF);
  } else {
    header += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) header += static_cast<char>(length >> shift);
  }
  return header + "mask";
}

TEST(FrameGateTest, PassesTheUpgradeAndFramesWithinTheLimitWhole) {
  FrameGate gate(1000);
  const std::string bytes =
      kUpgrade + Header(5) + "hello" + Header(1000) + std::string(1000, 'x') + Header(0);
  std::string forward;
  EXPECT_FALSE(gate.Feed(bytes.data(), bytes.size(), &forward).has_value());
  EXPECT_EQ(forward, bytes);
}

TEST(FrameGateTest, FollowsHeadersAndPayloadsSplitAcrossReads) {
  FrameGate gate(70000);
  const std::string bytes =
      kUpgrade + Header(300) + std::string(300, 'y') + Header(65536) + std::string(65536, 'z');
  std::string forward;
  for (char c : bytes) ASSERT_FALSE(gate.Feed(&c, 1, &forward).has_value());
  EXPECT_EQ(forward, bytes);
}

TEST(FrameGateTest, ShutsAtTheHeaderOfAnOversizedFrame) {
  FrameGate gate(64 * 1024);
  const std::string small = kUpgrade + Header(2) + "ok";
  const std::string big = Header(uint64_t{1} << 30) + "{\"requestId\"";
  const std::string bytes = small + big;
  std::string forward;
  std::optional<uint64_t> refused = gate.Feed(bytes.data(), bytes.size(), &forward);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(*refused, uint64_t{1} << 30);
  // Nothing of the big frame went on, not even its header; nor anything later.
  EXPECT_EQ(forward, small);
  forward.clear();
  EXPECT_FALSE(gate.Feed(small.data(), small.size(), &forward).has_value());
  EXPECT_TRUE(forward.empty());
}

}  // namespace
}  // namespace warden::control::services
