#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controlplane/admission/decide.h"
#include "controlplane/admission/seats.h"

namespace warden::control::admission {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

LiveSession Session(std::string id, std::string node, int age_seconds, bool closing = false) {
  LiveSession session;
  session.id = std::move(id);
  session.node_name = node;
  session.node_id = std::move(node);
  session.opened_at = kNow - absl::Seconds(age_seconds);
  session.closing = closing;
  return session;
}

UserLimits Limit(int max, model::LimitPolicy policy = model::LimitPolicy::kEvictOldest,
                 int grace = 0) {
  UserLimits limits;
  limits.max_connections = max;
  limits.policy = policy;
  limits.grace_seconds = grace;
  return limits;
}

// The rule for a password or ticket admission (nobody vouches).
Decision Decide(const UserLimits& limits, std::span<const LiveSession> live, bool node_draining,
                absl::Time now, DecideOptions options = {}) {
  AdmissionFacts facts;
  facts.limits = limits;
  facts.live = live;
  facts.node_draining = node_draining;
  return admission::Decide(facts, now, options);
}

AdmissionFacts Vouched(UserLimits limits, bool trusted, bool provisioned) {
  AdmissionFacts facts;
  facts.limits = limits;
  facts.vouching = Vouching{.node_trusted = trusted, .provisioned_device = provisioned};
  return facts;
}

TEST(AdmissionDecideTest, AdmitsUnderTheLimit) {
  const LiveSession live[] = {Session("a", "ams-1", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, ZeroMeansUnlimited) {
  std::vector<LiveSession> live;
  for (int i = 0; i < 500; ++i) live.push_back(Session(std::to_string(i), "n", i));
  EXPECT_TRUE(Decide(Limit(0, model::LimitPolicy::kReject), live, false, kNow).admit);
}

TEST(AdmissionDecideTest, EvictsOldestWhenAtLimit) {
  const LiveSession live[] = {Session("mid", "fra-2", 50), Session("old", "ams-1", 100),
                              Session("new", "fra-2", 5)};
  Decision decision = Decide(Limit(3), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("old"));
  EXPECT_EQ(decision.kill_due, kNow);
}

TEST(AdmissionDecideTest, EvictsJustEnoughWhenTheLimitWasLowered) {
  const LiveSession live[] = {Session("s1", "n", 40), Session("s2", "n", 30),
                              Session("s3", "n", 20), Session("s4", "n", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("s1", "s2", "s3"));
}

TEST(AdmissionDecideTest, BreaksOpenedAtTiesById) {
  const LiveSession live[] = {Session("b", "n", 10), Session("a", "n", 10)};
  EXPECT_THAT(Decide(Limit(2), live, false, kNow).evict, ElementsAre("a"));
  const LiveSession reversed[] = {Session("a", "n", 10), Session("b", "n", 10)};
  EXPECT_THAT(Decide(Limit(2), reversed, false, kNow).evict, ElementsAre("a"));
}

TEST(AdmissionDecideTest, ClosingSessionsDoNotCount) {
  const LiveSession live[] = {Session("gone", "n", 100, /*closing=*/true), Session("a", "n", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, IsEmpty());
  Decision at_limit = Decide(Limit(1), live, false, kNow);
  EXPECT_THAT(at_limit.evict, ElementsAre("a"));
}

TEST(AdmissionDecideTest, GraceDelaysTheKill) {
  const LiveSession live[] = {Session("a", "n", 10)};
  Decision decision = Decide(Limit(1, model::LimitPolicy::kEvictOldest, 30), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("a"));
  EXPECT_EQ(decision.kill_due, kNow + absl::Seconds(30));
}

TEST(AdmissionDecideTest, RejectTellsTheUserTheLimitAndAdminsWhereSessionsLive) {
  const LiveSession live[] = {Session("x", "fra-2", 5), Session("y", "ams-1", 100),
                              Session("z", "fra-2", 50)};
  Decision decision = Decide(Limit(3, model::LimitPolicy::kReject), live, false, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kDeviceLimitReached);
  EXPECT_EQ(decision.message, "device limit 3 reached: 3 devices are connected");
  EXPECT_EQ(decision.detail, "active on nodes ams-1, fra-2, fra-2");
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, RejectNamesTheNodesToTheUserOnlyWhenTheOperatorAllows) {
  const LiveSession live[] = {Session("x", "fra-2", 5), Session("y", "ams-1", 100)};
  Decision decision = Decide(Limit(2, model::LimitPolicy::kReject), live, false, kNow,
                             DecideOptions{.detailed_messages = true});
  EXPECT_EQ(decision.message, "device limit 2 reached: active on nodes ams-1, fra-2");
}

TEST(AdmissionDecideTest, ANodeVouchesOnlyWhenTrustedOrThroughAProvisionedDevice) {
  struct Case {
    bool trusted, provisioned, admitted;
  } cases[] = {{false, false, false}, {true, false, true}, {false, true, true}, {true, true, true}};
  for (const Case& c : cases) {
    Decision decision = admission::Decide(Vouched(Limit(0), c.trusted, c.provisioned), kNow);
    EXPECT_EQ(decision.admit, c.admitted) << c.trusted << c.provisioned;
    if (!c.admitted) {
      EXPECT_EQ(decision.reason, DenyReason::kBadCredentials);
      EXPECT_EQ(decision.message, "unknown user or wrong password");
      EXPECT_THAT(decision.detail, ::testing::HasSubstr("not a trusted authenticator"));
    }
  }
}

TEST(AdmissionDecideTest, AnUnentitledNodeLearnsNothingAboutTheUser) {
  UserLimits disabled = Limit(0);
  disabled.disabled = true;
  AdmissionFacts facts = Vouched(disabled, false, false);
  facts.node_draining = true;
  EXPECT_EQ(admission::Decide(facts, kNow).reason, DenyReason::kBadCredentials);
}

TEST(AdmissionDecideTest, AConnectionBeingKilledIsNotLetInAgain) {
  for (bool same_user : {true, false}) {
    AdmissionFacts facts = Vouched(Limit(0), /*trusted=*/true, false);
    facts.same_key = model::SameKeySession{.id = "k", .same_user = same_user, .closing = true};
    Decision decision = admission::Decide(facts, kNow);
    EXPECT_FALSE(decision.admit);
    EXPECT_EQ(decision.reason, DenyReason::kSessionEnding);
    EXPECT_THAT(decision.replace, IsEmpty());
  }
}

TEST(AdmissionDecideTest, ALiveSessionAskedAboutAgainIsTheSameAnswerWithoutVouching) {
  const LiveSession live[] = {Session("a", "n", 10), Session("b", "n", 5)};
  AdmissionFacts facts = Vouched(Limit(1), /*trusted=*/false, /*provisioned=*/false);
  facts.live = live;
  facts.node_draining = true;
  facts.same_key = model::SameKeySession{.id = "k", .same_user = true};
  Decision decision = admission::Decide(facts, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_TRUE(decision.already_live);
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, ALiveSessionOfADisabledUserOrAnEndedLoginIsRefused) {
  UserLimits disabled = Limit(0);
  disabled.disabled = true;
  AdmissionFacts facts;
  facts.limits = disabled;
  facts.same_key = model::SameKeySession{.id = "k", .same_user = true};
  EXPECT_EQ(admission::Decide(facts, kNow).reason, DenyReason::kUserDisabled);

  facts.limits = Limit(0);
  facts.same_key->family_live = false;
  Decision ended = admission::Decide(facts, kNow);
  EXPECT_FALSE(ended.admit);
  EXPECT_EQ(ended.reason, DenyReason::kBadCredentials);
}

TEST(AdmissionDecideTest, AnotherUsersSessionUnderTheKeyIsReplaced) {
  AdmissionFacts facts;
  facts.limits = Limit(1);
  facts.same_key = model::SameKeySession{.id = "theirs", .same_user = false};
  Decision decision = admission::Decide(facts, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_FALSE(decision.already_live);
  EXPECT_THAT(decision.replace, ElementsAre("theirs"));
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, SessionsWhoseKillFailedKeepTheirSeats) {
  LiveSession held = Session("held", "n", 100, /*closing=*/true);
  held.kill_failed = true;
  const LiveSession live[] = {held, Session("a", "n", 10)};
  // Two seats taken (one still up although killed): the active one makes room.
  EXPECT_THAT(Decide(Limit(2), live, false, kNow).evict, ElementsAre("a"));
  // With a limit of one, evicting every active session is not enough.
  Decision full = Decide(Limit(1), live, false, kNow);
  EXPECT_FALSE(full.admit);
  EXPECT_EQ(full.reason, DenyReason::kDeviceLimitReached);
  EXPECT_THAT(full.message, ::testing::HasSubstr("still being removed"));
  EXPECT_FALSE(Decide(Limit(2, model::LimitPolicy::kReject), live, false, kNow).admit);
}

TEST(AdmissionDecideTest, ALoweredLimitEvictsTheOldestDownToIt) {
  LiveSession held = Session("held", "n", 200, /*closing=*/true);
  held.kill_failed = true;
  const LiveSession live[] = {Session("s2", "n", 30), Session("s1", "n", 40), held,
                              Session("gone", "n", 300, /*closing=*/true), Session("s3", "n", 20)};
  auto ending = [&](const UserLimits& limits) {
    std::vector<std::string> ids;
    for (const auto& [id, reason] : SessionsToEnd(limits, live, "limit_lowered", "x")) {
      EXPECT_EQ(reason, "limit_lowered");
      ids.push_back(id);
    }
    return ids;
  };
  EXPECT_THAT(ending(Limit(2)), ElementsAre("s1", "s2"));
  EXPECT_THAT(ending(Limit(4)), IsEmpty());
  EXPECT_THAT(ending(Limit(0)), IsEmpty());
  EXPECT_THAT(ending(Limit(1, model::LimitPolicy::kReject)), IsEmpty());
  // Never more than the sessions that can be evicted.
  EXPECT_THAT(ending(Limit(1)), ElementsAre("s1", "s2", "s3"));
}

TEST(AdmissionDecideTest, DeniesDisabledUsers) {
  UserLimits limits = Limit(0);
  limits.disabled = true;
  Decision decision = Decide(limits, {}, false, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kUserDisabled);
}

TEST(AdmissionDecideTest, DrainingNodeAdmitsNoOne) {
  Decision decision = Decide(Limit(0), {}, /*node_draining=*/true, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kNodeDraining);
}

TEST(AdmissionDecideTest, TellsWhetherATicketBelongsToAnotherUser) {
  struct Case {
    const char* named;
    const char* holder;
    bool another;
  } cases[] = {
      {"", "alice", false},       // the node named nobody: the ticket says who
      {"alice", "alice", false},  // the node named the holder
      {"bob", "alice", true},     // the node named someone else
      {"Alice", "alice", true},   // names arrive normalised: a different one is another user
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TicketBelongsToAnother(c.named, c.holder), c.another) << c.named << "/" << c.holder;
  }
}

TEST(AdmissionDecideTest, WithholdsIdleDevicesOnlyWhenARejectUserReachesItsLimit) {
  const LiveSession one[] = {Session("a", "n", 10)};
  const LiveSession one_and_ending[] = {Session("a", "n", 10), Session("b", "n", 5, true)};
  LiveSession failed_kill = Session("c", "n", 5, true);
  failed_kill.kill_failed = true;
  const LiveSession one_and_held[] = {Session("a", "n", 10), failed_kill};
  struct Case {
    const char* name;
    UserLimits limits;
    std::span<const LiveSession> live;
    bool withheld;
  } cases[] = {
      {"unlimited", Limit(0, model::LimitPolicy::kReject), one, false},
      {"evict-oldest at its limit", Limit(2), one, false},
      {"reject, the new one fills the last seat", Limit(2, model::LimitPolicy::kReject), one, true},
      {"reject, a seat stays free", Limit(3, model::LimitPolicy::kReject), one, false},
      {"reject, a session being killed holds no seat", Limit(3, model::LimitPolicy::kReject),
       one_and_ending, false},
      {"reject, a failed kill still holds its seat", Limit(3, model::LimitPolicy::kReject),
       one_and_held, true},
      {"reject, a first session under a limit of one",
       Limit(1, model::LimitPolicy::kReject),
       {},
       true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(WithholdsIdleDevices(c.limits, c.live), c.withheld) << c.name;
    // Decide says the same for every admission it makes.
    Decision decision = Decide(c.limits, c.live, false, kNow);
    if (decision.admit) {
      EXPECT_EQ(decision.withhold_idle_devices, c.withheld) << c.name;
    }
  }
}

TEST(AdmissionDecideTest, ATicketOfAnEndedLoginOrAnotherUserAdmitsNobody) {
  struct Case {
    const char* name;
    TicketFacts ticket;
    bool admit;
    const char* message;
  } cases[] = {
      {"the holder's own ticket", {true, "", "alice"}, true, ""},
      {"named for its holder", {true, "alice", "alice"}, true, ""},
      {"its login was revoked meanwhile",
       {false, "", "alice"},
       false,
       "the connect ticket is not valid"},
      {"named for another user",
       {true, "bob", "alice"},
       false,
       "the connect ticket belongs to another user"},
      {"both", {false, "bob", "alice"}, false, "the connect ticket is not valid"},
  };
  for (const Case& c : cases) {
    AdmissionFacts facts;
    facts.limits = Limit(0);
    facts.ticket = c.ticket;
    // Checked before anything else about the session: the ticket is the credential.
    facts.same_key = model::SameKeySession{.id = "k", .same_user = true};
    Decision decision = admission::Decide(facts, kNow);
    EXPECT_EQ(decision.admit, c.admit) << c.name;
    if (!c.admit) {
      EXPECT_EQ(decision.reason, DenyReason::kBadCredentials) << c.name;
      EXPECT_EQ(decision.message, c.message) << c.name;
      EXPECT_EQ(decision.detail, "") << c.name;
    }
  }
}

}  // namespace
}  // namespace warden::control::admission
