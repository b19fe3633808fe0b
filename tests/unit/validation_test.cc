#include "controlplane/services/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace warden::control::services {
namespace {

void ExpectInvalid(const absl::Status& status, absl::string_view names) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), names)) << status.message();
}

TEST(ValidationTest, NormalizesUsernamesToLowerCase) {
  EXPECT_EQ(*NormalizeUsername("username", "Alice.Smith@Example-1_x"), "alice.smith@example-1_x");
}

TEST(ValidationTest, RejectsBadUsernames) {
  for (const std::string& bad :
       {std::string(""), std::string(65, 'a'), std::string("al ice"), std::string("alice!"),
        std::string("ålice"), std::string("a\0b", 3)}) {
    ExpectInvalid(NormalizeUsername("user.username", bad).status(), "user.username");
  }
  EXPECT_TRUE(NormalizeUsername("u", std::string(64, 'a')).ok());
}

TEST(ValidationTest, AcceptsEmptyPrefixButNotBadCharacters) {
  EXPECT_EQ(*NormalizeUsernamePrefix("username_prefix", ""), "");
  EXPECT_EQ(*NormalizeUsernamePrefix("username_prefix", "AL"), "al");
  ExpectInvalid(NormalizeUsernamePrefix("username_prefix", "a%").status(), "username_prefix");
}

TEST(ValidationTest, ChecksPasswordLength) {
  ExpectInvalid(ValidatePassword("user.password", "short"), "user.password");
  ExpectInvalid(ValidatePassword("user.password", std::string(1025, 'x')), "user.password");
  EXPECT_TRUE(ValidatePassword("user.password", "long enough").ok());
}

TEST(ValidationTest, ChecksLimitsRanges) {
  EXPECT_TRUE(ValidateMaxConnections("m", 0).ok());
  EXPECT_TRUE(ValidateMaxConnections("m", 10000).ok());
  ExpectInvalid(ValidateMaxConnections("user.max_connections", -1), "user.max_connections");
  ExpectInvalid(ValidateMaxConnections("user.max_connections", 10001), "10000");
  EXPECT_TRUE(ValidateGraceSeconds("g", 3600).ok());
  ExpectInvalid(ValidateGraceSeconds("user.grace_seconds", 3601), "user.grace_seconds");
  ExpectInvalid(ValidateGraceSeconds("user.grace_seconds", -5), "user.grace_seconds");
  EXPECT_TRUE(ValidateBandwidth("b", 0).ok());
  EXPECT_TRUE(ValidateBandwidth("b", 1024).ok());
  ExpectInvalid(ValidateBandwidth("user.bandwidth_bytes_per_second", 1023), "1024");
  ExpectInvalid(ValidateBandwidth("user.bandwidth_bytes_per_second", -1), "bandwidth");
}

TEST(ValidationTest, ChecksUuids) {
  EXPECT_TRUE(ValidateUuid("id", "3f2504e0-4f89-11d3-9a0c-0305e82c3301").ok());
  ExpectInvalid(ValidateUuid("id", ""), "id is required");
  ExpectInvalid(ValidateUuid("id", "3f2504e0-4f89-11d3-9a0c-0305e82c330"), "UUID");
  ExpectInvalid(ValidateUuid("id", "3f2504e0x4f89-11d3-9a0c-0305e82c3301"), "UUID");
  ExpectInvalid(ValidateUuid("id", "'; DROP TABLE users; --------------"), "UUID");
}

TEST(ValidationTest, ParsesEnumsAndRejectsUnknownValues) {
  EXPECT_EQ(*ParseLimitPolicy("p", v1::LIMIT_POLICY_UNSPECIFIED, true),
            model::LimitPolicy::kEvictOldest);
  ExpectInvalid(ParseLimitPolicy("user.limit_policy", v1::LIMIT_POLICY_UNSPECIFIED, false).status(),
                "user.limit_policy");
  EXPECT_EQ(*ParseLimitPolicy("p", v1::REJECT, false), model::LimitPolicy::kReject);
  ExpectInvalid(ParseLimitPolicy("user.limit_policy", 7, true).status(), "got 7");
  EXPECT_EQ(*ParseRole("role", v1::VIEWER), model::Role::kViewer);
  ExpectInvalid(ParseRole("role", v1::API_KEY_ROLE_UNSPECIFIED).status(), "role");
  ExpectInvalid(ParseRole("role", 9).status(), "role");
}

TEST(ValidationTest, ValidatesCreateUserRequest) {
  v1::CreateUserRequest request;
  ExpectInvalid(ValidateCreateUser(request).status(), "user is required");
  request.mutable_user()->set_username("Bob");
  request.mutable_user()->set_password("password123");
  request.mutable_user()->set_max_connections(3);
  request.mutable_user()->set_bandwidth_bytes_per_second(4096);
  auto valid = ValidateCreateUser(request);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->user.username, "bob");
  EXPECT_EQ(valid->password, "password123");
  EXPECT_EQ(valid->user.limits.max_connections, 3);
  EXPECT_FALSE(valid->user.limits.limit_policy.has_value()) << "unset: as the plan says";
  request.mutable_user()->set_grace_seconds(-1);
  ExpectInvalid(ValidateCreateUser(request).status(), "user.grace_seconds");
}

