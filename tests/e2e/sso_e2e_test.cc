// Single sign-on against a real OpenID Provider (npm oidc-provider over
// HTTPS from a test CA), driven by a scripted person at its pages, with a
// real warden-control process and an agent whose memory driver stands in
// for a VPN server.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/oidc_idp.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kLoopbackRedirect[] = "http://127.0.0.1:41234/cb";

class SingleSignOnTest : public FleetProcessTest {
 protected:
  void SetUp() override {
    FleetProcessTest::SetUp();
    if (std::string why = OidcIdp::Unavailable(); !why.empty()) GTEST_SKIP() << why;
    const int callback_port = FreePort();
    callback_url_ = absl::StrCat("http://127.0.0.1:", callback_port, "/oidc/callback");
    OidcIdpOptions options;
    // Loopback redirects may use any port (RFC 8252): one registration each.
    options.redirects = {"http://127.0.0.1:8765/cb", "http://127.0.0.1:8765/oidc/callback"};
    options.private_key_client = true;
    std::string error;
    idp_ = OidcIdp::Start(work_dir_, options, &error);
    ASSERT_NE(idp_, nullptr) << error;
    WriteConfig();
    control_ = &StartControl(
        "a", {"--oidc-config", config_path_, "--oidc-callback-listen",
              absl::StrCat("127.0.0.1:", callback_port), "--oidc-callback-url", callback_url_});
    for (const char* plan : {"standard", "ops-plan"}) {
      v1::CreatePlanRequest request;
      request.mutable_plan()->set_name(plan);
      request.mutable_plan()->set_max_connections(plan == std::string("standard") ? 1 : 5);
      v1::Plan created;
      grpc::Status status = Admin(*control_)->CreatePlan(AdminContext().get(), request, &created);
      ASSERT_TRUE(status.ok()) << status.error_message();
    }
    session_ = v1::SessionService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", control_->port), grpc::InsecureChannelCredentials()));
  }

  void WriteConfig() {
    const nlohmann::json common = {{"issuer", idp_->issuer()},
                                   {"ca_file", idp_->ca_file()},
                                   {"scopes", {"openid", "email", "profile", "groups"}},
                                   {"jwks_refresh_min_seconds", 0}};
    nlohmann::json corp = common;
    corp.update({{"name", "corp"},
                 {"client_id", "warden"},
                 {"client_secret_file", idp_->secret_file()},
                 {"create_users", true},
                 {"allowed_groups", {"vpn-users", "ops"}},
                 {"group_plans",
                  {{{"group", "ops"}, {"plan", "ops-plan"}},
                   {{"group", "vpn-users"}, {"plan", "standard"}}}}});
    nlohmann::json strict = common;
    strict.update({{"name", "strict"},
                   {"client_id", "warden"},
                   {"client_auth", "client_secret_post"},
                   {"client_secret_file", idp_->secret_file()}});
    nlohmann::json keyed = common;
    keyed.update({{"name", "keyed"},
                  {"client_id", "warden-pkjwt"},
                  {"client_auth", "private_key_jwt"},
                  {"private_key_file", idp_->client_key_pem_file()},
                  {"private_key_id", OidcIdp::kClientKeyId},
                  {"create_users", true}});
    config_path_ = work_dir_ + "/oidc.json";
    std::ofstream(config_path_) << nlohmann::json{{"providers", {corp, strict, keyed}}}.dump(2);
  }

  grpc::Status Begin(const std::string& provider, const std::string& redirect,
                     v1::BeginOidcLoginResponse* begun) {
    v1::BeginOidcLoginRequest request;
    request.set_provider(provider);
    request.set_redirect_uri(redirect);
    request.set_device_label("laptop");
    return session_->BeginOidcLogin(AdminContext().get(), request, begun);
  }

