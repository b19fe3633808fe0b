#pragma once

// One simulated warden-agent: a node with its own credential and its own
// connection, speaking the agent protocol as agent/link/control_link.cc
// does — Attach with a Hello carrying the inventory of the sessions it
// holds, heartbeats at the interval the Welcome names, every command
// acknowledged, a killed session reported closed on the stream and dropped
// — but on gRPC's callback API, so thousands share a few threads.
//
// Thread safety: every method may be called from any thread. Reactions of
// the stream run on gRPC's threads and never block on anything but this
// agent's mutex and, under it, the fleet's LiveSessions and KillClock (lock
// order: agent, then those).

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/fleet/live_sessions.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::bench {

// What all simulated agents share.
struct Fleet {
  std::vector<std::string> targets;  // the replicas, every agent knows them all
  LiveSessions live;
  KillClock admin_kills;
  std::atomic<int> attached{0};        // streams that reached Welcome, now up
  std::atomic<int> welcomes{0};        // Welcomes ever (attaches + re-attaches)
  std::atomic<int> streams_ended{0};   // streams that ended while not stopping
  std::atomic<int> closed_as_lost{0};  // Welcome.closed_as_lost, summed
  std::atomic<int64_t> kills_received{0};
  std::atomic<int64_t> kills_of_unknown{0};  // for sessions the agent did not hold
  std::atomic<int64_t> other_commands{0};
  std::atomic<int> heartbeat_seconds{10};  // from the first Welcome
};

class SimAgent {
 public:
  SimAgent(int index, std::string credential, int first_replica, Fleet& fleet);
  ~SimAgent();
  SimAgent(const SimAgent&) = delete;
  SimAgent& operator=(const SimAgent&) = delete;

  int index() const { return index_; }
  // The replica its stream is on (or is being opened to).
  int replica() const;
  bool attached() const;
  const std::string& credential() const { return credential_; }
  // The stub of the replica its stream is on: Admit and CloseSession go
  // there, over the same connection, as a real agent's do.
  v1::AgentService::Stub& stub();

  // Opens the stream with a Hello listing what it holds.
  void Attach();
  // Re-attaches (to the next replica) once a lost stream's backoff is over.
  void ReattachIfDue(absl::Time now);
  void Heartbeat();
  // A byte-count sample of one session it holds, on the stream. False when
  // it holds none or is not attached.
  bool ReportUsage();

  // An admitted session is now carried (unless its kill came first).
  // False: it was killed before the answer arrived, and is not carried.
  bool Hold(const std::string& session_id, const std::string& session_key,
            const std::string& username, int user);
  // The client went away: no longer carried. False when it was not.
  bool Drop(const std::string& session_id);
  size_t held() const;

  // Ends the stream for good.
  void Stop();
  // True once a stopped agent's stream is gone.
  bool stopped() const;

 private:
  class Stream;
  struct Held {
    std::string session_key;
    std::string username;
    int64_t rx_bytes = 0;
    int64_t tx_bytes = 0;
  };

  void OnMessage(Stream* stream, const v1::ControlMessage& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnStreamDone(Stream* stream);
  v1::AgentService::Stub& StubLocked(int replica) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int index_;
  const std::string credential_;
  Fleet& fleet_;
  mutable absl::Mutex mu_;
  int replica_ ABSL_GUARDED_BY(mu_) = 0;
  // Readable without the mutex (LiveSessions' filters run under its own).
  std::atomic<int> replica_seen_{0};
  std::atomic<bool> attached_seen_{false};
  std::vector<std::unique_ptr<v1::AgentService::Stub>> stubs_ ABSL_GUARDED_BY(mu_);
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool welcomed_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time reattach_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::unordered_map<std::string, Held> held_ ABSL_GUARDED_BY(mu_);
  // Killed before the Admit that created them answered (a race of an
  // eviction with its own admission's answer): never to be carried.
  std::unordered_set<std::string> killed_unheld_ ABSL_GUARDED_BY(mu_);
  int64_t usage_sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden::bench
