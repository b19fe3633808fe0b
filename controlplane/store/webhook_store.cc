#include "controlplane/store/webhook_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_WEBHOOK_COLUMNS                                                                 \
  "w.id::text, w.url, to_jsonb(w.event_types)::text, w.description, w.enabled, "               \
  "w.disabled_reason, epoch_us(w.created_at), epoch_us(w.updated_at), "                        \
  "epoch_us(CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret_expires_at " \
  "END), epoch_us(w.failing_since), "                                                          \
  "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id "                      \
  "  AND d.status = 'pending'), "                                                              \
  "(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = w.id "                      \
  "  AND d.status = 'failed')"

#define WARDEN_DELIVERY_COLUMNS                                                     \
  "d.id, d.webhook_id::text, d.message_id, d.event_type, d.status, d.attempts, "    \
  "epoch_us(d.created_at), epoch_us(d.next_attempt_at), epoch_us(d.delivered_at), " \
  "d.last_http_status, d.last_error, d.payload"

constexpr Statement kStatements[] = {
    {"webhooks.insert",
     "INSERT INTO webhooks (url, event_types, description, secret_sealed) "
     "VALUES ($1, $2::text[], $3, $4) RETURNING id::text"},
    {"webhooks.by_id", "SELECT " WARDEN_WEBHOOK_COLUMNS " FROM webhooks w WHERE w.id = $1::uuid"},
    {"webhooks.list", "SELECT " WARDEN_WEBHOOK_COLUMNS " FROM webhooks w ORDER BY w.created_at"},
    // NULL parameters leave a field as it is. Enabling clears the failure
    // record; disabling by hand says who did it.
    {"webhooks.update",
     "UPDATE webhooks SET url = COALESCE($2, url), "
     "event_types = COALESCE($3::text[], event_types), description = COALESCE($4, description), "
     "enabled = COALESCE($5, enabled), "
     "disabled_reason = CASE WHEN $5 THEN '' WHEN NOT $5 THEN 'disabled by ' || $6 "
     "  ELSE disabled_reason END, "
     "failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END, updated_at = now() "
     "WHERE id = $1::uuid RETURNING id"},
    // Deliveries have no foreign key (migration 0016): they go here.
    {"webhooks.delete",
     "WITH w AS (DELETE FROM webhooks WHERE id = $1::uuid RETURNING id, url), "
     "d AS (DELETE FROM webhook_deliveries WHERE webhook_id IN (SELECT id FROM w)) "
     "SELECT url FROM w"},
    {"webhooks.rotate",
     "UPDATE webhooks SET previous_secret_sealed = secret_sealed, "
     "previous_secret_expires_at = now() + $3::bigint * interval '1 microsecond', "
     "secret_sealed = $2, updated_at = now() WHERE id = $1::uuid RETURNING id"},
    {"deliveries.list",
     "SELECT " WARDEN_DELIVERY_COLUMNS " FROM webhook_deliveries d "
     "WHERE ($1 = '' OR d.webhook_id = NULLIF($1, '')::uuid) AND ($2 = '' OR d.status = $2) "
     "AND ($3::bigint IS NULL OR d.id < $3) ORDER BY d.id DESC LIMIT $4"},
    {"deliveries.by_id", "SELECT " WARDEN_DELIVERY_COLUMNS " FROM webhook_deliveries d "
                         "WHERE d.id = $1"},
    {"deliveries.redeliver",
     "WITH d AS (UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
     "  next_attempt_at = now(), delivered_at = NULL WHERE id = $1 RETURNING id) "
     "SELECT id, pg_notify('warden_webhooks', '') FROM d"},
    {"deliveries.test",
     "WITH e AS (SELECT 'evt_test_' || replace(gen_random_uuid()::text, '-', '') AS id), "
     "d AS (INSERT INTO webhook_deliveries (webhook_id, message_id, event_type, payload) "
     "  SELECT $1::uuid, e.id, 'webhook.test', warden_webhook_payload(e.id, 'webhook.test', "
     "    now(), $2, 'webhook:' || $1, jsonb_build_object('webhook_id', $1::text)) FROM e "
     "  RETURNING id) "
     "SELECT id, pg_notify('warden_webhooks', '') FROM d"},
    // The oldest due deliveries of enabled endpoints, at most $2 of each
    // and none of the endpoints in $4 (busy here already); each is due again
    // after the lease of $3 µs unless its attempt is recorded first.
    {"deliveries.claim",
     "WITH due AS (SELECT d.id, d.webhook_id, d.next_attempt_at FROM webhook_deliveries d "
     "  WHERE d.status = 'pending' AND d.next_attempt_at <= now() "
     "  AND d.webhook_id <> ALL($4::uuid[]) ORDER BY d.next_attempt_at LIMIT $1 * 4), "
     "fair AS (SELECT id, row_number() OVER (PARTITION BY webhook_id ORDER BY next_attempt_at) "
     "  AS n FROM due), "
     "taken AS (SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id "
     "  WHERE w.enabled AND d.id IN (SELECT id FROM fair WHERE n <= $2) AND d.status = 'pending' "
     "  ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED) "
     "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, "
     "  next_attempt_at = now() + $3::bigint * interval '1 microsecond' "
     "FROM taken t, webhooks w WHERE d.id = t.id AND w.id = d.webhook_id "
     "RETURNING d.id, d.webhook_id::text, w.url, d.message_id, d.payload, d.attempts, "
     "  epoch_us(d.created_at), w.secret_sealed, CASE WHEN w.previous_secret_expires_at > now() "
     "  THEN COALESCE(w.previous_secret_sealed, '') ELSE '' END"},
    // Attempts: $1 ids, $2 HTTP statuses, $3 errors, $4 delivered, $5 retry
    // in µs (NULL: failed for good). An endpoint is disabled when one of its
    // deliveries failed for good and none succeeded since it was created.
    {"deliveries.record",
     "WITH a AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::boolean[], "
     "  $5::bigint[]) AS a(id, http_status, error, delivered, retry_us)), "
     "upd AS (UPDATE webhook_deliveries d SET "
     "  status = CASE WHEN a.delivered THEN 'delivered' WHEN a.retry_us IS NULL THEN 'failed' "
     "    ELSE 'pending' END, "
     "  delivered_at = CASE WHEN a.delivered THEN clock_timestamp() END, "
     "  next_attempt_at = CASE WHEN a.retry_us IS NOT NULL "
     "    THEN now() + a.retry_us * interval '1 microsecond' ELSE d.next_attempt_at END, "
     "  last_http_status = a.http_status, last_error = a.error "
     "  FROM a WHERE d.id = a.id AND d.status = 'pending' "
     "  RETURNING d.webhook_id, d.status, d.created_at), "
     "endpoints AS (SELECT webhook_id, bool_or(status = 'delivered') AS any_ok, "
     "  min(created_at) FILTER (WHERE status = 'failed') AS failed_created FROM upd "
     "  GROUP BY webhook_id), "
     // A busy endpoint's row is touched at most every 10 s: enough for the rule.
     "healthy AS (UPDATE webhooks w SET failing_since = NULL, last_delivered_at = now() "
     "  FROM endpoints e WHERE w.id = e.webhook_id AND e.any_ok AND (w.failing_since IS NOT NULL "
     "  OR w.last_delivered_at IS NULL OR w.last_delivered_at < now() - interval '10 seconds')), "
     "failing AS (UPDATE webhooks w SET failing_since = now() FROM endpoints e "
     "  WHERE w.id = e.webhook_id AND NOT e.any_ok AND w.failing_since IS NULL "
     "  AND e.failed_created IS NULL), "
     "gave_up AS (UPDATE webhooks w SET enabled = false, updated_at = now(), "
     "  failing_since = COALESCE(w.failing_since, now()), "
     "  disabled_reason = 'a delivery failed every attempt and nothing was delivered since it "
     "was made' "
     "  FROM endpoints e WHERE w.id = e.webhook_id AND NOT e.any_ok AND w.enabled "
     "  AND e.failed_created IS NOT NULL "
     "  AND (w.last_delivered_at IS NULL OR w.last_delivered_at < e.failed_created) "
     "  RETURNING w.id, w.url, w.failing_since), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT 'system', 'webhook.disabled', 'webhook:' || id, jsonb_build_object('url', url, "
     "    'failing_since', failing_since, 'reason', 'persistent failure') FROM gave_up) "
     "SELECT id::text FROM gave_up"},
    // The senders sleep: the next event wakes them (see webhook_senders).
    {"deliveries.idle", "UPDATE webhook_senders SET idle = true WHERE NOT idle"},
    {"deliveries.backlog",
     "SELECT count(*) FILTER (WHERE next_attempt_at <= now()), count(*), "
     "  (SELECT count(*) FROM webhooks WHERE NOT enabled) "
     "FROM webhook_deliveries WHERE status = 'pending'"},
};

