#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstring>
#include <optional>
#include <string>

#include "agent/drivers/quic/address_validation.h"

namespace warden::agent::quic {
namespace {

constexpr uint64_t kLifetime = 10 * NGTCP2_SECONDS;
constexpr uint64_t kIssuedAt = 1000 * NGTCP2_SECONDS;

ngtcp2_cid Cid(uint8_t fill, size_t length) {
  ngtcp2_cid cid;
  cid.datalen = length;
  std::memset(cid.data, fill, length);
  return cid;
}

bool SameCid(const ngtcp2_cid& a, const ngtcp2_cid& b) {
  return a.datalen == b.datalen && std::memcmp(a.data, b.data, a.datalen) == 0;
}

RetryTokens::Secret SecretOf(uint8_t fill) {
  RetryTokens::Secret secret;
  secret.fill(fill);
  return secret;
}

class QuicRetryTokensTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = Address("192.0.2.7", 40000);
    token_ =
        tokens_.Issue(Remote(client_), NGTCP2_PROTO_VER_V1, retry_scid_, original_dcid_, kIssuedAt)
            .value_or("");
    ASSERT_FALSE(token_.empty());
  }

  static sockaddr_in Address(const char* ip, uint16_t port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    inet_pton(AF_INET, ip, &address.sin_addr);
    return address;
  }
  static ngtcp2_addr Remote(sockaddr_in& address) {
    return ngtcp2_addr{.addr = reinterpret_cast<sockaddr*>(&address), .addrlen = sizeof address};
  }

  std::optional<ngtcp2_cid> Verify(const std::string& token, sockaddr_in from, uint64_t now) {
    return tokens_.Verify(token, Remote(from), NGTCP2_PROTO_VER_V1, retry_scid_, now);
  }

  RetryTokens tokens_{SecretOf(7), kLifetime};
  sockaddr_in client_{};
  const ngtcp2_cid retry_scid_ = Cid(0xaa, 16);
  const ngtcp2_cid original_dcid_ = Cid(0x55, 8);
  std::string token_;
};

TEST_F(QuicRetryTokensTest, GivesBackTheOriginalIdWithinTheLifetime) {
  for (uint64_t age : {uint64_t{0}, NGTCP2_SECONDS, kLifetime - NGTCP2_MILLISECONDS}) {
    std::optional<ngtcp2_cid> original = Verify(token_, client_, kIssuedAt + age);
    ASSERT_TRUE(original.has_value()) << age;
    EXPECT_TRUE(SameCid(*original, original_dcid_));
  }
  EXPECT_TRUE(RetryTokens::LooksLikeRetryToken(token_));
}

TEST_F(QuicRetryTokensTest, RefusesATokenPastItsLifetime) {
  EXPECT_FALSE(Verify(token_, client_, kIssuedAt + kLifetime + NGTCP2_MILLISECONDS).has_value());
  EXPECT_FALSE(Verify(token_, client_, kIssuedAt + 60 * NGTCP2_SECONDS).has_value());
}

TEST_F(QuicRetryTokensTest, RefusesATokenFromAnotherAddressOrPort) {
  EXPECT_FALSE(Verify(token_, Address("192.0.2.8", 40000), kIssuedAt).has_value());
  EXPECT_FALSE(Verify(token_, Address("192.0.2.7", 40001), kIssuedAt).has_value());
}

TEST_F(QuicRetryTokensTest, RefusesATokenSentToAnotherConnectionId) {
  sockaddr_in from = client_;
  EXPECT_FALSE(tokens_.Verify(token_, Remote(from), NGTCP2_PROTO_VER_V1, Cid(0xab, 16), kIssuedAt)
                   .has_value());
}

TEST_F(QuicRetryTokensTest, RefusesATokenOfAnotherProcess) {
  RetryTokens restarted(SecretOf(8), kLifetime);
  sockaddr_in from = client_;
  EXPECT_FALSE(restarted.Verify(token_, Remote(from), NGTCP2_PROTO_VER_V1, retry_scid_, kIssuedAt)
                   .has_value());
  auto fresh = RetryTokens::Create(kLifetime);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_FALSE(
      fresh->Verify(token_, Remote(from), NGTCP2_PROTO_VER_V1, retry_scid_, kIssuedAt).has_value());
}

TEST_F(QuicRetryTokensTest, RefusesEveryAlteredOrTruncatedToken) {
  for (size_t i = 0; i < token_.size(); ++i) {
    std::string altered = token_;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    EXPECT_FALSE(Verify(altered, client_, kIssuedAt).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(Verify(token_.substr(0, token_.size() - 1), client_, kIssuedAt).has_value());
  EXPECT_FALSE(Verify(token_ + "x", client_, kIssuedAt).has_value());
  EXPECT_FALSE(Verify("", client_, kIssuedAt).has_value());
}

TEST_F(QuicRetryTokensTest, TellsRetryTokensFromOthersByTheirFirstByte) {
  EXPECT_FALSE(RetryTokens::LooksLikeRetryToken(""));
  EXPECT_FALSE(RetryTokens::LooksLikeRetryToken(std::string(1, '\x36')));  // NEW_TOKEN kind
  EXPECT_TRUE(RetryTokens::LooksLikeRetryToken(std::string(1, '\xb6')));
}

TEST(QuicStatelessRepliesTest, RetryAndCloseGoToTheClientsIdAndStaySmall) {
  ngtcp2_pkt_hd initial{};
  initial.version = NGTCP2_PROTO_VER_V1;
  initial.type = NGTCP2_PKT_INITIAL;
  initial.flags = NGTCP2_PKT_FLAG_LONG_FORM;
  initial.dcid = Cid(0x11, 8);
  initial.scid = Cid(0x22, 16);
  const ngtcp2_cid retry_scid = Cid(0x33, 16);
  uint8_t packet[1452];

  const size_t retry = WriteRetry(packet, sizeof packet, initial, retry_scid,
                                  std::string(NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN, '\xb6'));
  ASSERT_GT(retry, 0u);
  // Far below the client's 1200-byte Initial: no amplification.
  EXPECT_LT(retry, 200u);
  ngtcp2_pkt_hd header;
  ASSERT_GT(ngtcp2_pkt_decode_hd_long(&header, packet, retry), 0);
  EXPECT_EQ(header.type, NGTCP2_PKT_RETRY);
  EXPECT_TRUE(SameCid(header.dcid, initial.scid));
  EXPECT_TRUE(SameCid(header.scid, retry_scid));

  const size_t close = WriteStatelessClose(packet, sizeof packet, initial,
                                           NGTCP2_CONNECTION_REFUSED, "too many connections");
  ASSERT_GT(close, 0u);
  EXPECT_LT(close, 200u);
  ASSERT_GT(ngtcp2_pkt_decode_hd_long(&header, packet, close), 0);
  EXPECT_EQ(header.type, NGTCP2_PKT_INITIAL);
  EXPECT_TRUE(SameCid(header.dcid, initial.scid));
  EXPECT_TRUE(SameCid(header.scid, initial.dcid));
}

}  // namespace
}  // namespace warden::agent::quic
