// The one table of command kinds against the wire contract, and the outcome
// an answer is stored and heard as.

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/model/command.h"
#include "controlplane/services/convert.h"

namespace warden::control {
namespace {

TEST(CommandKindTest, WireNumbersMatchTheProto) {
  for (const model::CommandKindEntry& entry : model::kCommandKinds) {
    const v1::CommandKind wire = services::ToProto(entry.kind);
    EXPECT_TRUE(v1::CommandKind_IsValid(wire)) << entry.name;
    // KILL_SESSION on the wire is kill_session in the outbox, and so on.
    EXPECT_EQ(v1::CommandKind_Name(wire), absl::AsciiStrToUpper(std::string(entry.name)));
  }
}

TEST(CommandKindTest, EveryWireKindHasAnEntry) {
  for (int number = v1::CommandKind_MIN; number <= v1::CommandKind_MAX; ++number) {
    if (!v1::CommandKind_IsValid(number) || number == v1::COMMAND_KIND_UNSPECIFIED) continue;
    std::optional<model::CommandKind> kind = model::KindFromName(
        absl::AsciiStrToLower(v1::CommandKind_Name(static_cast<v1::CommandKind>(number))));
    ASSERT_TRUE(kind.has_value()) << number;
    EXPECT_EQ(model::KindWireNumber(*kind), number);
  }
}

TEST(CommandKindTest, NamesRoundTripAndAnUnknownNameIsNoKind) {
  for (const model::CommandKindEntry& entry : model::kCommandKinds) {
    EXPECT_EQ(model::KindFromName(model::KindName(entry.kind)), entry.kind);
  }
  EXPECT_EQ(model::KindFromName("reboot_node"), std::nullopt) << "never guessed into a kill";
  EXPECT_EQ(model::KindFromName(""), std::nullopt);
  EXPECT_EQ(model::KindFromName("KILL_SESSION"), std::nullopt) << "the outbox name, exactly";
}

TEST(CommandOutcomeTest, AnswersReadAsTheyAlwaysDid) {
  EXPECT_EQ(model::AnswerText(true, ""), "ok");
  EXPECT_EQ(model::AnswerText(true, "peer added"), "ok: peer added");
  EXPECT_EQ(model::AnswerText(false, "no such client"), "error: no such client");
  const model::CommandOutcome failed = model::AnswerOutcome(false, "no such client", false);
  EXPECT_TRUE(failed.acknowledged);
  EXPECT_TRUE(failed.settled);
  EXPECT_FALSE(failed.ok);
  // Whatever the agent's words, its answer decides: "error" in an ok
  // answer's text is still ok.
  const model::CommandOutcome ok = model::AnswerOutcome(true, "error count reset", false);
  EXPECT_TRUE(ok.ok);
  EXPECT_EQ(ok.result, "ok: error count reset");
}

TEST(CommandsTest, WakesEachNodeOnce) {
  const std::vector<store::QueuedCommand> queued = {{.command_id = 1, .node_id = "b"},
                                                    {.command_id = 2, .node_id = "a"},
                                                    {.command_id = 3, .node_id = "b"}};
  EXPECT_EQ(dispatch::NodesOf(queued), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(dispatch::NodesOf({}).empty());
}

}  // namespace
}  // namespace warden::control
