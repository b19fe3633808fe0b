// Data quotas at admission, as a table: a used up quota refuses, or under
// THROTTLE admits a QUIC tunnel at the throttle rate; grants raise the
// quota; the refusal says when the quota frees up.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controlplane/admission/decide.h"
#include "controlplane/admission/quota.h"
#include "controlplane/model/effective_policy.h"

namespace warden::control::admission {
namespace {

using model::Protocol;
using model::QuotaAction;
using model::QuotaFacts;
using ::testing::HasSubstr;

constexpr int64_t kGiB = int64_t{1} << 30;
// 2026-12-05 06:00 UTC.
const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 12, 5, 6, 0, 0), absl::UTCTimeZone());
const absl::Time kNextMonth =
    absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 0), absl::UTCTimeZone());
const absl::Time kTomorrow =
    absl::FromCivil(absl::CivilSecond(2026, 12, 6, 0, 0, 0), absl::UTCTimeZone());

UserLimits Quota(int64_t quota_bytes, QuotaAction action = QuotaAction::kDeny, int64_t throttle = 0,
                 int period_days = 0, int64_t bandwidth = 0) {
  UserLimits limits;
  limits.data_quota_bytes = quota_bytes;
  limits.quota_period_days = period_days;
  limits.on_quota_exceeded = action;
  limits.throttle_bytes_per_second = throttle;
  limits.bandwidth_bytes_per_second = bandwidth;
  return limits;
}

QuotaFacts Used(int64_t used, int64_t granted = 0, bool held = false,
                absl::Time frees_up_at = kNextMonth) {
  return QuotaFacts{
      .used_bytes = used, .granted_bytes = granted, .held = held, .frees_up_at = frees_up_at};
}

Decision Admit(const UserLimits& limits, std::optional<QuotaFacts> quota, Protocol protocol) {
  AdmissionFacts facts;
  facts.limits = limits;
  facts.quota = quota;
  facts.requested = model::Requested{
      .node_id = "n1", .node_labels = {}, .protocol = protocol, .device_expires_at = std::nullopt};
  return Decide(facts, kNow);
}

TEST(AdmissionQuotaTest, AUsedUpQuotaRefusesOrThrottlesQuicOnly) {
  struct Case {
    const char* name;
    UserLimits limits;
    std::optional<QuotaFacts> quota;
    Protocol protocol;
    bool admit;
    int64_t bandwidth;  // when admitted
  } cases[] = {
      {"below the quota", Quota(10 * kGiB), Used(9 * kGiB), Protocol::kOpenVpn, true, 0},
      {"no quota", Quota(0), std::nullopt, Protocol::kOpenVpn, true, 0},
      {"at the quota", Quota(10 * kGiB), Used(10 * kGiB), Protocol::kOpenVpn, false, 0},
      {"over the quota", Quota(10 * kGiB), Used(11 * kGiB), Protocol::kWireGuard, false, 0},
      {"a grant raises the quota", Quota(10 * kGiB), Used(11 * kGiB, 2 * kGiB), Protocol::kOpenVpn,
       true, 0},
      {"a grant used up too", Quota(10 * kGiB), Used(12 * kGiB, 2 * kGiB), Protocol::kOpenVpn,
       false, 0},
      {"a hold the ledger no longer backs does not refuse", Quota(10 * kGiB),
       Used(kGiB, 0, true), Protocol::kOpenVpn, true, 0},
      {"deny refuses QUIC too", Quota(10 * kGiB, QuotaAction::kDeny, 4096), Used(10 * kGiB),
       Protocol::kQuic, false, 0},
      {"throttle admits QUIC at the throttle rate", Quota(10 * kGiB, QuotaAction::kThrottle, 4096),
       Used(10 * kGiB), Protocol::kQuic, true, 4096},
      {"throttle admits a held QUIC user over the quota at the throttle rate",
       Quota(10 * kGiB, QuotaAction::kThrottle, 4096), Used(10 * kGiB, 0, true), Protocol::kQuic,
       true, 4096},
      {"throttle never raises the user's own cap",
       Quota(10 * kGiB, QuotaAction::kThrottle, 8192, 0, 2048), Used(10 * kGiB), Protocol::kQuic,
       true, 2048},
      {"throttle below the quota leaves the user's cap",
       Quota(10 * kGiB, QuotaAction::kThrottle, 4096, 0, 1 << 20), Used(kGiB), Protocol::kQuic,
       true, 1 << 20},
      {"throttle refuses WireGuard", Quota(10 * kGiB, QuotaAction::kThrottle, 4096),
       Used(10 * kGiB), Protocol::kWireGuard, false, 0},
      {"throttle refuses OpenVPN", Quota(10 * kGiB, QuotaAction::kThrottle, 4096), Used(10 * kGiB),
       Protocol::kOpenVpn, false, 0},
      {"throttle without a rate refuses QUIC", Quota(10 * kGiB, QuotaAction::kThrottle, 0),
       Used(10 * kGiB), Protocol::kQuic, false, 0},
  };
  for (const Case& c : cases) {
    const Decision decision = Admit(c.limits, c.quota, c.protocol);
    EXPECT_EQ(decision.admit, c.admit) << c.name;
    if (c.admit) {
      EXPECT_EQ(decision.bandwidth_bytes_per_second, c.bandwidth) << c.name;
    } else {
      EXPECT_EQ(decision.reason, DenyReason::kQuotaExceeded) << c.name;
      EXPECT_THAT(decision.message, HasSubstr("your data quota is used up")) << c.name;
    }
  }
}

