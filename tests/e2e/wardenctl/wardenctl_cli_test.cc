// wardenctl as a command line: an exit code and a sentence per failure,
// TLS by default, settings from the environment and profile contexts,
// completion scripts that load, and --help with examples everywhere.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tests/e2e/wardenctl/wardenctl_harness.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/process.h"
#include "tests/support/test_ca.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST_F(WardenctlTest, ExplainsFailuresWithAnExitCodePerClass) {
  CtlResult no_key = Bare({"--insecure", "--server", Server(), "users", "list"});
  EXPECT_EQ(no_key.code, 4);
  EXPECT_EQ(no_key.err,
            absl::StrCat("wardenctl: no API key: set WARDEN_KEY (or WARDEN_KEY_FILE), pass "
                         "--key-file FILE, or name a key-file in a context of ",
                         work_dir_, "/.config/warden/config\n"));
  EXPECT_EQ(no_key.out, "");

  CtlResult wrong_key = Bare({"--insecure", "--server", Server(), "users", "list"},
                             {{"WARDEN_KEY", "wak_" + std::string(64, '0')}});
  EXPECT_EQ(wrong_key.code, 4);
  EXPECT_THAT(wrong_key.err, StartsWith("wardenctl: the control plane refused the API key: "));

  // Nobody listens on port 1.
  CtlResult wrong_server = Ctl({"--server", "127.0.0.1:1", "users", "list"});
  EXPECT_EQ(wrong_server.code, 5);
  EXPECT_THAT(wrong_server.err, StartsWith("wardenctl: cannot reach the control plane at "
                                           "127.0.0.1:1: "));
  EXPECT_THAT(wrong_server.err, HasSubstr("A plaintext server needs --insecure"));

  // TLS is the default: a plaintext server is not reachable without --insecure.
  CtlResult tls_to_plaintext =
      Bare({"--server", Server(), "--key-file", key_file_, "users", "list"});
  EXPECT_EQ(tls_to_plaintext.code, 5);

  CtlResult viewer_key = Ctl({"keys", "create", "dashboards", "-q"});
  ASSERT_EQ(viewer_key.code, 0);
  const std::string viewer_file = WriteFile("viewer.key", viewer_key.out);
  EXPECT_EQ(
      Bare({"--insecure", "--server", Server(), "--key-file", viewer_file, "users", "list"}).code,
      0);
  CtlResult viewer_write = Bare(
      {"--insecure", "--server", Server(), "--key-file", viewer_file, "users", "create", "eve"});
  EXPECT_EQ(viewer_write.code, 4);
  EXPECT_THAT(viewer_write.err, StartsWith("wardenctl: not allowed: "));
  EXPECT_THAT(viewer_write.err, HasSubstr("This needs a key with role ADMIN."));

  CtlResult unknown_flag = Ctl({"users", "list", "--colour"});
  EXPECT_EQ(unknown_flag.code, 2);
  EXPECT_THAT(unknown_flag.err, StartsWith("wardenctl: "));
  EXPECT_EQ(Ctl({"users"}).code, 2);
  EXPECT_EQ(Ctl({"users", "get"}).code, 2);
  EXPECT_EQ(Ctl({"users", "list", "-o", "xml"}).code, 2);
  EXPECT_EQ(Ctl({"users", "create", "x", "--policy", "sometimes"}).code, 2);
  EXPECT_EQ(Ctl({"users", "get", "nobody"}).code, 3);
}