#undef WARDEN_WEBHOOK_COLUMNS
#undef WARDEN_DELIVERY_COLUMNS

model::Webhook WebhookFromRow(const pqxx::row& row) {
  model::Webhook webhook;
  webhook.id = row[0].as<std::string>();
  webhook.url = row[1].as<std::string>();
  webhook.event_types =
      nlohmann::json::parse(row[2].as<std::string>()).get<std::vector<std::string>>();
  webhook.description = row[3].as<std::string>();
  webhook.enabled = row[4].as<bool>();
  webhook.disabled_reason = row[5].as<std::string>();
  webhook.created_at = TimeField(row[6]);
  webhook.updated_at = TimeField(row[7]);
  webhook.previous_secret_expires_at = OptionalTimeField(row[8]);
  webhook.failing_since = OptionalTimeField(row[9]);
  webhook.deliveries_pending = row[10].as<int64_t>();
  webhook.deliveries_failed = row[11].as<int64_t>();
  return webhook;
}

model::DeliveryStatus StatusFromName(const std::string& name) {
  if (name == "delivered") return model::DeliveryStatus::kDelivered;
  if (name == "failed") return model::DeliveryStatus::kFailed;
  return model::DeliveryStatus::kPending;
}

std::string StatusName(model::DeliveryStatus status) {
  switch (status) {
    case model::DeliveryStatus::kDelivered:
      return "delivered";
    case model::DeliveryStatus::kFailed:
      return "failed";
    case model::DeliveryStatus::kPending:
      break;
  }
  return "pending";
}

