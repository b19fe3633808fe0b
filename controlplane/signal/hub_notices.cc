// The hub's side of the replica link: room changes become notices, notices
// heard from PostgreSQL update the room views and reach the members attached
// here, and the sweep keeps rooms and replicas tidy.

#include <deque>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "controlplane/signal/hub.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"

namespace warden::control::signal {
namespace {

const logging::Logger Log("control.signal");

v1::SignalNotice NoticeFor(const store::RoomChange& change, const std::string& origin) {
  v1::SignalNotice notice;
  notice.set_origin(origin);
  notice.set_room_id(change.room_id);
  notice.set_version(change.version);
  notice.set_member_replica(change.member.replica);
  notice.set_member_connection(change.member.connection_id);
  v1::SignalEvent& event = *notice.mutable_event();
  const std::string key = KeyOf(change.member.key_hex);
  switch (change.kind) {
    case store::RoomChangeKind::kJoined:
      event.mutable_member_joined()->set_room_id(change.room_id);
      SetMember(change.member, event.mutable_member_joined()->mutable_member());
      break;
    case store::RoomChangeKind::kLeft:
      event.mutable_member_left()->set_room_id(change.room_id);
      event.mutable_member_left()->set_member(key);
      event.mutable_member_left()->set_reason(change.text);
      break;
    case store::RoomChangeKind::kKicked:
      event.mutable_member_kicked()->set_room_id(change.room_id);
      event.mutable_member_kicked()->set_member(key);
      break;
    case store::RoomChangeKind::kRenamed:
      event.mutable_room_renamed()->set_room_id(change.room_id);
      event.mutable_room_renamed()->set_name(change.text);
      break;
    case store::RoomChangeKind::kClosed:
      event.mutable_room_closed()->set_room_id(change.room_id);
      event.mutable_room_closed()->set_reason(change.text);
      break;
  }
  return notice;
}

// The key a joined/left/kicked notice is about, as hex ("" for others).
std::string MemberHex(const v1::SignalEvent& event) {
  if (event.has_member_joined()) return KeyHex(event.member_joined().member().key());
  if (event.has_member_left()) return KeyHex(event.member_left().member());
  if (event.has_member_kicked()) return KeyHex(event.member_kicked().member());
  return "";
}

bool EndsMembership(const v1::SignalEvent& event) {
  return event.has_member_left() || event.has_member_kicked();
}

}  // namespace

std::vector<std::string> SignalHub::Encode(std::span<const store::RoomChange> changes) const {
  std::vector<std::string> payloads;
  for (const store::RoomChange& change : changes) {
    payloads.push_back(
        absl::Base64Escape(NoticeFor(change, options_.replica_id).SerializeAsString()));
  }
  return payloads;
}

void SignalHub::OnNotification(const std::string& payload) {
  std::string bytes;
  v1::SignalNotice notice;
  if (!absl::Base64Unescape(payload, &bytes) || !notice.ParseFromString(bytes) ||
      notice.room_id().empty()) {
    Log()->warn("ignoring a malformed notice on {} ({} bytes)", store::kSignalChannel,
                payload.size());
    return;
  }
  notices_received_.Increment();
  absl::MutexLock lock(&mu_);
  if (notice.version() == 0) {
    // A relay: its sender's replica delivered it to the members there.
    if (notice.origin() != options_.replica_id) DeliverRelay(notice);
    return;
  }
  ApplyChange(notice);
}

void SignalHub::DeliverRelay(const v1::SignalNotice& notice) {
  auto room = tracked_.find(notice.room_id());
  if (room == tracked_.end()) return;
  const auto send_to = [&](const std::string& stream_id) {
    auto stream = streams_.find(stream_id);
    if (stream != streams_.end() && stream->second->rooms.contains(notice.room_id())) {
      stream->second->peer->Send(notice.event());
    }
  };
  if (!notice.to().empty()) {
    auto member = room->second.members.find(KeyHex(notice.to()));
    if (member != room->second.members.end() && member->second.replica == options_.replica_id) {
      send_to(member->second.stream_id);
    }
    return;
  }
  const std::string except_hex = KeyHex(notice.except());
  for (const auto& [key_hex, where] : room->second.members) {
    if (where.replica == options_.replica_id && key_hex != except_hex) send_to(where.stream_id);
  }
}

bool SignalHub::Tells(const std::string& stream_id, const v1::SignalNotice& notice) {
  return !(notice.event().has_member_left() && notice.member_connection() == stream_id &&
           notice.event().member_left().reason() == "left");
}

bool SignalHub::Ends(const std::string& stream_id, const v1::SignalNotice& notice) {
  return notice.event().has_room_closed() ||
         (EndsMembership(notice.event()) && notice.member_connection() == stream_id);
}

void SignalHub::ApplyChange(const v1::SignalNotice& notice) {
  const std::string& room_id = notice.room_id();
  if (auto pending = pending_.find(room_id); pending != pending_.end()) {
    pending->second.heard.push_back(notice);
  }
  auto found = tracked_.find(room_id);
  if (found == tracked_.end()) return;
  TrackedRoom& room = found->second;
  if (!room.stale && notice.version() > room.version + 1) {
    // A change went by unheard (the listen connection dropped): reload.
    room.stale = true;
    notice_gaps_.Increment();
    (void)db_workers_.TrySubmit([this] { Resync(); });
  }
  if (room.stale) room.heard_while_stale.push_back(notice);
  // Members that joined before this change hear of it.
  const std::set<std::string> local = room.local_streams;  // `room` may go below
  for (const std::string& stream_id : local) {
    auto stream = streams_.find(stream_id);
    if (stream == streams_.end()) continue;
    auto joined = stream->second->rooms.find(room_id);
    if (joined == stream->second->rooms.end() || joined->second >= notice.version()) continue;
    if (Tells(stream_id, notice)) stream->second->peer->Send(notice.event());
    if (Ends(stream_id, notice)) ForgetRoom(stream_id, room_id);
  }
  auto still = tracked_.find(room_id);
  if (still == tracked_.end()) return;
  if (notice.event().has_room_closed()) {
    for (const std::string& stream_id : std::set(still->second.local_streams)) {
      ForgetRoom(stream_id, room_id);
    }
    return;
  }
  if (!still->second.stale && notice.version() > still->second.version) {
    ApplyToView(still->second, notice);
  }
}

void SignalHub::ApplyToView(TrackedRoom& room, const v1::SignalNotice& notice) {
  room.version = std::max(room.version, notice.version());
  const std::string key_hex = MemberHex(notice.event());
  if (key_hex.empty()) return;
  if (notice.event().has_member_joined()) {
    room.members[key_hex] = Location{notice.member_replica(), notice.member_connection()};
    return;
  }
  auto member = room.members.find(key_hex);
  if (member != room.members.end() && member->second.stream_id == notice.member_connection()) {
    room.members.erase(member);
  }
}

void SignalHub::MarkAllStale() {
  absl::MutexLock lock(&mu_);
  for (auto& [room_id, room] : tracked_) room.stale = true;
}

void SignalHub::Resync() {
  std::vector<std::string> room_ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [room_id, room] : tracked_) {
      if (room.stale) room_ids.push_back(room_id);
    }
  }
  for (const std::string& room_id : room_ids) {
    absl::StatusOr<store::RoomRecord> record = rooms_.Members(room_id);
    if (!record.ok() && record.status().code() != absl::StatusCode::kNotFound) {
      Log()->warn("cannot reload room {}: {}", room_id, record.status().message());
      continue;  // still stale; the next reconnect or gap tries again
    }
    absl::MutexLock lock(&mu_);
    auto found = tracked_.find(room_id);
    if (found == tracked_.end() || !found->second.stale) continue;
    TrackedRoom& room = found->second;
    const auto tell = [&](const v1::SignalEvent& event, absl::string_view skip_stream) {
      for (const std::string& stream_id : room.local_streams) {
        auto stream = streams_.find(stream_id);
        if (stream != streams_.end() && stream_id != skip_stream) {
          stream->second->peer->Send(event);
        }
      }
    };
    if (!record.ok()) {  // closed unheard
      v1::SignalEvent closed;
      closed.mutable_room_closed()->set_room_id(room_id);
      closed.mutable_room_closed()->set_reason("expired");
      tell(closed, "");
      for (const std::string& stream_id : std::set(room.local_streams)) {
        ForgetRoom(stream_id, room_id);
      }
      continue;
    }
    // The members as the streams here heard of them: the old view with the
    // changes delivered since it went stale, up to the reloaded version.
    TrackedRoom heard;
    heard.members = room.members;
    for (const v1::SignalNotice& notice : room.heard_while_stale) {
      if (notice.version() <= record->version) ApplyToView(heard, notice);
    }
    std::map<std::string, Location> reloaded;
    for (const store::RoomMemberRecord& member : record->members) {
      reloaded[member.key_hex] = Location{member.replica, member.connection_id};
      auto before = heard.members.find(member.key_hex);
      if (before != heard.members.end() && before->second.stream_id == member.connection_id) {
        continue;
      }
      v1::SignalEvent joined;
      joined.mutable_member_joined()->set_room_id(room_id);
      joined.mutable_member_joined()->mutable_member()->set_key(KeyOf(member.key_hex));
      tell(joined, member.connection_id);
    }
    std::vector<std::string> ended;
    for (const auto& [key_hex, where] : heard.members) {
      auto now = reloaded.find(key_hex);
      if (now != reloaded.end() && now->second.stream_id == where.stream_id) continue;
      v1::SignalEvent left;
      left.mutable_member_left()->set_room_id(room_id);
      left.mutable_member_left()->set_member(KeyOf(key_hex));
      left.mutable_member_left()->set_reason("replica lost");
      tell(left, "");
      if (room.local_streams.contains(where.stream_id)) ended.push_back(where.stream_id);
    }
    room.members = std::move(reloaded);
    room.version = record->version;
    room.stale = false;
    std::vector<v1::SignalNotice> later = std::move(room.heard_while_stale);
    room.heard_while_stale.clear();
    for (const v1::SignalNotice& notice : later) {
      if (notice.version() > room.version) ApplyToView(room, notice);
    }
    for (const std::string& stream_id : ended) ForgetRoom(stream_id, room_id);
  }
}

