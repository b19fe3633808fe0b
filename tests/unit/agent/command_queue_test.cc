// The bounded queue between the link's reader and its executor: a place is
// held from read to answer, a full queue holds the reader back, and closing
// releases everyone. Threads only where a call must wait; joins, no sleeps.

#include "agent/link/command_queue.h"

#include <optional>
#include <thread>

#include "gtest/gtest.h"

namespace warden::agent {
namespace {

v1::Command Command(int64_t id) {
  v1::Command command;
  command.set_id(id);
  command.set_kind(v1::KILL_SESSION);
  return command;
}

TEST(CommandQueueTest, HandsCommandsOutInOrder) {
  CommandQueue queue(4);
  ASSERT_TRUE(queue.Push(Command(1)));
  ASSERT_TRUE(queue.Push(Command(2)));
  EXPECT_EQ(queue.Next()->id(), 1);
  EXPECT_EQ(queue.Next()->id(), 2);
}

TEST(CommandQueueTest, HoldsAPlaceUntilTheResultIsWritten) {
  CommandQueue queue(2);
  ASSERT_TRUE(queue.Push(Command(1)));
  ASSERT_TRUE(queue.Push(Command(2)));
  ASSERT_TRUE(queue.Next().has_value());
  ASSERT_TRUE(queue.Next().has_value());
  EXPECT_TRUE(queue.full()) << "executed, but the results are not sent yet";
  EXPECT_EQ(queue.unanswered(), 2u);
  queue.Answered();
  EXPECT_FALSE(queue.full());
  EXPECT_EQ(queue.unanswered(), 1u);
}

TEST(CommandQueueTest, FullQueueHoldsTheReaderUntilAnAnswer) {
  CommandQueue queue(1);
  ASSERT_TRUE(queue.Push(Command(1)));
  ASSERT_TRUE(queue.full());
  bool pushed = false;
  std::thread reader([&] { pushed = queue.Push(Command(2)); });
  EXPECT_EQ(queue.Next()->id(), 1);
  queue.Answered();  // the only way the reader can go on
  reader.join();
  EXPECT_TRUE(pushed);
  EXPECT_EQ(queue.Next()->id(), 2);
}

TEST(CommandQueueTest, CloseReleasesAWaitingReader) {
  CommandQueue queue(1);
  ASSERT_TRUE(queue.Push(Command(1)));
  bool pushed = true;
  std::thread reader([&] { pushed = queue.Push(Command(2)); });
  queue.Close();
  reader.join();
  EXPECT_FALSE(pushed) << "the stream is over: the command comes again at the next attach";
}

TEST(CommandQueueTest, CloseReleasesAWaitingExecutor) {
  CommandQueue queue(4);
  std::optional<v1::Command> next = Command(0);
  std::thread executor([&] { next = queue.Next(); });
  queue.Close();
  executor.join();
  EXPECT_FALSE(next.has_value());
  EXPECT_FALSE(queue.Push(Command(1)));
}

TEST(CommandQueueTest, KeepsAtLeastOnePlace) {
  CommandQueue queue(0);
  EXPECT_FALSE(queue.full());
  EXPECT_TRUE(queue.Push(Command(1)));
  EXPECT_TRUE(queue.full());
}

}  // namespace
}  // namespace warden::agent
