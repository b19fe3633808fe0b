#pragma once

// The signalling hub of one replica: the streams attached here, the rooms
// they are in, and the link to the other replicas.
//
// Room state lives in PostgreSQL (store::RoomStore). Every committed change
// is published on NOTIFY warden_signal with the room's new version, and
// every replica, this one included, applies the changes it hears in that
// order: a replica's view of a room (who is in it, attached where) is the
// database's as of some version, and each member hears each change once.
// Relays do not touch the database: members attached here get them at once,
// and one NOTIFY carries them to the other replicas when any member is there.
//
// Transports (the gRPC stream, the WebSocket bridge) hand each message to
// Handle and read the next one when its `done` runs: per stream, requests
// are answered in order and a slow database slows that stream only.
//
// The hub's parts: streams and their lifecycle (hub.cc), authentication
// and the challenge (hub_auth.cc), room requests (hub_rooms.cc), relays
// (hub_relay.cc, who they reach in relay.h), and what the other replicas
// publish (hub_notices.cc).

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "common/password_hasher.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/credential_watch.h"
#include "controlplane/model/credential.h"
#include "controlplane/signal/relay.h"
#include "controlplane/store/room_store.h"
#include "controlplane/store/shared_listener.h"
#include "warden/v1/signal.pb.h"

namespace warden::control::signal {

// A client's end of a stream, implemented by each transport.
class SignalPeer {
 public:
  virtual ~SignalPeer() = default;
  // Queues an event; never blocks. False when the stream is ending (a
  // transport whose queue overflows ends the stream itself).
  virtual bool Send(v1::SignalEvent event) = 0;
  // Ends the stream with `status` once what is queued is written.
  virtual void Close(const absl::Status& status) = 0;
};

struct HubOptions {
  std::string replica_id;
  store::SharedListener* listener = nullptr;  // the replica's LISTEN connection
  absl::Duration sweep_interval = absl::Seconds(5);
  // Rooms left empty this long are closed.
  absl::Duration empty_grace = absl::Seconds(60);
  absl::Duration max_ttl = absl::Hours(24);
  // Relays one stream may send per second (burst: twice that); 0 = no limit.
  int relay_rate = 100;
  // A replica whose heartbeat is older loses its members (a crashed replica).
  absl::Duration replica_timeout = absl::Seconds(30);
  int max_rooms_per_stream = 16;
  // Relays bigger than this cannot reach members on other replicas
  // (PostgreSQL refuses NOTIFY payloads of 8000 bytes or more).
  size_t max_notice_bytes = 7999;
  // A stream must authenticate and answer the challenge this soon after it
  // opens, or it is ended (UNAUTHENTICATED).
  absl::Duration auth_deadline = absl::Seconds(10);
  // Authenticated streams one principal may hold on this replica at once;
  // one more is ended with RESOURCE_EXHAUSTED.
  int max_streams_per_principal = 32;
  // Events a transport may hold for one stream, in bytes, before it ends the
  // stream as too slow a reader (RESOURCE_EXHAUSTED).
  size_t max_queued_bytes = 1 << 20;
};

// The `error` event answering `request_id` (0: none) with `status`.
v1::SignalEvent ErrorEvent(uint64_t request_id, const absl::Status& status);

// Resolves a bearer token (access token or API key) to the credential it
// proves, whose principal is e.g. "user:alice" or "key:ops"; runs on a
// database worker.
using TokenCheck = std::function<absl::StatusOr<model::Credential>(const std::string& token)>;

struct HubStats {
  int64_t streams = 0;
};

class SignalHub {
 public:
  class Stream;

  // A stream's authentication is watched by `credentials`: when it ends,
  // so does the stream (and with it its memberships).
  SignalHub(HubOptions options, store::RoomStore& rooms, PasswordHasher& hasher,
            WorkerPool& db_workers, TokenCheck check_token, dispatch::CredentialWatch& credentials,
            metrics::Registry& metrics);
  ~SignalHub();

  // Listens to the other replicas and starts the sweep.
  void Start();
  // Tells every stream to reconnect elsewhere, refuses new ones, waits up to
  // `drain` for them to go, ends the rest, removes this replica's members.
  void Drain(absl::Duration drain);
  void Stop();

  // A new stream (refused with UNAVAILABLE while draining).
  std::shared_ptr<Stream> Open(std::shared_ptr<SignalPeer> peer);
  // Starts it: `bearer_token` comes from its headers ("" = it must send
  // `authenticate` first). `ready` runs once the stream may be read.
  void Begin(const std::shared_ptr<Stream>& stream, std::string bearer_token,
             absl::AnyInvocable<void() &&> ready);
  // One message; `done` runs exactly once, when the next may be read.
  void Handle(const std::shared_ptr<Stream>& stream, v1::SignalRequest request,
              absl::AnyInvocable<void() &&> done);
  // The stream ended: its memberships end.
  void Closed(const std::shared_ptr<Stream>& stream);

