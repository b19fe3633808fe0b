// The kernel WireGuard netlink codec, against hand-encoded byte fixtures.

#include <errno.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <linux/wireguard.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "agent/drivers/wireguard/netlink.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/wireguard/nl_fixture.h"

namespace warden::agent::wireguard {
namespace {

using fixtures::FilledKey;
using fixtures::kFamilyId;
using fixtures::NlWriter;
using fixtures::SplitDumpFixture;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<uint8_t> Concat(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  std::vector<uint8_t> out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

WgDevice ExpectedSplitDumpDevice() {
  WgDevice device;
  device.name = "wg0";
  device.public_key = FilledKey(0x22);
  device.listen_port = 51820;
  device.fwmark = 0x51;
  WgPeer a;
  a.public_key = FilledKey(0xaa);
  a.endpoint = "10.99.0.2:51820";
  a.allowed_ips = {"10.99.1.2/32"};
  a.last_handshake_unix_sec = 1795415224;
  a.last_handshake_nsec = 470385760;
  a.rx_bytes = 476;
  a.tx_bytes = 532;
  WgPeer b;
  b.public_key = FilledKey(0xbb);
  b.preshared_key = FilledKey(0x42);
  b.endpoint = "[fd00::1]:51821";
  b.allowed_ips = {"10.0.0.2/32", "fd00::2/128", "10.0.0.3/32"};
  b.persistent_keepalive = 25;
  WgPeer c;
  c.public_key = FilledKey(0xcc);
  device.peers = {a, b, c};
  return device;
}

TEST(NetlinkCodecTest, EncodesGetDeviceRequestBytes) {
  const std::vector<uint8_t> expected = {
      0x1c, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x01, 0x03,  // len 28, family 0x1c, REQUEST|DUMP
      0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 7, portid 0
      0x00, 0x01, 0x00, 0x00,                          // WG_CMD_GET_DEVICE, version 1
      0x08, 0x00, 0x02, 0x00, 'w',  'g',  '0',  0x00,  // WGDEVICE_A_IFNAME "wg0"
  };
  EXPECT_EQ(EncodeGetDevice(kFamilyId, "wg0", 7), expected);
}

TEST(NetlinkCodecTest, EncodesGetFamilyRequestBytes) {
  const std::vector<uint8_t> expected = {
      0x24, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00,  // len 36, GENL_ID_CTRL, REQUEST|ACK
      0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 5
      0x03, 0x01, 0x00, 0x00,                          // CTRL_CMD_GETFAMILY, version 1
      0x0e, 0x00, 0x02, 0x00, 'w',  'i',  'r',  'e',   // CTRL_ATTR_FAMILY_NAME
      'g',  'u',  'a',  'r',  'd',  0x00, 0x00, 0x00,  // "wireguard\0" + padding
  };
  EXPECT_EQ(EncodeGetFamily(5), expected);
}

TEST(NetlinkCodecTest, EncodesRemovePeerRequestBytes) {
  std::vector<uint8_t> expected = {
      0x50, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00,  // len 80, REQUEST|ACK
      0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq 9
      0x01, 0x01, 0x00, 0x00,                          // WG_CMD_SET_DEVICE, version 1
      0x08, 0x00, 0x02, 0x00, 'w',  'g',  '0',  0x00,  // WGDEVICE_A_IFNAME
      0x34, 0x00, 0x08, 0x80,                          // WGDEVICE_A_PEERS | NLA_F_NESTED
      0x30, 0x00, 0x00, 0x80,                          // peer 0 | NLA_F_NESTED
      0x24, 0x00, 0x01, 0x00,                          // WGPEER_A_PUBLIC_KEY
  };
  expected.insert(expected.end(), 32, 0xaa);
  const std::vector<uint8_t> flags = {0x08, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00};
  expected.insert(expected.end(), flags.begin(), flags.end());  // WGPEER_F_REMOVE_ME
  EXPECT_EQ(EncodeRemovePeer(kFamilyId, "wg0", FilledKey(0xaa), 9), expected);
}

TEST(NetlinkCodecTest, EncodesSetPeerLikeHandEncodedFixture) {
  WgPeer peer;
  peer.public_key = FilledKey(0xbb);
  peer.preshared_key = FilledKey(0x42);
  peer.endpoint = "192.0.2.1:51820";
  peer.persistent_keepalive = 25;
  peer.allowed_ips = {"10.0.0.2/32", "fd00::2/128"};

  NlWriter w;
  w.BeginMessage(kFamilyId, NLM_F_REQUEST | NLM_F_ACK, 11);
  w.Genl(WG_CMD_SET_DEVICE);
  w.AttrStr(WGDEVICE_A_IFNAME, "wg0");
  w.BeginNest(WGDEVICE_A_PEERS);
  w.BeginNest(0);
  w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xbb));
  w.AttrU32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
  w.AttrKey(WGPEER_A_PRESHARED_KEY, FilledKey(0x42));
  std::vector<uint8_t> ep = fixtures::SockaddrIn({192, 0, 2, 1}, 51820);
  w.Attr(WGPEER_A_ENDPOINT, ep.data(), ep.size());
  w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 25);
  w.BeginNest(WGPEER_A_ALLOWEDIPS);
  w.AllowedIp4({10, 0, 0, 2}, 32, /*kernel_order=*/false);
  w.AllowedIp6({0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}, 128, /*kernel_order=*/false);
  w.EndNest();
  w.EndNest();
  w.EndNest();
  w.EndMessage();

  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeSetPeer(kFamilyId, "wg0", peer, 11);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(*encoded, w.bytes());
}

