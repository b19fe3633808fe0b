#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::model {

struct Webhook {
  std::string id;
  std::string url;
  std::vector<std::string> event_types;  // types, or prefixes ending in '.'; empty: all
  std::string description;
  bool enabled = true;
  std::string disabled_reason;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> previous_secret_expires_at;
  std::optional<absl::Time> failing_since;
  int64_t deliveries_pending = 0;
  int64_t deliveries_failed = 0;
};

// Which fields an update sets (a FieldMask, resolved).
struct WebhookChanges {
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> event_types;
  std::optional<std::string> description;
  std::optional<bool> enabled;
};

enum class DeliveryStatus { kPending, kDelivered, kFailed };

struct WebhookDelivery {
  int64_t id = 0;
  std::string webhook_id;
  std::string message_id;
  std::string event_type;
  DeliveryStatus status = DeliveryStatus::kPending;
  int attempts = 0;
  absl::Time created_at;
  absl::Time next_attempt_at;
  std::optional<absl::Time> delivered_at;
  int last_http_status = 0;
  std::string last_error;
  std::string payload;
};

struct DeliveryFilter {
  std::string webhook_id;  // "" = any
  std::optional<DeliveryStatus> status;
  std::optional<int64_t> before_id;  // keyset: older deliveries
  int limit = 100;
};

// A delivery a sender has taken: everything it needs for one attempt.
struct DueDelivery {
  int64_t id = 0;
  std::string webhook_id;
  std::string url;
  std::string message_id;
  std::string payload;
  int attempts = 0;  // including this one
  absl::Time created_at;
  // Sealed signing secrets: the current one, and the previous one while it
  // still signs.
  std::string secret_sealed;
  std::string previous_secret_sealed;
};

// What one attempt came to.
struct DeliveryAttempt {
  int64_t id = 0;
  std::string webhook_id;
  int http_status = 0;  // 0: no answer
  std::string error;    // "" when delivered
  bool delivered = false;
  // When to try again; unset: give up (the delivery has failed).
  std::optional<absl::Duration> retry_in;
};

}  // namespace warden::control::model
