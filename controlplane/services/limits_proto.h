#pragma once

// Limits between the wire and the model, for the two messages that carry
// them field for field (User and Plan): reading and checking what a caller
// sent (INVALID_ARGUMENT naming the field), and writing what is stored and
// what applies.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/model/policy.h"
#include "controlplane/model/user.h"
#include "google/protobuf/field_mask.pb.h"
#include "warden/v1/admin.pb.h"

namespace warden::control::services {

// The limits a User or Plan message sets (unset fields stay unset), each
// checked; `prefix` names the message in errors ("user", "plan").
absl::StatusOr<model::LimitSet> LimitsFromProto(absl::string_view prefix, const v1::User& message);
absl::StatusOr<model::LimitSet> LimitsFromProto(absl::string_view prefix, const v1::Plan& message);

// The limit fields an update mask names, with their new values.
absl::StatusOr<model::LimitChanges> LimitChangesFromProto(absl::string_view prefix,
                                                          const v1::User& message,
                                                          const google::protobuf::FieldMask& mask);
absl::StatusOr<model::LimitChanges> LimitChangesFromProto(absl::string_view prefix,
                                                          const v1::Plan& message,
                                                          const google::protobuf::FieldMask& mask);

void LimitsToProto(const model::LimitSet& limits, v1::User* out);
void LimitsToProto(const model::LimitSet& limits, v1::Plan* out);
void ToProto(const model::EffectivePolicy& policy, v1::EffectivePolicy* out);
void ToProto(const model::Plan& plan, v1::Plan* out);

// Node labels as an administrator sets them: keys 1-63 of [a-z0-9._/-]
// starting with a letter or digit, values 1-63 printable characters, at
// most 32 labels.
absl::StatusOr<model::NodeLabels> NodeLabelsFromProto(
    absl::string_view field, const google::protobuf::Map<std::string, std::string>& labels);

absl::Status ValidatePlanName(absl::string_view field, absl::string_view name);

}  // namespace warden::control::services
