// The first admin key: generated once into a private file, reused, never revived.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/secrets.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

class BootstrapTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    db_ = TestPostgres::Shared().CreateDatabase();
    char pattern[] = "/tmp/warden-bootstrap.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    key_file_ = dir_ + "/admin.key";
  }
  void TearDown() override {
    ControlPlaneTest::TearDown();
    std::remove(key_file_.c_str());
    ::rmdir(dir_.c_str());
  }

  control::ControlPlaneConfig FileConfig() {
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    config.admin_key.clear();
    config.admin_key_file = key_file_;
    return config;
  }

  std::string ReadKeyFile() {
    std::ifstream in(key_file_);
    std::string key;
    std::getline(in, key);
    return key;
  }

  bool KeyWorks(const std::string& key) {
    v1::ListUsersResponse response;
    return Admin()->ListUsers(Context(key).get(), v1::ListUsersRequest(), &response).ok();
  }

  std::string dir_;
  std::string key_file_;
};

TEST_F(BootstrapTest, GeneratesPrivateKeyFileOnceAndReusesIt) {
  StartControlPlane(FileConfig());
  ASSERT_TRUE(control_->bootstrap().generated_key.has_value());
  const std::string key = *control_->bootstrap().generated_key;
  EXPECT_TRUE(secrets::LooksLikeToken(key, "wak_"));
  EXPECT_EQ(ReadKeyFile(), key);
  struct stat info;
  ASSERT_EQ(::stat(key_file_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  EXPECT_TRUE(KeyWorks(key));

  StartControlPlane(FileConfig());
  EXPECT_FALSE(control_->bootstrap().generated_key.has_value());
  EXPECT_TRUE(KeyWorks(key));
}

TEST_F(BootstrapTest, RevokedBootstrapKeyStaysRevokedAfterRestart) {
  StartControlPlane(FileConfig());
  const std::string key = *control_->bootstrap().generated_key;
  v1::CreateApiKeyRequest create;
  create.set_name("replacement");
  create.set_role(v1::ADMIN);
  v1::CreateApiKeyResponse replacement;
  ASSERT_TRUE(Admin()->CreateApiKey(Context(key).get(), create, &replacement).ok());
  v1::ListApiKeysResponse keys;
  ASSERT_TRUE(Admin()->ListApiKeys(Context(key).get(), v1::ListApiKeysRequest(), &keys).ok());
  for (const auto& listed : keys.keys()) {
    if (listed.name() != "bootstrap") continue;
    v1::RevokeApiKeyRequest revoke;
    revoke.set_id(listed.id());
    v1::ApiKey revoked;
    ASSERT_TRUE(Admin()->RevokeApiKey(Context(replacement.secret()).get(), revoke, &revoked).ok());
  }
  EXPECT_FALSE(KeyWorks(key));

  StartControlPlane(FileConfig());
  EXPECT_THAT(control_->bootstrap().note, ::testing::HasSubstr("stays revoked"));
  EXPECT_FALSE(KeyWorks(key));
  EXPECT_TRUE(KeyWorks(replacement.secret()));
}

TEST_F(BootstrapTest, GeneratesNothingWhenAnAdminKeyExists) {
  StartControlPlane(TestControlPlaneConfig(db_->url()));  // installs the environment key
  StartControlPlane(FileConfig());
  EXPECT_FALSE(control_->bootstrap().generated_key.has_value());
  EXPECT_EQ(::access(key_file_.c_str(), F_OK), -1);
  EXPECT_TRUE(KeyWorks(kTestAdminKey));
}

TEST_F(BootstrapTest, RefusesAShortEnvironmentKey) {
  control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
  config.admin_key = "short";
  auto started = control::ControlPlane::Start(config);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(started.status().message()), ::testing::HasSubstr("WARDEN_ADMIN_KEY"));
}

}  // namespace
}  // namespace warden::testing
