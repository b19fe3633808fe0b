// The usage ledger under load: N simulated agents (enrolled nodes on raw
// Attach streams, each on its own connection) carry admitted sessions and
// report their growing byte counters at a steady total rate, while a
// second load admits and closes sessions at a modest rate. Admission
// latency is measured alone first, then with the usage load; the ledger's
// own numbers come from warden-control's /metrics.
//
//   usage_load --target 127.0.0.1:50051 --metrics 127.0.0.1:9100 --admin-key wak_...
//       --agents 100 --sessions 5000 --rate 5000 --duration 30 --admit-rate 20

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace {

using warden::v1::AdminService;
using warden::v1::AgentMessage;
using warden::v1::AgentService;
using warden::v1::ControlMessage;

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string metrics;  // host:port of warden-control's /metrics
  std::string admin_key;
  int agents = 100;
  int sessions = 5000;
  double rate = 5000;  // usage samples per second, all agents together
  int duration_seconds = 30;
  double admit_rate = 20;  // Admit + CloseSession per second
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& bearer) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// GET /metrics over plain HTTP/1.0: "name{labels}" → value.
std::map<std::string, double> Scrape(const std::string& address) {
  std::map<std::string, double> values;
  std::vector<std::string> parts = absl::StrSplit(address, ':');
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port)) return values;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, parts[0].c_str(), &peer.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) {
    ::close(fd);
    return values;
  }
  const std::string request = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!::write(fd, request.data(), request.size());
  std::string body;
  char buffer[65536];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) body.append(buffer, n);
  ::close(fd);
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos || !absl::SimpleAtod(line.substr(space + 1), &value)) {
      continue;
    }
    values[std::string(line.substr(0, space))] = value;
  }
  return values;
}

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

// The `p` quantile of a histogram's growth between two scrapes, as the
// upper bound of the bucket it falls in.
double HistogramQuantile(const std::map<std::string, double>& before,
                         const std::map<std::string, double>& after, const std::string& name,
                         double p) {
  std::vector<std::pair<double, double>> buckets;  // le, cumulative count
  const std::string prefix = name + "_bucket{le=\"";
  for (const auto& [key, value] : after) {
    if (key.rfind(prefix, 0) != 0) continue;
    std::string le = key.substr(prefix.size());
    le = std::string(absl::StripSuffix(le, "\"}"));
    const double bound = le == "+Inf" ? 1e9 : std::stod(le);
    auto it = before.find(key);
    buckets.emplace_back(bound, value - (it == before.end() ? 0 : it->second));
  }
  std::sort(buckets.begin(), buckets.end());
  if (buckets.empty() || buckets.back().second <= 0) return 0;
  for (const auto& [bound, count] : buckets) {
    if (count >= p * buckets.back().second) return bound;
  }
  return buckets.back().first;
}