void SignalHub::SweepLoop() {
  // Relays per second over the last minute (or since start): samples of
  // the relay count, the oldest at most a minute old.
  std::deque<std::pair<absl::Time, int64_t>> samples{{absl::Now(), relays_.load()}};
  do {
    const absl::Time now = absl::Now();
    const int64_t relays = relays_.load();
    while (samples.size() > 1 && now - samples[1].first >= absl::Minutes(1)) samples.pop_front();
    const double elapsed = std::max(1e-3, absl::ToDoubleSeconds(now - samples.front().first));
    const double rate = static_cast<double>(relays - samples.front().second) / elapsed;
    samples.emplace_back(now, relays);
    absl::StatusOr<std::vector<store::RoomChange>> swept = rooms_.Sweep(
        options_.empty_grace, options_.replica_timeout, rate,
        [this](std::span<const store::RoomChange> changes) { return Encode(changes); });
    if (!swept.ok()) {
      Log()->warn("signalling sweep failed: {}", swept.status().message());
      continue;
    }
    std::set<std::string> orphans;
    {
      absl::MutexLock lock(&mu_);
      orphans.swap(orphans_);
    }
    for (const std::string& stream_id : orphans) LeaveAll(stream_id);
  } while (!stop_.WaitForNotificationWithTimeout(options_.sweep_interval));
}

}  // namespace warden::control::signal
