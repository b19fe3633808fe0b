#pragma once

// Checks of what callers send. Every error is INVALID_ARGUMENT with a message
// that names the field and the rule.

#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/admission/admitter.h"
#include "controlplane/dispatch/dispatcher.h"
#include "controlplane/model/api_key.h"
#include "controlplane/model/session.h"
#include "controlplane/model/user.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/plan_store.h"
#include "controlplane/store/ticket_store.h"
#include "warden/v1/admin.pb.h"
#include "warden/v1/agent.pb.h"

namespace warden::control::services {

inline constexpr int kMaxConnectionsLimit = 10000;
inline constexpr int kMaxGraceSeconds = 3600;
inline constexpr int64_t kMinBandwidth = 1024;
inline constexpr int64_t kMaxBandwidth = int64_t{1} << 40;  // 1 TiB/s: beyond any link
inline constexpr size_t kMinPasswordBytes = 8;
inline constexpr size_t kMaxPasswordBytes = 1024;

// Lower-cases and checks 1-64 characters of [a-z0-9._@-].
absl::StatusOr<std::string> NormalizeUsername(absl::string_view field, absl::string_view username);
// A username prefix: 0-64 characters of the same alphabet.
absl::StatusOr<std::string> NormalizeUsernamePrefix(absl::string_view field,
                                                    absl::string_view prefix);
absl::Status ValidatePassword(absl::string_view field, absl::string_view password);
absl::Status ValidateUuid(absl::string_view field, absl::string_view value);
absl::Status ValidateMaxConnections(absl::string_view field, int64_t value);
absl::Status ValidateGraceSeconds(absl::string_view field, int64_t value);
absl::Status ValidateBandwidth(absl::string_view field, int64_t value);
// UNSPECIFIED is allowed only where a default applies.
absl::StatusOr<model::LimitPolicy> ParseLimitPolicy(absl::string_view field, int value,
                                                    bool allow_unspecified);
absl::StatusOr<model::Role> ParseRole(absl::string_view field, int value);
// 1-64 characters of [A-Za-z0-9._-].
absl::Status ValidateKeyName(absl::string_view field, absl::string_view name);

// 1-63 characters of [a-z0-9.-], starting with a letter or digit.
absl::Status ValidateNodeName(absl::string_view field, absl::string_view name);
absl::StatusOr<model::Protocol> ParseProtocol(absl::string_view field, int value);
absl::StatusOr<std::vector<model::Protocol>> ParseProtocols(
    absl::string_view field, const google::protobuf::RepeatedField<int>& values);
// Printable text of at most `max_bytes`; `required` forbids empty.
absl::Status ValidateText(absl::string_view field, absl::string_view value, size_t max_bytes,
                          bool required);

// An AdmitRequest as the admitter takes it; the node is filled in by the
// caller from its credential.
absl::StatusOr<admission::AdmitInput> ValidateAdmitRequest(const v1::AdmitRequest& request);

// The agent's Hello, checked field by field ("inventory[3].session_key ...").
absl::StatusOr<dispatch::AttachRequest> ValidateHello(const v1::Hello& hello);
// A node's byte counters (see agent.proto SessionUsage), and a usage event.
absl::StatusOr<model::UsageSample> ValidateUsageSample(absl::string_view field, int64_t rx_bytes,
                                                       int64_t tx_bytes, int64_t sequence);
absl::StatusOr<model::UsageReport> ValidateUsageReport(absl::string_view field,
                                                       const std::string& node_id,
                                                       const v1::SessionUsage& usage);
absl::StatusOr<store::ClosedReport> ValidateClosedReport(absl::string_view field,
                                                         const v1::SessionClosed& closed);
absl::StatusOr<store::NodeFactsRecord> ValidateNodeFacts(const v1::NodeFacts& facts);

// Standard base64 (with padding) of exactly 32 bytes.
absl::Status ValidateWireGuardKey(absl::string_view field, absl::string_view key);
// One of user_id / username, a WireGuard key, a label of at most 64 bytes.
absl::StatusOr<store::NewDevice> ValidateRegisterDevice(const v1::RegisterDeviceRequest& request);

struct ValidatedNewUser {
  model::NewUser user;                  // password_hash still empty
  std::optional<std::string> password;  // to be hashed
};
absl::StatusOr<ValidatedNewUser> ValidateCreateUser(const v1::CreateUserRequest& request);

struct ValidatedUserUpdate {
  std::string id;
  model::UserChanges changes;           // password_hash still empty
  std::optional<std::string> password;  // set_password && non-empty: to be hashed
};
absl::StatusOr<ValidatedUserUpdate> ValidateUpdateUser(const v1::UpdateUserRequest& request);

struct ValidatedPlan {
  std::string name;
  std::string description;
  model::LimitSet limits;
};
absl::StatusOr<ValidatedPlan> ValidateCreatePlan(const v1::CreatePlanRequest& request);

struct ValidatedPlanUpdate {
  std::string id;
  store::PlanChanges changes;
};
absl::StatusOr<ValidatedPlanUpdate> ValidateUpdatePlan(const v1::UpdatePlanRequest& request);

struct ValidatedNodeUpdate {
  std::string id;
  store::NodeChanges changes;
};
absl::StatusOr<ValidatedNodeUpdate> ValidateUpdateNode(const v1::UpdateNodeRequest& request);

// A client's random request id: empty, or 32-128 hex digits.
absl::Status ValidateRequestId(absl::string_view field, absl::string_view request_id);

// Keyset position "<unix µs>/<uuid>" of the last row on a page, for lists
// ordered by a timestamp and an id; inside an opaque page token.
std::string EncodePosition(absl::Time at, absl::string_view id);
absl::StatusOr<std::pair<absl::Time, std::string>> ParsePosition(absl::string_view text);

// An operator's reason (at most 256 characters), or `fallback` when empty.
absl::StatusOr<std::string> ReasonOrDefault(const std::string& given, absl::string_view fallback);

}  // namespace warden::control::services
