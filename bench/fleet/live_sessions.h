#pragma once

// The sessions the simulated fleet holds, as one set the load draws from:
// a client that disconnects, a session an administrator kills. Draws are
// O(1) (a vector with swap-remove and an index by session id).

#include <cstddef>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace warden::bench {

struct LiveSession {
  int agent = 0;
  int user = 0;
  std::string session_id;
};

class LiveSessions {
 public:
  void Add(LiveSession session);
  // False: not in the set (already drawn or never added).
  bool Remove(const std::string& session_id);
  // Takes a random session out of the set whose agent passes `wanted`
  // (at most `draws` tries); nullopt when none was found.
  std::optional<LiveSession> TakeRandom(std::mt19937_64& random,
                                        absl::FunctionRef<bool(int agent)> wanted, int draws = 32);
  size_t size() const;

 private:
  // Swap-removes the session at `at`.
  LiveSession TakeAt(size_t at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<LiveSession> sessions_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, size_t> index_ ABSL_GUARDED_BY(mu_);
};

// Administrator kills in flight: when each was sent, and how long the
// agent holding the session took to hear of it.
class KillClock {
 public:
  void Sent(const std::string& session_id, absl::Time at);
  // A kill command reached an agent; times it when it was one of ours.
  void Received(const std::string& session_id, absl::Time at);
  // A KillSession call failed: nothing will arrive.
  void Failed(const std::string& session_id);
  // Sorted milliseconds from KillSession sent to the command received.
  std::vector<double> LatenciesMs() const;
  // Sent, not failed, and still not received.
  size_t pending() const;
  int failed() const;

 private:
  mutable absl::Mutex mu_;
  std::unordered_map<std::string, absl::Time> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
  int failed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden::bench