double Delta(const std::map<std::string, double>& before,
             const std::map<std::string, double>& after, const std::string& key) {
  auto a = after.find(key);
  auto b = before.find(key);
  return (a == after.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
}

struct Session {
  std::string id;
  std::string key;
  int64_t rx = 0, tx = 0;
};

// One node's stream: Hello, then samples of its sessions at its share of
// the rate, and a heartbeat every few seconds.
class SimulatedAgent {
 public:
  SimulatedAgent(const std::string& target, std::string credential)
      : credential_(std::move(credential)), stub_(AgentService::NewStub(OwnChannel(target))) {}

  const std::string& credential() const { return credential_; }
  std::vector<Session>& sessions() { return sessions_; }

  bool Attach() {
    context_.AddMetadata("authorization", absl::StrCat("Bearer ", credential_));
    stream_ = stub_->Attach(&context_);
    AgentMessage hello;
    hello.mutable_hello()->set_agent_version("usage-bench");
    hello.mutable_hello()->add_drivers("wireguard");
    for (const Session& session : sessions_) {
      auto* item = hello.mutable_hello()->add_inventory();
      item->set_session_id(session.id);
      item->set_session_key(session.key);
      item->set_protocol(warden::v1::WIREGUARD);
    }
    if (!stream_->Write(hello)) return false;
    ControlMessage message;
    while (stream_->Read(&message)) {
      if (message.has_welcome()) break;
    }
    if (!message.has_welcome()) return false;
    reader_ = std::thread([this] {
      ControlMessage incoming;
      while (stream_->Read(&incoming)) {
      }
    });
    return true;
  }

  // Sends samples from `start` to `end` at `rate` per second; returns how
  // many it wrote.
  int64_t Report(absl::Time start, absl::Time end, double rate) {
    if (sessions_.empty() || rate <= 0) return 0;
    const absl::Duration interval = absl::Seconds(1 / rate);
    absl::Time scheduled = start;
    absl::Time next_heartbeat = start;
    int64_t sent = 0;
    for (size_t i = 0;; ++i) {
      const absl::Time now = absl::Now();
      if (scheduled > now) absl::SleepFor(scheduled - now);
      if (scheduled >= end) break;
      scheduled += interval;
      AgentMessage message;
      if (now >= next_heartbeat) {
        message.mutable_heartbeat()->mutable_sent_at()->set_seconds(absl::ToUnixSeconds(now));
        if (!stream_->Write(message)) break;
        next_heartbeat = now + absl::Seconds(3);
        message.Clear();
      }
      Session& session = sessions_[i % sessions_.size()];
      session.rx += 1500 * 40;
      session.tx += 1500 * 60;
      auto* usage = message.mutable_event()->mutable_usage();
      usage->set_session_id(session.id);
      usage->set_rx_bytes(session.rx);
      usage->set_tx_bytes(session.tx);
      // The node clock in microseconds, strictly increasing per session.
      usage->set_sequence(std::max(absl::ToUnixMicros(absl::Now()), ++last_sequence_));
      last_sequence_ = usage->sequence();
      if (!stream_->Write(message)) break;
      ++sent;
    }
    return sent;
  }

  void Detach() {
    if (!stream_) return;
    stream_->WritesDone();
    context_.TryCancel();
    if (reader_.joinable()) reader_.join();
    (void)stream_->Finish();
  }

 private:
  std::string credential_;
  std::unique_ptr<AgentService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<AgentMessage, ControlMessage>> stream_;
  std::thread reader_;
  std::vector<Session> sessions_;
  int64_t last_sequence_ = 0;
};

std::string CreateNode(AdminService::Stub& admin, const Options& options, const std::string& name) {
  warden::v1::CreateNodeRequest request;
  request.set_name(name);
  // The load names its users (no passwords): the node vouches for them.
  request.set_trusted_authenticator(true);
  warden::v1::CreateNodeResponse response;
  grpc::Status status = admin.CreateNode(Context(options.admin_key).get(), request, &response);
  if (!status.ok()) std::fprintf(stderr, "CreateNode: %s\n", status.error_message().c_str());
  return response.credential();
}

bool CreateUser(AdminService::Stub& admin, const Options& options, const std::string& name) {
  warden::v1::CreateUserRequest request;
  request.mutable_user()->set_username(name);
  request.mutable_user()->set_max_connections(100);
  warden::v1::User user;
  grpc::Status status = admin.CreateUser(Context(options.admin_key).get(), request, &user);
  if (!status.ok()) std::fprintf(stderr, "CreateUser: %s\n", status.error_message().c_str());
  return status.ok();
}

std::string Admit(AgentService::Stub& agent, const std::string& credential,
                  const std::string& username, const std::string& key) {
  warden::v1::AdmitRequest request;
  request.set_protocol(warden::v1::WIREGUARD);
  request.set_session_key(key);
  request.set_device_label("bench-device");
  request.mutable_asserted_user()->set_username(username);
  warden::v1::AdmitResponse response;
  grpc::Status status = agent.Admit(Context(credential).get(), request, &response);
  if (!status.ok() || !response.has_admitted()) return "";
  return response.admitted().session_id();
}

struct AdmissionResult {
  std::vector<double> ms;
  int failures = 0;
};

// Admit + CloseSession at `rate` per second, open loop: latency counts from
// the scheduled start.
AdmissionResult AdmissionLoad(const Options& options, const std::string& credential,
                              const std::string& run, absl::Time end) {
  auto agent = AgentService::NewStub(OwnChannel(options.target));
  AdmissionResult result;
  const absl::Duration interval = absl::Seconds(1 / options.admit_rate);
  absl::Time scheduled = absl::Now();
  for (int i = 0; scheduled < end; ++i) {
    const absl::Time now = absl::Now();
    if (scheduled > now) absl::SleepFor(scheduled - now);
    const std::string id =
        Admit(*agent, credential, absl::StrCat("admitter", i % 50), absl::StrCat(run, ":", i));
    result.ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - scheduled));
    scheduled += interval;
    if (id.empty()) {
      ++result.failures;
      continue;
    }
    warden::v1::CloseSessionRequest close;
    close.set_session_id(id);
    close.set_reason("client disconnected");
    warden::v1::CloseSessionResponse closed;
    if (!agent->CloseSession(Context(credential).get(), close, &closed).ok()) ++result.failures;
  }
  return result;
}

