// The write queue of a streaming reactor: one write in flight, a finish once,
// and holds that keep the reactor alive under work done elsewhere.

#include "controlplane/services/write_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warden::control::services {
namespace {

class WriteQueueTest : public ::testing::Test {
 protected:
  WriteQueue<std::string> queue_{
      10, "too far behind", [this](const std::string* message) { started_.push_back(*message); },
      [this](const grpc::Status& status) { finishes_.push_back(status); }};
  std::vector<std::string> started_;
  std::vector<grpc::Status> finishes_;
};

TEST_F(WriteQueueTest, FinishesAfterTheWriteOnTheWire) {
  ASSERT_TRUE(queue_.Enqueue("a"));
  queue_.FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "bye"));
  EXPECT_TRUE(finishes_.empty());
  queue_.WriteDone(true);
  ASSERT_EQ(finishes_.size(), 1u);
  EXPECT_EQ(finishes_[0].error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A finish asked for during a write, then a hold (the reader handed a
// message to a worker): the write completing must not finish the stream,
// or the reactor is destroyed under the worker.
TEST_F(WriteQueueTest, AHoldTakenAfterTheFinishWasAskedForDefersItPastTheWrite) {
  ASSERT_TRUE(queue_.Enqueue("a"));
  queue_.FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE, "bye"));
  queue_.Hold();
  queue_.WriteDone(true);
  EXPECT_TRUE(finishes_.empty()) << "finished under a hold";
  EXPECT_FALSE(queue_.Release());
  ASSERT_EQ(finishes_.size(), 1u);
  EXPECT_EQ(finishes_[0].error_code(), grpc::StatusCode::UNAVAILABLE);
  queue_.FinishOnce(grpc::Status::OK);
  EXPECT_EQ(finishes_.size(), 1u) << "finished twice";
}

TEST_F(WriteQueueTest, AFinishUnderAHoldWaitsForTheRelease) {
  queue_.Hold();
  queue_.FinishOnce(grpc::Status::OK);
  EXPECT_TRUE(finishes_.empty());
  EXPECT_FALSE(queue_.Enqueue("late")) << "the stream is ending";
  EXPECT_FALSE(queue_.Release());
  EXPECT_EQ(finishes_.size(), 1u);
}

// A reader's message can arrive while another thread finishes the stream
// (a cancel, the dispatcher closing it): from then on gRPC may destroy the
// reactor when the reaction returns, so no hold may be granted.
TEST_F(WriteQueueTest, RefusesAHoldOnceTheStreamIsFinished) {
  queue_.FinishOnce(grpc::Status::CANCELLED);
  ASSERT_EQ(finishes_.size(), 1u);
  EXPECT_FALSE(queue_.Hold());
  queue_.FinishOnce(grpc::Status::OK);
  EXPECT_EQ(finishes_.size(), 1u) << "finished twice";
}

TEST_F(WriteQueueTest, GrantsAHoldWhileTheFinishWaitsForAWrite) {
  ASSERT_TRUE(queue_.Enqueue("a"));
  queue_.FinishOnce(grpc::Status::OK);
  EXPECT_TRUE(queue_.Hold()) << "not finished yet: the write holds the finish back";
  queue_.WriteDone(true);
  EXPECT_TRUE(finishes_.empty());
  EXPECT_FALSE(queue_.Release());
  EXPECT_EQ(finishes_.size(), 1u);
}

}  // namespace
}  // namespace warden::control::services
