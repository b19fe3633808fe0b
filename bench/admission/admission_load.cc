// Load generator for the admission path: closed-loop workers that each
// repeat Admit (a new device for a random user at their limit of 3, so the
// oldest session is evicted) + CloseSession (the evicted session goes away,
// as its agent reports after the kill). Reports iterations per second and
// Admit latency percentiles per concurrency level.
//
//   admission_load --target 127.0.0.1:50051 --admin-key wak_... --setup
//   admission_load --target ... --node-credential wnc_... --concurrency 1,4,16,64 --duration 20

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace {

using warden::v1::AdminService;
using warden::v1::AgentService;

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string admin_key;
  std::string node_credential;
  int users = 10000;
  int seed_sessions = 3;
  std::string concurrency = "1,4,16,64";
  int duration_seconds = 20;
  double rate = 0;  // iterations per second in total; 0 = as fast as possible
  bool password = false;
  std::string password_value = "bench-password";
  std::string user_prefix = "bench";
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& bearer) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// Keys are unique per run, worker and serial, so runs never collide.
std::string UserName(const Options& options, int i) { return absl::StrCat(options.user_prefix, i); }

warden::v1::AdmitRequest AdmitRequestFor(const Options& options, int user, uint64_t serial,
                                         int worker, int64_t run) {
  warden::v1::AdmitRequest request;
  request.set_protocol(warden::v1::WIREGUARD);
  request.set_session_key(absl::StrCat("bench:", run, ":", worker, ":", serial));
  request.set_device_label("bench-device");
  if (options.password) {
    request.mutable_password()->set_username(UserName(options, user));
    request.mutable_password()->set_password(options.password_value);
  } else {
    request.mutable_asserted_user()->set_username(UserName(options, user));
  }
  return request;
}

