// Cheap callers cannot starve paying ones, through gRPC on a real
// PostgreSQL: SessionService.Login is throttled per username and per client
// address before any password work, and VPN logins (AgentService.Admit with
// a password) check passwords on an argon2id lane of their own, which a
// flood of logins cannot take and whose saturation is an RPC error the
// agent's fail rule handles, never a wrong-password denial.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/secrets.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "correct horse battery";

struct LoginResult {
  grpc::Status status;
  std::string retry_after;  // the trailing "retry-after", if any
};

LoginResult LoginOnce(v1::SessionService::Stub& stub, const std::string& username,
                      const std::string& password) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  v1::LoginRequest request;
  request.set_username(username);
  request.set_password(password);
  v1::LoginResponse response;
  LoginResult result;
  result.status = stub.Login(&context, request, &response);
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find("retry-after"); it != trailers.end()) {
    result.retry_after = std::string(it->second.data(), it->second.size());
  }
  return result;
}

int RetryAfterSeconds(const LoginResult& result) {
  int seconds = -1;
  EXPECT_TRUE(absl::SimpleAtoi(result.retry_after, &seconds))
      << "retry-after: \"" << result.retry_after << "\"";
  return seconds;
}

class LoginLimitsTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    session_ = v1::SessionService::NewStub(Channel());
  }
  LoginResult Login(const std::string& username, const std::string& password) {
    return LoginOnce(*session_, username, password);
  }
  std::string Metrics() const { return control_->metrics().Expose(); }
  // The value of one series ("name{labels}") in /metrics; -1 when absent.
  double MetricValue(const std::string& series) const {
    const std::string text = Metrics();
    const size_t at = text.find(series + " ");
    double value = -1;
    if (at == std::string::npos) return value;
    const size_t start = at + series.size() + 1;
    (void)absl::SimpleAtod(text.substr(start, text.find('\n', start) - start), &value);
    return value;
  }

  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<v1::SessionService::Stub> session_;
};

// The per-username bucket alone (addresses unlimited), at its defaults.
class SessionLoginThrottleTest : public LoginLimitsTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.login_rate_per_address = 0;
  }
};

TEST_F(SessionLoginThrottleTest, TheSixthLoginForOneUsernameWithinAMinuteIsRefusedWithRetryAfter) {
  fleet_->CreateUser("alice", 5, v1::EVICT_OLDEST, 0, kPassword);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Login("alice", "wrong password!").status.error_code(),
              grpc::StatusCode::UNAUTHENTICATED)
        << i;
  }
  // Even the right password waits now: the guesses used up the budget.
  const LoginResult sixth = Login("alice", kPassword);
  EXPECT_EQ(sixth.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(sixth.status.error_message(), HasSubstr("too many login attempts for this username"));
  const int seconds = RetryAfterSeconds(sixth);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 12) << "5 a minute: one more every 12 s";
  EXPECT_THAT(sixth.status.error_message(), HasSubstr(absl::StrCat("retry after ", seconds)));

  // Unknown usernames count alike, so the throttle tells nobody which exist.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(Login("nobody", kPassword).status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(Login("nobody", kPassword).status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  EXPECT_EQ(Login("carol", kPassword).status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "other usernames are not held up";
  EXPECT_THAT(Metrics(), HasSubstr("warden_logins_throttled_total{by=\"username\"} 2"));
}

TEST_F(SessionLoginThrottleTest, RightPasswordsDoNotUseUpTheUsernameBudget) {
  fleet_->CreateUser("alice", 5, v1::EVICT_OLDEST, 0, kPassword);
  // A user's devices logging in one after another (or after a password change).
  for (int i = 0; i < 8; ++i) {
    const LoginResult login = Login("alice", kPassword);
    EXPECT_TRUE(login.status.ok()) << i << ": " << login.status.error_message();
  }
}

class AddressLoginThrottleTest : public LoginLimitsTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.login_rate_per_address = 3;
    config.login_burst_per_address = 3;
  }
};

TEST_F(AddressLoginThrottleTest, OneAddressTryingManyUsernamesIsRefusedAfterItsBurst) {
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(Login(absl::StrCat("user", i), kPassword).status.error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  const LoginResult fourth = Login("user3", kPassword);
  EXPECT_EQ(fourth.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(fourth.status.error_message(), HasSubstr("from this address"));
  const int seconds = RetryAfterSeconds(fourth);
  EXPECT_GE(seconds, 1);
  EXPECT_LE(seconds, 20) << "3 a minute: one more every 20 s";
  EXPECT_THAT(Metrics(), HasSubstr("warden_logins_throttled_total{by=\"address\"} 1"));
}

// Logins and VPN logins on a slow hash, with small lanes.
class PasswordLanesTest : public LoginLimitsTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.login_rate_per_username = 0;  // the lanes alone
    config.login_rate_per_address = 0;
    // ~tens of ms per check, so that a flood outlasts a VPN login's deadline
    // if both shared one pool.
    config.password_cost = {.ops_limit = 2, .mem_limit_bytes = 32 << 20};
    config.password_threads = 1;
    config.password_queue = 64;
    config.admission_password_threads = 1;
    ConfigureLanes(config);
  }
  virtual void ConfigureLanes(control::ControlPlaneConfig& config) { (void)config; }

  v1::AdmitRequest PasswordAdmit(const std::string& username, const std::string& key) {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key(key);
    request.mutable_password()->set_username(username);
    request.mutable_password()->set_password(kPassword);
    return request;
  }
};

