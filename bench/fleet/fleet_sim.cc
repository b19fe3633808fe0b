// A fleet of simulated agents against several warden-control replicas: one
// process, thousands of nodes, each with its own credential, connection and
// Attach stream (see sim_agent.h), spread evenly over the replicas (agent i
// starts on replica i % replicas).
//
// Phases: create the users (max_connections 3, every fourth user 2) and the
// nodes; attach every agent (per-stream memory of each replica); fill to the
// wanted number of live sessions; hold idle (heartbeats only); then steady
// churn — connects (Admit, evicting where a user is at the limit),
// disconnects (CloseSession), usage samples on the streams, and
// administrator kills sent to another replica than the one holding the
// session's agent, timed until that agent receives the kill command.
//
//   fleet_sim --targets 127.0.0.1:1,127.0.0.1:2,127.0.0.1:3 --admin-key wak_...
//       --replica-pids 11,12,13 --postgres-pid 10 --database-url postgresql://...
//       --agents 500 --sessions 10000 --users 4000 --seconds 60

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/fleet/live_sessions.h"
#include "bench/fleet/sim_agent.h"
#include "bench/lib/proc_usage.h"
#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::bench {
namespace {

struct Options {
  std::vector<std::string> targets;
  std::vector<int> replica_pids;
  std::string admin_key;
  std::string database_url;
  int postgres_pid = 0;
  int agents = 500;
  int sessions = 10000;
  int users = 4000;
  int seconds = 60;
  int idle_seconds = 15;
  int warmup_seconds = 5;
  double churn_rate = 200;  // Admit + CloseSession calls per second
  double kill_rate = 10;    // cross-replica KillSession calls per second
  double usage_rate = 100;  // usage samples per second, on the streams
  // Connects by anyone rather than by a user who disconnected before.
  double new_device_share = 0.2;
  int fill_concurrency = 96;
  int fill_limit_seconds = 600;
  int max_in_flight = 2000;
  std::string user_prefix = "fleet";
};

// Calls in flight, with a bound the issuing loop waits for.
class InFlight {
 public:
  void Acquire(int limit) {
    while (count_.load() >= limit) absl::SleepFor(absl::Milliseconds(1));
    count_.fetch_add(1);
  }
  bool TryAcquire(int limit) {
    if (count_.load() >= limit) return false;
    count_.fetch_add(1);
    return true;
  }
  void Release() { count_.fetch_sub(1); }
  int count() const { return count_.load(); }
  void Drain(absl::Duration limit) {
    const absl::Time end = absl::Now() + limit;
    while (count_.load() > 0 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(5));
  }

 private:
  std::atomic<int> count_{0};
};

// One unary call on the callback API: the call owns its context, request
// and response, and `done` runs on a gRPC thread when it ends.
template <typename Request, typename Response>
struct UnaryCall {
  grpc::ClientContext context;
  Request request;
  Response response;
};

template <typename Response, typename Request, typename Start, typename Done>
void CallAsync(const std::string& bearer, Request request, Start start, Done done) {
  auto* call = new UnaryCall<Request, Response>;
  call->context.AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  call->request = std::move(request);
  start(&call->context, &call->request, &call->response,
        [call, done = std::move(done)](grpc::Status status) mutable {
          done(status, call->response);
          delete call;
        });
}

// Thread-safe latency samples in milliseconds.
class Samples {
 public:
  void Add(double ms) {
    absl::MutexLock lock(&mu_);
    values_.push_back(ms);
  }
  std::vector<double> Sorted() const {
    absl::MutexLock lock(&mu_);
    std::vector<double> sorted = values_;
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<double> values_ ABSL_GUARDED_BY(mu_);
};

// What the database says about itself (pg_stat_*), and the command outbox.
struct DatabaseStats {
  int64_t transactions = 0;    // xact_commit + xact_rollback of the warden database
  int connections = 0;         // backends connected to it (this tool's one excluded)
  int64_t commands = 0;        // outbox rows: each insert sends NOTIFY warden_commands
  int64_t commands_acked = 0;  // each recorded answer sends NOTIFY warden_acks
  int64_t live_sessions = 0;   // sessions not closed
};

DatabaseStats ReadDatabase(const std::string& url) {
  DatabaseStats stats;
  try {
    pqxx::connection connection(url);
    pqxx::nontransaction tx(connection);
    stats.transactions = tx.exec1(
                               "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                               "WHERE datname = current_database()")[0]
                             .as<int64_t>();
    stats.connections = tx.exec1(
                              "SELECT count(*) - 1 FROM pg_stat_activity "
                              "WHERE datname = current_database()")[0]
                            .as<int>();
    pqxx::row commands = tx.exec1("SELECT count(*), count(acked_at) FROM commands");
    stats.commands = commands[0].as<int64_t>();
    stats.commands_acked = commands[1].as<int64_t>();
    stats.live_sessions =
        tx.exec1("SELECT count(*) FROM sessions WHERE state <> 'closed'")[0].as<int64_t>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "database stats: %s\n", e.what());
  }
  return stats;
}

// Every process the benchmark watches, at one moment.
struct Snapshot {
  absl::Time at;
  MachineCpu machine;
  ProcessUsage simulator;
  std::vector<ProcessUsage> replicas;
  TreeUsage postgres;
  DatabaseStats database;
};

Snapshot Take(const Options& options) {
  Snapshot snapshot;
  snapshot.at = absl::Now();
  snapshot.machine = ReadMachineCpu();
  snapshot.simulator = Usage(getpid());
  for (int pid : options.replica_pids) snapshot.replicas.push_back(Usage(pid));
  if (options.postgres_pid > 0) snapshot.postgres = UsageWithChildren(options.postgres_pid);
  if (!options.database_url.empty()) snapshot.database = ReadDatabase(options.database_url);
  return snapshot;
}

std::string UserName(const Options& options, int user) {
  return absl::StrCat(options.user_prefix, user);
}

class Simulator {
 public:
  explicit Simulator(Options options) : options_(std::move(options)) {
    fleet_.targets = options_.targets;
    for (const std::string& target : options_.targets) {
      admin_.push_back(v1::AdminService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials())));
    }
  }

