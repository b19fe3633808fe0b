#include "tools/wardenctl/connection_settings.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tools/wardenctl/profile.h"

namespace warden::wardenctl {
namespace {

constexpr char kProfile[] = R"(# two fleets
current-context = local

[context "local"]
server = 127.0.0.1:50051
insecure = true
key-file = ~/warden/admin.key   # beside the checkout

[context prod]
server = control.example:50051
ca = prod-ca.crt
server-name = control.example
key-file = prod.key
)";

TEST(ProfileTest, ParsesContextsAndAnchorsPaths) {
  absl::StatusOr<Profile> profile = ParseProfile(kProfile, "/etc/warden", "/home/op");
  ASSERT_TRUE(profile.ok()) << profile.status();
  EXPECT_EQ(profile->current_context, "local");
  ASSERT_EQ(profile->contexts.size(), 2u);
  const Context& local = profile->contexts.at("local");
  EXPECT_EQ(local.server, "127.0.0.1:50051");
  EXPECT_EQ(local.insecure, true);
  EXPECT_EQ(local.key_file, "/home/op/warden/admin.key");
  const Context& prod = profile->contexts.at("prod");
  EXPECT_EQ(prod.ca, "/etc/warden/prod-ca.crt");
  EXPECT_EQ(prod.key_file, "/etc/warden/prod.key");
  EXPECT_EQ(prod.server_name, "control.example");
  EXPECT_FALSE(prod.insecure.has_value());
}

TEST(ProfileTest, NamesTheLineOfAMistake) {
  EXPECT_EQ(ParseProfile("[context a]\nsevrer = x\n", "", "").status().message(),
            "line 2: unknown key \"sevrer\" (known: server, insecure, ca, server-name, key-file)");
  EXPECT_EQ(ParseProfile("server = x\n", "", "").status().message(),
            "line 1: \"server\" belongs in a [context \"name\"] section");
  EXPECT_EQ(ParseProfile("\n[cluster a]\n", "", "").status().message(),
            "line 2: unknown section [cluster a] (only [context \"name\"] sections exist)");
  EXPECT_FALSE(ParseProfile("[context a]\ninsecure = maybe\n", "", "").ok());
}

TEST(ProfileTest, KeepsKeysOutOfTheFile) {
  EXPECT_EQ(ParseProfile("[context a]\nkey = wak_123\n", "", "").status().message(),
            "line 2: API keys are not kept in the profile: name a file with key-file");
}

TEST(ProfileTest, SetsTheCurrentContextKeepingEverythingElse) {
  EXPECT_EQ(WithCurrentContext("current-context = a\n\n[context b]\n", "b"),
            "current-context = b\n\n[context b]\n");
  EXPECT_EQ(WithCurrentContext("# mine\n[context b]\n", "b"),
            "current-context = b\n\n# mine\n[context b]\n");
  EXPECT_EQ(WithCurrentContext("", "b"), "current-context = b\n");
}

class ConnectionSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/wardenctl-settings.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    Write("config", kProfile);
    Write("prod.key", "wak_prod\n");
    Write("env.key", "wak_from_env_file\n");
    env_["HOME"] = dir_;
    env_["WARDEN_CONFIG"] = dir_ + "/config";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  Environment Env() const {
    return [this](const std::string& name) -> std::optional<std::string> {
      auto found = env_.find(name);
      if (found == env_.end()) return std::nullopt;
      return found->second;
    };
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(ConnectionSettingsTest, TakesTheCurrentContextWhenNothingElseIsSaid) {
  std::filesystem::create_directories(dir_ + "/warden");
  Write("warden/admin.key", "wak_local\n");
  absl::StatusOr<ConnectionSettings> settings = ResolveConnection({}, Env());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->context, "local");
  EXPECT_EQ(settings->server, "127.0.0.1:50051");
  EXPECT_TRUE(settings->insecure);
  EXPECT_EQ(settings->key, "wak_local");
  EXPECT_EQ(settings->key_source, dir_ + "/warden/admin.key");
}

TEST_F(ConnectionSettingsTest, FlagsBeatTheEnvironmentWhichBeatsTheContext) {
  std::filesystem::create_directories(dir_ + "/warden");
  Write("warden/admin.key", "wak_local\n");
  env_["WARDEN_SERVER"] = "env.example:50051";
  env_["WARDEN_KEY"] = "wak_env";
  absl::StatusOr<ConnectionSettings> settings = ResolveConnection({}, Env());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, "env.example:50051");
  EXPECT_EQ(settings->key, "wak_env");
  EXPECT_EQ(settings->key_source, "WARDEN_KEY");

  ConnectionFlags flags;
  flags.server = "flag.example:50051";
  flags.key_file = dir_ + "/env.key";
  settings = ResolveConnection(flags, Env());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, "flag.example:50051");
  EXPECT_EQ(settings->key, "wak_from_env_file");
}

TEST_F(ConnectionSettingsTest, ANamedContextSetsTheEnvironmentAside) {
  env_["WARDEN_SERVER"] = "laptop:50051";
  env_["WARDEN_KEY"] = "wak_laptop";
  ConnectionFlags flags;
  flags.context = "prod";
  absl::StatusOr<ConnectionSettings> settings = ResolveConnection(flags, Env());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, "control.example:50051");
  EXPECT_FALSE(settings->insecure);
  EXPECT_EQ(settings->ca, dir_ + "/prod-ca.crt");
  EXPECT_EQ(settings->server_name, "control.example");
  EXPECT_EQ(settings->key, "wak_prod");
}

TEST_F(ConnectionSettingsTest, RefusesWhatCannotBeMeant) {
  ConnectionFlags flags;
  flags.context = "staging";
  EXPECT_EQ(ResolveConnection(flags, Env()).status().message(),
            "no context \"staging\" in " + dir_ + "/config");

  flags = {};
  flags.insecure = true;
  flags.ca = "ca.crt";
  EXPECT_EQ(ResolveConnection(flags, Env()).status().code(), absl::StatusCode::kInvalidArgument);

  env_["WARDEN_KEY"] = "wak_with space";
  EXPECT_EQ(ResolveConnection({}, Env()).status().message(),
            "the API key from WARDEN_KEY holds characters an API key cannot have");
}

TEST_F(ConnectionSettingsTest, NeedsNoProfileFile) {
  env_.erase("WARDEN_CONFIG");
  env_["WARDEN_KEY"] = "wak_env";
  absl::StatusOr<ConnectionSettings> settings = ResolveConnection({}, Env());
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->server, kDefaultServer);
  EXPECT_FALSE(settings->insecure);
  EXPECT_EQ(settings->context, "");
  EXPECT_EQ(settings->profile_path, dir_ + "/.config/warden/config");
}

}  // namespace
}  // namespace warden::wardenctl
