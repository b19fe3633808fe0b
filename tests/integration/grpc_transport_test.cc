// The gRPC server's transport limits, through real connections: the largest
// message it takes, the calls one connection may run at once, and how often
// a client may ping without sending anything.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class GrpcTransportTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.grpc_max_concurrent_streams = 2;
  }

  // A channel with a connection of its own.
  std::shared_ptr<grpc::Channel> OwnChannel(grpc::ChannelArguments args = {}) const {
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", control_->port()),
                                     grpc::InsecureChannelCredentials(), args);
  }

  static grpc::Status ListUsers(v1::AdminService::Stub& admin,
                                absl::Duration deadline = absl::Seconds(10)) {
    auto context = Context();
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    v1::ListUsersRequest request;
    v1::ListUsersResponse response;
    return admin.ListUsers(context.get(), request, &response);
  }
};

TEST_F(GrpcTransportTest, ATooLargeMessageIsRefusedAndTheServerKeepsServing) {
  auto session = v1::SessionService::NewStub(Channel());
  auto login = [&](size_t password_bytes) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::LoginRequest request;
    request.set_username("alice");
    request.set_password(std::string(password_bytes, 'x'));
    v1::LoginResponse response;
    return session->Login(&context, request, &response);
  };
  // 3 MiB reaches the handler, which finds the password too long...
  grpc::Status parsed = login(3 << 20);
  EXPECT_EQ(parsed.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << parsed.error_message();
  // ...5 MiB is refused by the transport before anything reads it.
  grpc::Status refused = login(5 << 20);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("larger than max"));
  // The connection and the server go on.
  auto admin = v1::AdminService::NewStub(Channel());
  EXPECT_TRUE(ListUsers(*admin).ok());
}

TEST_F(GrpcTransportTest, CallsBeyondTheStreamLimitWaitForAFreeSlot) {
  std::shared_ptr<grpc::Channel> channel = OwnChannel();
  auto admin = v1::AdminService::NewStub(channel);
  ASSERT_TRUE(ListUsers(*admin).ok());  // connected: the server's settings are known
  // Two long-lived streams take both slots of this connection.
  std::unique_ptr<grpc::ClientContext> watches[2] = {Context(), Context()};
  std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> readers[2];
  for (int i = 0; i < 2; ++i) {
    watches[i]->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    // Open once this returns: the client counts it against the server's limit.
    readers[i] = admin->WatchEvents(watches[i].get(), v1::WatchEventsRequest{});
  }
  // A third call on the same connection waits for a slot...
  grpc::Status waited = ListUsers(*admin, absl::Milliseconds(1500));
  EXPECT_EQ(waited.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << waited.error_message();
  // ...while another connection is served at once...
  auto other = v1::AdminService::NewStub(OwnChannel());
  EXPECT_TRUE(ListUsers(*other).ok());
  // ...and it runs once a stream ends.
  watches[0]->TryCancel();
  (void)readers[0]->Finish();
  EXPECT_TRUE(ListUsers(*admin).ok());
  watches[1]->TryCancel();
  (void)readers[1]->Finish();
}

TEST_F(GrpcTransportTest, AClientPingingTooOftenIsDisconnected) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 100);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  args.SetInt(GRPC_ARG_HTTP2_MIN_SENT_PING_INTERVAL_WITHOUT_DATA_MS, 100);
  auto admin = v1::AdminService::NewStub(OwnChannel(args));
  // An idle stream: nothing flows while the client pings every 100 ms; the
  // server allows one ping per 10 s and two strikes, then closes.
  auto context = Context();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  auto reader = admin->WatchEvents(context.get(), v1::WatchEventsRequest{});
  v1::WatchEventsResponse event;
  const absl::Time start = absl::Now();
  while (reader->Read(&event)) {
  }
  grpc::Status ended = reader->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "closed for its pings, not its deadline";
}

}  // namespace
}  // namespace warden::testing