  int Run();

 private:
  bool CreateUsers();
  bool CreateNodes();
  bool AttachAll();
  void Fill();
  void StartTicker();
  void StopTicker();
  // The steady load for `duration`; samples recorded when `measure`.
  void Churn(absl::Duration duration, bool measure);
  void Connect(bool measure, absl::Time scheduled);
  void Disconnect(bool measure, absl::Time scheduled);
  void KillAcrossReplicas();
  void Admit(int agent, int user, std::function<void(bool admitted)> then,
             std::optional<absl::Time> timed_from);
  void Shutdown();

  const Options options_;
  Fleet fleet_;
  std::vector<std::unique_ptr<v1::AdminService::Stub>> admin_;
  std::vector<std::unique_ptr<SimAgent>> agents_;
  std::mt19937_64 random_{20261205};
  std::atomic<uint64_t> serial_{0};
  std::deque<int> returning_;  // users who disconnected, oldest first (the churn loop's)
  InFlight in_flight_;
  std::thread ticker_;
  std::atomic<bool> ticking_{false};

  // Outcomes.
  Samples admit_ms_, close_ms_;
  std::atomic<int64_t> admitted_{0}, evicting_admits_{0}, denied_{0}, admit_errors_{0};
  std::atomic<int64_t> closes_{0}, close_errors_{0}, usage_sent_{0}, skipped_{0};
  std::atomic<int64_t> kill_calls_{0}, kill_errors_{0};
  int64_t measured_admits_ = 0, measured_closes_ = 0;
};

bool Simulator::CreateUsers() {
  std::atomic<int> failures{0};
  for (int u = 0; u < options_.users; ++u) {
    in_flight_.Acquire(64);
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(UserName(options_, u));
    request.mutable_user()->set_max_connections(u % 4 == 0 ? 2 : 3);
    v1::AdminService::Stub* admin = admin_[u % admin_.size()].get();
    CallAsync<v1::User>(
        options_.admin_key, std::move(request),
        [admin](auto* context, auto* request, auto* response, auto done) {
          admin->async()->CreateUser(context, request, response, std::move(done));
        },
        [this, &failures](const grpc::Status& status, const v1::User&) {
          if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
            if (failures.fetch_add(1) < 3) {
              std::fprintf(stderr, "CreateUser: %s\n", status.error_message().c_str());
            }
          }
          in_flight_.Release();
        });
  }
  in_flight_.Drain(absl::Minutes(2));
  return failures.load() == 0;
}

