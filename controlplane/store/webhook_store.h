#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/webhook.h"

namespace warden::control::store {

class Database;

// Webhook endpoints and their delivery outbox. Deliveries are written by a
// trigger on audit_events (migration 0013) in the transaction that made the
// event; this repository manages endpoints and lets senders on every
// replica take due deliveries and record what came of them.
class WebhookStore {
 public:
  explicit WebhookStore(Database& db) : db_(db) {}

  absl::StatusOr<model::Webhook> Create(const model::Actor& actor, const model::Webhook& webhook,
                                        const std::string& secret_sealed);
  absl::StatusOr<model::Webhook> Get(const std::string& id);
  absl::StatusOr<std::vector<model::Webhook>> List();
  // Enabling clears the failure record (disabled_reason, failing_since).
  absl::StatusOr<model::Webhook> Update(const model::Actor& actor, const std::string& id,
                                        const model::WebhookChanges& changes);
  absl::Status Delete(const model::Actor& actor, const std::string& id);
  // The current secret becomes the previous one until `previous_valid_for`
  // from now.
  absl::StatusOr<model::Webhook> Rotate(const model::Actor& actor, const std::string& id,
                                        const std::string& secret_sealed,
                                        absl::Duration previous_valid_for);

  absl::StatusOr<std::vector<model::WebhookDelivery>> Deliveries(
      const model::DeliveryFilter& filter);
  // Due again now, with the same message id; NOT_FOUND for an unknown id.
  absl::StatusOr<model::WebhookDelivery> Redeliver(const model::Actor& actor, int64_t delivery_id);
  // A webhook.test event for this endpoint alone.
  absl::StatusOr<model::WebhookDelivery> QueueTest(const model::Actor& actor,
                                                   const std::string& webhook_id);

  // One round of a sender, in one transaction: records attempts (an
  // endpoint whose delivery failed for good with no success since that
  // delivery was made is disabled, audited as webhook.disabled), then
  // takes up to `claim.limit` due deliveries of enabled endpoints, at most
  // `claim.per_webhook` of each and none of the endpoints `claim.busy`,
  // skipping those another replica is taking; each is due again after
  // `claim.lease` unless its attempt is recorded first.
  struct ClaimRequest {
    int limit = 0;
    int per_webhook = 1;
    absl::Duration lease = absl::Seconds(30);
    std::vector<std::string> busy{};
  };
  struct Cycle {
    std::vector<std::string> disabled;  // endpoints given up on
    std::vector<model::DueDelivery> due;
  };
  absl::StatusOr<Cycle> RecordAndClaim(std::span<const model::DeliveryAttempt> attempts,
                                       const ClaimRequest& claim);
  // The senders found nothing due: the next event wakes them (NOTIFY
  // warden_webhooks), once. True when they were not marked so already.
  absl::StatusOr<bool> MarkSendersIdle();

  struct Backlog {
    int64_t due = 0;  // pending and due now
    int64_t pending = 0;
    int64_t endpoints_disabled = 0;
  };
  absl::StatusOr<Backlog> CountBacklog();

 private:
  Database& db_;
};

}  // namespace warden::control::store
