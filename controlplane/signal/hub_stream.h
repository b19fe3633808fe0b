#pragma once

// The hub's bookkeeping types, shared by its source files.

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/gcra_limiter.h"
#include "common/timestamp.h"
#include "controlplane/signal/hub.h"
#include "controlplane/signal/identity.h"

namespace warden::control::signal {

// A key stored as hex, as the wire carries it ("" for a malformed one).
inline std::string KeyOf(const std::string& hex) {
  std::string key;
  KeyFromHex(hex, &key);
  return key;
}

inline void SetMember(const store::RoomMemberRecord& record, v1::RoomMember* out) {
  out->set_key(KeyOf(record.key_hex));
  SetTimestamp(record.joined_at, out->mutable_joined_at());
}

// Fields other than id and peer are guarded by the hub's mutex.
class SignalHub::Stream {
 public:
  enum class State { kAwaitingToken, kChallenged, kIdentified, kClosed };

  Stream(std::string id, std::shared_ptr<SignalPeer> peer, int relay_rate)
      : id(std::move(id)),
        peer(std::move(peer)),
        opened_nanos(SteadyNanos()),
        relay_budget(relay_rate, 2 * int64_t{relay_rate}, opened_nanos) {}

  static int64_t SteadyNanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  const std::string id;
  const std::shared_ptr<SignalPeer> peer;
  const int64_t opened_nanos;
  GcraLimiter relay_budget;  // lock-free itself
  State state = State::kAwaitingToken;
  // Set once authenticated: counted in per_principal_, its credential
  // watched under this id.
  std::string principal;
  int64_t credential_watch = 0;
  bool past_deadline = false;
  std::string nonce;
  std::string key;
  std::string key_hex;
  std::map<std::string, int64_t> rooms;  // room id → the room's version when this stream joined
  int joins_in_flight = 0;
};

// A room with members attached here, as of `version`.
struct SignalHub::TrackedRoom {
  int64_t version = 0;
  std::map<std::string, Location> members;  // key hex → where it is attached
  std::set<std::string> local_streams;
  // A change went by unheard: the view waits for a reload (Resync), and
  // keeps what it hears meanwhile to apply on top of it.
  bool stale = false;
  std::vector<v1::SignalNotice> heard_while_stale;
};

// Changes heard for a room while streams here are joining it: each joiner
// hears those after the version it joined at.
struct SignalHub::Pending {
  int joins = 0;
  std::vector<v1::SignalNotice> heard;
};

}  // namespace warden::control::signal