bool Simulator::CreateNodes() {
  std::vector<std::string> credentials(options_.agents);
  std::atomic<int> failures{0};
  const std::string run = absl::StrCat(absl::ToUnixSeconds(absl::Now()));
  for (int i = 0; i < options_.agents; ++i) {
    in_flight_.Acquire(64);
    v1::CreateNodeRequest request;
    request.set_name(absl::StrCat("sim-", run, "-", i));
    // The simulated clients are named, not logged in with passwords or
    // tickets (argon2id would measure the password pool instead): the node
    // vouches for them, as a gateway that authenticates users itself does.
    request.set_trusted_authenticator(true);
    v1::AdminService::Stub* admin = admin_[i % admin_.size()].get();
    CallAsync<v1::CreateNodeResponse>(
        options_.admin_key, std::move(request),
        [admin](auto* context, auto* request, auto* response, auto done) {
          admin->async()->CreateNode(context, request, response, std::move(done));
        },
        [this, i, &credentials, &failures](const grpc::Status& status,
                                           const v1::CreateNodeResponse& response) {
          if (status.ok()) {
            credentials[i] = response.credential();
          } else if (failures.fetch_add(1) < 3) {
            std::fprintf(stderr, "CreateNode: %s\n", status.error_message().c_str());
          }
          in_flight_.Release();
        });
  }
  in_flight_.Drain(absl::Minutes(2));
  if (failures.load() > 0) return false;
  for (int i = 0; i < options_.agents; ++i) {
    agents_.push_back(std::make_unique<SimAgent>(
        i, credentials[i], i % static_cast<int>(options_.targets.size()), fleet_));
  }
  return true;
}

