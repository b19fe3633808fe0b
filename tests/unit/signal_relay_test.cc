#include <gtest/gtest.h>

#include <string>

#include "controlplane/signal/relay.h"

namespace warden::control::signal {
namespace {

const std::map<std::string, MemberLocation> kRoom = {
    {"aa", {.replica = "here", .stream_id = "s-aa"}},
    {"bb", {.replica = "here", .stream_id = "s-bb"}},
    {"cc", {.replica = "there", .stream_id = "s-cc"}},
    {"dd", {.replica = "elsewhere", .stream_id = "s-dd"}},
};

TEST(RelayTargetsTest, ABroadcastReachesEveryOtherMember) {
  absl::StatusOr<RelayTargets> targets = TargetsOfRelay(kRoom, "aa", "", "here");
  ASSERT_TRUE(targets.ok());
  EXPECT_EQ(targets->local_streams, std::vector<std::string>{"s-bb"}) << "not the sender";
  EXPECT_EQ(targets->remote, 2);
}

TEST(RelayTargetsTest, ADirectRelayReachesItsMemberOnly) {
  absl::StatusOr<RelayTargets> local = TargetsOfRelay(kRoom, "aa", "bb", "here");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->local_streams, std::vector<std::string>{"s-bb"});
  EXPECT_EQ(local->remote, 0) << "nothing published for a member attached here";
  absl::StatusOr<RelayTargets> remote = TargetsOfRelay(kRoom, "aa", "cc", "here");
  ASSERT_TRUE(remote.ok());
  EXPECT_TRUE(remote->local_streams.empty());
  EXPECT_EQ(remote->remote, 1);
}

TEST(RelayTargetsTest, RefusesStrangersAndTheSendersOwnKey) {
  EXPECT_EQ(TargetsOfRelay(kRoom, "aa", "ee", "here").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(TargetsOfRelay(kRoom, "aa", "aa", "here").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RelayTargetsTest, AnEmptyRoomReachesNoOne) {
  absl::StatusOr<RelayTargets> targets = TargetsOfRelay({}, "aa", "", "here");
  ASSERT_TRUE(targets.ok());
  EXPECT_TRUE(targets->local_streams.empty());
  EXPECT_EQ(targets->remote, 0);
}

TEST(RelayNoticePayloadTest, RefusesWhatTheDatabaseLinkCannotCarry) {
  v1::SignalNotice notice;
  notice.mutable_event()->mutable_relayed()->set_payload(std::string(100, 'x'));
  absl::StatusOr<std::string> fits = RelayNoticePayload(notice, 100, 7999);
  ASSERT_TRUE(fits.ok());
  EXPECT_FALSE(fits->empty());
  absl::StatusOr<std::string> too_big = RelayNoticePayload(notice, 100, 64);
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(too_big.status().message().find("smaller pieces"), std::string::npos);
}

}  // namespace
}  // namespace warden::control::signal
