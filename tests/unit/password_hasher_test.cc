#include "common/password_hasher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"

namespace warden {
namespace {

const secrets::PasswordHashCost kCheap{.ops_limit = 1, .mem_limit_bytes = 1 << 20};
const secrets::PasswordHashCost kSlow{.ops_limit = 3, .mem_limit_bytes = 32 << 20};

PasswordHasherOptions Lanes(secrets::PasswordHashCost cost, int threads, size_t max_queued) {
  return PasswordHasherOptions{.cost = cost,
                               .general = {.threads = threads, .max_queued = max_queued},
                               .admission = {.threads = threads, .max_queued = max_queued}};
}

TEST(PasswordHasherTest, HashesAndVerifiesOnItsOwnThreads) {
  metrics::Registry metrics;
  PasswordHasher hasher(Lanes(kCheap, 2, 10), metrics);
  absl::StatusOr<std::string> hash =
      hasher.HashAndWait("hunter2hunter2", absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(hash.ok()) << hash.status();
  absl::BlockingCounter done(2);
  std::atomic<int> matches{0};
  for (const char* attempt : {"hunter2hunter2", "wrong-password"}) {
    hasher.Verify(attempt, *hash, absl::Now() + absl::Seconds(10), [&](absl::StatusOr<bool> ok) {
      if (ok.ok() && *ok) matches.fetch_add(1);
      done.DecrementCount();
    });
  }
  done.Wait();
  EXPECT_EQ(matches.load(), 1);
}

TEST(PasswordHasherTest, CallersWhoseDeadlinePassedWhileQueuedGetResourceExhausted) {
  // One thread, an expensive hash in front: the queued verification's
  // deadline passes before it starts.
  metrics::Registry metrics;
  PasswordHasher hasher(Lanes(kSlow, 1, 10), metrics);
  const std::string hash = *secrets::HashPassword("p", kCheap);
  absl::BlockingCounter done(2);
  absl::StatusOr<std::string> first;
  absl::StatusOr<bool> second;
  hasher.Hash("long running", absl::Now() + absl::Seconds(30), [&](absl::StatusOr<std::string> r) {
    first = std::move(r);
    done.DecrementCount();
  });
  hasher.Verify("p", hash, absl::Now() + absl::Milliseconds(1), [&](absl::StatusOr<bool> r) {
    second = std::move(r);
    done.DecrementCount();
  });
  done.Wait();
  EXPECT_TRUE(first.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PasswordHasherTest, AFullQueueAnswersAtOnce) {
  metrics::Registry metrics;
  PasswordHasher hasher(Lanes(kSlow, 1, 1), metrics);
  std::vector<absl::StatusCode> codes;
  absl::Mutex mu;
  absl::BlockingCounter done(4);
  for (int i = 0; i < 4; ++i) {
    hasher.Hash("pw", absl::Now() + absl::Seconds(30), [&](absl::StatusOr<std::string> r) {
      absl::MutexLock lock(&mu);
      codes.push_back(r.status().code());
      done.DecrementCount();
    });
  }
  done.Wait();
  EXPECT_GE(std::count(codes.begin(), codes.end(), absl::StatusCode::kResourceExhausted), 2);
}

TEST(PasswordHasherTest, AFullGeneralLaneLeavesTheAdmissionLaneItsThreads) {
  metrics::Registry metrics;
  PasswordHasher hasher(Lanes(kSlow, 1, 2), metrics);
  const std::string hash = *secrets::HashPassword("vpn-password", kCheap);
  const std::string slow_hash = *secrets::HashPassword("login-password", kSlow);
  // Logins fill the general lane's thread and queue; the rest are turned away.
  absl::BlockingCounter logins(6);
  std::atomic<int> refused{0}, checked{0};
  for (int i = 0; i < 6; ++i) {
    hasher.Verify("guess", slow_hash, absl::Now() + absl::Seconds(30), [&](absl::StatusOr<bool> r) {
      if (r.status().code() == absl::StatusCode::kResourceExhausted) {
        refused.fetch_add(1);
      } else {
        checked.fetch_add(1);
      }
      logins.DecrementCount();
    });
  }
  // A VPN login meanwhile runs at once on its own lane.
  absl::Notification admitted;
  absl::StatusOr<bool> verified;
  hasher.Verify(
      "vpn-password", hash, absl::Now() + absl::Seconds(30),
      [&](absl::StatusOr<bool> r) {
        verified = r;
        admitted.Notify();
      },
      PasswordHasher::Lane::kAdmission);
  ASSERT_TRUE(admitted.WaitForNotificationWithTimeout(absl::Seconds(20)));
  EXPECT_LT(checked.load(), 3) << "the VPN login did not wait for the logins";
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(*verified);
  logins.Wait();
  // One thread, two queued, the rest turned away (one more when the thread
  // had not yet taken the first off the queue).
  const int turned_away = refused.load();
  EXPECT_GE(turned_away, 3);
  EXPECT_LE(turned_away, 4);
  EXPECT_NE(metrics.Expose().find(absl::StrCat(
                "warden_password_rejections_total{lane=\"general\",reason=\"queue_full\"} ",
                turned_away)),
            std::string::npos)
      << metrics.Expose();
}

TEST(PasswordHasherTest, ASaturatedAdmissionLaneAnswersUnavailableNotAVerdict) {
  metrics::Registry metrics;
  PasswordHasher hasher(Lanes(kSlow, 1, 1), metrics);
  // Slow to verify: the first still runs when the last is submitted.
  const std::string hash = *secrets::HashPassword("p", kSlow);
  absl::BlockingCounter done(4);
  absl::Mutex mu;
  std::vector<absl::StatusCode> codes;
  for (int i = 0; i < 4; ++i) {
    hasher.Verify(
        "p", hash, absl::Now() + absl::Seconds(30),
        [&](absl::StatusOr<bool> r) {
          absl::MutexLock lock(&mu);
          codes.push_back(r.status().code());
          done.DecrementCount();
        },
        PasswordHasher::Lane::kAdmission);
  }
  done.Wait();
  // The agent takes UNAVAILABLE for a control plane it cannot reach and
  // applies its fail-open/fail-closed rule; it never becomes a wrong password.
  EXPECT_GE(std::count(codes.begin(), codes.end(), absl::StatusCode::kUnavailable), 2);
  EXPECT_EQ(std::count(codes.begin(), codes.end(), absl::StatusCode::kResourceExhausted), 0);
}

}  // namespace
}  // namespace warden