// Creates the node and users (idempotent: existing ones are kept) and opens
// `seed_sessions` sessions per user so that every later Admit evicts.
int Setup(const Options& options, const std::shared_ptr<grpc::Channel>& channel) {
  auto admin = AdminService::NewStub(channel);
  warden::v1::CreateNodeRequest node_request;
  node_request.set_name(absl::StrCat("bench-", absl::ToUnixSeconds(absl::Now())));
  // The load names its users (no passwords): the node vouches for them.
  node_request.set_trusted_authenticator(true);
  warden::v1::CreateNodeResponse node;
  grpc::Status status = admin->CreateNode(Context(options.admin_key).get(), node_request, &node);
  if (!status.ok()) {
    std::cerr << "CreateNode: " << status.error_message() << "\n";
    return 1;
  }
  std::atomic<int> next{0}, failures{0};
  auto agent = AgentService::NewStub(channel);
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = next++; i < options.users; i = next++) {
        warden::v1::CreateUserRequest request;
        request.mutable_user()->set_username(UserName(options, i));
        request.mutable_user()->set_max_connections(3);
        if (options.password) request.mutable_user()->set_password(options.password_value);
        warden::v1::User user;
        grpc::Status created = admin->CreateUser(Context(options.admin_key).get(), request, &user);
        if (!created.ok() && created.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
          ++failures;
          continue;
        }
        for (int s = 0; s < options.seed_sessions; ++s) {
          Options asserted = options;
          asserted.password = false;
          warden::v1::AdmitResponse response;
          if (!agent
                   ->Admit(Context(node.credential()).get(),
                           AdmitRequestFor(asserted, i, i * 10 + s, t, 0), &response)
                   .ok()) {
            ++failures;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::cout << "node_id=" << node.node().id() << "\nnode_credential=" << node.credential()
            << "\nsetup_failures=" << failures.load() << "\n";
  return failures.load() == 0 ? 0 : 1;
}

struct RunResult {
  uint64_t iterations = 0;
  uint64_t denied = 0;
  uint64_t errors = 0;
  std::vector<double> admit_ms;
};

RunResult RunLoad(const Options& options, const std::shared_ptr<grpc::Channel>& channel,
                  int concurrency) {
  auto agent = AgentService::NewStub(channel);
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(options.duration_seconds);
  std::vector<RunResult> per_worker(concurrency);
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) {
    threads.emplace_back([&, w] {
      RunResult& result = per_worker[w];
      std::mt19937_64 random(w * 7919 + 17);
      std::uniform_int_distribution<int> pick(0, options.users - 1);
      // Open loop when a rate is set: each worker has its own schedule, and
      // latency counts from the scheduled start (no coordinated omission).
      const absl::Duration interval =
          options.rate > 0 ? absl::Seconds(concurrency / options.rate) : absl::ZeroDuration();
      absl::Time scheduled = start + interval * (static_cast<double>(w) / concurrency);
      for (uint64_t serial = 0;; ++serial) {
        if (options.rate > 0) {
          const absl::Time now = absl::Now();
          if (scheduled > now) absl::SleepFor(scheduled - now);
        } else {
          scheduled = absl::Now();
        }
        if (scheduled >= end) break;
        warden::v1::AdmitResponse response;
        grpc::Status status = agent->Admit(
            Context(options.node_credential).get(),
            AdmitRequestFor(options, pick(random), serial, w, absl::ToUnixMicros(start)),
            &response);
        result.admit_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - scheduled));
        scheduled += interval;
        if (!status.ok()) {
          ++result.errors;
          continue;
        }
        if (!response.has_admitted()) {
          ++result.denied;
          continue;
        }
        for (const auto& evicted : response.admitted().evicted()) {
          warden::v1::CloseSessionRequest close;
          close.set_session_id(evicted.session_id());
          close.set_reason("killed");
          warden::v1::CloseSessionResponse closed;
          if (!agent->CloseSession(Context(options.node_credential).get(), close, &closed).ok()) {
            ++result.errors;
          }
        }
        ++result.iterations;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  RunResult total;
  for (RunResult& r : per_worker) {
    total.iterations += r.iterations;
    total.denied += r.denied;
    total.errors += r.errors;
    total.admit_ms.insert(total.admit_ms.end(), r.admit_ms.begin(), r.admit_ms.end());
  }
  return total;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool setup = false;
  CLI::App app{"Admission load generator for warden-control"};
  app.add_option("--target", options.target, "warden-control address");
  app.add_option("--admin-key", options.admin_key, "admin API key (for --setup)");
  app.add_option("--node-credential", options.node_credential, "node credential (for the load)");
  app.add_option("--users", options.users, "users bench0..benchN-1");
  app.add_option("--seed-sessions", options.seed_sessions, "live sessions per user at setup");
  app.add_option("--concurrency", options.concurrency, "comma-separated worker counts");
  app.add_option("--duration", options.duration_seconds, "seconds per concurrency level");
  app.add_option("--rate", options.rate, "total iterations per second (0 = unpaced)");
  app.add_option("--user-prefix", options.user_prefix, "user names are <prefix><n>");
  app.add_flag("--password", options.password, "authenticate with passwords (argon2id path)");
  app.add_flag("--setup", setup, "create a node and the users, print the node credential");
  CLI11_PARSE(app, argc, argv);

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(options.target, grpc::InsecureChannelCredentials(), args);
  if (setup) return Setup(options, channel);

  std::printf("%-11s %-9s %12s %10s %9s %9s %9s %8s %7s\n", "concurrency", "rate", "iterations",
              "iter/s", "p50_ms", "p99_ms", "p999_ms", "denied", "errors");
  for (absl::string_view level : absl::StrSplit(options.concurrency, ',')) {
    int concurrency = 0;
    if (!absl::SimpleAtoi(level, &concurrency) || concurrency < 1) {
      std::cerr << "bad --concurrency " << options.concurrency << "\n";
      return 2;
    }
    RunResult result = RunLoad(options, channel, concurrency);
    std::sort(result.admit_ms.begin(), result.admit_ms.end());
    std::printf("%-11d %-9s %12lu %10.0f %9.2f %9.2f %9.2f %8lu %7lu\n", concurrency,
                options.rate > 0 ? absl::StrCat(options.rate).c_str() : "max",
                static_cast<unsigned long>(result.iterations),
                result.iterations / static_cast<double>(options.duration_seconds),
                Percentile(result.admit_ms, 0.5), Percentile(result.admit_ms, 0.99),
                Percentile(result.admit_ms, 0.999), static_cast<unsigned long>(result.denied),
                static_cast<unsigned long>(result.errors));
    std::fflush(stdout);
  }
  return 0;
}
