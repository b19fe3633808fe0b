#pragma once

// SignalService: the gRPC transport of the signalling hub. One Connect
// stream per client; its messages go to the hub one at a time, its events
// come back through a bounded write queue.

#include <grpcpp/grpcpp.h>

#include "controlplane/services/authenticator.h"
#include "controlplane/signal/hub.h"
#include "controlplane/store/family_store.h"
#include "warden/v1/signal.grpc.pb.h"

namespace warden::control::services {

// Who may use signalling: a SessionService access token ("user:<name>"; a
// disabled user is refused) or an API key ("key:<name>").
signal::TokenCheck SignalTokenCheck(Authenticator& api_keys, store::FamilyStore& families);

class SignalService final : public v1::SignalService::CallbackService {
 public:
  explicit SignalService(signal::SignalHub& hub) : hub_(hub) {}

  grpc::ServerBidiReactor<v1::SignalRequest, v1::SignalEvent>* Connect(
      grpc::CallbackServerContext* ctx) override;

 private:
  signal::SignalHub& hub_;
};

}  // namespace warden::control::services
