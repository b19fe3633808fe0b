// The pure parts of webhook delivery: Standard Webhooks signatures, sealed
// secrets, the retry schedule, the target guard and the event catalogue,
// and the end reason a killed user is told.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "common/kill_reason.h"
#include "controlplane/webhooks/event_catalogue.h"
#include "controlplane/webhooks/retry_schedule.h"
#include "controlplane/webhooks/secret_box.h"
#include "controlplane/webhooks/signature.h"
#include "controlplane/webhooks/target_guard.h"

namespace warden::control::webhooks {
namespace {

constexpr char kKeyHex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST(WebhookSignatureTest, MatchesTheSpecificationsExample) {
  // The example of the Standard Webhooks specification (also what the npm
  // standardwebhooks package computes for it).
  absl::StatusOr<std::string> key = SecretBytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(Sign(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSignatureTest, SignsWithEverySecretDuringARotation) {
  const std::vector<std::string> keys = {*SecretBytes(NewSigningSecret()),
                                         *SecretBytes(NewSigningSecret())};
  const std::string header = SignatureHeader(keys, "evt_1", 1700000000, "{}");
  EXPECT_EQ(header, Sign(keys[0], "evt_1", 1700000000, "{}") + " " +
                        Sign(keys[1], "evt_1", 1700000000, "{}"));
  // Anything signed differs: id, time, body.
  EXPECT_NE(Sign(keys[0], "evt_2", 1700000000, "{}"), Sign(keys[0], "evt_1", 1700000000, "{}"));
  EXPECT_NE(Sign(keys[0], "evt_1", 1700000001, "{}"), Sign(keys[0], "evt_1", 1700000000, "{}"));
  EXPECT_NE(Sign(keys[0], "evt_1", 1700000000, "{ }"), Sign(keys[0], "evt_1", 1700000000, "{}"));
}

TEST(WebhookSignatureTest, NewSecretsAreDistinctAndWellFormed) {
  const std::string a = NewSigningSecret(), b = NewSigningSecret();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind("whsec_", 0), 0u);
  EXPECT_EQ(SecretBytes(a)->size(), 32u);
  EXPECT_FALSE(SecretBytes("sk_abc").ok());
  EXPECT_FALSE(SecretBytes("whsec_").ok());
  EXPECT_FALSE(SecretBytes("whsec_***").ok());
}

TEST(SecretBoxTest, OpensWhatItSealedAndNothingElse) {
  absl::StatusOr<SecretBox> box = SecretBox::FromHexKey(kKeyHex);
  ASSERT_TRUE(box.ok()) << box.status();
  const std::string sealed = box->Seal("whsec_secret");
  EXPECT_EQ(sealed.find("whsec_secret"), std::string::npos);
  EXPECT_NE(box->Seal("whsec_secret"), sealed);  // a fresh nonce each time
  EXPECT_EQ(*box->Open(sealed), "whsec_secret");

  absl::StatusOr<SecretBox> other = SecretBox::FromHexKey(std::string(64, 'a'));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->Open(sealed).ok());
  EXPECT_FALSE(box->Open("not base64!").ok());
  std::string tampered = sealed;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(box->Open(tampered).ok());
}

TEST(SecretBoxTest, RefusesKeysThatAreNotThirtyTwoHexBytes) {
  EXPECT_FALSE(SecretBox::FromHexKey("abcd").ok());
  EXPECT_FALSE(SecretBox::FromHexKey(std::string(64, 'z')).ok());
  EXPECT_TRUE(SecretBox::FromHexKey(std::string("  ") + kKeyHex + "\n").ok());
  EXPECT_FALSE(SecretBox::FromKeyFile("/nonexistent/webhook.key").ok());
  const std::string path = ::testing::TempDir() + "/webhook.key";
  std::ofstream(path) << kKeyHex << "\n";
  EXPECT_TRUE(SecretBox::FromKeyFile(path).ok());
  std::remove(path.c_str());
}

TEST(RetryScheduleTest, WalksThePausesThenGivesUp) {
  const RetrySchedule schedule = DefaultRetrySchedule();
  ASSERT_EQ(schedule.pauses.size(), 7u);
  EXPECT_EQ(*NextPause(schedule, 1, 0.5), absl::Seconds(5));
  EXPECT_EQ(*NextPause(schedule, 7, 0.5), absl::Hours(24));
  EXPECT_FALSE(NextPause(schedule, 8, 0.5).has_value());
  EXPECT_FALSE(NextPause(schedule, 0, 0.5).has_value());
  // Spread by ±20 %.
  EXPECT_EQ(*NextPause(schedule, 2, 0.0), absl::Seconds(24));
  EXPECT_LT(*NextPause(schedule, 2, 0.999), absl::Seconds(36));
  EXPECT_GT(*NextPause(schedule, 2, 0.999), absl::Seconds(35));
}

TEST(RetryScheduleTest, ParsesAndRefusesSchedules) {
  absl::StatusOr<RetrySchedule> parsed = ParseRetrySchedule("200ms, 1s,2m");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->pauses, (std::vector<absl::Duration>{absl::Milliseconds(200), absl::Seconds(1),
                                                         absl::Minutes(2)}));
  EXPECT_EQ(FormatRetrySchedule(*parsed), "200ms,1s,2m");
  EXPECT_FALSE(ParseRetrySchedule("").ok());
  EXPECT_FALSE(ParseRetrySchedule("5s,soon").ok());
  EXPECT_FALSE(ParseRetrySchedule("0s").ok());
  EXPECT_FALSE(ParseRetrySchedule("-5s").ok());
}

TEST(RetryScheduleTest, OnlyTwoHundredsAreDelivered) {
  EXPECT_EQ(Judge(200), AttemptVerdict::kDelivered);
  EXPECT_EQ(Judge(204), AttemptVerdict::kDelivered);
  for (int status : {0, 101, 301, 302, 400, 404, 410, 429, 500, 503}) {
    EXPECT_EQ(Judge(status), AttemptVerdict::kRetry) << status;
  }
}

TEST(TargetGuardTest, TellsPublicAddressesFromInternalOnes) {
  for (const char* internal : {"127.0.0.1",
                               "127.1.2.3",
                               "10.0.0.1",
                               "172.16.5.4",
                               "172.31.255.255",
                               "192.168.1.1",
                               "169.254.169.254",
                               "100.64.0.1",
                               "0.0.0.0",
                               "224.0.0.1",
                               "255.255.255.255",
                               "::1",
                               "::",
                               "fe80::1",
                               "fc00::1",
                               "fd12:3456::1",
                               "::ffff:127.0.0.1",
                               "::ffff:10.1.2.3",
                               "64:ff9b::a00:1",
                               "2001:db8::1",
                               "ff02::1",
                               "not an address",
                               ""}) {
    EXPECT_FALSE(IsPublicAddress(internal)) << internal;
  }
  for (const char* external : {"8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1",
                               "2606:4700:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_TRUE(IsPublicAddress(external)) << external;
  }
}

TEST(TargetGuardTest, ParsesOnlyHttpUrlsWithoutCredentials) {
  absl::StatusOr<WebhookUrl> url = ParseWebhookUrl("https://hooks.example.com/warden?x=1");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->scheme, "https");
  EXPECT_EQ(url->host, "hooks.example.com");
  EXPECT_EQ(url->port, 443);
  EXPECT_EQ(ParseWebhookUrl("http://[::1]:8080/x")->host, "::1");
  EXPECT_EQ(ParseWebhookUrl("http://[::1]:8080/x")->port, 8080);
  for (const char* bad : {"ftp://example.com/", "file:///etc/passwd", "gopher://x/",
                          "https://user:pw@example.com/", "not a url", "http://"}) {
    EXPECT_FALSE(ParseWebhookUrl(bad).ok()) << bad;
  }
}

TEST(TargetGuardTest, RefusesNamesThatResolveInsideUnlessAllowed) {
  const WebhookUrl local{.scheme = "http", .host = "localhost", .port = 80};
  absl::StatusOr<std::vector<std::string>> refused = ResolveTarget(local, false);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(refused.status().message().find("--webhook-allow-private-targets"), std::string::npos);
  const WebhookUrl loopback{.scheme = "http", .host = "127.0.0.1", .port = 80};
  EXPECT_FALSE(ResolveTarget(loopback, false).ok());
  absl::StatusOr<std::vector<std::string>> allowed = ResolveTarget(loopback, true);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ(*allowed, std::vector<std::string>{"127.0.0.1"});
}

TEST(EventCatalogueTest, SubscriptionsNameTypesOrTheirPrefixes) {
  EXPECT_TRUE(IsSubscribable("session.evicted"));
  EXPECT_TRUE(IsSubscribable("session."));
  EXPECT_TRUE(IsSubscribable("user.limit_reached"));
  EXPECT_TRUE(IsSubscribable("node."));
  EXPECT_FALSE(IsSubscribable("session"));
  EXPECT_FALSE(IsSubscribable("sess"));
  EXPECT_FALSE(IsSubscribable("billing."));
  EXPECT_FALSE(IsSubscribable("session.evicted."));
  EXPECT_FALSE(IsSubscribable(""));
}

TEST(KillReasonTest, CarriesTheCodeAndTheSentence) {
  EXPECT_EQ(JoinKillReason("killed_by_admin", "terms of service"),
            "killed_by_admin: terms of service");
  EXPECT_EQ(JoinKillReason("idle", "idle"), "idle");
  EXPECT_EQ(JoinKillReason("", "a sentence"), "a sentence");
  const KillReason split = SplitKillReason("quota_exceeded: your monthly data is used up");
  EXPECT_EQ(split.code, "quota_exceeded");
  EXPECT_EQ(split.sentence, "your monthly data is used up");
  EXPECT_EQ(SplitKillReason("evicted").code, "evicted");
  EXPECT_EQ(SplitKillReason("Terms: of service").code, "");
  EXPECT_EQ(SplitKillReason("two words").code, "");
}

}  // namespace
}  // namespace warden::control::webhooks
