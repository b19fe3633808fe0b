// The rules of plans and limits, as tables: what applies to a user, where
// seats are counted (per node, per label value, fleet-wide) and whom
// EVICT_OLDEST evicts in each scope, restrictions and expiry at admission,
// what a policy change ends, and when time limits end a session.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controlplane/admission/decide.h"
#include "controlplane/admission/policy.h"
#include "controlplane/admission/seats.h"
#include "controlplane/model/effective_policy.h"

namespace warden::control::admission {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

model::NodeLabels Region(const std::string& region) { return {{"region", region}}; }

LiveSession On(std::string id, std::string node, std::string region, int age_seconds,
               model::Protocol protocol = model::Protocol::kOpenVpn) {
  LiveSession session;
  session.id = std::move(id);
  session.node_name = node;
  session.node_id = std::move(node);
  session.node_labels = Region(region);
  session.protocol = protocol;
  session.opened_at = kNow - absl::Seconds(age_seconds);
  return session;
}

UserLimits Limits(int fleet, int per_node = 0, std::vector<model::LabelCap> caps = {},
                  model::LimitPolicy policy = model::LimitPolicy::kEvictOldest) {
  UserLimits limits;
  limits.max_connections = fleet;
  limits.max_connections_per_node = per_node;
  limits.label_caps = std::move(caps);
  limits.policy = policy;
  return limits;
}

Decision Admit(const UserLimits& limits, std::span<const LiveSession> live, const std::string& node,
               const std::string& region, model::Protocol protocol = model::Protocol::kOpenVpn) {
  AdmissionFacts facts;
  facts.limits = limits;
  facts.live = live;
  facts.requested = model::Requested{.node_id = node,
                                     .node_labels = Region(region),
                                     .protocol = protocol,
                                     .device_expires_at = std::nullopt};
  return Decide(facts, kNow);
}

TEST(EffectivePolicyTest, TheUsersOwnLimitsOverrideThePlansAndTheDefaultsFillTheRest) {
  model::LimitSet plan;
  plan.max_connections = 5;
  plan.max_connections_per_node = 2;
  plan.allowed_protocols = std::vector<model::Protocol>{model::Protocol::kWireGuard};
  model::LimitSet own;
  own.max_connections = 1;
  own.allowed_protocols = std::vector<model::Protocol>{};  // "any", set by the user

  const model::EffectivePolicy effective = model::ResolvePolicy(own, &plan, "pro");
  EXPECT_EQ(effective.max_connections.value, 1);
  EXPECT_EQ(effective.max_connections.source, model::LimitSource::kUser);
  EXPECT_EQ(effective.max_connections_per_node.value, 2);
  EXPECT_EQ(effective.max_connections_per_node.source, model::LimitSource::kPlan);
  EXPECT_THAT(effective.allowed_protocols.value, IsEmpty());
  EXPECT_EQ(effective.allowed_protocols.source, model::LimitSource::kUser);
  EXPECT_EQ(effective.limit_policy.value, model::LimitPolicy::kEvictOldest);
  EXPECT_EQ(effective.limit_policy.source, model::LimitSource::kDefault);
  EXPECT_EQ(effective.plan_name, "pro");

  const model::EffectivePolicy no_plan = model::ResolvePolicy(model::LimitSet{}, nullptr, "pro");
  EXPECT_EQ(no_plan.max_connections.value, 0);
  EXPECT_EQ(no_plan.max_connections.source, model::LimitSource::kDefault);
  EXPECT_EQ(no_plan.plan_name, "");
}

TEST(EffectivePolicyTest, ANodeMatchesASelectorWhenEveryKeyHasOneOfItsValues) {
  const model::NodeSelector eu = {{"region", {"eu-west", "eu-central"}}};
  EXPECT_TRUE(model::NodeMatches(eu, Region("eu-west")));
  EXPECT_TRUE(model::NodeMatches(eu, {{"region", "eu-central"}, {"tier", "free"}}));
  EXPECT_FALSE(model::NodeMatches(eu, Region("us-east")));
  EXPECT_FALSE(model::NodeMatches(eu, {}));
  EXPECT_TRUE(model::NodeMatches({}, {}));
  const model::NodeSelector premium_eu = {{"region", {"eu-west"}}, {"tier", {"premium"}}};
  EXPECT_FALSE(model::NodeMatches(premium_eu, Region("eu-west")));
  EXPECT_TRUE(model::NodeMatches(premium_eu, {{"region", "eu-west"}, {"tier", "premium"}}));
}

TEST(ScopedCapsTest, APerNodeCapEvictsTheOldestOnThatNodeNotTheOldestAnywhere) {
  const LiveSession live[] = {On("far-old", "fra-1", "eu", 500), On("here", "ams-1", "eu", 100),
                              On("far-new", "fra-1", "eu", 10)};
  Decision decision = Admit(Limits(5, /*per_node=*/1), live, "ams-1", "eu");
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("here"));
}

