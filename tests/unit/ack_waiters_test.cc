#include "controlplane/dispatch/ack_waiters.h"

#include <gtest/gtest.h>

#include <optional>
#include <vector>

namespace warden::control::dispatch {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

// Collects what each waiter heard.
struct Heard {
  std::vector<absl::StatusOr<model::CommandOutcome>> answers;
  AckWaiters::Done Waiter() {
    return [this](absl::StatusOr<model::CommandOutcome> outcome) {
      answers.push_back(std::move(outcome));
    };
  }
};

TEST(AckWaitersTest, ResolvesEveryWaiterOfTheCommandOnceFromTheAnswer) {
  AckWaiters waiters;
  Heard heard;
  waiters.Await(1, kNow + absl::Seconds(5), heard.Waiter());
  waiters.Await(1, kNow + absl::Seconds(5), heard.Waiter());
  waiters.Await(2, kNow + absl::Seconds(5), heard.Waiter());

  EXPECT_EQ(waiters.Resolve(1, model::AnswerOutcome(/*ok=*/true, "", /*retrying=*/false)), 2);
  ASSERT_EQ(heard.answers.size(), 2u);
  EXPECT_TRUE(heard.answers[0]->ok);
  EXPECT_EQ(heard.answers[1]->result, "ok");
  EXPECT_EQ(waiters.Resolve(1, model::CommandOutcome{}), 0) << "each waiter hears once";
  EXPECT_FALSE(waiters.Waiting(1));
  EXPECT_TRUE(waiters.Waiting(2));
  EXPECT_EQ(waiters.Waited(), std::vector<int64_t>{2});
}

TEST(AckWaitersTest, WaitersHearAFailedKillThatIsRetried) {
  AckWaiters waiters;
  Heard heard;
  waiters.Await(3, kNow + absl::Seconds(5), heard.Waiter());
  waiters.Resolve(3, model::AnswerOutcome(/*ok=*/false, "client-kill refused", /*retrying=*/true));
  ASSERT_EQ(heard.answers.size(), 1u);
  const model::CommandOutcome& outcome = *heard.answers[0];
  EXPECT_TRUE(outcome.acknowledged);
  EXPECT_FALSE(outcome.settled);
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.result, "error: client-kill refused (retrying)");
}

TEST(AckWaitersTest, ExpiresWaitersAtTheirDeadlineOnly) {
  AckWaiters waiters;
  Heard heard;
  waiters.Await(1, kNow + absl::Seconds(1), heard.Waiter());
  waiters.Await(1, kNow + absl::Seconds(3), heard.Waiter());
  EXPECT_EQ(waiters.Expire(kNow), 0);
  EXPECT_EQ(waiters.Expire(kNow + absl::Seconds(1)), 1);
  ASSERT_EQ(heard.answers.size(), 1u);
  EXPECT_EQ(heard.answers[0].status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(waiters.Waiting(1)) << "the later waiter waits on";
  EXPECT_EQ(waiters.Resolve(1, model::AnswerOutcome(true, "", false)), 1);
}

TEST(AckWaitersTest, CancelsEveryWaiterOnShutdown) {
  AckWaiters waiters;
  Heard heard;
  waiters.Await(1, kNow, heard.Waiter());
  waiters.Await(2, kNow, heard.Waiter());
  waiters.CancelAll(absl::UnavailableError("shutting down"));
  ASSERT_EQ(heard.answers.size(), 2u);
  EXPECT_EQ(heard.answers[1].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(waiters.Waited().empty());
}

TEST(AckWaitersTest, AWaiterMayWaitAgainFromItsOwnCallback) {
  // Callbacks run outside the lock: a caller may register again from one.
  AckWaiters waiters;
  Heard heard;
  waiters.Await(1, kNow, [&](absl::StatusOr<model::CommandOutcome>) {
    waiters.Await(1, kNow + absl::Seconds(1), heard.Waiter());
  });
  waiters.Resolve(1, model::CommandOutcome{});
  EXPECT_TRUE(waiters.Waiting(1));
}

}  // namespace
}  // namespace warden::control::dispatch
