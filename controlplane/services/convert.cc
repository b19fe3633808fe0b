#include "controlplane/services/convert.h"

#include <google/protobuf/util/json_util.h>

namespace warden::control::services {

void ToProto(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

v1::LimitPolicy ToProto(model::LimitPolicy policy) {
  return policy == model::LimitPolicy::kReject ? v1::REJECT : v1::EVICT_OLDEST;
}

v1::ApiKeyRole ToProto(model::Role role) {
  return role == model::Role::kAdmin ? v1::ADMIN : v1::VIEWER;
}

void ToProto(const model::User& user, v1::User* out) {
  out->set_id(user.id);
  out->set_username(user.username);
  out->set_has_password(user.has_password);
  out->set_max_connections(user.max_connections);
  out->set_limit_policy(ToProto(user.limit_policy));
  out->set_grace_seconds(user.grace_seconds);
  out->set_bandwidth_bytes_per_second(user.bandwidth_bytes_per_second);
  out->set_disabled(user.disabled);
  ToProto(user.created_at, out->mutable_created_at());
  ToProto(user.updated_at, out->mutable_updated_at());
}

void ToProto(const model::ApiKey& key, v1::ApiKey* out) {
  out->set_id(key.id);
  out->set_name(key.name);
  out->set_role(ToProto(key.role));
  ToProto(key.created_at, out->mutable_created_at());
  if (key.revoked_at) ToProto(*key.revoked_at, out->mutable_revoked_at());
}

void ToProto(const model::AuditEvent& event, v1::AuditEvent* out) {
  out->set_id(event.id);
  ToProto(event.at, out->mutable_at());
  out->set_actor(event.actor);
  out->set_action(event.action);
  out->set_subject(event.subject);
  // Stored by Warden as a JSON object, so this cannot fail in practice; a
  // failure leaves details empty rather than failing the listing.
  (void)google::protobuf::util::JsonStringToMessage(event.details_json, out->mutable_details());
}

}  // namespace warden::control::services