TEST_F(WardenctlTest, SpeaksTlsWithTheCaItIsGiven) {
  if (const std::string reason = TestCa::UnusableReason(); !reason.empty()) {
    GTEST_SKIP() << reason;
  }
  TestCa ca;
  ASSERT_TRUE(ca.Create().ok());
  absl::StatusOr<TestCa::Files> server = ca.Server();
  ASSERT_TRUE(server.ok()) << server.status();
  Process tls_control(WARDEN_CONTROL_BIN,
                      {"--listen", "127.0.0.1:0", "--database-url", db_->url(), "--tls-cert",
                       server->cert, "--tls-key", server->key},
                      {{"WARDEN_ADMIN_KEY", kTestAdminKey}}, work_dir_ + "/tls-control.log");
  const int port = WaitForServingPort(tls_control, absl::Seconds(30));
  ASSERT_GT(port, 0) << tls_control.Log();
  const std::string address = absl::StrCat("127.0.0.1:", port);

  CtlResult verified = Bare({"--server", address, "--ca", ca.ca_cert(), "users", "list", "-q"},
                            {{"WARDEN_KEY_FILE", key_file_}});
  EXPECT_EQ(verified.code, 0) << verified.err;
  CtlResult by_env = Bare(
      {"users", "create", "tls-user"},
      {{"WARDEN_SERVER", address}, {"WARDEN_CA", ca.ca_cert()}, {"WARDEN_KEY", kTestAdminKey}});
  EXPECT_EQ(by_env.code, 0) << by_env.err;
  EXPECT_EQ(by_env.out, "user tls-user created\n");
  // Without the CA the server's certificate is not trusted.
  CtlResult unverified =
      Bare({"--server", address, "users", "list"}, {{"WARDEN_KEY", kTestAdminKey}});
  EXPECT_EQ(unverified.code, 5);
  CtlResult both = Bare({"--server", address, "--insecure", "--ca", ca.ca_cert(), "users", "list"},
                        {{"WARDEN_KEY", kTestAdminKey}});
  EXPECT_EQ(both.code, 2);
}

TEST_F(WardenctlTest, ReadsSettingsFromTheEnvironmentAndProfileContexts) {
  CtlResult by_env = Bare(
      {"users", "create", "from-env"},
      {{"WARDEN_SERVER", Server()}, {"WARDEN_INSECURE", "true"}, {"WARDEN_KEY", kTestAdminKey}});
  EXPECT_EQ(by_env.code, 0) << by_env.err;

  std::filesystem::create_directories(work_dir_ + "/.config/warden");
  WriteFile(".config/warden/config", absl::StrCat("current-context = local\n\n"
                                                  "[context \"local\"]\n"
                                                  "server = ",
                                                  Server(),
                                                  "\n"
                                                  "insecure = true\n"
                                                  "key-file = ",
                                                  key_file_,
                                                  "\n\n"
                                                  "[context \"elsewhere\"]\n"
                                                  "server = 127.0.0.1:1\n"
                                                  "insecure = true\n"
                                                  "key-file = ",
                                                  key_file_, "\n"));
  CtlResult by_profile = Bare({"users", "list", "-q"});
  EXPECT_EQ(by_profile.code, 0) << by_profile.err;
  EXPECT_EQ(by_profile.out.size(), 37u);

  const std::string pad(Server().size() - std::string("127.0.0.1:1").size(), ' ');
  EXPECT_EQ(Bare({"config", "contexts"}).out,
            absl::StrCat("CURRENT  NAME       SERVER     ", pad, "  TRANSPORT\n",
                         "         elsewhere  127.0.0.1:1", pad, "  plaintext\n",
                         "*        local      ", Server(), "  plaintext\n"));
  EXPECT_EQ(Bare({"config", "view"}).out,
            absl::StrCat("profile    ", work_dir_, "/.config/warden/config\n", "context    local\n",
                         "server     ", Server(), "\n", "transport  plaintext (--insecure)\n",
                         "key        from ", key_file_, "\n"));
  // A context named on the command line sets the environment aside.
  CtlResult elsewhere =
      Bare({"--context", "elsewhere", "users", "list"}, {{"WARDEN_SERVER", Server()}});
  EXPECT_EQ(elsewhere.code, 5);
  EXPECT_THAT(elsewhere.err, HasSubstr("127.0.0.1:1"));
  EXPECT_EQ(Bare({"config", "use", "elsewhere"}).out, "current context: elsewhere\n");
  EXPECT_EQ(Bare({"users", "list"}).code, 5);
  CtlResult missing = Bare({"--context", "staging", "users", "list"});
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("no context \"staging\""));
}

