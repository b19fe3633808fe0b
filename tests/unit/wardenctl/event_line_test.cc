#include "tools/wardenctl/event_line.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

v1::AuditEvent Event(const std::string& json) {
  v1::AuditEvent event;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &event).ok());
  return event;
}

std::string Names(absl::string_view kind, const std::string& id) {
  if (kind == "user" && id == "u1") return "alice";
  if (kind == "node" && id == "n1") return "fra-2";
  return "";
}

TEST(EventLineTest, ShowsUsersAndNodesByName) {
  const v1::AuditEvent evict = Event(R"({"id": "7", "at": "2026-12-04T22:51:12Z",
      "actor": "ams-1", "action": "session.evict", "subject": "session:s1",
      "details": {"user_id": "u1", "node_id": "n1", "command_id": 3}})");
  EXPECT_EQ(EventLine(evict, {}, Names),
            "2026-12-04T22:51:12Z  session.evict     session:s1  command_id=3 node=fra-2 "
            "user=alice  by ams-1");
  EXPECT_EQ(EventLine(evict, {}, nullptr),
            "2026-12-04T22:51:12Z  session.evict     session:s1  command_id=3 node_id=n1 "
            "user_id=u1  by ams-1");
}

TEST(EventLineTest, NamesSubjectsAndDropsARepeatedUsername) {
  const v1::AuditEvent update = Event(R"({"id": "8", "at": "2026-12-04T22:51:12Z",
      "actor": "ops", "action": "user.update", "subject": "user:u1",
      "details": {"user_id": "u1", "username": "alice", "reason": "password reset"}})");
  EXPECT_EQ(EventLine(update, {}, Names),
            "2026-12-04T22:51:12Z  user.update       user:alice  reason=\"password reset\" "
            "user=alice  by ops");
}

TEST(EventLineTest, KeepsTheRecordedNameOfAUserSinceDeleted) {
  const v1::AuditEvent admit = Event(R"({"id": "9", "at": "2026-12-04T22:51:12Z",
      "actor": "ams-1", "action": "session.admit", "subject": "session:s2",
      "details": {"user_id": "gone", "username": "carol"}})");
  EXPECT_EQ(EventLine(admit, {}, Names),
            "2026-12-04T22:51:12Z  session.admit     session:s2  user=carol  by ams-1");
}

TEST(EventLineTest, ColoursTheActionByWhatItMeans) {
  const EventLineStyle colour{.terminal = false, .color = true};
  auto line = [&](const std::string& action) {
    return EventLine(Event(R"({"action": ")" + action + R"("})"), colour, nullptr);
  };
  EXPECT_NE(line("session.evict").find("\x1b[31msession.evict"), std::string::npos);
  EXPECT_NE(line("family.revoke").find("\x1b[31m"), std::string::npos);
  EXPECT_NE(line("session.admit").find("\x1b[32msession.admit"), std::string::npos);
  EXPECT_NE(line("node.drain").find("\x1b[33mnode.drain"), std::string::npos);
  EXPECT_EQ(EventLine(Event(R"({"action": "session.evict"})"), {}, nullptr).find('\x1b'),
            std::string::npos);
}

}  // namespace
}  // namespace warden::wardenctl