TEST(ScopedCapsTest, APerLabelCapEvictsWithinTheSameValue) {
  const LiveSession live[] = {On("us-old", "nyc-1", "us", 900), On("eu-a", "ams-1", "eu", 300),
                              On("eu-b", "fra-1", "eu", 200)};
  const UserLimits limits = Limits(0, 0, {{.label = "region", .max = 2}});
  EXPECT_THAT(Admit(limits, live, "par-1", "eu").evict, ElementsAre("eu-a"));
  EXPECT_THAT(Admit(limits, live, "nyc-2", "us").evict, IsEmpty());
}

TEST(ScopedCapsTest, NarrowerScopesEvictFirstAndCountTowardsTheFleet) {
  // Fleet cap 3, one per node: a second device on ams-1 evicts ams-1's
  // session, which also makes room in the fleet.
  const LiveSession live[] = {On("a", "ams-1", "eu", 100), On("b", "fra-1", "eu", 300),
                              On("c", "nyc-1", "us", 500)};
  Decision decision = Admit(Limits(3, 1), live, "ams-1", "eu");
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("a"));
  // On a node with no session of the user, the fleet cap evicts the oldest.
  EXPECT_THAT(Admit(Limits(3, 1), live, "par-1", "eu").evict, ElementsAre("c"));
}

TEST(ScopedCapsTest, UnderRejectEachFullScopeRefusesWithItsOwnReason) {
  const LiveSession live[] = {On("a", "ams-1", "eu", 100), On("b", "fra-1", "eu", 300)};
  const model::LimitPolicy reject = model::LimitPolicy::kReject;
  Decision node = Admit(Limits(0, 1, {}, reject), live, "ams-1", "eu");
  EXPECT_EQ(node.reason, DenyReason::kNodeLimitReached);
  EXPECT_EQ(node.message, "at most 1 device per server: 1 device is connected to this server");
  Decision region =
      Admit(Limits(0, 0, {{.label = "region", .max = 2}}, reject), live, "par-1", "eu");
  EXPECT_EQ(region.reason, DenyReason::kLabelLimitReached);
  EXPECT_EQ(region.message, "at most 2 devices per region: 2 devices are connected in region eu");
  Decision fleet = Admit(Limits(2, 0, {}, reject), live, "nyc-1", "us");
  EXPECT_EQ(fleet.reason, DenyReason::kDeviceLimitReached);
  EXPECT_TRUE(
      Admit(Limits(3, 1, {{.label = "region", .max = 2}}, reject), live, "nyc-1", "us").admit);
}

TEST(ScopedCapsTest, ALabelCapDoesNotApplyOnANodeWithoutTheLabel) {
  const LiveSession live[] = {On("a", "ams-1", "eu", 100)};
  AdmissionFacts facts;
  facts.limits = Limits(0, 0, {{.label = "region", .max = 1}}, model::LimitPolicy::kReject);
  facts.live = live;
  facts.requested.node_id = "lab-1";  // no labels
  EXPECT_TRUE(Decide(facts, kNow).admit);
}

TEST(RestrictionsTest, ProtocolsNodesAndExpiryAreRefusedWithReasons) {
  UserLimits limits = Limits(0);
  limits.allowed_protocols = {model::Protocol::kWireGuard};
  Decision protocol = Admit(limits, {}, "ams-1", "eu", model::Protocol::kOpenVpn);
  EXPECT_EQ(protocol.reason, DenyReason::kProtocolNotAllowed);
  EXPECT_EQ(protocol.message, "your plan does not include OpenVPN");
  EXPECT_TRUE(Admit(limits, {}, "ams-1", "eu", model::Protocol::kWireGuard).admit);

  limits = Limits(0);
  limits.node_selector = {{"region", {"eu"}}};
  EXPECT_EQ(Admit(limits, {}, "nyc-1", "us").reason, DenyReason::kNodeNotAllowed);
  EXPECT_TRUE(Admit(limits, {}, "ams-1", "eu").admit);

  limits = Limits(0);
  limits.expires_at = kNow - absl::Seconds(1);
  Decision expired = Admit(limits, {}, "ams-1", "eu");
  EXPECT_EQ(expired.reason, DenyReason::kAccountExpired);
  EXPECT_EQ(expired.message, "this account expired on 2027-01-15; contact your provider");
  limits.expires_at = kNow + absl::Seconds(1);
  EXPECT_TRUE(Admit(limits, {}, "ams-1", "eu").admit);

  AdmissionFacts device;
  device.limits = Limits(0);
  device.requested.device_expires_at = kNow;
  EXPECT_EQ(Decide(device, kNow).reason, DenyReason::kDeviceExpired);
}

