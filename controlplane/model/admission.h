#pragma once

// The values an admission decision is made from and made of. The rule itself
// is admission::Decide; the store runs it inside the transaction that holds
// the user's row lock.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/model/user.h"

namespace warden::control::model {

struct UserLimits {
  int max_connections = 0;  // 0 = unlimited
  LimitPolicy policy = LimitPolicy::kEvictOldest;
  int grace_seconds = 0;
  bool disabled = false;
};

// One of the user's sessions that is not closed.
struct LiveSession {
  std::string id;
  std::string node_name;
  absl::Time opened_at;
  // A closing session was evicted or killed already; its seat is free...
  bool closing = false;
  // ...unless its node could not carry the kill out: until the tunnel is
  // really gone (or an operator forces it closed), it keeps its seat.
  bool kill_failed = false;
};

// What a node's word for a user rests on, when it names the user without
// the user's password or a connect ticket.
struct Vouching {
  // An administrator made the node an authenticator in its own right.
  bool node_trusted = false;
  // The session key is a WireGuard key of a live device of this user, and the
  // node runs the WireGuard driver that Warden provisions such devices to.
  bool provisioned_device = false;
};

// A session that already holds the requested key on the node asking.
struct SameKeySession {
  std::string id;
  bool same_user = false;
  bool closing = false;
  // The login family whose connect ticket opened it (if one did) is live.
  bool family_live = true;
};

// A connect ticket the node presented, as its redemption found it.
struct TicketFacts {
  // The login family that issued it is still live, checked again under the
  // user's row lock (a revocation takes it too).
  bool family_live = true;
  // The username the node named along with the ticket ("" = none), and the
  // username of the ticket's holder.
  std::string named_username;
  std::string holder_username;
};

// Everything the rule is given, read under the user's row lock.
struct AdmissionFacts {
  UserLimits limits;
  // The user's sessions that are not closed, other than `same_key`.
  std::span<const LiveSession> live;
  bool node_draining = false;
  // Set when the node vouches for the user (no password, no ticket).
  std::optional<Vouching> vouching;
  std::optional<SameKeySession> same_key;
  // Set when a connect ticket established the user.
  std::optional<TicketFacts> ticket;
};

enum class DenyReason {
  kBadCredentials,
  kUserDisabled,
  kDeviceLimitReached,
  kNodeDraining,
  // The same connection is being killed: it may not be let in again until
  // the kill completed.
  kSessionEnding,
};

struct Decision {
  bool admit = false;
  DenyReason reason = DenyReason::kBadCredentials;  // when !admit
  std::string message;                              // when !admit: for the user
  // When !admit: what the audit log adds for administrators (e.g. the nodes
  // holding the user's seats), never shown to the user.
  std::string detail;
  std::vector<std::string> evict;  // session ids to kill, oldest first
  absl::Time kill_due;             // when the evictions' kills are sent
  // The node asks again about a session that is live (a retry, an OpenVPN
  // renegotiation): admitted as that same session, nothing is written.
  bool already_live = false;
  // The node gave the key of another user's live session to this new
  // connection: that connection is gone, and its session is closed.
  std::vector<std::string> replace;
  // When admit: the user reached its REJECT limit with this session, so its
  // WireGuard devices without a live session are withheld from their nodes
  // until it is under the limit again.
  bool withhold_idle_devices = false;
};

}  // namespace warden::control::model
