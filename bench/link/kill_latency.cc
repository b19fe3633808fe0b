// Kill propagation: KillSession(wait=true) through warden-control, the
// agent's stream, the agent's driver and back with the acknowledgement.
// Each round opens a session through the local agent's memory driver (not
// timed), then times the kill.
//
//   kill_latency --target 127.0.0.1:50051 --admin-key wak_...
//       --driver-socket /path/memory.sock --kills 10000

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/drivers/memory/memory_driver_client.h"
#include "bench/lib/proc_usage.h"
#include "warden/v1/admin.grpc.pb.h"

namespace {

using warden::bench::Percentile;

std::unique_ptr<grpc::ClientContext> Context(const std::string& key) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return context;
}

// The memory driver names users without a password: the node must be a
// trusted authenticator for that to admit.
bool TrustNode(warden::v1::AdminService::Stub& admin, const std::string& key,
               const std::string& name) {
  warden::v1::ListNodesResponse nodes;
  if (grpc::Status status = admin.ListNodes(Context(key).get(), {}, &nodes); !status.ok()) {
    std::fprintf(stderr, "ListNodes: %s\n", status.error_message().c_str());
    return false;
  }
  for (const warden::v1::Node& node : nodes.nodes()) {
    if (node.name() != name) continue;
    warden::v1::UpdateNodeRequest update;
    update.mutable_node()->set_id(node.id());
    update.mutable_node()->set_trusted_authenticator(true);
    update.mutable_update_mask()->add_paths("trusted_authenticator");
    warden::v1::Node updated;
    grpc::Status status = admin.UpdateNode(Context(key).get(), update, &updated);
    if (!status.ok()) std::fprintf(stderr, "UpdateNode: %s\n", status.error_message().c_str());
    return status.ok();
  }
  std::fprintf(stderr, "no node named %s\n", name.c_str());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:50051";
  std::string admin_key;
  std::string driver_socket;
  std::string node_name = "bench-agent";
  int kills = 10000;
  CLI::App app{"Kill propagation benchmark"};
  app.add_option("--target", target);
  app.add_option("--admin-key", admin_key)->required();
  app.add_option("--driver-socket", driver_socket)->required();
  app.add_option("--kills", kills);
  app.add_option("--node-name", node_name, "the agent's node, made a trusted authenticator");
  CLI11_PARSE(app, argc, argv);

  auto admin = warden::v1::AdminService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  if (!TrustNode(*admin, admin_key, node_name)) return 1;
  const std::string user = absl::StrCat("killbench", absl::ToUnixSeconds(absl::Now()));
  warden::v1::CreateUserRequest create;
  create.mutable_user()->set_username(user);
  warden::v1::User created;
  if (grpc::Status status = admin->CreateUser(Context(admin_key).get(), create, &created);
      !status.ok()) {
    std::fprintf(stderr, "CreateUser: %s\n", status.error_message().c_str());
    return 1;
  }
  warden::agent::MemoryDriverClient driver(driver_socket);
  std::vector<double> latency_ms;
  latency_ms.reserve(kills);
  int failures = 0;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kills; ++i) {
    const std::string reply = driver.Open(absl::StrCat("kb", i), user);
    if (!absl::StartsWith(reply, "admitted ")) {
      std::fprintf(stderr, "open: %s\n", reply.c_str());
      ++failures;
      continue;
    }
    warden::v1::KillSessionRequest kill;
    kill.set_session_id(reply.substr(9));
    kill.set_reason("benchmark");
    kill.set_wait(true);
    warden::v1::KillSessionResponse response;
    const absl::Time sent = absl::Now();
    grpc::Status status = admin->KillSession(Context(admin_key).get(), kill, &response);
    const absl::Duration took = absl::Now() - sent;
    if (!status.ok() || !response.acknowledged()) {
      ++failures;
      continue;
    }
    latency_ms.push_back(absl::ToDoubleMilliseconds(took));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::sort(latency_ms.begin(), latency_ms.end());
  if (latency_ms.empty()) return 1;
  double sum = 0;
  for (double v : latency_ms) sum += v;
  std::printf(
      "kills=%zu failures=%d rounds_per_s=%.0f mean_ms=%.2f p50_ms=%.2f p90_ms=%.2f "
      "p99_ms=%.2f p999_ms=%.2f max_ms=%.2f\n",
      latency_ms.size(), failures, latency_ms.size() / seconds, sum / latency_ms.size(),
      Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.9), Percentile(latency_ms, 0.99),
      Percentile(latency_ms, 0.999), latency_ms.back());
  return failures == 0 ? 0 : 1;
}
