#include "controlplane/services/validation.h"

#include <sodium.h>

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/host_port.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/limits_proto.h"

namespace warden::control::services {
namespace {

bool IsUsernameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '@' ||
         c == '-';
}

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", rule));
}

absl::StatusOr<std::string> NormalizeUsernameChars(absl::string_view field, absl::string_view value,
                                                   size_t min_length) {
  std::string lowered = absl::AsciiStrToLower(value);
  bool valid = lowered.size() >= min_length && lowered.size() <= 64;
  for (char c : lowered) valid = valid && IsUsernameChar(c);
  if (!valid) {
    return Invalid(field, absl::StrCat("must be ", min_length,
                                       "-64 characters of a-z, 0-9, '.', '_', '@', '-'"));
  }
  return lowered;
}

}  // namespace

absl::StatusOr<std::string> NormalizeUsername(absl::string_view field, absl::string_view username) {
  return NormalizeUsernameChars(field, username, 1);
}

absl::StatusOr<std::string> NormalizeUsernamePrefix(absl::string_view field,
                                                    absl::string_view prefix) {
  return NormalizeUsernameChars(field, prefix, 0);
}

absl::Status ValidatePassword(absl::string_view field, absl::string_view password) {
  if (password.size() < kMinPasswordBytes || password.size() > kMaxPasswordBytes) {
    return Invalid(field, absl::StrCat("must be ", kMinPasswordBytes, " to ", kMaxPasswordBytes,
                                       " bytes long"));
  }
  if (password.find('\0') != absl::string_view::npos) {
    return Invalid(field, "must not contain NUL bytes");
  }
  return absl::OkStatus();
}

absl::Status ValidateUuid(absl::string_view field, absl::string_view value) {
  if (value.empty()) return Invalid(field, "is required");
  bool valid = value.size() == 36;
  for (size_t i = 0; valid && i < value.size(); ++i) {
    const char c = value[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      valid = c == '-';
    } else {
      valid = absl::ascii_isxdigit(static_cast<unsigned char>(c));
    }
  }
  if (!valid)
    return Invalid(field, absl::StrCat("must be a UUID; got \"", value.substr(0, 64), "\""));
  return absl::OkStatus();
}