TEST(ValidationTest, UpdateNeedsKnownMaskPaths) {
  v1::UpdateUserRequest request;
  request.mutable_user()->set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  ExpectInvalid(ValidateUpdateUser(request).status(), "update_mask");
  request.mutable_update_mask()->add_paths("max_connections");
  request.mutable_update_mask()->add_paths("id");
  ExpectInvalid(ValidateUpdateUser(request).status(), "\"id\" is not an updatable field");
}

TEST(ValidationTest, UpdateTouchesOnlyMaskedFields) {
  v1::UpdateUserRequest request;
  request.mutable_user()->set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  request.mutable_user()->set_max_connections(0);
  request.mutable_user()->set_grace_seconds(99999);  // not in the mask: ignored
  request.mutable_update_mask()->add_paths("max_connections");
  request.mutable_update_mask()->add_paths("password");  // empty password: clear it
  auto valid = ValidateUpdateUser(request);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_THAT(valid->changes.limits.fields, ::testing::ElementsAre("max_connections"));
  EXPECT_EQ(valid->changes.limits.values.max_connections, 0);
  EXPECT_FALSE(valid->changes.limits.values.grace_seconds.has_value());
  EXPECT_TRUE(valid->changes.set_password);
  EXPECT_FALSE(valid->password.has_value());
}

TEST(ValidationTest, AMaskedLimitLeftUnsetIsClearedSoThePlanApplies) {
  v1::UpdateUserRequest request;
  request.mutable_user()->set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  request.mutable_update_mask()->add_paths("max_connections_per_node");
  request.mutable_update_mask()->add_paths("plan");
  auto valid = ValidateUpdateUser(request);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_TRUE(valid->changes.limits.Touches("max_connections_per_node"));
  EXPECT_FALSE(valid->changes.limits.values.max_connections_per_node.has_value());
  ASSERT_TRUE(valid->changes.plan_name.has_value());
  EXPECT_FALSE(valid->changes.plan_name->has_value()) << "an empty plan: off the plan";
}

TEST(ValidationTest, ChecksPlansLabelsAndSelectors) {
  v1::CreatePlanRequest plan;
  plan.mutable_plan()->set_name("Basic");
  ExpectInvalid(ValidateCreatePlan(plan).status(), "plan.name");
  plan.mutable_plan()->set_name("basic");
  v1::LabelCap* cap = plan.mutable_plan()->mutable_label_caps()->add_caps();
  cap->set_label("region");
  cap->set_max(0);
  ExpectInvalid(ValidateCreatePlan(plan).status(), "plan.label_caps max must be between 1");
  cap->set_max(1);
  plan.mutable_plan()->mutable_label_caps()->add_caps()->CopyFrom(*cap);
  ExpectInvalid(ValidateCreatePlan(plan).status(), "names label \"region\" twice");
  plan.mutable_plan()->mutable_label_caps()->mutable_caps()->RemoveLast();
  (*plan.mutable_plan()->mutable_node_selector()->mutable_match())["Region"].add_values("eu");
  ExpectInvalid(ValidateCreatePlan(plan).status(), "plan.node_selector key \"Region\"");
  plan.mutable_plan()->mutable_node_selector()->mutable_match()->clear();
  (*plan.mutable_plan()->mutable_node_selector()->mutable_match())["region"];
  ExpectInvalid(ValidateCreatePlan(plan).status(), "must list 1 to");
  plan.mutable_plan()->mutable_node_selector()->mutable_match()->clear();
  plan.mutable_plan()->set_idle_timeout_seconds(10);
  ExpectInvalid(ValidateCreatePlan(plan).status(), "plan.idle_timeout_seconds must be between 60");
  plan.mutable_plan()->set_idle_timeout_seconds(900);
  plan.mutable_plan()->set_max_connections(2);
  auto valid = ValidateCreatePlan(plan);
  ASSERT_TRUE(valid.ok()) << valid.status();
  EXPECT_EQ(valid->limits.idle_timeout_seconds, 900);
  ASSERT_TRUE(valid->limits.label_caps.has_value());
  EXPECT_EQ(valid->limits.label_caps->size(), 1u);
  EXPECT_FALSE(valid->limits.max_session_seconds.has_value());

  v1::UpdateNodeRequest node;
  node.mutable_node()->set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  node.mutable_update_mask()->add_paths("labels");
  (*node.mutable_node()->mutable_labels())["region"] = "eu-west";
  (*node.mutable_node()->mutable_labels())["tier"] = "";
  ExpectInvalid(ValidateUpdateNode(node).status(), "node.labels values must be 1-63");
  (*node.mutable_node()->mutable_labels())["tier"] = "premium";
  auto labels = ValidateUpdateNode(node);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->changes.labels->at("region"), "eu-west");
}

TEST(ValidationTest, ChecksApiKeyNames) {
  EXPECT_TRUE(ValidateKeyName("name", "ci-bot_1.prod").ok());
  ExpectInvalid(ValidateKeyName("name", ""), "name");
  ExpectInvalid(ValidateKeyName("name", "with space"), "name");
  ExpectInvalid(ValidateKeyName("name", std::string(65, 'k')), "name");
}

}  // namespace
}  // namespace warden::control::services
