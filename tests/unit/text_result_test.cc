// Statement parameters and results as text: what the pipeline sends and how
// its rows read, without a database.

#include "controlplane/store/text_result.h"

#include <gtest/gtest.h>

#include "controlplane/store/limit_columns.h"

namespace warden::control::store {
namespace {

TEST(TextResultTest, ParamsAreTextInPostgresFormats) {
  const Call call = MakeCall("s", std::string("a"), absl::string_view("b"), "c", true, false,
                             int64_t{-42}, std::optional<int>(), std::optional<int64_t>(7));
  ASSERT_EQ(call.params.size(), 8u);
  EXPECT_EQ(call.params[0], "a");
  EXPECT_EQ(call.params[1], "b");
  EXPECT_EQ(call.params[2], "c");
  EXPECT_EQ(call.params[3], "true");
  EXPECT_EQ(call.params[4], "false");
  EXPECT_EQ(call.params[5], "-42");
  EXPECT_EQ(call.params[6], std::nullopt);
  EXPECT_EQ(call.params[7], "7");
}

TEST(TextResultTest, FieldsReadLikeLibpqxxFields) {
  const TextResult result(3, {std::string("t"), std::nullopt, std::string("123"),
                              std::string("false"), std::string("x"), std::string("-5")});
  ASSERT_EQ(result.size(), 2);
  EXPECT_TRUE(result[0][0].as<bool>());
  EXPECT_FALSE(result[1][0].as<bool>());
  EXPECT_TRUE(result[0][1].is_null());
  EXPECT_STREQ(result[0][1].c_str(), "");
  EXPECT_EQ(result[0][2].as<int64_t>(), 123);
  EXPECT_EQ(result[1][2].as<int>(), -5);
  EXPECT_EQ(result[1][1].as<std::string>(), "x");
}

TEST(TextResultTest, RefusesWhatIsNotThere) {
  const TextResult result(2, {std::string("1"), std::nullopt});
  EXPECT_THROW(result[0][1].as<int>(), std::domain_error);
  EXPECT_THROW(result[0][0].as<bool>(), std::domain_error);
  EXPECT_THROW(TextResult(1, {std::string("abc")})[0][0].as<int>(), std::domain_error);
  EXPECT_THROW(result[0][2].is_null(), std::out_of_range);
  EXPECT_THROW(result[1][0].is_null(), std::out_of_range);
  EXPECT_TRUE(TextResult().empty());
}

TEST(TextResultTest, ReadsALimitSetFromTextColumns) {
  std::vector<Param> cells = {std::string("3"), std::string("reject"), std::nullopt,
                              std::string("1000"), std::nullopt, std::nullopt,
                              std::string("t"), std::string("wireguard,openvpn"), std::nullopt,
                              std::nullopt, std::string("600"), std::nullopt,
                              std::nullopt, std::nullopt, std::nullopt};
  const TextResult result(kLimitColumns, std::move(cells));
  const model::LimitSet limits = LimitSetFromRow(result[0], 0);
  EXPECT_EQ(limits.max_connections, 3);
  EXPECT_EQ(limits.limit_policy, model::LimitPolicy::kReject);
  EXPECT_EQ(limits.grace_seconds, std::nullopt);
  EXPECT_EQ(limits.bandwidth_bytes_per_second, 1000);
  ASSERT_TRUE(limits.allowed_protocols.has_value());
  EXPECT_EQ(limits.allowed_protocols->size(), 2u);
  EXPECT_EQ(limits.idle_timeout_seconds, 600);
  EXPECT_EQ(limits.data_quota_bytes, std::nullopt);
}

}  // namespace
}  // namespace warden::control::store