// `count` Login calls with random usernames, all in flight at once, spread
// over a few connections (each serves a limited number of streams at once).
class LoginFlood {
 public:
  LoginFlood(int port, int count) {
    for (int c = 0; c < 5; ++c) {
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
      stubs_.push_back(v1::SessionService::NewStub(grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(), args)));
    }
    for (int i = 0; i < count; ++i) {
      auto call = std::make_unique<Call>();
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      call->request.set_username(
          absl::StrCat("flood-", i, "-", secrets::NewToken("").substr(0, 8)));
      call->request.set_password("guess-guess-guess");
      call->reader = stubs_[i % stubs_.size()]->AsyncLogin(&call->context, call->request, &queue_);
      call->reader->Finish(&call->response, &call->status, call.get());
      calls_.push_back(std::move(call));
    }
  }
  // Waits for every answer; counts them by status code.
  std::map<grpc::StatusCode, int> Outcomes() {
    for (size_t i = 0; i < calls_.size(); ++i) {
      void* tag = nullptr;
      bool ok = false;
      if (!queue_.Next(&tag, &ok)) break;
    }
    std::map<grpc::StatusCode, int> outcomes;
    for (const auto& call : calls_) ++outcomes[call->status.error_code()];
    return outcomes;
  }
  ~LoginFlood() {
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

 private:
  struct Call {
    grpc::ClientContext context;
    v1::LoginRequest request;
    v1::LoginResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::LoginResponse>> reader;
  };
  std::vector<std::unique_ptr<v1::SessionService::Stub>> stubs_;
  grpc::CompletionQueue queue_;
  std::vector<std::unique_ptr<Call>> calls_;
};

TEST_F(PasswordLanesTest, ALoginFloodDoesNotTurnValidVpnLoginsIntoDenials) {
  const TestNode node = fleet_->CreateNode("ams-1");
  constexpr int kUsers = 10;
  for (int i = 0; i < kUsers; ++i) {
    fleet_->CreateUser(absl::StrCat("vpn", i), 0, v1::EVICT_OLDEST, 0, kPassword);
  }
  LoginFlood flood(control_->port(), 1000);
  // The flood is in: the general lane is busy and its queue full.
  ASSERT_TRUE(WaitFor([&] {
    return MetricValue("warden_password_rejections_total{lane=\"general\",reason=\"queue_full\"}") >
           0;
  }));

  std::vector<std::thread> admissions;
  absl::Mutex mu;
  std::vector<std::string> outcomes;
  for (int i = 0; i < kUsers; ++i) {
    admissions.emplace_back([&, i] {
      // The agent's own deadline for an answer (--admit-timeout-ms).
      grpc::ClientContext context;
      context.AddMetadata("authorization", absl::StrCat("Bearer ", node.credential));
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
      v1::AdmitResponse response;
      grpc::Status status = fleet_->agent().Admit(
          &context, PasswordAdmit(absl::StrCat("vpn", i), absl::StrCat("ovpn:flood:", i)),
          &response);
      absl::MutexLock lock(&mu);
      outcomes.push_back(!status.ok() ? absl::StrCat("error: ", status.error_message())
                         : response.has_admitted()
                             ? "ADMITTED"
                             : v1::DenyReason_Name(response.denied().reason()));
    });
  }
  for (std::thread& admission : admissions) admission.join();
  for (const std::string& outcome : outcomes) EXPECT_EQ(outcome, "ADMITTED");

  std::map<grpc::StatusCode, int> logins = flood.Outcomes();
  EXPECT_GT(logins[grpc::StatusCode::RESOURCE_EXHAUSTED], 0) << "the login lane was saturated";
  EXPECT_EQ(logins[grpc::StatusCode::OK], 0);
  EXPECT_THAT(Metrics(), HasSubstr("warden_password_rejections_total{lane=\"admission\","
                                   "reason=\"queue_full\"} 0"));
}

class SaturatedAdmissionLaneTest : public PasswordLanesTest {
 protected:
  void ConfigureLanes(control::ControlPlaneConfig& config) override {
    config.admission_password_queue = 1;
  }
};

TEST_F(SaturatedAdmissionLaneTest, AFullAdmissionLaneIsUnavailableNeverAWrongPassword) {
  const TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("alice", 0, v1::EVICT_OLDEST, 0, kPassword);
  constexpr int kConnects = 12;
  std::vector<std::thread> connects;
  absl::Mutex mu;
  std::map<std::string, int> outcomes;
  for (int i = 0; i < kConnects; ++i) {
    connects.emplace_back([&, i] {
      v1::AdmitResponse response;
      grpc::Status status = fleet_->Admit(
          node.credential, PasswordAdmit("alice", absl::StrCat("ovpn:c:", i)), &response);
      absl::MutexLock lock(&mu);
      ++outcomes[!status.ok()
                     ? absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))
                 : response.has_admitted() ? "ADMITTED"
                                           : v1::DenyReason_Name(response.denied().reason())];
    });
  }
  for (std::thread& connect : connects) connect.join();
  // The agent applies its fail-open/fail-closed rule to UNAVAILABLE, as to
  // a control plane it cannot reach; a denial would be final.
  EXPECT_GT(outcomes["UNAVAILABLE"], 0);
  EXPECT_GT(outcomes["ADMITTED"], 0);
  EXPECT_EQ(outcomes["ADMITTED"] + outcomes["UNAVAILABLE"], kConnects);
  EXPECT_EQ(outcomes["BAD_CREDENTIALS"], 0);
}

}  // namespace
}  // namespace warden::testing
