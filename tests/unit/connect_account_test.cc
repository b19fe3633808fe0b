// warden-connect's account side without a server: the login file and which
// command lines are account commands.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "client/account/account_cli.h"
#include "client/account/login_file.h"

namespace warden::client {
namespace {

class LoginFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/warden-login-XXXXXX";
    dir_ = ::mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(LoginFileTest, KeepsTheLoginReadableOnlyByItsOwner) {
  const std::string path = dir_ + "/warden/connect-login.json";
  SavedLogin login;
  login.control = "vpn.example:50051";
  login.insecure = true;
  login.username = "alice";
  login.family_id = "5d1e7f00-0000-4000-8000-000000000001";
  login.access_token = "wat_" + std::string(64, 'a');
  login.access_expires_at = absl::FromUnixSeconds(1800000000);
  login.refresh_token = "wrt_" + std::string(64, 'b');
  ASSERT_TRUE(WriteLogin(path, login).ok());

  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  absl::StatusOr<SavedLogin> read = ReadLogin(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->control, login.control);
  EXPECT_TRUE(read->insecure);
  EXPECT_EQ(read->username, "alice");
  EXPECT_EQ(read->access_token, login.access_token);
  EXPECT_EQ(read->access_expires_at, login.access_expires_at);
  EXPECT_EQ(read->refresh_token, login.refresh_token);

  // A rotation rewrites it whole; a file loosened by hand is 0600 again.
  ::chmod(path.c_str(), 0644);
  login.refresh_token = "wrt_" + std::string(64, 'c');
  ASSERT_TRUE(WriteLogin(path, login).ok());
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadLogin(path)->refresh_token, login.refresh_token);

  ASSERT_TRUE(RemoveLogin(path).ok());
  EXPECT_EQ(ReadLogin(path).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(RemoveLogin(path).ok()) << "forgetting twice is no error";
}

TEST_F(LoginFileTest, RefusesAFileThatIsNotALogin) {
  const std::string path = dir_ + "/other.json";
  FILE* file = std::fopen(path.c_str(), "w");
  std::fputs("{\"server\": \"x\"}", file);
  std::fclose(file);
  EXPECT_EQ(ReadLogin(path).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(LoginFilePathTest, PrefersTheFlagThenTheEnvironmentThenTheConfigDir) {
  EXPECT_EQ(LoginFilePath("/x/login.json"), "/x/login.json");
  ::setenv("WARDEN_CONNECT_LOGIN_FILE", "/y/login.json", 1);
  EXPECT_EQ(LoginFilePath(""), "/y/login.json");
  ::unsetenv("WARDEN_CONNECT_LOGIN_FILE");
  ::setenv("XDG_CONFIG_HOME", "/z/config", 1);
  EXPECT_EQ(LoginFilePath(""), "/z/config/warden/connect-login.json");
  ::unsetenv("XDG_CONFIG_HOME");
}

TEST(AccountCommandTest, TellsAccountCommandsFromTunnelCommandLines) {
  auto is_account = [](std::vector<const char*> argv) {
    argv.insert(argv.begin(), "warden-connect");
    return IsAccountCommand(static_cast<int>(argv.size()), argv.data());
  };
  EXPECT_TRUE(is_account({"login", "--control", "h:1"}));
  EXPECT_TRUE(is_account({"--json", "devices", "list"}));
  EXPECT_TRUE(is_account({"--login-file", "/x.json", "why"}));
  EXPECT_TRUE(is_account({"--login-file=/x.json", "sessions", "list"}));
  EXPECT_FALSE(is_account({"--server", "vpn:443", "--ticket", "wct_x"}));
  EXPECT_FALSE(is_account({"--login-file", "/x.json", "--server", "vpn:443"}));
  EXPECT_FALSE(is_account({}));
}

}  // namespace
}  // namespace warden::client
