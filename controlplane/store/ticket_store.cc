#include "controlplane/store/ticket_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// pg_advisory_xact_lock key serialising the outstanding-ticket count check.
constexpr int64_t kTicketLockKey = 0x7761726465'6e746b;

constexpr Statement kStatements[] = {
    {"tickets.expire",
     "DELETE FROM tickets WHERE kind = $1 AND used_at IS NULL AND expires_at <= now()"},
    {"tickets.outstanding",
     "SELECT count(*) FROM tickets WHERE kind = $1 AND used_at IS NULL AND expires_at > now()"},
    // $5 protocols ('' = not given), $6 trusted authenticator.
    {"tickets.insert_enroll",
     "INSERT INTO tickets (hash, kind, node_name, created_by, expires_at, protocols, "
     "trusted_authenticator) "
     "VALUES (decode($1, 'hex'), 'enroll', $2, $3, now() + $4 * interval '1 second', "
     "string_to_array(NULLIF($5, ''), ',')::text[], $6) "
     "RETURNING epoch_us(expires_at)"},
    // The one redeem: whoever runs it first gets the row, everyone after
    // gets nothing, whatever the timing. $2: SHA-256 of the request id.
    {"tickets.redeem_enroll",
     "UPDATE tickets SET used_at = now(), redeemed_by = decode(NULLIF($2, ''), 'hex') "
     "WHERE hash = decode($1, 'hex') AND kind = 'enroll' "
     "AND used_at IS NULL AND expires_at > now() "
     "RETURNING node_name, protocols IS NOT NULL, array_to_string(protocols, ','), "
     "trusted_authenticator"},
    // The same agent again, its answer lost: the same request id within ten
    // minutes of the redeem.
    {"tickets.retry_enroll",
     "SELECT node_name, protocols IS NOT NULL, array_to_string(protocols, ','), "
     "trusted_authenticator FROM tickets "
     "WHERE hash = decode($1, 'hex') AND kind = 'enroll' AND used_at > now() - interval '10 "
     "minutes' "
     "AND redeemed_by = decode(NULLIF($2, ''), 'hex') FOR UPDATE"},
    // $5 whether the ticket names protocols, $6 them, $7 trusted.
    {"enroll.rotate",
     "UPDATE nodes SET credential_hash = decode($2, 'hex'), hostname = $3, agent_version = $4, "
     "protocols = CASE WHEN $5 THEN string_to_array(NULLIF($6, ''), ',')::text[] ELSE protocols "
     "END, trusted_authenticator = $7, updated_at = now() "
     "WHERE name = $1 AND state <> 'removed' RETURNING id::text"},
    {"enroll.create",
     "INSERT INTO nodes (name, credential_hash, hostname, agent_version, protocols, "
     "trusted_authenticator) "
     "VALUES ($1, decode($2, 'hex'), $3, $4, "
     "COALESCE(string_to_array(NULLIF($5, ''), ',')::text[], '{}'), $6) "
     "RETURNING id::text"},
    {"tickets.sweep",
     "DELETE FROM tickets WHERE (used_at IS NULL AND expires_at <= now()) "
     "OR used_at < now() - interval '1 day'"},
};

}  // namespace

std::span<const Statement> TicketStatements() { return kStatements; }