void PrintAdmission(const char* label, const AdmissionResult& result) {
  std::printf("admission %-18s admits=%zu failures=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f\n", label,
              result.ms.size(), result.failures, Percentile(result.ms, 0.5),
              Percentile(result.ms, 0.99), Percentile(result.ms, 1.0));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"Usage ledger load generator for warden-control"};
  app.add_option("--target", options.target, "warden-control address");
  app.add_option("--metrics", options.metrics, "warden-control's /metrics address")->required();
  app.add_option("--admin-key", options.admin_key)->required();
  app.add_option("--agents", options.agents, "simulated nodes, one stream each");
  app.add_option("--sessions", options.sessions, "live sessions, spread over the agents");
  app.add_option("--rate", options.rate, "usage samples per second, all agents together");
  app.add_option("--duration", options.duration_seconds, "seconds of each phase");
  app.add_option("--admit-rate", options.admit_rate, "Admit + CloseSession per second");
  CLI11_PARSE(app, argc, argv);

  auto admin = AdminService::NewStub(OwnChannel(options.target));
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  const int users = std::max(1, options.sessions / 5);

  // Setup: nodes, users (five sessions each), the sessions admitted through
  // their nodes as a trusted gateway would.
  const absl::Time setup_start = absl::Now();
  std::vector<std::unique_ptr<SimulatedAgent>> agents;
  for (int a = 0; a < options.agents; ++a) {
    const std::string credential = CreateNode(*admin, options, absl::StrCat("usage-", run, "-", a));
    if (credential.empty()) return 1;
    agents.push_back(std::make_unique<SimulatedAgent>(options.target, credential));
  }
  const std::string admitter = CreateNode(*admin, options, absl::StrCat("admitter-", run));
  if (admitter.empty()) return 1;
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < users + 50; i = next++) {
        const std::string name =
            i < users ? absl::StrCat("usage", run, "-", i) : absl::StrCat("admitter", i - users);
        if (!CreateUser(*admin, options, name)) ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  threads.clear();
  next = 0;
  std::vector<std::vector<Session>> admitted(options.agents);
  absl::Mutex admitted_mu;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      auto agent = AgentService::NewStub(OwnChannel(options.target));
      for (int i = next++; i < options.sessions; i = next++) {
        const int a = i % options.agents;
        const std::string key = absl::StrCat("wg:", run, ":", i);
        const std::string id =
            Admit(*agent, agents[a]->credential(), absl::StrCat("usage", run, "-", i % users), key);
        if (id.empty()) {
          ++failures;
          continue;
        }
        absl::MutexLock lock(&admitted_mu);
        admitted[a].push_back(Session{.id = id, .key = key});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  threads.clear();
  for (int a = 0; a < options.agents; ++a) agents[a]->sessions() = std::move(admitted[a]);
  int attached = 0;
  for (auto& agent : agents) attached += agent->Attach() ? 1 : 0;
  std::printf("setup agents=%d attached=%d sessions=%d users=%d failures=%d seconds=%.1f\n",
              options.agents, attached, options.sessions, users, failures.load(),
              absl::ToDoubleSeconds(absl::Now() - setup_start));
  std::fflush(stdout);
  if (failures.load() > 0 || attached != options.agents) return 1;

  // Phase 1: admission alone.
  PrintAdmission("alone", AdmissionLoad(options, admitter, absl::StrCat("a1:", run),
                                        absl::Now() + absl::Seconds(options.duration_seconds)));

  // Phase 2: the usage load, with admission alongside and the ledger's
  // queue sampled.
  const std::map<std::string, double> before = Scrape(options.metrics);
  const absl::Time start = absl::Now() + absl::Milliseconds(200);
  const absl::Time end = start + absl::Seconds(options.duration_seconds);
  std::atomic<int64_t> sent{0};
  for (auto& agent : agents) {
    threads.emplace_back([&, agent = agent.get()] {
      sent += agent->Report(start, end, options.rate / options.agents);
    });
  }
  std::atomic<bool> sampling{true};
  std::vector<double> queued;
  std::thread sampler([&] {
    while (sampling) {
      const auto values = Scrape(options.metrics);
      auto it = values.find("warden_usage_samples_queued");
      if (it != values.end()) queued.push_back(it->second);
      absl::SleepFor(absl::Milliseconds(250));
    }
  });
  AdmissionResult loaded = AdmissionLoad(options, admitter, absl::StrCat("a2:", run), end);
  for (auto& thread : threads) thread.join();
  const double send_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  // What was sent and not yet applied drains before the last scrape.
  const absl::Time drain_start = absl::Now();
  std::map<std::string, double> after = Scrape(options.metrics);
  while (Delta(before, after, "warden_usage_samples_total{result=\"applied\"}") +
                 Delta(before, after, "warden_usage_samples_total{result=\"failed\"}") <
             static_cast<double>(sent.load()) &&
         absl::Now() - drain_start < absl::Seconds(30)) {
    absl::SleepFor(absl::Milliseconds(100));
    after = Scrape(options.metrics);
  }
  const double total_seconds = absl::ToDoubleSeconds(absl::Now() - start);
  sampling = false;
  sampler.join();
  PrintAdmission("with usage load", loaded);

  const double applied = Delta(before, after, "warden_usage_samples_total{result=\"applied\"}");
  const double failed = Delta(before, after, "warden_usage_samples_total{result=\"failed\"}");
  const double batches = Delta(before, after, "warden_usage_apply_seconds_count");
  const double batch_seconds = Delta(before, after, "warden_usage_apply_seconds_sum");
  std::printf(
      "usage sent=%ld sent_per_s=%.0f applied=%.0f failed=%.0f applied_per_s=%.0f "
      "(over %.1f s, drain included) batches=%.0f mean_batch=%.0f\n",
      static_cast<long>(sent.load()), sent.load() / send_seconds, applied, failed,
      applied / total_seconds, total_seconds, batches, batches > 0 ? applied / batches : 0);
  std::printf("batch commit mean_ms=%.1f p50_ms<=%.0f p99_ms<=%.0f\n",
              batches > 0 ? 1000 * batch_seconds / batches : 0,
              1000 * HistogramQuantile(before, after, "warden_usage_apply_seconds", 0.5),
              1000 * HistogramQuantile(before, after, "warden_usage_apply_seconds", 0.99));
  std::printf("queue depth samples=%zu mean=%.0f p99=%.0f max=%.0f\n", queued.size(),
              queued.empty() ? 0 : [&] {
                double sum = 0;
                for (double q : queued) sum += q;
                return sum / queued.size();
              }(),
              Percentile(queued, 0.99), Percentile(queued, 1.0));
  std::fflush(stdout);
  for (auto& agent : agents) agent->Detach();
  return failed > 0 ? 1 : 0;
}