TEST(RestrictionsTest, AnAdmissionKnowsWhenItsFirstTimeLimitComesDue) {
  UserLimits limits = Limits(0);
  limits.max_session_seconds = 3600;
  limits.idle_timeout_seconds = 900;
  limits.expires_at = kNow + absl::Hours(10);
  Decision decision = Admit(limits, {}, "ams-1", "eu");
  ASSERT_TRUE(decision.policy_due_at.has_value());
  EXPECT_EQ(*decision.policy_due_at, kNow + absl::Seconds(900));
  EXPECT_FALSE(Admit(Limits(0), {}, "ams-1", "eu").policy_due_at.has_value());
}

TEST(PolicyChangeTest, RestrictedSessionsEndWhateverThePolicyAndCapsOnlyUnderEvictOldest) {
  const LiveSession live[] = {On("wg", "ams-1", "eu", 400, model::Protocol::kWireGuard),
                              On("ovpn-old", "ams-1", "eu", 300),
                              On("ovpn-new", "ams-1", "eu", 100), On("us", "nyc-1", "us", 200)};
  UserLimits limits = Limits(0, /*per_node=*/1);
  limits.allowed_protocols = {model::Protocol::kOpenVpn};
  limits.node_selector = {{"region", {"eu"}}};
  EXPECT_THAT(SessionsToEnd(limits, live, "limit_lowered", "policy_changed"),
              UnorderedElementsAre(Pair("wg", "policy_changed"), Pair("us", "policy_changed"),
                                   Pair("ovpn-old", "limit_lowered")));
  limits.policy = model::LimitPolicy::kReject;
  EXPECT_THAT(SessionsToEnd(limits, live, "limit_lowered", "policy_changed"),
              UnorderedElementsAre(Pair("wg", "policy_changed"), Pair("us", "policy_changed")));
}

TEST(PolicyChangeTest, RemainingSessionsGetTheirNextDueTime) {
  const LiveSession live[] = {On("a", "ams-1", "eu", 100), On("b", "ams-1", "eu", 50)};
  UserLimits limits = Limits(1);
  limits.max_session_seconds = 3600;
  model::LiveSessionsChange change = ApplyPolicy(limits, live, "policy_changed");
  EXPECT_THAT(change.end, ElementsAre(Pair("a", "policy_changed")));
  ASSERT_EQ(change.due.size(), 1u);
  EXPECT_EQ(change.due[0].first, "b");
  EXPECT_EQ(change.due[0].second, kNow - absl::Seconds(50) + absl::Hours(1));
}

TEST(TimeLimitsTest, EachLimitEndsTheSessionWithItsReason) {
  const absl::Time opened = kNow - absl::Hours(2);
  struct Case {
    const char* name;
    SessionClock clock;
    std::optional<std::string> reason;
  } cases[] = {
      {"no limits", {.opened_at = opened}, std::nullopt},
      {"session too long", {.opened_at = opened, .max_session_seconds = 3600}, "max_session"},
      {"session within", {.opened_at = opened, .max_session_seconds = 3 * 3600}, std::nullopt},
      {"idle since opened", {.opened_at = opened, .idle_timeout_seconds = 900}, "idle"},
      {"recent traffic",
       {.opened_at = opened,
        .last_traffic_at = kNow - absl::Minutes(5),
        .idle_timeout_seconds = 900},
       std::nullopt},
      {"account expired",
       {.opened_at = opened, .account_expires_at = kNow - absl::Minutes(1)},
       "account_expired"},
      {"device expired", {.opened_at = opened, .device_expires_at = kNow}, "device_expired"},
      {"earliest wins",
       {.opened_at = opened,
        .account_expires_at = kNow - absl::Minutes(1),
        .max_session_seconds = 3600},
       "max_session"},
  };
  for (const Case& c : cases) {
    std::optional<TimeLimit> due = DueLimit(c.clock, kNow);
    std::optional<std::string> reason;
    if (due) reason = TimeLimitReason(*due);
    EXPECT_EQ(reason, c.reason) << c.name;
  }
}

TEST(TimeLimitsTest, AnIdleSessionWithTrafficIsLookedAtAgainLater) {
  UserLimits limits = Limits(0);
  limits.idle_timeout_seconds = 900;
  LiveSession session = On("s", "ams-1", "eu", 3600);
  session.last_traffic_at = kNow - absl::Minutes(10);
  TimeVerdict verdict = JudgeTimeLimits(limits, session, kNow);
  EXPECT_FALSE(verdict.end_reason.has_value());
  EXPECT_EQ(verdict.next_due, kNow + absl::Minutes(5));
  session.last_traffic_at = kNow - absl::Minutes(20);
  EXPECT_EQ(JudgeTimeLimits(limits, session, kNow).end_reason, "idle");
}

}  // namespace
}  // namespace warden::control::admission