model::WebhookDelivery DeliveryFromRow(const pqxx::row& row) {
  model::WebhookDelivery delivery;
  delivery.id = row[0].as<int64_t>();
  delivery.webhook_id = row[1].as<std::string>();
  delivery.message_id = row[2].as<std::string>();
  delivery.event_type = row[3].as<std::string>();
  delivery.status = StatusFromName(row[4].as<std::string>());
  delivery.attempts = row[5].as<int>();
  delivery.created_at = TimeField(row[6]);
  delivery.next_attempt_at = TimeField(row[7]);
  delivery.delivered_at = OptionalTimeField(row[8]);
  delivery.last_http_status = row[9].as<int>();
  delivery.last_error = row[10].as<std::string>();
  delivery.payload = row[11].as<std::string>();
  return delivery;
}

absl::Status WebhookNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("webhook ", id, " not found"));
}

nlohmann::json WebhookJson(const model::Webhook& webhook) {
  return {{"url", webhook.url},
          {"event_types", webhook.event_types},
          {"description", webhook.description},
          {"enabled", webhook.enabled}};
}

}  // namespace

std::span<const Statement> WebhookStatements() { return kStatements; }

absl::StatusOr<model::Webhook> WebhookStore::Create(const model::Actor& actor,
                                                    const model::Webhook& webhook,
                                                    const std::string& secret_sealed) {
  return db_.Transact(
      {.operation = "create webhook"}, [&](pqxx::work& tx) -> absl::StatusOr<model::Webhook> {
        const std::string id =
            tx.exec_prepared1("webhooks.insert", webhook.url, PgTextArray(webhook.event_types),
                              webhook.description, secret_sealed)[0]
                .as<std::string>();
        model::Webhook created = WebhookFromRow(tx.exec_prepared1("webhooks.by_id", id));
        AppendAudit(tx, actor, "webhook.create", absl::StrCat("webhook:", id),
                    WebhookJson(created));
        return created;
      });
}