  grpc::Status Complete(const std::string& login_id, const std::string& code,
                        const std::string& state, v1::LoginResponse* login) {
    v1::CompleteOidcLoginRequest request;
    request.set_login_id(login_id);
    request.set_code(code);
    request.set_state(state);
    return session_->CompleteOidcLogin(AdminContext().get(), request, login);
  }

  // The whole code flow as a desktop app runs it.
  grpc::Status CodeLogin(const std::string& provider, const std::string& person,
                         v1::LoginResponse* login) {
    v1::BeginOidcLoginResponse begun;
    if (grpc::Status status = Begin(provider, kLoopbackRedirect, &begun); !status.ok()) {
      return status;
    }
    const BrowserResult browser =
        idp_->SignIn(begun.authorization_url(), person, kLoopbackRedirect);
    if (!browser.reached || browser.code.empty()) {
      ADD_FAILURE() << "the provider did not redirect with a code: " << browser.output;
      return grpc::Status(grpc::StatusCode::INTERNAL, "no code");
    }
    EXPECT_EQ(browser.state, begun.state());
    return Complete(begun.login_id(), browser.code, browser.state, login);
  }

  grpc::Status Poll(const std::string& id, v1::PollDeviceLoginResponse* answer) {
    v1::PollDeviceLoginRequest request;
    request.set_device_login_id(id);
    return session_->PollDeviceLogin(AdminContext().get(), request, answer);
  }

  std::string Ticket(const std::string& access_token) {
    v1::IssueConnectTicketRequest request;
    request.set_access_token(access_token);
    v1::IssueConnectTicketResponse response;
    grpc::Status status = session_->IssueConnectTicket(AdminContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.ticket();
  }

  std::string PlanOf(const std::string& username) {
    v1::GetUserRequest request;
    request.set_username(username);
    v1::User user;
    grpc::Status status = Admin(*control_)->GetUser(AdminContext().get(), request, &user);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return user.plan();
  }

  std::unique_ptr<OidcIdp> idp_;
  std::string config_path_;
  std::string callback_url_;
  Control* control_ = nullptr;
  std::unique_ptr<v1::SessionService::Stub> session_;
};

TEST_F(SingleSignOnTest, CodeFlowWithPkceGivesALoginWhoseTicketIsAdmitted) {
  v1::LoginResponse login;
  grpc::Status status = CodeLogin("corp", "alice", &login);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(login.access_token(), StartsWith("wat_"));
  EXPECT_THAT(login.refresh_token(), StartsWith("wrt_"));

  // Created on first login, without a password, known by issuer and subject.
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'alice' AND password_hash IS NULL"),
            1);
  EXPECT_EQ(Query("SELECT count(*) FROM user_identities i JOIN users u ON u.id = i.user_id "
                  "WHERE u.username = 'alice' AND i.subject = 'sub-alice' AND i.provider = 'corp'"),
            1);
  EXPECT_EQ(PlanOf("alice"), "standard");  // group vpn-users
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE action = 'family.login' "
                  "AND details->>'method' = 'oidc' AND details->>'provider' = 'corp' "
                  "AND details->>'subject' = 'sub-alice'"),
            1);

  // The rest is Warden's own login family: a ticket opens a tunnel.
  Agent& agent = StartAgent("mem-1", *control_);
  ASSERT_TRUE(WaitAttached(agent));
  EXPECT_THAT(agent.driver().Open("k1", "alice", Ticket(login.access_token())),
              StartsWith("admitted "));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                  "WHERE u.username = 'alice' AND s.state = 'active' AND s.family_id = '" +
                  login.family_id() + "'"),
            1);
}

