#include <gtest/gtest.h>
#include <sodium.h>

#include "absl/strings/str_cat.h"
#include "controlplane/signal/identity.h"
#include "controlplane/signal/requests.h"

namespace warden::control::signal {
namespace {

TEST(SignalRequestsTest, AcceptsUtf8AndRefusesMalformedSequences) {
  EXPECT_TRUE(IsUtf8("plain ascii"));
  EXPECT_TRUE(
      IsUtf8("K\xC3\xBC"
             "che \xE2\x82\xAC \xF0\x9F\x98\x80"));  // ü, €, an emoji
  EXPECT_FALSE(IsUtf8("\xC3"));                      // truncated
  EXPECT_FALSE(IsUtf8("\xC0\xAF"));                  // overlong '/'
  EXPECT_FALSE(IsUtf8("\xED\xA0\x80"));              // a surrogate
  EXPECT_FALSE(IsUtf8("\xF4\x90\x80\x80"));          // beyond U+10FFFF
  EXPECT_FALSE(IsUtf8("\xFF"));
}

TEST(SignalRequestsTest, RoomNamesAreShortPrintableUtf8) {
  EXPECT_TRUE(CheckRoomName("name", "kitchen \xF0\x9F\x8D\xB3").ok());
  EXPECT_EQ(CheckRoomName("name", "").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRoomName("name", std::string(65, 'a')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRoomName("name", "tab\there").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckRoomName("name", "bad \xC3").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(CheckRoomName("create_room.name", "").message().find("create_room.name"),
            std::string::npos);
}

TEST(SignalRequestsTest, CreateRoomFillsDefaultsAndBoundsLimits) {
  v1::CreateRoomRequest request;
  request.set_name("mesh");
  absl::StatusOr<RoomSettings> settings = CheckCreateRoom(request, absl::Hours(24));
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->max_clients, kDefaultMaxClients);
  EXPECT_EQ(settings->ttl, absl::Hours(1));

  request.set_max_clients(257);
  EXPECT_EQ(CheckCreateRoom(request, absl::Hours(24)).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_max_clients(256);
  request.set_ttl_seconds(24 * 3600 + 1);
  EXPECT_EQ(CheckCreateRoom(request, absl::Hours(24)).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_ttl_seconds(0);
  // A server whose longest TTL is below the default gives its longest.
  ASSERT_TRUE(CheckCreateRoom(request, absl::Minutes(10)).ok());
  EXPECT_EQ(CheckCreateRoom(request, absl::Minutes(10))->ttl, absl::Minutes(10));
  request.set_password(std::string(257, 'p'));
  EXPECT_EQ(CheckCreateRoom(request, absl::Hours(24)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignalRequestsTest, RelaysNeedARoomIdAKeyOrNoneAndAtMost16KiB) {
  v1::RelayRequest relay;
  relay.set_room_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  relay.set_payload(std::string(kMaxPayloadBytes, 'x'));
  EXPECT_TRUE(CheckRelay(relay).ok());
  relay.set_payload(std::string(kMaxPayloadBytes + 1, 'x'));
  EXPECT_EQ(CheckRelay(relay).code(), absl::StatusCode::kInvalidArgument);
  relay.set_payload("x");
  relay.set_to("short");
  EXPECT_EQ(CheckRelay(relay).code(), absl::StatusCode::kInvalidArgument);
  relay.set_to("");
  relay.set_room_id("0F8FAD5B-D9CB-469F-A165-70867728950E");  // not as the server writes them
  EXPECT_EQ(CheckRelay(relay).code(), absl::StatusCode::kInvalidArgument);
  relay.set_room_id("'; DROP TABLE signal_rooms; --");
  EXPECT_EQ(CheckRelay(relay).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SignalIdentityTest, VerifiesOnlyTheKeysSignatureOfTheContextAndNonce) {
  ASSERT_GE(sodium_init(), 0);
  unsigned char public_key[crypto_sign_PUBLICKEYBYTES], secret_key[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(public_key, secret_key);
  const std::string key(reinterpret_cast<char*>(public_key), sizeof public_key);
  const std::string nonce = NewNonce();
  ASSERT_EQ(nonce.size(), kNonceBytes);
  EXPECT_NE(nonce, NewNonce());

  const auto sign = [&](const std::string& message) {
    std::string signature(crypto_sign_BYTES, '\0');
    crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                         reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                         secret_key);
    return signature;
  };
  EXPECT_TRUE(VerifyChallenge(key, nonce, sign(absl::StrCat(kChallengeContext, nonce))).ok());
  // The bare nonce (no context), another nonce, a damaged signature: refused.
  EXPECT_EQ(VerifyChallenge(key, nonce, sign(nonce)).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyChallenge(key, nonce, sign(absl::StrCat(kChallengeContext, NewNonce()))).code(),
            absl::StatusCode::kUnauthenticated);
  std::string damaged = sign(absl::StrCat(kChallengeContext, nonce));
  damaged[10] ^= 1;
  EXPECT_EQ(VerifyChallenge(key, nonce, damaged).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyChallenge("short", nonce, damaged).code(), absl::StatusCode::kInvalidArgument);
}

TEST(SignalIdentityTest, KeysRoundTripThroughLowercaseHex) {
  const std::string key(kPublicKeyBytes, '\xAB');
  const std::string hex = KeyHex(key);
  std::string expected;
  for (size_t i = 0; i < kPublicKeyBytes; ++i) expected += "ab";
  EXPECT_EQ(hex, expected);
  std::string back;
  ASSERT_TRUE(KeyFromHex(hex, &back));
  EXPECT_EQ(back, key);
  EXPECT_FALSE(KeyFromHex(std::string(64, 'A'), &back));
  EXPECT_FALSE(KeyFromHex("abab", &back));
}

}  // namespace
}  // namespace warden::control::signal