absl::StatusOr<model::Webhook> WebhookStore::Get(const std::string& id) {
  return db_.Autocommit({.operation = "get webhook", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::Webhook> {
                          pqxx::result rows = tx.exec_prepared("webhooks.by_id", id);
                          if (rows.empty()) return WebhookNotFound(id);
                          return WebhookFromRow(rows[0]);
                        });
}

absl::StatusOr<std::vector<model::Webhook>> WebhookStore::List() {
  return db_.Autocommit(
      {.operation = "list webhooks", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::Webhook>> {
        std::vector<model::Webhook> webhooks;
        for (const auto& row : tx.exec_prepared("webhooks.list")) {
          webhooks.push_back(WebhookFromRow(row));
        }
        return webhooks;
      });
}

absl::StatusOr<model::Webhook> WebhookStore::Update(const model::Actor& actor,
                                                    const std::string& id,
                                                    const model::WebhookChanges& changes) {
  return db_.Transact(
      {.operation = "update webhook"}, [&](pqxx::work& tx) -> absl::StatusOr<model::Webhook> {
        std::optional<std::string> types;
        if (changes.event_types) types = PgTextArray(*changes.event_types);
        if (tx.exec_prepared("webhooks.update", id, changes.url, types, changes.description,
                             changes.enabled, actor.name)
                .empty()) {
          return WebhookNotFound(id);
        }
        model::Webhook updated = WebhookFromRow(tx.exec_prepared1("webhooks.by_id", id));
        AppendAudit(tx, actor, "webhook.update", absl::StrCat("webhook:", id),
                    WebhookJson(updated));
        return updated;
      });
}

absl::Status WebhookStore::Delete(const model::Actor& actor, const std::string& id) {
  return db_.Transact({.operation = "delete webhook"}, [&](pqxx::work& tx) -> absl::Status {
    pqxx::result rows = tx.exec_prepared("webhooks.delete", id);
    if (rows.empty()) return WebhookNotFound(id);
    AppendAudit(tx, actor, "webhook.delete", absl::StrCat("webhook:", id),
                {{"url", rows[0][0].as<std::string>()}});
    return absl::OkStatus();
  });
}

absl::StatusOr<model::Webhook> WebhookStore::Rotate(const model::Actor& actor,
                                                    const std::string& id,
                                                    const std::string& secret_sealed,
                                                    absl::Duration previous_valid_for) {
  return db_.Transact({.operation = "rotate webhook secret"},
                      [&](pqxx::work& tx) -> absl::StatusOr<model::Webhook> {
                        if (tx.exec_prepared("webhooks.rotate", id, secret_sealed,
                                             absl::ToInt64Microseconds(previous_valid_for))
                                .empty()) {
                          return WebhookNotFound(id);
                        }
                        AppendAudit(
                            tx, actor, "webhook.rotate_secret", absl::StrCat("webhook:", id),
                            {{"previous_valid_for_s", absl::ToInt64Seconds(previous_valid_for)}});
                        return WebhookFromRow(tx.exec_prepared1("webhooks.by_id", id));
                      });
}

absl::StatusOr<std::vector<model::WebhookDelivery>> WebhookStore::Deliveries(
    const model::DeliveryFilter& filter) {
  return db_.Autocommit(
      {.operation = "list webhook deliveries", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::WebhookDelivery>> {
        std::vector<model::WebhookDelivery> deliveries;
        const std::string status = filter.status ? StatusName(*filter.status) : "";
        for (const auto& row : tx.exec_prepared("deliveries.list", filter.webhook_id, status,
                                                filter.before_id, filter.limit)) {
          deliveries.push_back(DeliveryFromRow(row));
        }
        return deliveries;
      });
}

absl::StatusOr<model::WebhookDelivery> WebhookStore::Redeliver(const model::Actor& actor,
                                                               int64_t delivery_id) {
  return db_.Transact(
      {.operation = "redeliver webhook"},
      [&](pqxx::work& tx) -> absl::StatusOr<model::WebhookDelivery> {
        if (tx.exec_prepared("deliveries.redeliver", delivery_id).empty()) {
          return absl::NotFoundError(absl::StrCat("delivery ", delivery_id, " not found"));
        }
        model::WebhookDelivery delivery =
            DeliveryFromRow(tx.exec_prepared1("deliveries.by_id", delivery_id));
        AppendAudit(tx, actor, "webhook.redeliver", absl::StrCat("webhook:", delivery.webhook_id),
                    {{"delivery_id", delivery_id}, {"message_id", delivery.message_id}});
        return delivery;
      });
}

absl::StatusOr<model::WebhookDelivery> WebhookStore::QueueTest(const model::Actor& actor,
                                                               const std::string& webhook_id) {
  return db_.Transact(
      {.operation = "test webhook"}, [&](pqxx::work& tx) -> absl::StatusOr<model::WebhookDelivery> {
        if (tx.exec_prepared("webhooks.by_id", webhook_id).empty()) {
          return WebhookNotFound(webhook_id);
        }
        const int64_t id =
            tx.exec_prepared1("deliveries.test", webhook_id, actor.name)[0].as<int64_t>();
        AppendAudit(tx, actor, "webhook.test", absl::StrCat("webhook:", webhook_id),
                    {{"delivery_id", id}});
        return DeliveryFromRow(tx.exec_prepared1("deliveries.by_id", id));
      });
}

namespace {

// deliveries.record's parameters: one array per column.
struct AttemptArrays {
  std::string ids, statuses, errors, delivered, retries;
};

AttemptArrays ToArrays(std::span<const model::DeliveryAttempt> attempts) {
  std::vector<int64_t> ids;
  std::vector<int> statuses;
  std::vector<std::string> errors, delivered, retries;
  for (const model::DeliveryAttempt& attempt : attempts) {
    ids.push_back(attempt.id);
    statuses.push_back(attempt.http_status);
    errors.push_back(attempt.error);
    delivered.push_back(attempt.delivered ? "true" : "false");
    retries.push_back(attempt.retry_in ? absl::StrCat(absl::ToInt64Microseconds(*attempt.retry_in))
                                       : "NULL");
  }
  return AttemptArrays{PgArray(ids), PgArray(statuses), PgTextArray(errors), PgArray(delivered),
                       PgArray(retries)};
}

model::DueDelivery DueFromRow(const pqxx::row& row) {
  return model::DueDelivery{.id = row[0].as<int64_t>(),
                            .webhook_id = row[1].as<std::string>(),
                            .url = row[2].as<std::string>(),
                            .message_id = row[3].as<std::string>(),
                            .payload = row[4].as<std::string>(),
                            .attempts = row[5].as<int>(),
                            .created_at = TimeField(row[6]),
                            .secret_sealed = row[7].as<std::string>(),
                            .previous_secret_sealed = row[8].as<std::string>()};
}

}  // namespace

absl::StatusOr<WebhookStore::Cycle> WebhookStore::RecordAndClaim(
    std::span<const model::DeliveryAttempt> attempts, const ClaimRequest& claim) {
  if (attempts.empty() && claim.limit <= 0) return Cycle{};
  const AttemptArrays recorded = ToArrays(attempts);
  return db_.Transact({.operation = "record and take webhook deliveries"},
                      [&](pqxx::work& tx) -> absl::StatusOr<Cycle> {
                        // Losing this bookkeeping in a crash costs a second attempt at
                        // most (delivery is at least once anyway): not worth a WAL flush
                        // per commit, which admissions would wait behind.
                        tx.exec0("SET LOCAL synchronous_commit = off");
                        Cycle cycle;
                        if (!attempts.empty()) {
                          for (const auto& row : tx.exec_prepared(
                                   "deliveries.record", recorded.ids, recorded.statuses,
                                   recorded.errors, recorded.delivered, recorded.retries)) {
                            cycle.disabled.push_back(row[0].as<std::string>());
                          }
                        }
                        if (claim.limit > 0) {
                          for (const auto& row : tx.exec_prepared(
                                   "deliveries.claim", claim.limit, claim.per_webhook,
                                   absl::ToInt64Microseconds(claim.lease),
                                   absl::StrCat("{", absl::StrJoin(claim.busy, ","), "}"))) {
                            cycle.due.push_back(DueFromRow(row));
                          }
                        }
                        return cycle;
                      });
}

absl::StatusOr<bool> WebhookStore::MarkSendersIdle() {
  return db_.Autocommit({.operation = "mark webhook senders idle"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<bool> {
                          return tx.exec_prepared0("deliveries.idle").affected_rows() > 0;
                        });
}

absl::StatusOr<WebhookStore::Backlog> WebhookStore::CountBacklog() {
  return db_.Autocommit({.operation = "count webhook backlog", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<Backlog> {
                          pqxx::row row = tx.exec_prepared1("deliveries.backlog");
                          return Backlog{.due = row[0].as<int64_t>(),
                                         .pending = row[1].as<int64_t>(),
                                         .endpoints_disabled = row[2].as<int64_t>()};
                        });
}

}  // namespace warden::control::store