TEST_F(WardenctlTest, CompletionScriptLoadsInBash) {
  CtlResult script = Bare({"completion", "bash"});
  ASSERT_EQ(script.code, 0) << script.err;
  const std::string path = WriteFile("wardenctl.bash", script.out);
  // Completes as bash would: the words typed so far, the cursor on the last.
  auto complete = [&](const std::string& words) {
    CtlResult result = RunCaptured(
        "/bin/bash",
        {"-c", absl::StrCat("source ", path, " && complete -p wardenctl >/dev/null && ",
                            "COMP_WORDS=(", words, "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); ",
                            "_wardenctl; echo \"${COMPREPLY[*]}\"")},
        {{"PATH", "/usr/bin:/bin"}}, work_dir_);
    EXPECT_EQ(result.code, 0) << result.err;
    return result.out;
  };
  EXPECT_EQ(complete("wardenctl us"), "users usage\n");
  EXPECT_EQ(complete("wardenctl use"), "users\n");
  EXPECT_EQ(complete("wardenctl plans create basic --on-quota ''"), "deny throttle\n");
  EXPECT_EQ(complete("wardenctl users update alice --clear max-c"), "max-connections\n");
  EXPECT_EQ(complete("wardenctl webhooks deliveries x --status f"), "failed\n");
  EXPECT_EQ(complete("wardenctl users l"), "list\n");
  EXPECT_EQ(complete("wardenctl user up"), "update\n");  // through an alias
  EXPECT_EQ(complete("wardenctl nodes d"), "drain\n");
  EXPECT_EQ(complete("wardenctl sessions list --st"), "--state\n");
  EXPECT_EQ(complete("wardenctl sessions list --state c"), "closing closed\n");
  EXPECT_EQ(complete("wardenctl -o j"), "json\n");
  EXPECT_EQ(complete("wardenctl users create alice --policy ''"), "evict-oldest reject\n");
  EXPECT_EQ(complete("wardenctl completion ''"), "bash zsh\n");
  EXPECT_THAT(complete("wardenctl users list --"), HasSubstr("--prefix --limit"));
  EXPECT_THAT(complete("wardenctl users list --"), HasSubstr("--server"));
}

TEST_F(WardenctlTest, CompletionScriptLoadsInZsh) {
  if (::access("/usr/bin/zsh", X_OK) != 0 && ::access("/bin/zsh", X_OK) != 0) {
    GTEST_SKIP() << "zsh is not installed";
  }
  CtlResult script = Bare({"completion", "zsh"});
  ASSERT_EQ(script.code, 0) << script.err;
  const std::string path = WriteFile("_wardenctl", script.out);
  CtlResult loaded =
      RunCaptured("/bin/sh",
                  {"-c", absl::StrCat("zsh -f -c 'autoload -Uz compinit && compinit -u && source ",
                                      path, " && print -r -- ${_comps[wardenctl]}'")},
                  {{"PATH", "/usr/bin:/bin"}, {"HOME", work_dir_}}, work_dir_);
  EXPECT_EQ(loaded.code, 0) << loaded.err;
  EXPECT_EQ(loaded.out, "_wardenctl\n");
}

TEST_F(WardenctlTest, ShowsExamplesInTheHelpOfEveryCommand) {
  const std::vector<std::vector<std::string>> commands = {{"users", "create"},
                                                          {"users", "get"},
                                                          {"users", "list"},
                                                          {"users", "update"},
                                                          {"users", "disable"},
                                                          {"users", "enable"},
                                                          {"users", "delete"},
                                                          {"nodes", "create"},
                                                          {"nodes", "list"},
                                                          {"nodes", "get"},
                                                          {"nodes", "update"},
                                                          {"nodes", "drain"},
                                                          {"nodes", "undrain"},
                                                          {"nodes", "remove"},
                                                          {"nodes", "label"},
                                                          {"enroll"},
                                                          {"sessions", "list"},
                                                          {"sessions", "kill"},
                                                          {"disconnect"},
                                                          {"devices", "register"},
                                                          {"devices", "list"},
                                                          {"devices", "revoke"},
                                                          {"families", "list"},
                                                          {"families", "revoke"},
                                                          {"keys", "create"},
                                                          {"keys", "list"},
                                                          {"keys", "revoke"},
                                                          {"audit"},
                                                          {"watch"},
                                                          {"stats"},
                                                          {"config", "view"},
                                                          {"config", "contexts"},
                                                          {"config", "use"},
                                                          {"completion"}};
  for (std::vector<std::string> command : commands) {
    command.push_back("--help");
    CtlResult help = Bare(command);
    EXPECT_EQ(help.code, 0) << command[0];
    EXPECT_THAT(help.out, HasSubstr("\nExamples:\n  ")) << command[0] << " " << command.back();
  }
}

}  // namespace
}  // namespace warden::testing
