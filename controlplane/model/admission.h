#pragma once

// The values an admission decision is made from and made of. The rule itself
// is admission::Decide; the store runs it inside the transaction that holds
// the user's row lock.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/model/policy.h"

namespace warden::control::model {

// The limits one admission is decided by (the user's effective policy, and
// the account's state).
struct UserLimits {
  int max_connections = 0;  // 0 = unlimited
  LimitPolicy policy = LimitPolicy::kEvictOldest;
  int grace_seconds = 0;
  bool disabled = false;
  int max_connections_per_node = 0;  // 0 = unlimited
  std::vector<LabelCap> label_caps;
  std::vector<Protocol> allowed_protocols;  // empty = any
  NodeSelector node_selector;               // empty = any node
  std::optional<absl::Time> expires_at;     // the account's
  int max_session_seconds = 0;              // 0 = no limit
  int idle_timeout_seconds = 0;             // 0 = no limit
  int64_t bandwidth_bytes_per_second = 0;   // 0 = unlimited
  int64_t data_quota_bytes = 0;             // rx + tx per period; 0 = no quota
  int quota_period_days = 0;                // 0 = calendar month (UTC)
  QuotaAction on_quota_exceeded = QuotaAction::kDeny;
  int64_t throttle_bytes_per_second = 0;  // 0 = none set
};

// One of the user's sessions that is not closed.
struct LiveSession {
  std::string id;
  std::string node_name;
  std::string node_id;
  NodeLabels node_labels;
  Protocol protocol = Protocol::kOpenVpn;
  absl::Time opened_at;
  // A closing session was evicted or killed already; its seat is free...
  bool closing = false;
  // ...unless its node could not carry the kill out: until the tunnel is
  // really gone (or an operator forces it closed), it keeps its seat.
  bool kill_failed = false;
  // For time limits: when its node last saw traffic, and when the device
  // it came with stops being valid.
  std::optional<absl::Time> last_traffic_at;
  std::optional<absl::Time> device_expires_at;
};

// What a change of a user's policy does to their live sessions: the ones
// that end, with their reasons, and the next time each remaining one is
// due to be looked at by the policy sweep.
struct LiveSessionsChange {
  std::vector<std::pair<std::string, std::string>> end;
  std::vector<std::pair<std::string, std::optional<absl::Time>>> due;
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

// The node a connection asks on, and what the connection is.
struct Requested {
  std::string node_id;
  NodeLabels node_labels;
  Protocol protocol = Protocol::kOpenVpn;
  // For a WireGuard device the node vouches with: when it stops being valid.
  std::optional<absl::Time> device_expires_at;
};

// The user's data quota window that contains now, read under the user's
// row lock; only when the user has a quota.
struct QuotaFacts {
  int64_t used_bytes = 0;     // rx + tx in the window, after support's latest reset
  int64_t granted_bytes = 0;  // extra bytes support granted in the window
  // The enforcement holds the user in this window: until the window rolls
  // over, support helps, or the quota changes, whatever the sums say.
  bool held = false;
  // When bytes next stop counting: the next calendar month, or for a
  // rolling window the next day (the oldest day leaves the window).
  absl::Time frees_up_at;
};

// Everything the rule is given, read under the user's row lock.
struct AdmissionFacts {
  UserLimits limits;
  Requested requested;
  // The user's sessions that are not closed, other than `same_key`.
  std::span<const LiveSession> live;
  bool node_draining = false;
  // Set when the node vouches for the user (no password, no ticket).
  std::optional<Vouching> vouching;
  std::optional<SameKeySession> same_key;
  // Set when a connect ticket established the user.
  std::optional<TicketFacts> ticket;
  std::optional<QuotaFacts> quota;
};

enum class DenyReason {
  kBadCredentials,
  kUserDisabled,
  kDeviceLimitReached,
  kNodeDraining,
  // The same connection is being killed: it may not be let in again until
  // the kill completed.
  kSessionEnding,
  kAccountExpired,
  kDeviceExpired,
  kProtocolNotAllowed,
  kNodeNotAllowed,
  kNodeLimitReached,
  kLabelLimitReached,
  kQuotaExceeded,
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
  // When admitted: the session's rate cap (0 = unlimited), the throttle
  // rate for a QUIC tunnel of a user over quota.
  int64_t bandwidth_bytes_per_second = 0;
  // When admitted: the first time a time limit may end the new session.
  std::optional<absl::Time> policy_due_at;
};

}  // namespace warden::control::model
