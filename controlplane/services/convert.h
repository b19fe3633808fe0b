#pragma once

// Model values ↔ wire messages. No validation here (see validation.h).

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"
#include "controlplane/model/api_key.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/command.h"
#include "controlplane/model/device.h"
#include "controlplane/model/session.h"
#include "controlplane/model/usage.h"
#include "controlplane/model/user.h"
#include "controlplane/store/session_store.h"
#include "warden/v1/admin.pb.h"
#include "warden/v1/agent.pb.h"

namespace warden::control::services {

void ToProto(absl::Time time, google::protobuf::Timestamp* out);
absl::Time FromProto(const google::protobuf::Timestamp& timestamp);

void ToProto(const model::User& user, v1::User* out);
void ToProto(const model::ApiKey& key, v1::ApiKey* out);
void ToProto(const model::AuditEvent& event, v1::AuditEvent* out);

void ToProto(const model::Node& node, v1::Node* out);
void ToProto(const model::Command& command, v1::Command* out);
void ToProto(const model::WireGuardPeer& peer, v1::WireGuardPeer* out);
void ToProto(const model::Device& device, v1::Device* out);
void ToProto(const model::Session& session, v1::Session* out);
void ToProto(const store::FleetStats& stats, v1::Stats* out);
void ToProto(const model::QuotaStanding& standing, v1::QuotaStatus* out);
void ToProto(const store::AdmissionResult& result, v1::AdmitResponse* out);

v1::LimitPolicy ToProto(model::LimitPolicy policy);
v1::QuotaAction ToProto(model::QuotaAction action);
v1::Protocol ToProto(model::Protocol protocol);
v1::SessionState ToProto(model::SessionState state);
v1::NodeState ToProto(model::NodeState state);
v1::DenyReason ToProto(model::DenyReason reason);
v1::CommandKind ToProto(model::CommandKind kind);
v1::ApiKeyRole ToProto(model::Role role);

}  // namespace warden::control::services