absl::StatusOr<absl::Time> TicketStore::CreateEnrollmentTicket(const model::Actor& actor,
                                                               const EnrollmentGrant& grant,
                                                               const std::string& ticket_hash_hex,
                                                               absl::Duration ttl) {
  const std::string& node_name = grant.node_name;
  std::vector<std::string> protocol_names;
  for (model::Protocol protocol : grant.protocols)
    protocol_names.emplace_back(ProtocolName(protocol));
  const std::string protocols = absl::StrJoin(protocol_names, ",");
  return db_.Transact(
      {.operation = "create enrolment ticket"}, [&](pqxx::work& tx) -> absl::StatusOr<absl::Time> {
        tx.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kTicketLockKey, ")"));
        tx.exec_prepared("tickets.expire", "enroll");
        const int64_t outstanding =
            tx.exec_prepared1("tickets.outstanding", "enroll")[0].as<int64_t>();
        if (outstanding >= kMaxOutstandingEnrollmentTickets) {
          return absl::ResourceExhaustedError(absl::StrCat(
              "there are already ", outstanding,
              " unused enrolment tickets; use or let some expire before creating more"));
        }
        const absl::Time expires = TimeField(tx.exec_prepared1(
            "tickets.insert_enroll", ticket_hash_hex, node_name, actor.name,
            absl::ToInt64Seconds(ttl), protocols, grant.trusted_authenticator)[0]);
        AppendAudit(tx, actor, "node.enrollment_ticket", absl::StrCat("node_name:", node_name),
                    {{"node_name", node_name},
                     {"expires_at_us", absl::ToUnixMicros(expires)},
                     {"protocols", protocols},
                     {"trusted_authenticator", grant.trusted_authenticator}});
        return expires;
      });
}

absl::StatusOr<EnrolledNode> TicketStore::Enroll(const std::string& ticket_hash_hex,
                                                 const std::string& request_hash_hex,
                                                 const std::string& credential_hash_hex,
                                                 const NodeFactsRecord& facts,
                                                 const NodeNameCheck& check_name) {
  return db_.Transact(
      {.operation = "enrol node"}, [&](pqxx::work& tx) -> absl::StatusOr<EnrolledNode> {
        EnrolledNode node;
        pqxx::result redeemed =
            tx.exec_prepared("tickets.redeem_enroll", ticket_hash_hex, request_hash_hex);
        if (redeemed.empty() && !request_hash_hex.empty()) {
          redeemed = tx.exec_prepared("tickets.retry_enroll", ticket_hash_hex, request_hash_hex);
          node.retried = !redeemed.empty();
        }
        if (redeemed.empty()) {
          return absl::UnauthenticatedError(
              "the enrolment ticket is unknown, already used or expired; ask for a new one");
        }
        node.node_name = redeemed[0][0].as<std::string>();
        const bool names_protocols = redeemed[0][1].as<bool>();
        const std::string protocols =
            redeemed[0][2].is_null() ? "" : redeemed[0][2].as<std::string>();
        node.trusted_authenticator = redeemed[0][3].as<bool>();
        // Refused here, the transaction rolls back: the ticket stays unused.
        if (absl::Status allowed = check_name(node.node_name); !allowed.ok()) return allowed;
        pqxx::result rotated = tx.exec_prepared(
            "enroll.rotate", node.node_name, credential_hash_hex, facts.hostname,
            facts.agent_version, names_protocols, protocols, node.trusted_authenticator);
        if (!rotated.empty()) {
          node.node_id = rotated[0][0].as<std::string>();
          node.reenrolled = true;
        } else {
          node.node_id = tx.exec_prepared1("enroll.create", node.node_name, credential_hash_hex,
                                           facts.hostname, facts.agent_version, protocols,
                                           node.trusted_authenticator)[0]
                             .as<std::string>();
        }
        AppendAudit(tx, model::Actor{node.node_name},
                    node.reenrolled ? "node.reenroll" : "node.enroll",
                    absl::StrCat("node:", node.node_id),
                    {{"hostname", facts.hostname},
                     {"agent_version", facts.agent_version},
                     {"retry_after_lost_answer", node.retried},
                     {"trusted_authenticator", node.trusted_authenticator}});
        return node;
      });
}

absl::StatusOr<int64_t> TicketStore::Sweep() {
  return db_.Autocommit(
      {.operation = "sweep tickets"}, [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
        return static_cast<int64_t>(tx.exec_prepared("tickets.sweep").affected_rows());
      });
}

}  // namespace warden::control::store