TEST_F(SingleSignOnTest, ALoginIsSpentOnceAndItsStateMustMatch) {
  v1::BeginOidcLoginResponse begun;
  ASSERT_TRUE(Begin("corp", kLoopbackRedirect, &begun).ok());
  const BrowserResult browser = idp_->SignIn(begun.authorization_url(), "bob", kLoopbackRedirect);
  ASSERT_TRUE(browser.reached) << browser.output;
  v1::LoginResponse login;
  grpc::Status wrong = Complete(begun.login_id(), browser.code, std::string(64, 'a'), &login);
  EXPECT_EQ(wrong.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(wrong.error_message(), HasSubstr("state does not match"));
  // The wrong state spent the login: the right one is refused now too.
  grpc::Status replay = Complete(begun.login_id(), browser.code, browser.state, &login);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(replay.error_message(), HasSubstr("unknown, used or expired"));

  ASSERT_TRUE(Begin("corp", kLoopbackRedirect, &begun).ok());
  const BrowserResult again = idp_->SignIn(begun.authorization_url(), "bob", kLoopbackRedirect);
  ASSERT_TRUE(Complete(begun.login_id(), again.code, again.state, &login).ok());
  grpc::Status replayed = Complete(begun.login_id(), again.code, again.state, &login);
  EXPECT_EQ(replayed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'bob'"), 1);

  grpc::Status malformed = Complete("wol_nope", again.code, again.state, &login);
  EXPECT_EQ(malformed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SingleSignOnTest, ACodeFromAnotherLoginDoesNotCompleteThisOne) {
  // Login A's code carries A's PKCE challenge and A's nonce; presented for
  // login B (with B's state), the provider refuses B's verifier.
  v1::BeginOidcLoginResponse first, second;
  ASSERT_TRUE(Begin("corp", kLoopbackRedirect, &first).ok());
  ASSERT_TRUE(Begin("corp", kLoopbackRedirect, &second).ok());
  const BrowserResult browser = idp_->SignIn(first.authorization_url(), "carol", kLoopbackRedirect);
  ASSERT_TRUE(browser.reached) << browser.output;
  v1::LoginResponse login;
  grpc::Status status = Complete(second.login_id(), browser.code, second.state(), &login);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("invalid_grant"));
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'carol'"), 0);
}

TEST_F(SingleSignOnTest, RedirectsAreLoopbackTheProvidersOwnOrWardensCallback) {
  v1::BeginOidcLoginResponse begun;
  grpc::Status elsewhere = Begin("corp", "https://evil.example/cb", &begun);
  EXPECT_EQ(elsewhere.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(elsewhere.error_message(), HasSubstr("redirect_uri must be a loopback address"));
  EXPECT_EQ(Begin("nope", kLoopbackRedirect, &begun).error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status unnamed = Begin("", kLoopbackRedirect, &begun);
  EXPECT_EQ(unnamed.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unnamed.error_message(), HasSubstr("corp, strict, keyed"));
  ASSERT_TRUE(Begin("corp", "http://[::1]:5000/done", &begun).ok());
  EXPECT_THAT(begun.authorization_url(), StartsWith(idp_->issuer() + "/auth?"));
  EXPECT_THAT(begun.authorization_url(), HasSubstr("code_challenge_method=S256"));
}

TEST_F(SingleSignOnTest, AUserOutsideTheAllowedGroupsIsRefused) {
  v1::LoginResponse login;
  grpc::Status status = CodeLogin("corp", "contractor-carl", &login);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("none of the groups allowed"));
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'contractor-carl'"), 0);
}

TEST_F(SingleSignOnTest, GroupsPutTheUserOnTheirPlanAtEveryLogin) {
  v1::LoginResponse login;
  ASSERT_TRUE(CodeLogin("corp", "ops-olga", &login).ok());
  EXPECT_EQ(PlanOf("ops-olga"), "ops-plan");  // ops comes before vpn-users
  // An administrator moves her; her groups move her back at the next login.
  v1::UpdateUserRequest update;
  v1::User user;
  {
    v1::GetUserRequest get;
    get.set_username("ops-olga");
    ASSERT_TRUE(Admin(*control_)->GetUser(AdminContext().get(), get, &user).ok());
  }
  update.mutable_user()->set_id(user.id());
  update.mutable_user()->set_plan("standard");
  update.mutable_update_mask()->add_paths("plan");
  ASSERT_TRUE(Admin(*control_)->UpdateUser(AdminContext().get(), update, &user).ok());
  ASSERT_TRUE(CodeLogin("corp", "ops-olga", &login).ok());
  EXPECT_EQ(PlanOf("ops-olga"), "ops-plan");
  // Created on that plan; moved back once.
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE action = 'user.update' "
                  "AND actor = 'oidc:corp'"),
            1);
}

TEST_F(SingleSignOnTest, DeviceFlowHonoursTheIntervalAndEndsInALogin) {
  v1::StartDeviceLoginRequest start;
  start.set_provider("corp");
  start.set_device_label("headless");
  v1::StartDeviceLoginResponse started;
  grpc::Status status = session_->StartDeviceLogin(AdminContext().get(), start, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(started.device_login_id(), StartsWith("wdl_"));
  EXPECT_FALSE(started.user_code().empty());
  EXPECT_EQ(started.interval_seconds(), 1);

  v1::PollDeviceLoginResponse answer;
  // At once: sooner than the provider's interval, so it is not asked.
  ASSERT_TRUE(Poll(started.device_login_id(), &answer).ok());
  EXPECT_EQ(answer.state(), v1::DEVICE_LOGIN_SLOW_DOWN);
  EXPECT_EQ(answer.interval_seconds(), 1);
  absl::SleepFor(absl::Milliseconds(1100));
  ASSERT_TRUE(Poll(started.device_login_id(), &answer).ok());
  EXPECT_EQ(answer.state(), v1::DEVICE_LOGIN_PENDING) << answer.DebugString();
  std::string output;
  ASSERT_TRUE(idp_->ApproveDevice(started.verification_uri(), started.user_code(), "ops-dan",
                                  /*deny=*/false, &output))
      << output;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Poll(started.device_login_id(), &answer).ok() &&
               answer.state() == v1::DEVICE_LOGIN_COMPLETE;
      },
      absl::Seconds(15)))
      << answer.DebugString();
  EXPECT_THAT(answer.login().access_token(), StartsWith("wat_"));
  EXPECT_EQ(PlanOf("ops-dan"), "ops-plan");
  EXPECT_FALSE(Ticket(answer.login().access_token()).empty());
  // Used: it cannot give a second login.
  absl::SleepFor(absl::Seconds(1));
  ASSERT_TRUE(Poll(started.device_login_id(), &answer).ok());
  EXPECT_EQ(answer.state(), v1::DEVICE_LOGIN_EXPIRED);
}