TEST(NetlinkCodecTest, EncodesSetPeerWithoutPskAsZeroKeyAndNoEndpoint) {
  WgPeer peer;
  peer.public_key = FilledKey(0xbb);
  NlWriter w;
  w.BeginMessage(kFamilyId, NLM_F_REQUEST | NLM_F_ACK, 12);
  w.Genl(WG_CMD_SET_DEVICE);
  w.AttrStr(WGDEVICE_A_IFNAME, "wg0");
  w.BeginNest(WGDEVICE_A_PEERS);
  w.BeginNest(0);
  w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(0xbb));
  w.AttrU32(WGPEER_A_FLAGS, WGPEER_F_REPLACE_ALLOWEDIPS);
  w.AttrKey(WGPEER_A_PRESHARED_KEY, FilledKey(0));
  w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 0);
  w.EndNest();
  w.EndNest();
  w.EndMessage();
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeSetPeer(kFamilyId, "wg0", peer, 12);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_EQ(*encoded, w.bytes());
}

TEST(NetlinkCodecTest, EncodeSetPeerRejectsInvalidValues) {
  WgPeer peer;
  peer.allowed_ips = {"10.0.0.2/33"};
  EXPECT_EQ(EncodeSetPeer(kFamilyId, "wg0", peer, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.allowed_ips = {"10.0.0.2/32"};
  peer.endpoint = "vpn.example.com:51820";
  EXPECT_EQ(EncodeSetPeer(kFamilyId, "wg0", peer, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.endpoint.clear();
  peer.persistent_keepalive = 70000;
  EXPECT_EQ(EncodeSetPeer(kFamilyId, "wg0", peer, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  peer.persistent_keepalive = 0;
  peer.allowed_ips.assign(kMaxAllowedIpsPerPeer + 1, "10.0.0.2/32");
  EXPECT_EQ(EncodeSetPeer(kFamilyId, "wg0", peer, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NetlinkCodecTest, EncodesMaximumAllowedIpsInOneMessage) {
  WgPeer peer;
  peer.public_key = FilledKey(0xbb);
  peer.endpoint = "[2001:db8::1]:51820";
  peer.allowed_ips.assign(kMaxAllowedIpsPerPeer, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff/128");
  absl::StatusOr<std::vector<uint8_t>> encoded = EncodeSetPeer(kFamilyId, "wg0", peer, 1);
  ASSERT_TRUE(encoded.ok()) << encoded.status();
  EXPECT_LT(encoded->size(), 65535u);  // every nest length fits its u16
}

TEST(NetlinkCodecTest, DecodesDumpSplitAcrossThreeDatagrams) {
  WgDevice device;
  bool done = false;
  auto datagrams = SplitDumpFixture();
  ASSERT_TRUE(DecodeGetDeviceMessage(datagrams[0].data(), datagrams[0].size(), device, done).ok());
  EXPECT_FALSE(done);
  ASSERT_TRUE(DecodeGetDeviceMessage(datagrams[1].data(), datagrams[1].size(), device, done).ok());
  EXPECT_FALSE(done);
  ASSERT_TRUE(DecodeGetDeviceMessage(datagrams[2].data(), datagrams[2].size(), device, done).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(device, ExpectedSplitDumpDevice());
}

TEST(NetlinkCodecTest, MergesContinuedPeerWhenMessagesShareADatagram) {
  auto d = SplitDumpFixture();
  std::vector<uint8_t> all = Concat(Concat(d[0], d[1]), d[2]);
  WgDevice device;
  bool done = false;
  ASSERT_TRUE(DecodeGetDeviceMessage(all.data(), all.size(), device, done).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(device, ExpectedSplitDumpDevice());
}

TEST(NetlinkCodecTest, DecodesFromMisalignedBuffer) {
  auto d = SplitDumpFixture();
  WgDevice device;
  bool done = false;
  for (const auto& datagram : d) {
    std::vector<uint8_t> shifted(datagram.size() + 1);
    std::copy(datagram.begin(), datagram.end(), shifted.begin() + 1);
    ASSERT_TRUE(DecodeGetDeviceMessage(shifted.data() + 1, datagram.size(), device, done).ok());
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(device, ExpectedSplitDumpDevice());
}

TEST(NetlinkCodecTest, ReportsNoSuchDeviceAsNotFound) {
  NlWriter w;
  w.Error(-ENODEV, 7);
  WgDevice device;
  bool done = false;
  absl::Status s = DecodeGetDeviceMessage(w.bytes().data(), w.bytes().size(), device, done);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  w.Take();
  w.Error(-EPERM, 7);
  s = DecodeGetDeviceMessage(w.bytes().data(), w.bytes().size(), device, done);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
}

TEST(NetlinkCodecTest, ReportsErrnoCarriedByDone) {
  NlWriter w;
  w.Done(7, -EMSGSIZE);
  WgDevice device;
  bool done = false;
  absl::Status s = DecodeGetDeviceMessage(w.bytes().data(), w.bytes().size(), device, done);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(done);
  EXPECT_THAT(std::string(s.message()), HasSubstr("wireguard netlink"));
}

TEST(NetlinkCodecTest, ReportsInterruptedDumpAsAborted) {
  NlWriter w;
  w.BeginMessage(kFamilyId, NLM_F_MULTI | NLM_F_DUMP_INTR, 7);
  w.Genl(WG_CMD_GET_DEVICE);
  w.AttrStr(WGDEVICE_A_IFNAME, "wg0");
  w.EndMessage();
  WgDevice device;
  bool done = false;
  EXPECT_EQ(DecodeGetDeviceMessage(w.bytes().data(), w.bytes().size(), device, done).code(),
            absl::StatusCode::kAborted);
}

TEST(NetlinkCodecTest, IgnoresUnknownAttributes) {
  NlWriter w;
  w.BeginMessage(kFamilyId, NLM_F_MULTI, 7);
  w.Genl(WG_CMD_GET_DEVICE);
  w.AttrU32(200, 1);
  w.AttrStr(WGDEVICE_A_IFNAME, "wg9");
  w.BeginNest(WGDEVICE_A_PEERS);
  w.BeginNest(0);
  w.AttrU32(300, 5);
  w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
  w.BeginNest(WGPEER_A_ALLOWEDIPS);
  w.BeginNest(0);
  w.AttrU8(77, 1);
  w.AttrU16(WGALLOWEDIP_A_FAMILY, AF_INET);
  w.Attr(WGALLOWEDIP_A_IPADDR, "\x0a\x00\x00\x09", 4);
  w.AttrU8(WGALLOWEDIP_A_CIDR_MASK, 24);
  w.EndNest();
  w.EndNest();
  w.EndNest();
  w.EndNest();
  w.EndMessage();
  w.Done(7);
  WgDevice device;
  bool done = false;
  ASSERT_TRUE(DecodeGetDeviceMessage(w.bytes().data(), w.bytes().size(), device, done).ok());
  EXPECT_TRUE(done);
  EXPECT_EQ(device.name, "wg9");
  ASSERT_EQ(device.peers.size(), 1u);
  EXPECT_THAT(device.peers[0].allowed_ips, ElementsAre("10.0.0.9/24"));
}

// Builds one GET_DEVICE message whose only peer is what `fill` writes.
std::vector<uint8_t> OnePeerMessage(void (*fill)(NlWriter&)) {
  NlWriter w;
  w.BeginMessage(kFamilyId, NLM_F_MULTI, 7);
  w.Genl(WG_CMD_GET_DEVICE);
  w.BeginNest(WGDEVICE_A_PEERS);
  w.BeginNest(0);
  fill(w);
  w.EndNest();
  w.EndNest();
  w.EndMessage();
  return w.Take();
}

TEST(NetlinkCodecTest, RejectsMalformedPeers) {
  void (*const cases[])(NlWriter&) = {
      // No public key.
      [](NlWriter& w) { w.AttrU16(WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL, 5); },
      // A 31-byte public key.
      [](NlWriter& w) { w.Attr(WGPEER_A_PUBLIC_KEY, FilledKey(1).data(), 31); },
      // A 4-byte rx counter.
      [](NlWriter& w) {
        w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
        w.AttrU32(WGPEER_A_RX_BYTES, 5);
      },
      // An endpoint of an unknown family.
      [](NlWriter& w) {
        w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
        std::vector<uint8_t> ep = fixtures::SockaddrIn({1, 2, 3, 4}, 5);
        ep[0] = 99;
        w.Attr(WGPEER_A_ENDPOINT, ep.data(), ep.size());
      },
      // An IPv4 allowed IP with 16 address bytes.
      [](NlWriter& w) {
        w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
        w.BeginNest(WGPEER_A_ALLOWEDIPS);
        w.BeginNest(0);
        w.AttrU16(WGALLOWEDIP_A_FAMILY, AF_INET);
        w.Attr(WGALLOWEDIP_A_IPADDR, FilledKey(1).data(), 16);
        w.AttrU8(WGALLOWEDIP_A_CIDR_MASK, 32);
        w.EndNest();
        w.EndNest();
      },
      // An IPv4 allowed IP /33.
      [](NlWriter& w) {
        w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
        w.BeginNest(WGPEER_A_ALLOWEDIPS);
        w.AllowedIp4({10, 0, 0, 1}, 33);
        w.EndNest();
      },
      // An allowed IP without its prefix length.
      [](NlWriter& w) {
        w.AttrKey(WGPEER_A_PUBLIC_KEY, FilledKey(1));
        w.BeginNest(WGPEER_A_ALLOWEDIPS);
        w.BeginNest(0);
        w.AttrU16(WGALLOWEDIP_A_FAMILY, AF_INET);
        w.Attr(WGALLOWEDIP_A_IPADDR, "\x0a\x00\x00\x01", 4);
        w.EndNest();
        w.EndNest();
      },
  };
  int i = 0;
  for (auto fill : cases) {
    std::vector<uint8_t> msg = OnePeerMessage(fill);
    WgDevice device;
    bool done = false;
    absl::Status s = DecodeGetDeviceMessage(msg.data(), msg.size(), device, done);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "case " << i << ": " << s;
    ++i;
  }
}

TEST(NetlinkCodecTest, RejectsEveryTruncationOfADatagram) {
  for (const auto& datagram : SplitDumpFixture()) {
    for (size_t len = 0; len < datagram.size(); ++len) {
      std::vector<uint8_t> prefix(datagram.begin(), datagram.begin() + len);
      WgDevice device;
      bool done = false;
      absl::Status s = DecodeGetDeviceMessage(prefix.data(), prefix.size(), device, done);
      EXPECT_FALSE(s.ok()) << "prefix of " << len << " bytes decoded";
    }
  }
}

TEST(NetlinkCodecTest, RejectsAttributeOverrunningItsMessage) {
  std::vector<uint8_t> msg = SplitDumpFixture()[1];
  // The PEERS nest starts after the 16-byte header and the 4-byte genl header.
  msg[20] = 0xff;
  msg[21] = 0x00;
  WgDevice device;
  bool done = false;
  EXPECT_EQ(DecodeGetDeviceMessage(msg.data(), msg.size(), device, done).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NetlinkCodecTest, RejectsZeroLengthHeaderWithoutLooping) {
  std::vector<uint8_t> msg(32, 0);  // nlmsg_len 0
  WgDevice device;
  bool done = false;
  EXPECT_FALSE(DecodeGetDeviceMessage(msg.data(), msg.size(), device, done).ok());
  EXPECT_FALSE(DecodeGetDeviceMessage(nullptr, 0, device, done).ok());
}

// Found by the mutation test: libmnl 1.0.4's mnl_nlmsg_ok casts nlmsg_len to
// int, so a length of 2^31 or more looked valid and the walk ran off the buffer.
TEST(NetlinkCodecTest, RejectsMessageLengthOver2GiB) {
  std::vector<uint8_t> msg = SplitDumpFixture()[2];
  for (uint32_t len : {0x80000000u, 0xfffffff0u, 0xffffffffu}) {
    std::memcpy(msg.data(), &len, sizeof(len));
    WgDevice device;
    bool done = false;
    uint16_t id = 0;
    EXPECT_FALSE(DecodeGetDeviceMessage(msg.data(), msg.size(), device, done).ok()) << len;
    EXPECT_FALSE(DecodeGetFamilyReply(msg.data(), msg.size(), id, done).ok()) << len;
    EXPECT_FALSE(DecodeAck(msg.data(), msg.size(), done).ok()) << len;
  }
}

TEST(NetlinkCodecTest, DecodesFamilyReplyAndAck) {
  NlWriter w;
  w.BeginMessage(GENL_ID_CTRL, 0, 5);
  w.Genl(CTRL_CMD_NEWFAMILY, 2);
  w.AttrStr(CTRL_ATTR_FAMILY_NAME, "wireguard");
  w.AttrU16(CTRL_ATTR_FAMILY_ID, 0x1c);
  w.AttrU32(CTRL_ATTR_VERSION, 1);
  w.EndMessage();
  std::vector<uint8_t> family_message = w.Take();
  w.Error(0, 5);
  std::vector<uint8_t> ack = w.Take();

  uint16_t id = 0;
  bool done = false;
  ASSERT_TRUE(DecodeGetFamilyReply(family_message.data(), family_message.size(), id, done).ok());
  EXPECT_EQ(id, 0x1c);
  EXPECT_FALSE(done);
  ASSERT_TRUE(DecodeGetFamilyReply(ack.data(), ack.size(), id, done).ok());
  EXPECT_TRUE(done);
}

TEST(NetlinkCodecTest, ReportsMissingFamilyAsNotFound) {
  NlWriter w;
  w.Error(-ENOENT, 5);
  uint16_t id = 0;
  bool done = false;
  EXPECT_EQ(DecodeGetFamilyReply(w.bytes().data(), w.bytes().size(), id, done).code(),
            absl::StatusCode::kNotFound);
}

TEST(NetlinkCodecTest, DecodesAckAndErrorOfSetRequest) {
  NlWriter w;
  w.Error(0, 9);
  bool done = false;
  ASSERT_TRUE(DecodeAck(w.bytes().data(), w.bytes().size(), done).ok());
  EXPECT_TRUE(done);
  w.Take();
  w.Error(-EINVAL, 9);
  done = false;
  absl::Status s = DecodeAck(w.bytes().data(), w.bytes().size(), done);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(done);
  w.Take();
  w.BeginMessage(NLMSG_ERROR, 0, 9);  // too short for its error code
  w.EndMessage();
  EXPECT_FALSE(DecodeAck(w.bytes().data(), w.bytes().size(), done).ok());
}

}  // namespace
}  // namespace warden::agent::wireguard
