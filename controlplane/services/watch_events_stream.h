#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "common/worker_pool.h"
#include "controlplane/dispatch/event_feed.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/write_queue.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::control::services {

// AdminService.WatchEvents: authenticates on a worker, then follows the
// audit feed until the caller goes away. A watcher that cannot keep up is
// ended with RESOURCE_EXHAUSTED naming the id to resume after.
class WatchEventsStream final : public grpc::ServerWriteReactor<v1::WatchEventsResponse> {
 public:
  WatchEventsStream(grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* request,
                    WorkerPool& db_workers, Authenticator& authenticator,
                    dispatch::EventFeed& feed);

  void OnWriteDone(bool ok) override { writes_.WriteDone(ok); }
  void OnCancel() override { writes_.FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override;

 private:
  class Sink;
  void Subscribe(std::string token, v1::WatchEventsRequest request);

  dispatch::EventFeed& feed_;
  Authenticator& authenticator_;
  WriteQueue<v1::WatchEventsResponse> writes_;
  std::shared_ptr<Sink> sink_;
  std::atomic<int64_t> subscription_{0};
};

}  // namespace warden::control::services
