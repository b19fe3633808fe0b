#include "common/page_token.h"

#include <gtest/gtest.h>

namespace warden::paging {
namespace {

TEST(PageTokenTest, RoundTripsTheLastKey) {
  const std::string token = EncodePageToken("users|al", "alice@example.org");
  auto decoded = DecodePageToken(token, "users|al");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, "alice@example.org");
}

TEST(PageTokenTest, EmptyTokenMeansFirstPage) {
  auto decoded = DecodePageToken("", "users|");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, "");
}

TEST(PageTokenTest, RefusesTokenOfAnotherQuery) {
  const std::string token = EncodePageToken("users|al", "alice");
  auto decoded = DecodePageToken(token, "users|bo");
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(decoded.status().message().find("different query"), absl::string_view::npos);
}

TEST(PageTokenTest, RefusesGarbage) {
  for (const char* garbage : {"!!!", "bm90IGEgdG9rZW4", "cDE6", "cDE6MDAwMDAwMDAwMDAwMDAwMA"}) {
    EXPECT_EQ(DecodePageToken(garbage, "users|").status().code(),
              absl::StatusCode::kInvalidArgument)
        << garbage;
  }
}

TEST(PageTokenTest, ResolvesPageSizes) {
  EXPECT_EQ(*ResolvePageSize(0), kDefaultPageSize);
  EXPECT_EQ(*ResolvePageSize(1), 1);
  EXPECT_EQ(*ResolvePageSize(kMaxPageSize), kMaxPageSize);
  EXPECT_EQ(ResolvePageSize(-1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResolvePageSize(kMaxPageSize + 1).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
TEST(PageTokenTest, IdCursorsRoundTripAndRefuseOtherKeys) {
  EXPECT_EQ(*DecodeIdPageToken("", "q"), std::nullopt);
  EXPECT_EQ(*DecodeIdPageToken(EncodePageToken("q", "42"), "q"), 42);
  EXPECT_EQ(DecodeIdPageToken(EncodePageToken("q", "42"), "other").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeIdPageToken(EncodePageToken("q", "not-an-id"), "q").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace warden::paging
