#include "common/password_hasher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

#include "absl/synchronization/blocking_counter.h"

namespace warden {
namespace {

const secrets::PasswordHashCost kCheap{.ops_limit = 1, .mem_limit_bytes = 1 << 20};

TEST(PasswordHasherTest, HashesAndVerifiesOnItsOwnThreads) {
  PasswordHasher hasher(kCheap, 2, 10);
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
  const secrets::PasswordHashCost slow{.ops_limit = 3, .mem_limit_bytes = 32 << 20};
  PasswordHasher hasher(slow, 1, 10);
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
  PasswordHasher hasher({.ops_limit = 3, .mem_limit_bytes = 32 << 20}, 1, 1);
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

}  // namespace
}  // namespace warden