TEST_F(SingleSignOnTest, ADeviceLoginRefusedAtTheProviderIsDenied) {
  v1::StartDeviceLoginRequest start;
  start.set_provider("corp");
  v1::StartDeviceLoginResponse started;
  ASSERT_TRUE(session_->StartDeviceLogin(AdminContext().get(), start, &started).ok());
  std::string output;
  ASSERT_TRUE(idp_->ApproveDevice(started.verification_uri(), started.user_code(), "erin",
                                  /*deny=*/true, &output))
      << output;
  v1::PollDeviceLoginResponse answer;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Poll(started.device_login_id(), &answer).ok() &&
               answer.state() == v1::DEVICE_LOGIN_DENIED;
      },
      absl::Seconds(15)))
      << answer.DebugString();
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'erin'"), 0);
}

TEST_F(SingleSignOnTest, AKeyRotationAtTheProviderNeedsNoRestart) {
  v1::LoginResponse login;
  ASSERT_TRUE(CodeLogin("corp", "frank", &login).ok());
  std::string error;
  // The provider signs with a new key now: its kid is one Warden has not
  // seen, which makes Warden fetch the keys again (k2 and k1 now).
  ASSERT_TRUE(idp_->RotateKey("k2", &error)) << error;
  grpc::Status status = CodeLogin("corp", "frank", &login);
  ASSERT_TRUE(status.ok()) << status.error_message() << "\n" << control_->process->Log();
  EXPECT_THAT(control_->process->Log(), HasSubstr("keys fetched count=2"));
  v1::ListOidcProvidersResponse providers;
  ASSERT_TRUE(
      Admin(*control_)
          ->ListOidcProviders(AdminContext().get(), v1::ListOidcProvidersRequest(), &providers)
          .ok());
  ASSERT_EQ(providers.providers_size(), 3);
  EXPECT_EQ(providers.providers(0).name(), "corp");
  EXPECT_EQ(providers.providers(0).key_count(), 2);
  EXPECT_EQ(providers.providers(0).discovery_error(), "");
  // Never a secret, in any form.
  EXPECT_THAT(providers.DebugString(), Not(HasSubstr("warden+test")));
  EXPECT_THAT(providers.DebugString(), Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(SingleSignOnTest, ADisabledUserCannotLogInThroughTheProvider) {
  v1::LoginResponse login;
  ASSERT_TRUE(CodeLogin("corp", "gina", &login).ok());
  v1::GetUserRequest get;
  get.set_username("gina");
  v1::User user;
  ASSERT_TRUE(Admin(*control_)->GetUser(AdminContext().get(), get, &user).ok());
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(user.id());
  update.mutable_user()->set_disabled(true);
  update.mutable_update_mask()->add_paths("disabled");
  ASSERT_TRUE(Admin(*control_)->UpdateUser(AdminContext().get(), update, &user).ok());
  grpc::Status status = CodeLogin("corp", "gina", &login);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("disabled"));
}

TEST_F(SingleSignOnTest, AStrangerIsNotCreatedOrLinkedUnlessTheProviderSaysSo) {
  v1::LoginResponse login;
  // "strict" creates nobody.
  grpc::Status status = CodeLogin("strict", "henry", &login);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no Warden user is linked"));
  // A local user of the same name is not taken over by name.
  CreateUser(*control_, "ivan", 1);
  status = CodeLogin("corp", "ivan", &login);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("is not linked to this corp identity"));
  EXPECT_EQ(Query("SELECT count(*) FROM user_identities"), 0);
}