absl::Status ValidateMaxConnections(absl::string_view field, int64_t value) {
  if (value < 0 || value > kMaxConnectionsLimit) {
    return Invalid(field, absl::StrCat("must be between 0 (unlimited) and ", kMaxConnectionsLimit,
                                       "; got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateGraceSeconds(absl::string_view field, int64_t value) {
  if (value < 0 || value > kMaxGraceSeconds) {
    return Invalid(field,
                   absl::StrCat("must be between 0 and ", kMaxGraceSeconds, "; got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateBandwidth(absl::string_view field, int64_t value) {
  if (value != 0 && (value < kMinBandwidth || value > kMaxBandwidth)) {
    return Invalid(field, absl::StrCat("must be 0 (unlimited) or between ", kMinBandwidth, " and ",
                                       kMaxBandwidth, " bytes per second; got ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<model::LimitPolicy> ParseLimitPolicy(absl::string_view field, int value,
                                                    bool allow_unspecified) {
  switch (value) {
    case v1::LIMIT_POLICY_UNSPECIFIED:
      if (allow_unspecified) return model::LimitPolicy::kEvictOldest;
      return Invalid(field, "must be EVICT_OLDEST or REJECT");
    case v1::EVICT_OLDEST:
      return model::LimitPolicy::kEvictOldest;
    case v1::REJECT:
      return model::LimitPolicy::kReject;
    default:
      return Invalid(field, absl::StrCat("must be EVICT_OLDEST or REJECT; got ", value));
  }
}

absl::StatusOr<model::Role> ParseRole(absl::string_view field, int value) {
  switch (value) {
    case v1::ADMIN:
      return model::Role::kAdmin;
    case v1::VIEWER:
      return model::Role::kViewer;
    default:
      return Invalid(field, absl::StrCat("must be ADMIN or VIEWER; got ", value));
  }
}

absl::Status ValidateKeyName(absl::string_view field, absl::string_view name) {
  bool valid = !name.empty() && name.size() <= 64;
  for (char c : name) {
    valid = valid && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                      c == '-');
  }
  if (!valid) return Invalid(field, "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-'");
  return absl::OkStatus();
}

absl::Status ValidateNodeName(absl::string_view field, absl::string_view name) {
  bool valid = !name.empty() && name.size() <= 63 && name[0] != '.' && name[0] != '-';
  for (char c : name) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-');
  }
  if (!valid) {
    return Invalid(field,
                   "must be 1-63 characters of a-z, 0-9, '.', '-', starting with a letter "
                   "or digit");
  }
  return absl::OkStatus();
}

absl::StatusOr<model::Protocol> ParseProtocol(absl::string_view field, int value) {
  switch (value) {
    case v1::WIREGUARD:
      return model::Protocol::kWireGuard;
    case v1::OPENVPN:
      return model::Protocol::kOpenVpn;
    case v1::QUIC:
      return model::Protocol::kQuic;
    default:
      return Invalid(field, absl::StrCat("must be WIREGUARD, OPENVPN or QUIC; got ", value));
  }
}

absl::StatusOr<std::vector<model::Protocol>> ParseProtocols(
    absl::string_view field, const google::protobuf::RepeatedField<int>& values) {
  std::vector<model::Protocol> protocols;
  for (int value : values) {
    WARDEN_ASSIGN_OR_RETURN(model::Protocol protocol, ParseProtocol(field, value));
    if (std::find(protocols.begin(), protocols.end(), protocol) == protocols.end()) {
      protocols.push_back(protocol);
    }
  }
  return protocols;
}

absl::Status ValidateText(absl::string_view field, absl::string_view value, size_t max_bytes,
                          bool required) {
  if (required && value.empty()) return Invalid(field, "is required");
  if (value.size() > max_bytes) {
    return Invalid(field, absl::StrCat("must be at most ", max_bytes, " bytes"));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Invalid(field, "must not contain control characters");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<admission::AdmitInput> ValidateAdmitRequest(const v1::AdmitRequest& request) {
  admission::AdmitInput input;
  store::AdmissionRequest& admission = input.request;
  WARDEN_ASSIGN_OR_RETURN(admission.protocol, ParseProtocol("protocol", request.protocol()));
  WARDEN_RETURN_IF_ERROR(ValidateText("session_key", request.session_key(), 256, true));
  WARDEN_RETURN_IF_ERROR(ValidateText("device_label", request.device_label(), 128, false));
  WARDEN_RETURN_IF_ERROR(ValidateText("client_address", request.client_address(), 128, false));
  WARDEN_RETURN_IF_ERROR(ValidateText("attempt_id", request.attempt_id(), 64, false));
  admission.session_key = request.session_key();
  admission.device_label = request.device_label();
  admission.client_address = request.client_address();
  admission.attempt_id = request.attempt_id();
  switch (request.credential_case()) {
    case v1::AdmitRequest::kPassword: {
      WARDEN_ASSIGN_OR_RETURN(
          std::string username,
          NormalizeUsername("password.username", request.password().username()));
      if (request.password().password().empty() ||
          request.password().password().size() > kMaxPasswordBytes) {
        return Invalid("password.password",
                       absl::StrCat("must be 1 to ", kMaxPasswordBytes, " bytes long"));
      }
      input.credential = admission::PasswordLogin{.username = std::move(username),
                                                  .password = request.password().password()};
      break;
    }
    case v1::AdmitRequest::kAssertedUser: {
      const v1::AssertedUser& asserted = request.asserted_user();
      if (asserted.user_case() == v1::AssertedUser::kUserId) {
        WARDEN_RETURN_IF_ERROR(ValidateUuid("asserted_user.user_id", asserted.user_id()));
        admission.user.id = asserted.user_id();
      } else if (asserted.user_case() == v1::AssertedUser::kUsername) {
        WARDEN_ASSIGN_OR_RETURN(admission.user.username,
                                NormalizeUsername("asserted_user.username", asserted.username()));
      } else {
        return Invalid("asserted_user", "must set user_id or username");
      }
      break;
    }
    case v1::AdmitRequest::kConnectTicket:
      if (!secrets::LooksLikeToken(request.connect_ticket(), "wct_")) {
        return Invalid("connect_ticket", "must be \"wct_\" followed by 64 lowercase hex digits");
      }
      if (!request.claimed_username().empty()) {
        WARDEN_ASSIGN_OR_RETURN(admission.user.username,
                                NormalizeUsername("claimed_username", request.claimed_username()));
      }
      input.credential = admission::ConnectTicket{.ticket = request.connect_ticket()};
      break;
    default:
      return Invalid("credential", "must be one of password, asserted_user, connect_ticket");
  }
  return input;
}

absl::StatusOr<model::UsageSample> ValidateUsageSample(absl::string_view field, int64_t rx_bytes,
                                                       int64_t tx_bytes, int64_t sequence) {
  if (rx_bytes < 0 || tx_bytes < 0) return Invalid(field, "byte counts must not be negative");
  if (sequence < 0) return Invalid(field, "the usage sequence must not be negative");
  return model::UsageSample{.rx_bytes = rx_bytes, .tx_bytes = tx_bytes, .sequence = sequence};
}

absl::StatusOr<model::UsageReport> ValidateUsageReport(absl::string_view field,
                                                       const std::string& node_id,
                                                       const v1::SessionUsage& usage) {
  if (usage.session_id().empty() && usage.session_key().empty()) {
    return Invalid(field, "needs session_id or session_key");
  }
  if (!usage.session_id().empty()) {
    WARDEN_RETURN_IF_ERROR(ValidateUuid(absl::StrCat(field, ".session_id"), usage.session_id()));
  }
  WARDEN_RETURN_IF_ERROR(
      ValidateText(absl::StrCat(field, ".session_key"), usage.session_key(), 256, false));
  WARDEN_ASSIGN_OR_RETURN(
      model::UsageSample sample,
      ValidateUsageSample(field, usage.rx_bytes(), usage.tx_bytes(), usage.sequence()));
  return model::UsageReport{.node_id = node_id,
                            .session_id = usage.session_id(),
                            .session_key = usage.session_key(),
                            .sample = sample};
}

absl::StatusOr<store::ClosedReport> ValidateClosedReport(absl::string_view field,
                                                         const v1::SessionClosed& closed) {
  if (closed.session_id().empty() && closed.session_key().empty()) {
    return Invalid(field, "needs session_id or session_key");
  }
  if (!closed.session_id().empty()) {
    WARDEN_RETURN_IF_ERROR(ValidateUuid(absl::StrCat(field, ".session_id"), closed.session_id()));
  }
  WARDEN_RETURN_IF_ERROR(
      ValidateText(absl::StrCat(field, ".session_key"), closed.session_key(), 256, false));
  WARDEN_RETURN_IF_ERROR(ValidateText(absl::StrCat(field, ".reason"), closed.reason(), 256, false));
  WARDEN_RETURN_IF_ERROR(ValidateText(absl::StrCat(field, ".abandoned_attempt_id"),
                                      closed.abandoned_attempt_id(), 64, false));
  if (!closed.abandoned_attempt_id().empty() && closed.session_key().empty()) {
    return Invalid(field, "an abandoned attempt is reported with its session_key");
  }
  WARDEN_ASSIGN_OR_RETURN(
      model::UsageSample usage,
      ValidateUsageSample(field, closed.rx_bytes(), closed.tx_bytes(), closed.usage_sequence()));
  return store::ClosedReport{.session_id = closed.session_id(),
                             .session_key = closed.session_key(),
                             .reason = closed.reason(),
                             .usage = usage,
                             .abandoned_attempt = closed.abandoned_attempt_id()};
}

absl::StatusOr<dispatch::AttachRequest> ValidateHello(const v1::Hello& hello) {
  constexpr int kMaxInventory = 200000;
  dispatch::AttachRequest request;
  WARDEN_RETURN_IF_ERROR(ValidateText("hello.agent_version", hello.agent_version(), 64, false));
  request.agent_version = hello.agent_version();
  constexpr int kMaxDrivers = 16;
  if (hello.drivers_size() > kMaxDrivers) {
    return Invalid("hello.drivers", absl::StrCat("may list at most ", kMaxDrivers, " drivers"));
  }
  for (int i = 0; i < hello.drivers_size(); ++i) {
    WARDEN_RETURN_IF_ERROR(
        ValidateText(absl::StrCat("hello.drivers[", i, "]"), hello.drivers(i), 64, true));
    request.drivers.push_back(hello.drivers(i));
  }
  if (hello.inventory_size() > kMaxInventory || hello.closed_while_away_size() > kMaxInventory) {
    return Invalid("hello", absl::StrCat("may list at most ", kMaxInventory, " sessions"));
  }
  for (int i = 0; i < hello.inventory_size(); ++i) {
    const v1::InventorySession& session = hello.inventory(i);
    const std::string field = absl::StrCat("hello.inventory[", i, "]");
    store::InventoryItem item;
    WARDEN_ASSIGN_OR_RETURN(item.protocol,
                            ParseProtocol(absl::StrCat(field, ".protocol"), session.protocol()));
    WARDEN_RETURN_IF_ERROR(
        ValidateText(absl::StrCat(field, ".session_key"), session.session_key(), 256, true));
    if (!session.session_id().empty()) {
      WARDEN_RETURN_IF_ERROR(
          ValidateUuid(absl::StrCat(field, ".session_id"), session.session_id()));
    }
    if (!session.username().empty()) {
      WARDEN_ASSIGN_OR_RETURN(
          item.username, NormalizeUsername(absl::StrCat(field, ".username"), session.username()));
    } else if (session.session_id().empty()) {
      return Invalid(field, "needs session_id or username");
    }
    WARDEN_RETURN_IF_ERROR(
        ValidateText(absl::StrCat(field, ".device_label"), session.device_label(), 128, false));
    WARDEN_RETURN_IF_ERROR(
        ValidateText(absl::StrCat(field, ".client_address"), session.client_address(), 128, false));
    WARDEN_ASSIGN_OR_RETURN(item.usage,
                            ValidateUsageSample(field, session.rx_bytes(), session.tx_bytes(),
                                                session.usage_sequence()));
    item.session_id = session.session_id();
    item.session_key = session.session_key();
    item.device_label = session.device_label();
    item.client_address = session.client_address();
    if (session.has_opened_at()) {
      item.opened_at = absl::FromUnixSeconds(session.opened_at().seconds()) +
                       absl::Nanoseconds(session.opened_at().nanos());
    }
    request.inventory.push_back(std::move(item));
  }
  constexpr int kMaxInterfaces = 16;
  if (hello.wireguard_interfaces_size() > kMaxInterfaces) {
    return Invalid("hello.wireguard_interfaces",
                   absl::StrCat("may list at most ", kMaxInterfaces, " interfaces"));
  }
  for (int i = 0; i < hello.wireguard_interfaces_size(); ++i) {
    const v1::WireGuardInterface& wg = hello.wireguard_interfaces(i);
    const std::string field = absl::StrCat("hello.wireguard_interfaces[", i, "]");
    WARDEN_RETURN_IF_ERROR(
        ValidateText(absl::StrCat(field, ".interface"), wg.interface(), 15, true));
    if (!wg.public_key().empty()) {
      WARDEN_RETURN_IF_ERROR(
          ValidateWireGuardKey(absl::StrCat(field, ".public_key"), wg.public_key()));
    }
    if (!wg.endpoint().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidateHostPort(absl::StrCat(field, ".endpoint"), wg.endpoint()));
    }
    if (wg.listen_port() < 0 || wg.listen_port() > 65535) {
      return Invalid(absl::StrCat(field, ".listen_port"), "must be 0 to 65535");
    }
    request.wireguard_interfaces.push_back(
        model::WireGuardInterface{.iface = wg.interface(),
                                  .public_key = wg.public_key(),
                                  .endpoint = wg.endpoint(),
                                  .listen_port = wg.listen_port()});
  }
  for (int i = 0; i < hello.closed_while_away_size(); ++i) {
    WARDEN_ASSIGN_OR_RETURN(store::ClosedReport closed,
                            ValidateClosedReport(absl::StrCat("hello.closed_while_away[", i, "]"),
                                                 hello.closed_while_away(i)));
    request.closed_while_away.push_back(std::move(closed));
  }
  return request;
}

absl::StatusOr<store::NodeFactsRecord> ValidateNodeFacts(const v1::NodeFacts& facts) {
  store::NodeFactsRecord record;
  WARDEN_RETURN_IF_ERROR(ValidateText("facts.hostname", facts.hostname(), 255, false));
  WARDEN_RETURN_IF_ERROR(ValidateText("facts.agent_version", facts.agent_version(), 64, false));
  // Checked, but only for well-formedness: the administrator sets protocols.
  WARDEN_RETURN_IF_ERROR(ParseProtocols("facts.protocols", facts.protocols()).status());
  record.hostname = facts.hostname();
  record.agent_version = facts.agent_version();
  return record;
}

absl::Status ValidateWireGuardKey(absl::string_view field, absl::string_view key) {
  constexpr size_t kKeyBytes = 32;
  // 32 bytes are 44 characters of standard base64, the last one '='.
  unsigned char decoded[kKeyBytes + 3];
  size_t decoded_length = 0;
  const char* end = nullptr;
  if (key.empty()) return Invalid(field, "is required");
  if (key.size() > 64 ||
      sodium_base642bin(decoded, sizeof decoded, key.data(), key.size(), nullptr, &decoded_length,
                        &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != key.data() + key.size()) {
    return Invalid(field,
                   "must be a WireGuard public key: standard base64 of 32 bytes, e.g. the output "
                   "of `wg pubkey`");
  }
  if (decoded_length != kKeyBytes) {
    return Invalid(field, absl::StrCat("must be a WireGuard public key: standard base64 of 32 "
                                       "bytes; got ",
                                       decoded_length, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<store::NewDevice> ValidateRegisterDevice(const v1::RegisterDeviceRequest& request) {
  store::NewDevice device;
  switch (request.user_case()) {
    case v1::RegisterDeviceRequest::kUserId:
      WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request.user_id()));
      device.user.id = request.user_id();
      break;
    case v1::RegisterDeviceRequest::kUsername: {
      WARDEN_ASSIGN_OR_RETURN(device.user.username,
                              NormalizeUsername("username", request.username()));
      break;
    }
    default:
      return Invalid("user", "must set user_id or username");
  }
  WARDEN_RETURN_IF_ERROR(ValidateWireGuardKey("public_key", request.public_key()));
  WARDEN_RETURN_IF_ERROR(ValidateText("label", request.label(), 64, false));
  device.public_key = request.public_key();
  device.label = request.label();
  if (request.has_expires_at()) device.expires_at = FromProto(request.expires_at());
  return device;
}

absl::StatusOr<ValidatedNewUser> ValidateCreateUser(const v1::CreateUserRequest& request) {
  if (!request.has_user()) return Invalid("user", "is required");
  const v1::User& user = request.user();
  ValidatedNewUser out;
  WARDEN_ASSIGN_OR_RETURN(out.user.username, NormalizeUsername("user.username", user.username()));
  if (!user.password().empty()) {
    WARDEN_RETURN_IF_ERROR(ValidatePassword("user.password", user.password()));
    out.password = user.password();
  }
  WARDEN_ASSIGN_OR_RETURN(out.user.limits, LimitsFromProto("user", user));
  if (!user.plan().empty()) {
    WARDEN_RETURN_IF_ERROR(ValidatePlanName("user.plan", user.plan()));
    out.user.plan_name = user.plan();
  }
  if (user.has_expires_at()) out.user.expires_at = FromProto(user.expires_at());
  out.user.disabled = user.disabled();
  return out;
}

absl::StatusOr<ValidatedUserUpdate> ValidateUpdateUser(const v1::UpdateUserRequest& request) {
  if (!request.has_user()) return Invalid("user", "is required");
  const v1::User& user = request.user();
  ValidatedUserUpdate out;
  WARDEN_RETURN_IF_ERROR(ValidateUuid("user.id", user.id()));
  out.id = user.id();
  std::vector<std::string> updatable = {"username", "password", "disabled", "plan", "expires_at"};
  updatable.insert(updatable.end(), std::begin(model::kLimitFields), std::end(model::kLimitFields));
  if (request.update_mask().paths_size() == 0) {
    return Invalid("update_mask", absl::StrCat("must name at least one field of: ",
                                               absl::StrJoin(updatable, ", ")));
  }
  std::set<std::string> paths(request.update_mask().paths().begin(),
                              request.update_mask().paths().end());
  for (const std::string& path : paths) {
    if (std::find(updatable.begin(), updatable.end(), path) == updatable.end()) {
      return Invalid("update_mask", absl::StrCat("path \"", path.substr(0, 64),
                                                 "\" is not an updatable field; updatable: ",
                                                 absl::StrJoin(updatable, ", ")));
    }
  }
  model::UserChanges& changes = out.changes;
  if (paths.count("username")) {
    WARDEN_ASSIGN_OR_RETURN(changes.username, NormalizeUsername("user.username", user.username()));
  }
  if (paths.count("password")) {
    changes.set_password = true;
    if (!user.password().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidatePassword("user.password", user.password()));
      out.password = user.password();
    }
  }
  WARDEN_ASSIGN_OR_RETURN(changes.limits,
                          LimitChangesFromProto("user", user, request.update_mask()));
  if (paths.count("plan")) {
    if (user.plan().empty()) {
      changes.plan_name = std::optional<std::string>();
    } else {
      WARDEN_RETURN_IF_ERROR(ValidatePlanName("user.plan", user.plan()));
      changes.plan_name = std::optional<std::string>(user.plan());
    }
  }
  if (paths.count("expires_at")) {
    changes.expires_at = user.has_expires_at()
                             ? std::optional<absl::Time>(FromProto(user.expires_at()))
                             : std::optional<absl::Time>();
  }
  if (paths.count("disabled")) changes.disabled = user.disabled();
  changes.keep_logins = request.keep_sessions();
  return out;
}

absl::StatusOr<ValidatedPlan> ValidateCreatePlan(const v1::CreatePlanRequest& request) {
  if (!request.has_plan()) return Invalid("plan", "is required");
  ValidatedPlan out;
  WARDEN_RETURN_IF_ERROR(ValidatePlanName("plan.name", request.plan().name()));
  WARDEN_RETURN_IF_ERROR(
      ValidateText("plan.description", request.plan().description(), 512, false));
  out.name = request.plan().name();
  out.description = request.plan().description();
  WARDEN_ASSIGN_OR_RETURN(out.limits, LimitsFromProto("plan", request.plan()));
  return out;
}

absl::StatusOr<ValidatedPlanUpdate> ValidateUpdatePlan(const v1::UpdatePlanRequest& request) {
  if (!request.has_plan()) return Invalid("plan", "is required");
  const v1::Plan& plan = request.plan();
  ValidatedPlanUpdate out;
  WARDEN_RETURN_IF_ERROR(ValidateUuid("plan.id", plan.id()));
  out.id = plan.id();
  std::vector<std::string> updatable = {"name", "description"};
  updatable.insert(updatable.end(), std::begin(model::kLimitFields), std::end(model::kLimitFields));
  if (request.update_mask().paths_size() == 0) {
    return Invalid("update_mask", absl::StrCat("must name at least one field of: ",
                                               absl::StrJoin(updatable, ", ")));
  }
  for (const std::string& path : request.update_mask().paths()) {
    if (std::find(updatable.begin(), updatable.end(), path) == updatable.end()) {
      return Invalid("update_mask", absl::StrCat("path \"", path.substr(0, 64),
                                                 "\" is not an updatable field; updatable: ",
                                                 absl::StrJoin(updatable, ", ")));
    }
    if (path == "name") {
      WARDEN_RETURN_IF_ERROR(ValidatePlanName("plan.name", plan.name()));
      out.changes.name = plan.name();
    }
    if (path == "description") {
      WARDEN_RETURN_IF_ERROR(ValidateText("plan.description", plan.description(), 512, false));
      out.changes.description = plan.description();
    }
  }
  WARDEN_ASSIGN_OR_RETURN(out.changes.limits,
                          LimitChangesFromProto("plan", plan, request.update_mask()));
  return out;
}

std::string EncodePosition(absl::Time at, absl::string_view id) {
  return absl::StrCat(absl::ToUnixMicros(at), "/", id);
}

absl::StatusOr<std::pair<absl::Time, std::string>> ParsePosition(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '/');
  int64_t micros = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &micros) ||
      !ValidateUuid("page_token", parts[1]).ok()) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  return std::make_pair(absl::FromUnixMicros(micros), std::string(parts[1]));
}

absl::StatusOr<std::string> ReasonOrDefault(const std::string& given, absl::string_view fallback) {
  WARDEN_RETURN_IF_ERROR(ValidateText("reason", given, 256, false));
  return given.empty() ? std::string(fallback) : given;
}

}  // namespace warden::control::services

namespace warden::control::services {

absl::StatusOr<ValidatedNodeUpdate> ValidateUpdateNode(const v1::UpdateNodeRequest& request) {
  constexpr absl::string_view kUpdatable[] = {"protocols", "trusted_authenticator", "labels"};
  if (!request.has_node()) return Invalid("node", "is required");
  ValidatedNodeUpdate out;
  WARDEN_RETURN_IF_ERROR(ValidateUuid("node.id", request.node().id()));
  out.id = request.node().id();
  if (request.update_mask().paths_size() == 0) {
    return Invalid("update_mask", absl::StrCat("must name at least one field of: ",
                                               absl::StrJoin(kUpdatable, ", ")));
  }
  for (const std::string& path : request.update_mask().paths()) {
    if (path == "protocols") {
      WARDEN_ASSIGN_OR_RETURN(out.changes.protocols,
                              ParseProtocols("node.protocols", request.node().protocols()));
    } else if (path == "trusted_authenticator") {
      out.changes.trusted_authenticator = request.node().trusted_authenticator();
    } else if (path == "labels") {
      WARDEN_ASSIGN_OR_RETURN(out.changes.labels,
                              NodeLabelsFromProto("node.labels", request.node().labels()));
    } else {
      return Invalid("update_mask", absl::StrCat("path \"", path.substr(0, 64),
                                                 "\" is not an updatable field; updatable: ",
                                                 absl::StrJoin(kUpdatable, ", ")));
    }
  }
  return out;
}

absl::Status ValidateRequestId(absl::string_view field, absl::string_view request_id) {
  if (request_id.empty()) return absl::OkStatus();
  const bool hex = std::all_of(request_id.begin(), request_id.end(),
                               [](char c) { return absl::ascii_isxdigit(c); });
  if (!hex || request_id.size() < 32 || request_id.size() > 128) {
    return Invalid(field, "must be 32 to 128 hex digits (at least 128 random bits)");
  }
  return absl::OkStatus();
}

}  // namespace warden::control::services
