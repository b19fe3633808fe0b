// Login flood against VPN logins: fires `--logins` SessionService.Login calls
// with random usernames, all in flight at once, and while they are, runs
// `--admissions` AgentService.Admit calls with valid passwords from one node,
// each with the agent's deadline. Reports every admission's outcome and
// latency, and how the logins were answered (throttled, lane full, denied).
//
//   login_flood --target 127.0.0.1:50051 --admin-key wak_... --setup
//   login_flood --target ... --node-credential wnc_... --logins 2000 --admissions 20

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"
#include "warden/v1/session.grpc.pb.h"

namespace {

struct Options {
  std::string target = "127.0.0.1:50051";
  std::string admin_key;
  std::string node_credential;
  int logins = 2000;
  int admissions = 20;
  int connections = 20;          // the flood's; each serves a limited number of streams at once
  int admit_deadline_ms = 5000;  // warden-agent's --admit-timeout-ms default
  int admit_spacing_ms = 50;     // admissions start this far apart, spread over the flood
  int admit_delay_ms = 100;      // the first starts this long after the flood
  std::string password = "bench-vpn-password";
  std::string user_prefix = "vpnuser";
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& bearer, absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!bearer.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  return context;
}

std::shared_ptr<grpc::Channel> OwnChannel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

int Setup(const Options& options) {
  auto admin = warden::v1::AdminService::NewStub(OwnChannel(options.target));
  warden::v1::CreateNodeRequest node_request;
  node_request.set_name(absl::StrCat("flood-", absl::ToUnixSeconds(absl::Now())));
  warden::v1::CreateNodeResponse node;
  grpc::Status status =
      admin->CreateNode(Context(options.admin_key, absl::Seconds(30)).get(), node_request, &node);
  if (!status.ok()) {
    std::cerr << "CreateNode: " << status.error_message() << "\n";
    return 1;
  }
  for (int i = 0; i < options.admissions; ++i) {
    warden::v1::CreateUserRequest request;
    request.mutable_user()->set_username(absl::StrCat(options.user_prefix, i));
    request.mutable_user()->set_max_connections(0);
    request.mutable_user()->set_password(options.password);
    warden::v1::User user;
    status = admin->CreateUser(Context(options.admin_key, absl::Seconds(30)).get(), request, &user);
    if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
      std::cerr << "CreateUser: " << status.error_message() << "\n";
      return 1;
    }
  }
  std::cout << "node_credential=" << node.credential() << "\n";
  return 0;
}

// What a Login got, in the operator's words.
std::string LoginOutcome(const grpc::Status& status) {
  if (status.ok()) return "logged_in";
  switch (status.error_code()) {
    case grpc::StatusCode::UNAUTHENTICATED:
      return "denied (unknown user)";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      if (absl::StrContains(status.error_message(), "too many login attempts")) return "throttled";
      if (absl::StrContains(status.error_message(), "password checks")) return "login lane full";
      return "overloaded";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline exceeded";
    default:
      return absl::StrCat("error ", status.error_code());
  }
}

class Flood {
 public:
  explicit Flood(const Options& options) {
    for (int c = 0; c < options.connections; ++c) {
      stubs_.push_back(warden::v1::SessionService::NewStub(OwnChannel(options.target)));
    }
    std::mt19937_64 random(std::random_device{}());
    for (int i = 0; i < options.logins; ++i) {
      auto call = std::make_unique<Call>();
      call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      call->request.set_username(absl::StrCat("flood-", random() % 1000000000000ULL));
      call->request.set_password("not-the-password");
      call->started = absl::Now();
      call->reader = stubs_[i % stubs_.size()]->AsyncLogin(&call->context, call->request, &queue_);
      call->reader->Finish(&call->response, &call->status, call.get());
      calls_.push_back(std::move(call));
    }
    collector_ = std::thread([this] {
      for (size_t i = 0; i < calls_.size(); ++i) {
        void* tag = nullptr;
        bool ok = false;
        if (!queue_.Next(&tag, &ok)) return;
        static_cast<Call*>(tag)->took = absl::Now() - static_cast<Call*>(tag)->started;
      }
    });
  }
  ~Flood() {
    if (collector_.joinable()) collector_.join();
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }
  void Wait() { collector_.join(); }

  void Report() const {
    std::map<std::string, std::vector<double>> by_outcome;
    for (const auto& call : calls_) {
      by_outcome[LoginOutcome(call->status)].push_back(absl::ToDoubleMilliseconds(call->took));
    }
    std::printf("%-24s %7s %10s %10s\n", "login outcome", "calls", "p50_ms", "max_ms");
    for (auto& [outcome, ms] : by_outcome) {
      std::sort(ms.begin(), ms.end());
      std::printf("%-24s %7zu %10.1f %10.1f\n", outcome.c_str(), ms.size(), ms[ms.size() / 2],
                  ms.back());
    }
  }

