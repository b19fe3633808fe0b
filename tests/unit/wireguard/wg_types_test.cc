// Keys, prefixes, endpoints and interface names shared by both protocols.

#include "agent/drivers/wireguard/wg_types.h"

#include <sys/socket.h>

#include <string>

#include "gtest/gtest.h"

namespace warden::agent::wireguard {
namespace {

Key CountingKey() {
  Key key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  return key;
}

TEST(WgTypesTest, RoundTripsKeyThroughBase64) {
  EXPECT_EQ(KeyToBase64(CountingKey()), "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  absl::StatusOr<Key> key = KeyFromBase64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, CountingKey());
}

TEST(WgTypesTest, RejectsMalformedBase64Keys) {
  for (const char* text : {
           "",
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",       // no padding
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",     // extra padding
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=",      // non-zero padding bits
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",    // trailing newline
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",          // 30 bytes
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-h8=",      // URL-safe alphabet
           "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8AAAA=",  // 35 bytes
       }) {
    EXPECT_EQ(KeyFromBase64(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(WgTypesTest, RoundTripsKeyThroughHex) {
  const std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  EXPECT_EQ(KeyToHex(CountingKey()), hex);
  ASSERT_TRUE(KeyFromHex(hex).ok());
  EXPECT_EQ(*KeyFromHex(hex), CountingKey());
  absl::StatusOr<Key> upper =
      KeyFromHex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, CountingKey());
}

TEST(WgTypesTest, RejectsMalformedHexKeys) {
  for (const char* text : {
           "",
           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e",      // 31 bytes
           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",  // 33
           "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",    // 'g'
           " 00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
       }) {
    EXPECT_EQ(KeyFromHex(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(WgTypesTest, ParsesAndFormatsIpPrefixes) {
  absl::StatusOr<IpPrefix> v4 = ParseIpPrefix("10.0.0.2/32");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->prefix_len, 32);
  EXPECT_EQ(FormatIpPrefix(*v4), "10.0.0.2/32");
  absl::StatusOr<IpPrefix> v6 = ParseIpPrefix("FD00:0:0::0002/128");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(FormatIpPrefix(*v6), "fd00::2/128");
  ASSERT_TRUE(ParseIpPrefix("0.0.0.0/0").ok());
  ASSERT_TRUE(ParseIpPrefix("::/0").ok());
}

TEST(WgTypesTest, RejectsInvalidIpPrefixes) {
  for (const char* text : {"", "10.0.0.2", "10.0.0.2/", "10.0.0.2/33", "fd00::1/129", "10.0.0.2/+3",
                           "10.0.0.2/ 3", "10.0.0.2/-0", "10.0.0/8",
                           "10.0.0.2/32\nallowed_ip=0.0.0.0/0", "host/32", "10.0.0.2/0032"}) {
    EXPECT_EQ(ParseIpPrefix(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  EXPECT_FALSE(ParseIpPrefix(absl::string_view("10.0.0.2\0x/32", 13)).ok());
}

TEST(WgTypesTest, ParsesAndFormatsEndpoints) {
  absl::StatusOr<IpEndpoint> v4 = ParseEndpoint("192.0.2.1:51820");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->port, 51820);
  EXPECT_EQ(FormatEndpoint(*v4), "192.0.2.1:51820");
  absl::StatusOr<IpEndpoint> v6 = ParseEndpoint("[2001:DB8::1]:1");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(FormatEndpoint(*v6), "[2001:db8::1]:1");
}

TEST(WgTypesTest, RejectsInvalidEndpoints) {
  for (const char* text : {"", "192.0.2.1", "192.0.2.1:", "192.0.2.1:0", "192.0.2.1:65536",
                           "2001:db8::1:51820", "[192.0.2.1]:5", "[2001:db8::1]", "[2001:db8::1]5",
                           "vpn.example.com:51820", "[fe80::1%eth0]:51820", "192.0.2.1:+5"}) {
    EXPECT_EQ(ParseEndpoint(text).status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(WgTypesTest, ValidatesInterfaceNames) {
  EXPECT_TRUE(ValidateInterfaceName("wg0").ok());
  EXPECT_TRUE(ValidateInterfaceName("wgt-123_x.y").ok());
  EXPECT_TRUE(ValidateInterfaceName("abcdefghijklmno").ok());  // 15 bytes
  for (const char* name : {"", "abcdefghijklmnop", "../wg0", "wg/0", "wg 0", "wg:0", ".", ".."}) {
    EXPECT_EQ(ValidateInterfaceName(name).code(), absl::StatusCode::kInvalidArgument) << name;
  }
}

}  // namespace
}  // namespace warden::agent::wireguard
