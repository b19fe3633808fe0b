// Relay latency and throughput between two signalling members: the sender on
// --sender, the receiver on --receiver (the same replica, or another one on
// the same database). Latency: one relay at a time, each carrying its send
// time, measured when the receiver's event arrives (both clients live in
// this process: one clock). Throughput: --burst relays sent back to back
// without acknowledgements, timed until the last one is received.
//
//   relay_latency --sender 127.0.0.1:50051 --receiver 127.0.0.1:50052
//       --admin-key wak_... --relays 10000 --burst 20000 --payload 256

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/signal_client.h"

namespace {

using warden::testing::SignalClient;

std::unique_ptr<SignalClient> Identified(const std::string& target, const std::string& key) {
  auto client = std::make_unique<SignalClient>(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), key);
  if (absl::Status identified = client->Identify(); !identified.ok()) {
    std::fprintf(stderr, "identify on %s: %s\n", target.c_str(),
                 std::string(identified.message()).c_str());
    std::exit(1);
  }
  return client;
}

double At(const std::vector<double>& sorted, double p) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

std::string Stamped(size_t size) {
  std::string payload(std::max(size, sizeof(int64_t)), 'p');
  const int64_t now = absl::GetCurrentTimeNanos();
  std::memcpy(payload.data(), &now, sizeof now);
  return payload;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sender_target = "127.0.0.1:50051";
  std::string receiver_target;
  std::string admin_key;
  int relays = 10000;
  int burst = 20000;
  size_t payload = 256;
  CLI::App app{"Signalling relay latency and throughput"};
  app.add_option("--sender", sender_target);
  app.add_option("--receiver", receiver_target, "default: the sender's replica");
  app.add_option("--admin-key", admin_key)->required();
  app.add_option("--relays", relays, "timed one at a time");
  app.add_option("--burst", burst, "sent back to back for throughput");
  app.add_option("--payload", payload, "bytes per relay (at least 8)");
  CLI11_PARSE(app, argc, argv);
  if (receiver_target.empty()) receiver_target = sender_target;

  auto sender = Identified(sender_target, admin_key);
  auto receiver = Identified(receiver_target, admin_key);
  absl::StatusOr<warden::v1::RoomState> room = sender->CreateRoom("relay bench");
  if (!room.ok() || !receiver->JoinRoom(room->room_id()).ok()) {
    std::fprintf(stderr, "cannot set up the room\n");
    return 1;
  }
  // The sender's replica knows of the receiver once the join event is in.
  if (!sender->NextEvent(warden::v1::SignalEvent::kMemberJoined).has_value()) {
    std::fprintf(stderr, "the sender never heard of the receiver\n");
    return 1;
  }

  std::vector<double> latencies_us;
  latencies_us.reserve(relays);
  warden::v1::SignalRequest request;
  request.mutable_relay()->set_room_id(room->room_id());
  request.mutable_relay()->set_to(receiver->public_key());
  for (int i = 0; i < relays; ++i) {
    request.mutable_relay()->set_payload(Stamped(payload));
    sender->Send(request);
    std::optional<warden::v1::SignalEvent> got =
        receiver->NextEvent(warden::v1::SignalEvent::kRelayed, absl::Seconds(10));
    const int64_t now = absl::GetCurrentTimeNanos();
    if (!got.has_value()) {
      std::fprintf(stderr, "relay %d lost\n", i);
      return 1;
    }
    int64_t sent = 0;
    std::memcpy(&sent, got->relayed().payload().data(), sizeof sent);
    latencies_us.push_back(static_cast<double>(now - sent) / 1000.0);
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  double sum = 0;
  for (double latency : latencies_us) sum += latency;
  std::printf("latency: %d relays of %zu bytes, one at a time\n", relays, payload);
  std::printf("| relays | mean | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
  std::printf("| %d | %.0f µs | %.0f µs | %.0f µs | %.0f µs | %.0f µs | %.0f µs |\n", relays,
              sum / relays, At(latencies_us, 0.5), At(latencies_us, 0.9), At(latencies_us, 0.99),
              At(latencies_us, 0.999), latencies_us.back());

  const absl::Time start = absl::Now();
  for (int i = 0; i < burst; ++i) {
    request.mutable_relay()->set_payload(Stamped(payload));
    sender->Send(request);
  }
  int received = 0;
  while (received < burst &&
         receiver->NextEvent(warden::v1::SignalEvent::kRelayed, absl::Seconds(10)).has_value()) {
    ++received;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("throughput: %d of %d relays received in %.2f s: %.0f relays/s\n", received, burst,
              seconds, received / seconds);
  sender->Close();
  receiver->Close();
  return received == burst ? 0 : 1;
}