TEST(AdmissionQuotaTest, TheRefusalSaysWhenTheQuotaFreesUp) {
  const Decision monthly = Admit(Quota(kGiB), Used(kGiB), Protocol::kOpenVpn);
  EXPECT_EQ(monthly.message, "your data quota is used up; it resets on 2027-01-01 00:00 UTC");
  EXPECT_THAT(monthly.detail, HasSubstr("used 1073741824 of 1073741824 bytes"));

  const Decision rolling = Admit(Quota(kGiB, QuotaAction::kDeny, 0, 30),
                                 Used(kGiB, 0, false, kTomorrow), Protocol::kWireGuard);
  EXPECT_EQ(rolling.message,
            "your data quota is used up; usage older than 30 days frees up from 2026-12-06 "
            "00:00 UTC");

  const Decision daily = Admit(Quota(kGiB, QuotaAction::kDeny, 0, 1),
                               Used(kGiB, 0, false, kTomorrow), Protocol::kWireGuard);
  EXPECT_THAT(daily.message, HasSubstr("usage older than 1 day frees up from 2026-12-06"));
}

TEST(AdmissionQuotaTest, AQuotaComesBeforeTheDeviceLimit) {
  // A refusal for the quota kills nothing: no eviction for a session that
  // could not open anyway.
  UserLimits limits = Quota(kGiB);
  limits.max_connections = 1;
  LiveSession live;
  live.id = "old";
  live.opened_at = kNow - absl::Hours(1);
  AdmissionFacts facts;
  facts.limits = limits;
  facts.quota = Used(kGiB);
  const LiveSession sessions[] = {live};
  facts.live = sessions;
  const Decision decision = Decide(facts, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kQuotaExceeded);
  EXPECT_TRUE(decision.evict.empty());
}

TEST(AdmissionQuotaTest, AGrantNearTheLimitOfItsTypeDoesNotWrap) {
  EXPECT_FALSE(QuotaUsedUp(Quota(kGiB), Used(2 * kGiB, INT64_MAX)));
}

TEST(AdmissionQuotaTest, TheQuotaLimitsAreInheritedLikeTheOthers) {
  model::LimitSet plan;
  plan.data_quota_bytes = 100 * kGiB;
  plan.on_quota_exceeded = QuotaAction::kThrottle;
  plan.throttle_bytes_per_second = 65536;
  model::LimitSet own;
  own.data_quota_bytes = 5 * kGiB;
  const model::EffectivePolicy effective = model::ResolvePolicy(own, &plan, "pro");
  EXPECT_EQ(effective.data_quota_bytes.value, 5 * kGiB);
  EXPECT_EQ(effective.data_quota_bytes.source, model::LimitSource::kUser);
  EXPECT_EQ(effective.on_quota_exceeded.value, QuotaAction::kThrottle);
  EXPECT_EQ(effective.on_quota_exceeded.source, model::LimitSource::kPlan);
  EXPECT_EQ(effective.quota_period_days.value, 0);
  EXPECT_EQ(effective.quota_period_days.source, model::LimitSource::kDefault);
  const UserLimits limits = model::LimitsOf(effective, false, std::nullopt);
  EXPECT_EQ(limits.data_quota_bytes, 5 * kGiB);
  EXPECT_EQ(limits.throttle_bytes_per_second, 65536);

  const model::EffectivePolicy none = model::ResolvePolicy({}, nullptr, "");
  EXPECT_EQ(none.data_quota_bytes.value, 0);
  EXPECT_EQ(none.on_quota_exceeded.value, QuotaAction::kDeny);
  EXPECT_EQ(none.throttle_bytes_per_second.value, 0);
}

}  // namespace
}  // namespace warden::control::admission