 private:
  struct Call {
    grpc::ClientContext context;
    warden::v1::LoginRequest request;
    warden::v1::LoginResponse response;
    grpc::Status status;
    absl::Time started;
    absl::Duration took;
    std::unique_ptr<grpc::ClientAsyncResponseReader<warden::v1::LoginResponse>> reader;
  };
  std::vector<std::unique_ptr<warden::v1::SessionService::Stub>> stubs_;
  grpc::CompletionQueue queue_;
  std::vector<std::unique_ptr<Call>> calls_;
  std::thread collector_;
};

struct Admission {
  int index = 0;
  absl::Duration started_after;  // since the flood began
  absl::Duration took;
  std::string outcome{};
};

int Run(const Options& options) {
  auto agent = warden::v1::AgentService::NewStub(OwnChannel(options.target));
  const absl::Time flood_start = absl::Now();
  Flood flood(options);
  const absl::Duration fired = absl::Now() - flood_start;

  absl::Mutex mu;
  std::vector<Admission> admissions;
  std::vector<std::thread> threads;
  for (int i = 0; i < options.admissions; ++i) {
    threads.emplace_back([&, i] {
      const absl::Time at = flood_start + absl::Milliseconds(options.admit_delay_ms) +
                            absl::Milliseconds(options.admit_spacing_ms) * i;
      absl::SleepFor(at - absl::Now());
      warden::v1::AdmitRequest request;
      request.set_protocol(warden::v1::OPENVPN);
      request.set_session_key(absl::StrCat("flood:", absl::ToUnixMicros(flood_start), ":", i));
      request.set_device_label("bench");
      request.mutable_password()->set_username(absl::StrCat(options.user_prefix, i));
      request.mutable_password()->set_password(options.password);
      warden::v1::AdmitResponse response;
      const absl::Time start = absl::Now();
      grpc::Status status = agent->Admit(
          Context(options.node_credential, absl::Milliseconds(options.admit_deadline_ms)).get(),
          request, &response);
      Admission admission{
          .index = i, .started_after = start - flood_start, .took = absl::Now() - start};
      admission.outcome =
          !status.ok()
              ? absl::StrCat("RPC error ", status.error_code(), ": ", status.error_message())
          : response.has_admitted()
              ? "ADMITTED"
              : absl::StrCat("DENIED ", warden::v1::DenyReason_Name(response.denied().reason()));
      absl::MutexLock lock(&mu);
      admissions.push_back(admission);
    });
  }
  for (std::thread& thread : threads) thread.join();
  flood.Wait();
  const absl::Duration flood_took = absl::Now() - flood_start;

  std::sort(admissions.begin(), admissions.end(),
            [](const Admission& a, const Admission& b) { return a.index < b.index; });
  std::printf("%d logins fired in %.0f ms over %d connections; all answered after %.1f s\n\n",
              options.logins, absl::ToDoubleMilliseconds(fired), options.connections,
              absl::ToDoubleSeconds(flood_took));
  std::printf("%-9s %12s %10s  %s\n", "admission", "started_ms", "took_ms", "outcome");
  int admitted = 0;
  double worst = 0;
  std::vector<double> took;
  for (const Admission& a : admissions) {
    std::printf("%-9d %12.0f %10.1f  %s\n", a.index, absl::ToDoubleMilliseconds(a.started_after),
                absl::ToDoubleMilliseconds(a.took), a.outcome.c_str());
    const bool in_time = a.took <= absl::Milliseconds(options.admit_deadline_ms);
    if (a.outcome == "ADMITTED" && in_time) ++admitted;
    worst = std::max(worst, absl::ToDoubleMilliseconds(a.took));
    took.push_back(absl::ToDoubleMilliseconds(a.took));
  }
  std::sort(took.begin(), took.end());
  std::printf("\nadmissions: %d of %zu ADMITTED within %d ms; p50 %.1f ms, max %.1f ms\n\n",
              admitted, admissions.size(), options.admit_deadline_ms,
              took.empty() ? 0 : took[took.size() / 2], worst);
  flood.Report();
  return admitted == static_cast<int>(admissions.size()) ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  bool setup = false;
  CLI::App app{"Login flood against VPN logins, for warden-control"};
  app.add_option("--target", options.target, "warden-control address");
  app.add_option("--admin-key", options.admin_key, "admin API key (for --setup)");
  app.add_option("--node-credential", options.node_credential, "node credential (for the run)");
  app.add_option("--logins", options.logins, "Login calls in the flood, all at once");
  app.add_option("--admissions", options.admissions, "VPN logins during the flood (and users)");
  app.add_option("--connections", options.connections, "connections the flood spreads over");
  app.add_option("--admit-deadline-ms", options.admit_deadline_ms, "each admission's deadline");
  app.add_option("--admit-spacing-ms", options.admit_spacing_ms, "between admissions' starts");
  app.add_option("--admit-delay-ms", options.admit_delay_ms, "first admission after the flood");
  app.add_option("--user-prefix", options.user_prefix, "VPN users are <prefix><n>");
  app.add_flag("--setup", setup, "create a node and the VPN users, print the node credential");
  CLI11_PARSE(app, argc, argv);
  return setup ? Setup(options) : Run(options);
}
