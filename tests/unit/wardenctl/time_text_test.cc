#include "tools/wardenctl/time_text.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1796424672);  // 2026-12-04T22:51:12Z

google::protobuf::Timestamp At(absl::Time time) {
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(time));
  return timestamp;
}

TEST(TimeTextTest, ShowsRelativeTimesOnATerminal) {
  const TimeText text(kNow, /*relative=*/true);
  EXPECT_EQ(text.Format(At(kNow)), "just now");
  EXPECT_EQ(text.Format(At(kNow - absl::Seconds(42))), "42s ago");
  EXPECT_EQ(text.Format(At(kNow - absl::Minutes(3))), "3m ago");
  EXPECT_EQ(text.Format(At(kNow - absl::Hours(5))), "5h ago");
  EXPECT_EQ(text.Format(At(kNow - absl::Hours(24 * 12))), "12d ago");
  EXPECT_EQ(text.Format(At(kNow + absl::Minutes(9) + absl::Seconds(59))), "in 9m");
}

TEST(TimeTextTest, ShowsRfc3339InUtcOtherwise) {
  const TimeText text(kNow, /*relative=*/false);
  EXPECT_EQ(text.Format(At(kNow)), "2026-12-04T22:51:12Z");
}

TEST(TimeTextTest, ShowsNothingForAnUnsetTimestamp) {
  EXPECT_EQ(TimeText(kNow, true).Format(google::protobuf::Timestamp()), "");
  EXPECT_EQ(TimeText(kNow, false).Format(google::protobuf::Timestamp()), "");
}

TEST(TimeTextTest, ParsesDurationFlags) {
  EXPECT_EQ(*ParseDurationFlag("600"), absl::Minutes(10));
  EXPECT_EQ(*ParseDurationFlag("10m"), absl::Minutes(10));
  EXPECT_EQ(*ParseDurationFlag("1h30m"), absl::Minutes(90));
  EXPECT_EQ(*ParseDurationFlag("30d"), absl::Hours(24 * 30));
  EXPECT_FALSE(ParseDurationFlag("soon").ok());
  EXPECT_FALSE(ParseDurationFlag("-5m").ok());
  EXPECT_FALSE(ParseDurationFlag("-3d").ok());
  EXPECT_FALSE(ParseDurationFlag("d").ok());
}

TEST(TimeTextTest, ParsesExpiryFlagsAsRfc3339OrFromNow) {
  EXPECT_EQ(*ParseFutureTimeFlag("2026-12-04T22:51:12Z", absl::UnixEpoch()), kNow);
  EXPECT_EQ(*ParseFutureTimeFlag("30d", kNow), kNow + absl::Hours(24 * 30));
  EXPECT_FALSE(ParseFutureTimeFlag("next week", kNow).ok());
}

TEST(TimeTextTest, ParsesTimeFlagsAsRfc3339OrAgo) {
  EXPECT_EQ(*ParseTimeFlag("2026-12-04T22:51:12Z", absl::UnixEpoch()), kNow);
  EXPECT_EQ(*ParseTimeFlag("2h", kNow), kNow - absl::Hours(2));
  EXPECT_FALSE(ParseTimeFlag("yesterday", kNow).ok());
}

}  // namespace
}  // namespace warden::wardenctl
