#include "common/secrets.h"

#include <gtest/gtest.h>

#include <set>

#include "absl/strings/match.h"

namespace warden::secrets {
namespace {

TEST(SecretsTest, NewTokenHasPrefixAnd64LowercaseHexDigits) {
  const std::string token = NewToken("wct_");
  EXPECT_EQ(token.size(), 4u + 64u);
  EXPECT_TRUE(LooksLikeToken(token, "wct_"));
  EXPECT_FALSE(LooksLikeToken(token, "wet_"));
}

TEST(SecretsTest, NewTokensDoNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(seen.insert(NewToken("x_")).second);
}

TEST(SecretsTest, LooksLikeTokenRejectsWrongShapes) {
  const std::string hex64(64, 'a');
  EXPECT_TRUE(LooksLikeToken("wct_" + hex64, "wct_"));
  EXPECT_FALSE(LooksLikeToken("wct_" + hex64.substr(1), "wct_"));
  EXPECT_FALSE(LooksLikeToken("wct_" + hex64 + "a", "wct_"));
  EXPECT_FALSE(LooksLikeToken("wct_" + std::string(63, 'a') + "A", "wct_"));
  EXPECT_FALSE(LooksLikeToken("wct_" + std::string(63, 'a') + "g", "wct_"));
}

TEST(SecretsTest, Sha256MatchesKnownVector) {
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SecretsTest, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcde"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
}

TEST(SecretsTest, HashPasswordMakesArgon2idThatVerifies) {
  const PasswordHashCost cost{.ops_limit = 1, .mem_limit_bytes = 1 << 20};
  auto hash = HashPassword("correct horse", cost);
  ASSERT_TRUE(hash.ok()) << hash.status();
  EXPECT_TRUE(absl::StartsWith(*hash, "$argon2id$"));
  EXPECT_EQ(hash->find("correct horse"), std::string::npos);
  EXPECT_TRUE(VerifyPassword("correct horse", *hash));
  EXPECT_FALSE(VerifyPassword("correct horsE", *hash));
  EXPECT_FALSE(VerifyPassword("correct horse", ""));
  EXPECT_FALSE(VerifyPassword("correct horse", "$argon2id$garbage"));
}

TEST(SecretsTest, SamePasswordHashesDifferently) {
  const PasswordHashCost cost{.ops_limit = 1, .mem_limit_bytes = 1 << 20};
  EXPECT_NE(*HashPassword("same password", cost), *HashPassword("same password", cost));
}

}  // namespace
}  // namespace warden::secrets
