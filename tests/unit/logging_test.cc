// The JSON lines of --log-format json.

#include "common/logging.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace warden::logging {
namespace {

const absl::Time kAt = absl::FromUnixMicros(1'800'000'000'123'456);

nlohmann::json Line(absl::string_view message) {
  return nlohmann::json::parse(JsonLine(kAt, "info", "control.admin", message));
}

TEST(LoggingTest, WritesEachKeyValuePairAsItsOwnField) {
  const nlohmann::json line =
      Line("refresh token replayed: family=f-1 user=u-2 revoked, 3 tunnels killed");
  EXPECT_EQ(line["ts"], "2027-01-15T08:00:00.123456Z");
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["logger"], "control.admin");
  EXPECT_EQ(line["family"], "f-1");
  EXPECT_EQ(line["user"], "u-2");
  EXPECT_EQ(line["msg"], "refresh token replayed: revoked, 3 tunnels killed");
}

TEST(LoggingTest, ReadsFieldValuesAsTheyAreWritten) {
  struct Case {
    const char* message;
    const char* key;
    const char* value;
    const char* msg;
  } cases[] = {
      {"op=\"close session\" sqlstate=40P01 deadlock", "op", "close session", "deadlock"},
      {"escaped why=\"a \\\"quoted\\\" word\"", "why", "a \"quoted\" word", "escaped"},
      {"cannot read commands for node_id=n-1: timeout", "node_id", "n-1",
       "cannot read commands for: timeout"},
      {"listening channels=warden_commands,warden_acks", "channels", "warden_commands,warden_acks",
       "listening"},
      {"peer from=[::1]:5000 gone", "from", "[::1]:5000", "peer gone"},
      {"empty reason= given", "reason", "", "empty given"},
      {"applied migration version=3", "version", "3", "applied migration"},
  };
  for (const Case& c : cases) {
    const nlohmann::json line = Line(c.message);
    ASSERT_TRUE(line.contains(c.key)) << c.message << " -> " << line.dump();
    EXPECT_EQ(line[c.key], c.value) << c.message;
    EXPECT_EQ(line["msg"], c.msg) << c.message;
  }
}

TEST(LoggingTest, LeavesTextThatIsNoFieldInTheMessage) {
  struct Case {
    const char* message;
    const char* msg;
  } cases[] = {
      // No field at all: the message exactly as written.
      {"database reachable:  serving", "database reachable:  serving"},
      {"UNAVAILABLE: (x=1) 5>=3 =x", "UNAVAILABLE: (x=1) 5>=3 =x"},
      {"http://host/?a=b", "http://host/?a=b"},
      // Names of the line's own members, and a key seen before, stay text.
      {"msg=hi level=9 n=1 n=2", "msg=hi level=9 n=2"},
      {"unterminated why=\"oops n=1", "unterminated why=\"oops"},
  };
  for (const Case& c : cases) {
    const nlohmann::json line = Line(c.message);
    EXPECT_EQ(line["msg"], c.msg) << c.message;
    EXPECT_EQ(line["level"], "info") << c.message;
    EXPECT_EQ(line["logger"], "control.admin") << c.message;
  }
  EXPECT_EQ(Line("msg=hi level=9 n=1 n=2")["n"], "1");
}

TEST(LoggingTest, NeverFailsOnInvalidUtf8) {
  const nlohmann::json line = Line("bad=\xff\xfe bytes");
  EXPECT_TRUE(line.contains("bad"));
}

TEST(LoggingTest, HandsEveryFileOfAComponentTheSameLogger) {
  const Logger a("test.component");
  const Logger b("test.component");
  EXPECT_EQ(a(), b());
  EXPECT_EQ(a(), Get("test.component").get());
  EXPECT_EQ(a()->name(), "test.component");
}

}  // namespace
}  // namespace warden::logging
