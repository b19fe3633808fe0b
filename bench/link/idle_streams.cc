// Idle agent streams held by one warden-control: registers N nodes, attaches
// one stream per node (each on its own connection, as real agents are),
// keeps them idle with heartbeats, and reads the control plane's resident
// memory and CPU time from /proc.
//
//   idle_streams --target 127.0.0.1:50051 --admin-key wak_... --pid <warden-control pid>
//       --streams 10000 --hold 60

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/lib/proc_usage.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace {

using warden::bench::ProcessUsage;
using warden::bench::Usage;
using warden::v1::AgentMessage;
using warden::v1::ControlMessage;

class IdleAgent final : public grpc::ClientBidiReactor<AgentMessage, ControlMessage> {
 public:
  IdleAgent(warden::v1::AgentService::Stub* stub, const std::string& credential,
            std::atomic<int>* attached, std::atomic<int>* ended)
      : attached_(attached), ended_(ended) {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", credential));
    out_.mutable_hello()->set_agent_version("idle-bench");
    stub->async()->Attach(&context_, this);
    writing_ = true;
    StartWrite(&out_);
    StartRead(&in_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (in_.has_welcome() && !welcomed_) {
      welcomed_ = true;
      attached_->fetch_add(1);
    }
    StartRead(&in_);
  }
  void OnWriteDone(bool) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock lock(&mu_);
    done_ = true;
    ended_->fetch_add(1);
  }
  void Heartbeat() {
    absl::MutexLock lock(&mu_);
    if (done_ || writing_) return;
    writing_ = true;
    out_.Clear();
    out_.mutable_heartbeat()->mutable_sent_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    StartWrite(&out_);
  }
  void Cancel() { context_.TryCancel(); }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  grpc::ClientContext context_;
  AgentMessage out_;
  ControlMessage in_;
  bool welcomed_ = false;
  std::atomic<int>* attached_;
  std::atomic<int>* ended_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:50051";
  std::string admin_key;
  int pid = 0;
  int streams = 10000;
  int hold_seconds = 60;
  int heartbeat_seconds = 10;
  CLI::App app{"Idle agent streams benchmark"};
  app.add_option("--target", target);
  app.add_option("--admin-key", admin_key)->required();
  app.add_option("--pid", pid, "warden-control's pid")->required();
  app.add_option("--streams", streams);
  app.add_option("--hold", hold_seconds, "seconds of idleness measured");
  app.add_option("--heartbeat-seconds", heartbeat_seconds);
  CLI11_PARSE(app, argc, argv);

  const ProcessUsage before = Usage(pid);
  auto admin = warden::v1::AdminService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  std::vector<std::string> credentials(streams);
  std::atomic<int> next{0}, create_failures{0};
  std::vector<std::thread> creators;
  for (int t = 0; t < 16; ++t) {
    creators.emplace_back([&] {
      for (int i = next++; i < streams; i = next++) {
        grpc::ClientContext context;
        context.AddMetadata("authorization", absl::StrCat("Bearer ", admin_key));
        warden::v1::CreateNodeRequest request;
        request.set_name(absl::StrCat("idle-", run, "-", i));
        request.set_trusted_authenticator(true);
        warden::v1::CreateNodeResponse response;
        if (admin->CreateNode(&context, request, &response).ok()) {
          credentials[i] = response.credential();
        } else {
          ++create_failures;
        }
      }
    });
  }
  for (auto& thread : creators) thread.join();

  std::atomic<int> attached{0}, ended{0};
  std::vector<std::unique_ptr<warden::v1::AgentService::Stub>> stubs;
  std::vector<std::unique_ptr<IdleAgent>> agents;
  const absl::Time attach_start = absl::Now();
  for (int i = 0; i < streams; ++i) {
    if (credentials[i].empty()) continue;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    stubs.push_back(warden::v1::AgentService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
    agents.push_back(
        std::make_unique<IdleAgent>(stubs.back().get(), credentials[i], &attached, &ended));
    // At most 200 attaches in flight: the reconcile of each is a transaction.
    while (static_cast<int>(agents.size()) - attached.load() - ended.load() > 200) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }
  while (attached.load() + ended.load() < static_cast<int>(agents.size()) &&
         absl::Now() - attach_start < absl::Minutes(5)) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const double attach_seconds = absl::ToDoubleSeconds(absl::Now() - attach_start);

  const ProcessUsage idle_start = Usage(pid);
  const absl::Time hold_end = absl::Now() + absl::Seconds(hold_seconds);
  while (absl::Now() < hold_end) {
    for (auto& agent : agents) agent->Heartbeat();
    absl::SleepFor(std::min(absl::Seconds(heartbeat_seconds), hold_end - absl::Now()));
  }
  const ProcessUsage idle_end = Usage(pid);
  const int still_attached = attached.load() - ended.load();

  std::printf(
      "streams=%d node_create_failures=%d attached=%d still_attached_after_hold=%d "
      "attach_seconds=%.1f rss_before_mib=%.0f rss_idle_mib=%.0f idle_cpu_percent=%.2f "
      "hold_seconds=%d\n",
      streams, create_failures.load(), attached.load(), still_attached, attach_seconds,
      before.rss_mib, idle_end.rss_mib,
      100.0 * (idle_end.cpu_seconds - idle_start.cpu_seconds) / hold_seconds, hold_seconds);
  std::fflush(stdout);
  for (auto& agent : agents) agent->Cancel();
  while (ended.load() < static_cast<int>(agents.size())) absl::SleepFor(absl::Milliseconds(20));
  return still_attached == static_cast<int>(agents.size()) ? 0 : 1;
}