// The page shows a confirmation code; only the app the person typed it into
// can finish the login, not whoever started it and sent them the link.
TEST_F(SingleSignOnTest, WardensOwnCallbackPageCompletesTheLoginWithItsConfirmationCode) {
  v1::BeginOidcLoginResponse begun;
  ASSERT_TRUE(Begin("corp", callback_url_, &begun).ok());
  v1::LoginResponse login;
  grpc::Status early = Complete(begun.login_id(), "BCDF-GHJK", begun.state(), &login);
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  const BrowserResult browser =
      idp_->SignIn(begun.authorization_url(), "judy", callback_url_, /*follow=*/true);
  ASSERT_TRUE(browser.reached) << browser.output;
  EXPECT_EQ(browser.followed_status, 200) << browser.followed_body;
  EXPECT_THAT(browser.followed_body, HasSubstr("Signed in to Warden"));
  // The page does not show what it was given.
  EXPECT_THAT(browser.followed_body, Not(HasSubstr(browser.code)));
  const std::string open = "<strong>", close = "</strong>";
  const size_t at = browser.followed_body.find(open);
  ASSERT_NE(at, std::string::npos) << browser.followed_body;
  const std::string confirmation = browser.followed_body.substr(
      at + open.size(), browser.followed_body.find(close, at) - at - open.size());
  EXPECT_EQ(confirmation.size(), 9u) << confirmation;
  // Typed in lower case, without the dash: still the same code.
  std::string typed;
  for (char c : confirmation) {
    if (c != '-') typed.push_back(static_cast<char>(std::tolower(c)));
  }
  grpc::Status status = Complete(begun.login_id(), typed, begun.state(), &login);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(login.access_token(), StartsWith("wat_"));
  grpc::Status replay = Complete(begun.login_id(), confirmation, begun.state(), &login);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Someone who started a login and had another person sign in holds the
  // login id and the state, but not the code that person saw.
  ASSERT_TRUE(Begin("corp", callback_url_, &begun).ok());
  const BrowserResult victim =
      idp_->SignIn(begun.authorization_url(), "kate", callback_url_, /*follow=*/true);
  ASSERT_EQ(victim.followed_status, 200) << victim.output;
  grpc::Status guessed = Complete(begun.login_id(), "BCDF-GHJK", begun.state(), &login);
  EXPECT_EQ(guessed.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(guessed.error_message(), HasSubstr("confirmation code"));
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'kate'"), 0);
}

TEST_F(SingleSignOnTest, WardenConnectLogsInWithTheDeviceFlow) {
  const std::string login_file = work_dir_ + "/connect-login.json";
  Process connect(
      WARDEN_CONNECT_BIN,
      {"--login-file", login_file, "login", "--control", absl::StrCat("127.0.0.1:", control_->port),
       "--insecure", "--oidc", "--provider", "corp", "--device-label", "build-server"},
      {{"HOME", work_dir_}}, work_dir_ + "/connect.log");
  // It prints where to go and the code, then waits for the person.
  ASSERT_TRUE(connect.WaitForLog("Waiting for you", absl::Seconds(20))) << connect.Log();
  const std::string log = connect.Log();
  const std::string open_marker = "open ", code_marker = "enter the code ";
  const size_t open = log.find(open_marker), code = log.find(code_marker);
  ASSERT_NE(code, std::string::npos) << log;
  const std::string uri =
      log.substr(open + open_marker.size(),
                 log.find(' ', open + open_marker.size()) - open - open_marker.size());
  const std::string user_code =
      log.substr(code + code_marker.size(), log.find('\n', code) - code - code_marker.size());
  std::string output;
  ASSERT_TRUE(idp_->ApproveDevice(uri, user_code, "lena", /*deny=*/false, &output)) << output;
  ASSERT_EQ(connect.Wait(absl::Seconds(30)), 0) << connect.Log();
  EXPECT_THAT(connect.Log(), HasSubstr("logged in as lena"));
  std::ifstream saved(login_file);
  const nlohmann::json kept = nlohmann::json::parse(saved, nullptr, false);
  ASSERT_TRUE(kept.is_object()) << connect.Log();
  EXPECT_EQ(kept.value("username", ""), "lena");
}

TEST_F(SingleSignOnTest, PrivateKeyJwtClientAuthenticationInBothFlows) {
  v1::LoginResponse login;
  grpc::Status status = CodeLogin("keyed", "kim", &login);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Query("SELECT count(*) FROM user_identities WHERE provider = 'keyed'"), 1);

  // The device flow authenticates its polls the same way (client_id once).
  v1::StartDeviceLoginRequest start;
  start.set_provider("keyed");
  v1::StartDeviceLoginResponse started;
  status = session_->StartDeviceLogin(AdminContext().get(), start, &started);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::string output;
  ASSERT_TRUE(idp_->ApproveDevice(started.verification_uri(), started.user_code(), "kim",
                                  /*deny=*/false, &output))
      << output;
  v1::PollDeviceLoginResponse answer;
  ASSERT_TRUE(WaitFor(
      [&] {
        status = Poll(started.device_login_id(), &answer);
        return !status.ok() || answer.state() == v1::DEVICE_LOGIN_COMPLETE;
      },
      absl::Seconds(15)));
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(answer.state(), v1::DEVICE_LOGIN_COMPLETE);
  EXPECT_EQ(Query("SELECT count(*) FROM user_identities WHERE provider = 'keyed'"), 1);
}

}  // namespace
}  // namespace warden::testing