  // Counts a stream the hub or a transport ended, by why ("auth_deadline",
  // "too_many_streams", "slow_reader", "frame_too_big", ...).
  void CountEnd(const std::string& reason);

  HubStats LocalStats() const;
  absl::StatusOr<store::SignalStats> FleetStats();
  const HubOptions& options() const { return options_; }

 private:
  using Location = MemberLocation;
  struct TrackedRoom;
  struct Pending;
  using Done = absl::AnyInvocable<void() &&>;

  // Runs `work(done)` on a database worker; when the pool refuses it, answers
  // RESOURCE_EXHAUSTED and runs `done`.
  void OnWorker(const std::shared_ptr<Stream>& stream, uint64_t request_id, Done done,
                absl::AnyInvocable<void(Done) &&> work);
  // Counts a join or create in flight against the stream's room limit.
  bool ReserveRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id);
  void Unreserve(const std::shared_ptr<Stream>& stream);

  void Authenticate(const std::shared_ptr<Stream>& stream, uint64_t request_id, std::string token,
                    Done done);
  void Identify(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                const v1::SignalIdentify& identify);
  void CreateRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                  const v1::CreateRoomRequest& request, Done done);
  void JoinRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                const v1::JoinRoomRequest& request, Done done);
  void FinishJoin(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                  const std::string& room_id, Done done);
  void ChangeRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                  const v1::SignalRequest& request, Done done);
  void Relay(const std::shared_ptr<Stream>& stream, uint64_t request_id,
             const v1::RelayRequest& request, Done done);
  // Hands a relay to the members attached here; sets `published` to the
  // NOTIFY payload when members elsewhere are to get it too, and
  // `delivered` to how many members it reaches.
  absl::Status RelayHere(const std::shared_ptr<Stream>& stream, const v1::RelayRequest& request,
                         std::string& published, int& delivered) ABSL_LOCKS_EXCLUDED(mu_);

  // Room changes into NOTIFY payloads.
  std::vector<std::string> Encode(std::span<const store::RoomChange> changes) const;
  // A stream joined `room` as of its version: it hears changes after that.
  void Admitted(const std::shared_ptr<Stream>& stream, const store::RoomRecord& room,
                uint64_t request_id) ABSL_LOCKS_EXCLUDED(mu_);
  void OnNotification(const std::string& payload) ABSL_LOCKS_EXCLUDED(mu_);
  void ApplyChange(const v1::SignalNotice& notice) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyToView(TrackedRoom& room, const v1::SignalNotice& notice)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a local stream is told of `notice` (a leaver is not told of its
  // own leave: it has the answer to its request).
  static bool Tells(const std::string& stream_id, const v1::SignalNotice& notice);
  // Whether `notice` ends the stream's membership of its room.
  static bool Ends(const std::string& stream_id, const v1::SignalNotice& notice);
  void MarkAllStale() ABSL_LOCKS_EXCLUDED(mu_);
  void DeliverRelay(const v1::SignalNotice& notice) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetRoom(const std::string& stream_id, const std::string& room_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Resync();
  void SweepLoop();
  // Ends the streams that have not identified within auth_deadline.
  void DeadlineLoop();
  void LeaveAll(const std::string& stream_id);

  // Answers `request_id` with an error (the stream goes on).
  void Fail(const std::shared_ptr<Stream>& stream, uint64_t request_id, const absl::Status& status);

  const HubOptions options_;
  store::RoomStore& rooms_;
  PasswordHasher& hasher_;
  WorkerPool& db_workers_;
  const TokenCheck check_token_;
  dispatch::CredentialWatch& credentials_;

  metrics::Family<metrics::Counter>& relays_by_result_;
  metrics::Counter& relays_delivered_;
  metrics::Counter& relays_refused_;
  metrics::Counter& relays_rate_limited_;
  metrics::Counter& relay_bytes_;
  metrics::Counter& notices_sent_;
  metrics::Counter& notices_received_;
  metrics::Counter& notice_gaps_;
  metrics::Family<metrics::Counter>& requests_;
  metrics::Family<metrics::Counter>& errors_;
  metrics::Family<metrics::Counter>& ends_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, TrackedRoom> tracked_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  // Streams whose memberships could not be removed yet (database down).
  std::set<std::string> orphans_ ABSL_GUARDED_BY(mu_);
  // Authenticated streams here, by principal.
  std::map<std::string, int> per_principal_ ABSL_GUARDED_BY(mu_);
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> relays_{0};

  int subscription_ = 0;
  absl::Notification stop_;
  std::thread sweeper_;
  std::thread deadlines_;
};

}  // namespace warden::control::signal