bool Simulator::AttachAll() {
  const absl::Time start = absl::Now();
  for (auto& agent : agents_) {
    agent->Attach();
    // At most 200 attaches in flight: the reconcile of each is a transaction.
    const int issued = agent->index() + 1;
    while (issued - fleet_.welcomes.load() - fleet_.streams_ended.load() > 200 &&
           absl::Now() - start < absl::Minutes(5)) {
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  while (fleet_.attached.load() < options_.agents && absl::Now() - start < absl::Minutes(5)) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  return fleet_.attached.load() == options_.agents;
}

void Simulator::StartTicker() {
  ticking_.store(true);
  ticker_ = std::thread([this] {
    // Heartbeats spread over the interval: every 100 ms one slice of the
    // agents; lost streams re-attached every half second.
    for (int64_t tick = 0; ticking_.load(); ++tick) {
      const int slices = std::max(1, fleet_.heartbeat_seconds.load() * 10);
      for (size_t i = tick % slices; i < agents_.size(); i += slices) agents_[i]->Heartbeat();
      if (tick % 5 == 0) {
        const absl::Time now = absl::Now();
        for (auto& agent : agents_) agent->ReattachIfDue(now);
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
  });
}

void Simulator::StopTicker() {
  ticking_.store(false);
  if (ticker_.joinable()) ticker_.join();
}

void Simulator::Admit(int agent_index, int user, std::function<void(bool admitted)> then,
                      std::optional<absl::Time> timed_from) {
  SimAgent* agent = agents_[agent_index].get();
  v1::AdmitRequest request;
  request.set_protocol(v1::OPENVPN);
  request.set_session_key(absl::StrCat("ovpn:sim:", serial_.fetch_add(1)));
  request.mutable_asserted_user()->set_username(UserName(options_, user));
  request.set_device_label(absl::StrCat("device-", serial_.load() % 7));
  request.set_client_address("198.51.100.7");
  const std::string key = request.session_key();
  const std::string username = request.asserted_user().username();
  v1::AgentService::Stub* stub = &agent->stub();
  CallAsync<v1::AdmitResponse>(
      agent->credential(), std::move(request),
      [stub](auto* context, auto* request, auto* response, auto done) {
        stub->async()->Admit(context, request, response, std::move(done));
      },
      [this, agent, user, key, username, then = std::move(then), timed_from](
          const grpc::Status& status, const v1::AdmitResponse& response) {
        if (timed_from) admit_ms_.Add(absl::ToDoubleMilliseconds(absl::Now() - *timed_from));
        bool admitted = false;
        if (!status.ok()) {
          if (admit_errors_.fetch_add(1) < 3) {
            std::fprintf(stderr, "Admit: %s\n", status.error_message().c_str());
          }
        } else if (!response.has_admitted()) {
          denied_.fetch_add(1);
        } else {
          admitted = true;
          admitted_.fetch_add(1);
          if (response.admitted().evicted_size() > 0) evicting_admits_.fetch_add(1);
          if (!response.admitted().already_live()) {
            agent->Hold(response.admitted().session_id(), key, username, user);
          }
        }
        then(admitted);
      });
}

void Simulator::Fill() {
  const absl::Time start = absl::Now();
  const absl::Time limit = start + absl::Seconds(options_.fill_limit_seconds);
  absl::Time progress = start;
  uint64_t j = 0;
  while (absl::Now() < limit) {
    in_flight_.Drain(absl::Seconds(30));
    // Evicted sessions leave once their kills arrive: look again.
    absl::SleepFor(absl::Milliseconds(200));
    if (fleet_.live.size() >= static_cast<size_t>(options_.sessions)) break;
    while (fleet_.live.size() + static_cast<size_t>(in_flight_.count()) <
               static_cast<size_t>(options_.sessions) &&
           absl::Now() < limit) {
      in_flight_.Acquire(options_.fill_concurrency);
      // Round robin over users and agents: user j gets its devices on
      // different nodes (and replicas).
      Admit(
          static_cast<int>(j % agents_.size()), static_cast<int>(j % options_.users),
          [this](bool) { in_flight_.Release(); }, std::nullopt);
      ++j;
      if (absl::Now() - progress > absl::Seconds(10)) {
        progress = absl::Now();
        std::fprintf(stderr, "fill: %zu live after %.0f s\n", fleet_.live.size(),
                     absl::ToDoubleSeconds(progress - start));
      }
    }
  }
}

void Simulator::Connect(bool measure, absl::Time scheduled) {
  if (!in_flight_.TryAcquire(options_.max_in_flight)) {
    skipped_.fetch_add(1);
    return;
  }
  const int agent = std::uniform_int_distribution<int>(0, options_.agents - 1)(random_);
  // Most connects are clients coming back (a user who disconnected, on
  // another node perhaps); the rest are anyone, often a user already at the
  // limit whose extra device evicts the oldest session.
  int user = std::uniform_int_distribution<int>(0, options_.users - 1)(random_);
  if (!returning_.empty() &&
      std::uniform_real_distribution<double>(0, 1)(random_) >= options_.new_device_share) {
    user = returning_.front();
    returning_.pop_front();
  }
  if (measure) ++measured_admits_;
  Admit(
      agent, user, [this](bool) { in_flight_.Release(); },
      measure ? std::optional<absl::Time>(scheduled) : std::nullopt);
}

void Simulator::Disconnect(bool measure, absl::Time scheduled) {
  std::optional<LiveSession> session = fleet_.live.TakeRandom(random_, [](int) { return true; });
  if (!session) return;
  SimAgent* agent = agents_[session->agent].get();
  if (!agent->Drop(session->session_id)) return;  // killed meanwhile
  returning_.push_back(session->user);
  if (returning_.size() > 10000) returning_.pop_front();
  if (!in_flight_.TryAcquire(options_.max_in_flight)) {
    skipped_.fetch_add(1);
    return;
  }
  if (measure) ++measured_closes_;
  v1::CloseSessionRequest request;
  request.set_session_id(session->session_id);
  request.set_reason("client disconnected");
  request.set_rx_bytes(1 << 20);
  request.set_tx_bytes(4 << 20);
  v1::AgentService::Stub* stub = &agent->stub();
  CallAsync<v1::CloseSessionResponse>(
      agent->credential(), std::move(request),
      [stub](auto* context, auto* request, auto* response, auto done) {
        stub->async()->CloseSession(context, request, response, std::move(done));
      },
      [this, measure, scheduled](const grpc::Status& status, const v1::CloseSessionResponse&) {
        if (measure) close_ms_.Add(absl::ToDoubleMilliseconds(absl::Now() - scheduled));
        if (status.ok()) {
          closes_.fetch_add(1);
        } else if (close_errors_.fetch_add(1) < 3) {
          std::fprintf(stderr, "CloseSession: %s\n", status.error_message().c_str());
        }
        in_flight_.Release();
      });
}

void Simulator::KillAcrossReplicas() {
  const int replicas = static_cast<int>(options_.targets.size());
  const int64_t k = kill_calls_.fetch_add(1);
  const int holder = static_cast<int>(k % replicas);
  std::optional<LiveSession> session = fleet_.live.TakeRandom(random_, [&](int agent) {
    return agents_[agent]->attached() && agents_[agent]->replica() == holder;
  });
  if (!session) {
    kill_calls_.fetch_sub(1);
    return;
  }
  // Sent to one of the replicas that do not hold the agent's stream.
  const int sender =
      replicas == 1 ? 0 : (holder + 1 + static_cast<int>(k / replicas) % (replicas - 1)) % replicas;
  v1::KillSessionRequest request;
  request.set_session_id(session->session_id);
  request.set_reason("fleet benchmark");
  const std::string session_id = session->session_id;
  v1::AdminService::Stub* admin = admin_[sender].get();
  fleet_.admin_kills.Sent(session_id, absl::Now());
  CallAsync<v1::KillSessionResponse>(
      options_.admin_key, std::move(request),
      [admin](auto* context, auto* request, auto* response, auto done) {
        admin->async()->KillSession(context, request, response, std::move(done));
      },
      [this, session_id](const grpc::Status& status, const v1::KillSessionResponse&) {
        if (status.ok()) return;
        fleet_.admin_kills.Failed(session_id);
        if (kill_errors_.fetch_add(1) < 3) {
          std::fprintf(stderr, "KillSession: %s\n", status.error_message().c_str());
        }
      });
}

void Simulator::Churn(absl::Duration duration, bool measure) {
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  // Open loop: every kind of work has its own schedule; latency counts from
  // the scheduled start (no coordinated omission).
  absl::Time next_op = start, next_kill = start, next_usage = start;
  const absl::Duration op_every = absl::Seconds(1 / options_.churn_rate);
  const absl::Duration kill_every =
      options_.kill_rate > 0 ? absl::Seconds(1 / options_.kill_rate) : absl::InfiniteDuration();
  const absl::Duration usage_every =
      options_.usage_rate > 0 ? absl::Seconds(1 / options_.usage_rate) : absl::InfiniteDuration();
  std::uniform_real_distribution<double> coin(0, 1);
  while (true) {
    const absl::Time now = absl::Now();
    if (now >= end) break;
    while (next_op <= now) {
      // Connects and disconnects in balance, steered back to the wanted
      // number of live sessions (evictions end sessions too).
      const double gap = (options_.sessions - static_cast<double>(fleet_.live.size())) /
                         std::max(1, options_.sessions);
      const double connect = 0.5 + std::clamp(10 * gap, -0.4, 0.4);
      if (coin(random_) < connect) {
        Connect(measure, next_op);
      } else {
        Disconnect(measure, next_op);
      }
      next_op += op_every;
    }
    while (next_kill <= now) {
      if (measure) KillAcrossReplicas();
      next_kill += kill_every;
    }
    while (next_usage <= now) {
      const int agent = std::uniform_int_distribution<int>(0, options_.agents - 1)(random_);
      if (agents_[agent]->ReportUsage()) usage_sent_.fetch_add(1);
      next_usage += usage_every;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
}

void Simulator::Shutdown() {
  StopTicker();
  for (auto& agent : agents_) agent->Stop();
  const absl::Time end = absl::Now() + absl::Seconds(20);
  for (auto& agent : agents_) {
    while (!agent->stopped() && absl::Now() < end) absl::SleepFor(absl::Milliseconds(5));
  }
}

double CpuPercent(double before, double after, absl::Duration window) {
  return 100.0 * (after - before) / absl::ToDoubleSeconds(window);
}

std::string Ms(const std::vector<double>& sorted, double p) {
  return absl::StrFormat("%.1f", Percentile(sorted, p));
}

int Simulator::Run() {
  const int replicas = static_cast<int>(options_.targets.size());
  const Snapshot at_start = Take(options_);
  absl::Time phase = absl::Now();
  if (!CreateUsers()) return 1;
  const absl::Duration users_took = absl::Now() - phase;
  phase = absl::Now();
  if (!CreateNodes()) return 1;
  const absl::Duration nodes_took = absl::Now() - phase;
  std::fprintf(stderr, "created %d users in %.1f s, %d nodes in %.1f s\n", options_.users,
               absl::ToDoubleSeconds(users_took), options_.agents,
               absl::ToDoubleSeconds(nodes_took));

  const Snapshot before_attach = Take(options_);
  StartTicker();
  phase = absl::Now();
  const bool all_attached = AttachAll();
  const absl::Duration attach_took = absl::Now() - phase;
  absl::SleepFor(absl::Seconds(3));  // settle: buffers, the first heartbeats
  const Snapshot attached = Take(options_);
  std::fprintf(stderr, "attached %d of %d agents in %.1f s\n", fleet_.attached.load(),
               options_.agents, absl::ToDoubleSeconds(attach_took));
  if (!all_attached) std::fprintf(stderr, "not every agent attached\n");

  phase = absl::Now();
  Fill();
  const absl::Duration fill_took = absl::Now() - phase;
  const int64_t fill_admits = admitted_.load();
  std::fprintf(stderr, "filled to %zu live sessions in %.1f s (%ld admitted)\n", fleet_.live.size(),
               absl::ToDoubleSeconds(fill_took), fill_admits);

  // Idle: only heartbeats, with the sessions in place.
  const Snapshot idle_start = Take(options_);
  absl::SleepFor(absl::Seconds(options_.idle_seconds));
  const Snapshot idle_end = Take(options_);

  Churn(absl::Seconds(options_.warmup_seconds), /*measure=*/false);
  const int64_t evicting_before = evicting_admits_.load();
  const int64_t denied_before = denied_.load();
  const int64_t admit_errors_before = admit_errors_.load();
  const int64_t close_errors_before = close_errors_.load();
  const int64_t usage_before = usage_sent_.load();
  const int ended_before = fleet_.streams_ended.load();
  const Snapshot churn_start = Take(options_);
  Churn(absl::Seconds(options_.seconds), /*measure=*/true);
  const Snapshot churn_end = Take(options_);
  in_flight_.Drain(absl::Seconds(30));
  // Kills still on their way get ten seconds more.
  const absl::Time kill_wait = absl::Now() + absl::Seconds(10);
  while (fleet_.admin_kills.pending() > 0 && absl::Now() < kill_wait) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  const Snapshot at_end = Take(options_);
  const int still_attached = fleet_.attached.load();
  const int streams_ended = fleet_.streams_ended.load() - ended_before;

  const std::vector<double> admit = admit_ms_.Sorted();
  const std::vector<double> close = close_ms_.Sorted();
  const std::vector<double> kill = fleet_.admin_kills.LatenciesMs();
  const absl::Duration window = churn_end.at - churn_start.at;
  const absl::Duration idle_window = idle_end.at - idle_start.at;
  const double seconds = absl::ToDoubleSeconds(window);
  const double ops = static_cast<double>(measured_admits_ + measured_closes_);
  const int64_t evictions = evicting_admits_.load() - evicting_before;

  double replica_cpu = 0, replica_idle_cpu = 0;
  for (int r = 0; r < replicas; ++r) {
    replica_cpu += churn_end.replicas[r].cpu_seconds - churn_start.replicas[r].cpu_seconds;
    replica_idle_cpu += idle_end.replicas[r].cpu_seconds - idle_start.replicas[r].cpu_seconds;
  }
  const double pg_cpu =
      churn_end.postgres.usage.cpu_seconds - churn_start.postgres.usage.cpu_seconds;
  const double pg_idle_cpu =
      idle_end.postgres.usage.cpu_seconds - idle_start.postgres.usage.cpu_seconds;
  const double idle_seconds = absl::ToDoubleSeconds(idle_window);
  // Per operation: what the churn window cost beyond the idle rate.
  const double replica_ms_per_op =
      1000 * (replica_cpu - replica_idle_cpu / idle_seconds * seconds) / std::max(1.0, ops);
  const double pg_ms_per_op =
      1000 * (pg_cpu - pg_idle_cpu / idle_seconds * seconds) / std::max(1.0, ops);
  const double commits_per_s =
      (churn_end.database.transactions - churn_start.database.transactions) / seconds;
  const double notify_per_s =
      ((churn_end.database.commands - churn_start.database.commands) +
       (churn_end.database.commands_acked - churn_start.database.commands_acked)) /
      seconds;

  std::printf("agents=%d users=%d sessions_wanted=%d live_after_fill=%zu\n", options_.agents,
              options_.users, options_.sessions,
              static_cast<size_t>(idle_start.database.live_sessions));
  std::printf(
      "users_seconds=%.1f nodes_seconds=%.1f attach_seconds=%.1f fill_seconds=%.1f "
      "fill_admits_per_s=%.0f\n",
      absl::ToDoubleSeconds(users_took), absl::ToDoubleSeconds(nodes_took),
      absl::ToDoubleSeconds(attach_took), absl::ToDoubleSeconds(fill_took),
      fill_admits / std::max(0.001, absl::ToDoubleSeconds(fill_took)));
  std::printf(
      "churn_seconds=%.1f admits=%ld closes=%ld ops_per_s=%.0f evicting_admits=%ld "
      "denied=%ld admit_errors=%ld close_errors=%ld skipped=%ld usage_samples=%ld\n",
      seconds, measured_admits_, measured_closes_, ops / seconds, evictions,
      denied_.load() - denied_before, admit_errors_.load() - admit_errors_before,
      close_errors_.load() - close_errors_before, skipped_.load(),
      usage_sent_.load() - usage_before);
  std::printf("admit_ms p50=%s p99=%s p999=%s max=%s n=%zu\n", Ms(admit, 0.5).c_str(),
              Ms(admit, 0.99).c_str(), Ms(admit, 0.999).c_str(), Ms(admit, 1).c_str(),
              admit.size());
  std::printf("close_ms p50=%s p99=%s n=%zu\n", Ms(close, 0.5).c_str(), Ms(close, 0.99).c_str(),
              close.size());
  std::printf(
      "kill_cross_replica_ms p50=%s p99=%s max=%s received=%zu failed_calls=%d "
      "never_received=%zu\n",
      Ms(kill, 0.5).c_str(), Ms(kill, 0.99).c_str(), Ms(kill, 1).c_str(), kill.size(),
      fleet_.admin_kills.failed(), fleet_.admin_kills.pending());
  std::printf(
      "streams attached_at_end=%d ended_during_churn=%d welcomes=%d closed_as_lost=%d "
      "kills_received=%ld kills_of_unheld=%ld\n",
      still_attached, streams_ended, fleet_.welcomes.load(), fleet_.closed_as_lost.load(),
      fleet_.kills_received.load(), fleet_.kills_of_unknown.load());
  for (int r = 0; r < replicas; ++r) {
    const int on_replica = (options_.agents + replicas - 1 - r) / replicas;
    std::printf(
        "replica=%d rss_start_mib=%.0f rss_before_attach_mib=%.0f rss_attached_mib=%.0f "
        "kib_per_agent_stream=%.1f rss_after_fill_mib=%.0f rss_end_mib=%.0f "
        "idle_cpu_pct=%.1f churn_cpu_pct=%.1f\n",
        r, at_start.replicas[r].rss_mib, before_attach.replicas[r].rss_mib,
        attached.replicas[r].rss_mib,
        1024 * (attached.replicas[r].rss_mib - before_attach.replicas[r].rss_mib) /
            std::max(1, on_replica),
        idle_start.replicas[r].rss_mib, at_end.replicas[r].rss_mib,
        CpuPercent(idle_start.replicas[r].cpu_seconds, idle_end.replicas[r].cpu_seconds,
                   idle_window),
        CpuPercent(churn_start.replicas[r].cpu_seconds, churn_end.replicas[r].cpu_seconds, window));
  }
  std::printf(
      "postgres processes=%d idle_cpu_pct=%.1f churn_cpu_pct=%.1f connections=%d "
      "commits_per_s=%.0f notify_per_s=%.1f (commands inserted + acked)\n",
      churn_end.postgres.processes, CpuPercent(0, pg_idle_cpu, idle_window),
      CpuPercent(0, pg_cpu, window), churn_end.database.connections, commits_per_s, notify_per_s);
  // What else ran: the machine's busy time beyond the replicas, PostgreSQL
  // and this simulator (other work on a shared machine).
  const double machine_busy = churn_end.machine.busy_seconds - churn_start.machine.busy_seconds;
  const double simulator_cpu = churn_end.simulator.cpu_seconds - churn_start.simulator.cpu_seconds;
  std::printf(
      "machine busy_pct=%.0f of %.0f (all cores) simulator_cpu_pct=%.1f "
      "other_processes_cpu_pct=%.0f\n",
      CpuPercent(0, machine_busy, window),
      100 * (churn_end.machine.total_seconds - churn_start.machine.total_seconds) / seconds,
      CpuPercent(0, simulator_cpu, window),
      CpuPercent(0, machine_busy - simulator_cpu - pg_cpu - replica_cpu, window));
  std::printf(
      "postgres_raw cpu_s=%.2f->%.2f idle_cpu_s=%.2f->%.2f xacts=%ld->%ld commands=%ld->%ld "
      "acked=%ld->%ld\n",
      churn_start.postgres.usage.cpu_seconds, churn_end.postgres.usage.cpu_seconds,
      idle_start.postgres.usage.cpu_seconds, idle_end.postgres.usage.cpu_seconds,
      churn_start.database.transactions, churn_end.database.transactions,
      churn_start.database.commands, churn_end.database.commands,
      churn_start.database.commands_acked, churn_end.database.commands_acked);
  std::printf("per_op_ms replicas_cpu=%.2f postgres_cpu=%.2f (churn window minus idle rate)\n",
              replica_ms_per_op, pg_ms_per_op);

  // The report's row.
  double kib_per_agent = 0, rss_end = 0, churn_cpu = 0, idle_cpu = 0;
  for (int r = 0; r < replicas; ++r) {
    const int on_replica = (options_.agents + replicas - 1 - r) / replicas;
    kib_per_agent += 1024 * (attached.replicas[r].rss_mib - before_attach.replicas[r].rss_mib) /
                     std::max(1, on_replica) / replicas;
    rss_end = std::max(rss_end, at_end.replicas[r].rss_mib);
    churn_cpu +=
        CpuPercent(churn_start.replicas[r].cpu_seconds, churn_end.replicas[r].cpu_seconds, window);
    idle_cpu += CpuPercent(idle_start.replicas[r].cpu_seconds, idle_end.replicas[r].cpu_seconds,
                           idle_window);
  }
  std::printf(
      "row: | %d | %ld | %d | %.0f s (%.0f/s) | %.0f | %s / %s / %s | %ld | %s / %s (%zu, %zu "
      "lost) | %.1f | %.0f | %.0f %% / %.0f %% | %.0f %% / %.0f %% | %.2f / %.2f | %d | %.0f | "
      "%.1f | %d | %.0f %% / %.0f %% |\n",
      options_.agents, static_cast<long>(idle_start.database.live_sessions), options_.users,
      absl::ToDoubleSeconds(fill_took),
      fill_admits / std::max(0.001, absl::ToDoubleSeconds(fill_took)), ops / seconds,
      Ms(admit, 0.5).c_str(), Ms(admit, 0.99).c_str(), Ms(admit, 0.999).c_str(), evictions,
      Ms(kill, 0.5).c_str(), Ms(kill, 0.99).c_str(), kill.size(), fleet_.admin_kills.pending(),
      kib_per_agent, rss_end, idle_cpu, churn_cpu, CpuPercent(0, pg_idle_cpu, idle_window),
      CpuPercent(0, pg_cpu, window), replica_ms_per_op, pg_ms_per_op,
      churn_end.database.connections, commits_per_s, notify_per_s, streams_ended,
      CpuPercent(0, simulator_cpu, window),
      CpuPercent(0, machine_busy - simulator_cpu - pg_cpu - replica_cpu, window));
  std::fflush(stdout);
  Shutdown();
  return still_attached == options_.agents && fleet_.admin_kills.pending() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) {
  warden::bench::Options options;
  std::string targets, pids;
  CLI::App app{"A fleet of simulated agents against warden-control replicas"};
  app.add_option("--targets", targets, "the replicas, comma-separated host:port")->required();
  app.add_option("--replica-pids", pids, "their pids, in the same order (for /proc)");
  app.add_option("--admin-key", options.admin_key)->required();
  app.add_option("--database-url", options.database_url, "for pg_stat_* and the outbox counts");
  app.add_option("--postgres-pid", options.postgres_pid, "the postmaster (CPU of it + children)");
  app.add_option("--agents", options.agents);
  app.add_option("--sessions", options.sessions, "live sessions to fill to");
  app.add_option("--users", options.users);
  app.add_option("--seconds", options.seconds, "measured churn");
  app.add_option("--idle-seconds", options.idle_seconds, "heartbeats only, after the fill");
  app.add_option("--warmup-seconds", options.warmup_seconds);
  app.add_option("--churn-rate", options.churn_rate, "Admit + CloseSession per second");
  app.add_option("--kill-rate", options.kill_rate, "cross-replica KillSession per second");
  app.add_option("--usage-rate", options.usage_rate, "usage samples per second");
  app.add_option("--new-device-share", options.new_device_share,
                 "share of connects by a random user rather than one who disconnected");
  app.add_option("--fill-concurrency", options.fill_concurrency, "Admits in flight while filling");
  app.add_option("--fill-limit-seconds", options.fill_limit_seconds);
  app.add_option("--user-prefix", options.user_prefix);
  CLI11_PARSE(app, argc, argv);
  options.targets = absl::StrSplit(targets, ',', absl::SkipEmpty());
  for (absl::string_view pid : absl::StrSplit(pids, ',', absl::SkipEmpty())) {
    options.replica_pids.push_back(std::stoi(std::string(pid)));
  }
  if (options.replica_pids.size() != options.targets.size()) {
    std::fprintf(stderr, "--replica-pids needs one pid per target\n");
    return 2;
  }
  // One connection per agent, and gRPC's own descriptors besides.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
    if (files.rlim_cur < static_cast<rlim_t>(options.agents) + 200) {
      std::fprintf(stderr, "open files limit %lu is below %d agents + 200\n",
                   static_cast<unsigned long>(files.rlim_cur), options.agents);
      return 2;
    }
  }
  return warden::bench::Simulator(std::move(options)).Run();
}
