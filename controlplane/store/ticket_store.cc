#include "controlplane/store/ticket_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"

namespace warden::control::store {
namespace {

// pg_advisory_xact_lock key serialising the outstanding-ticket count check.
constexpr int64_t kTicketLockKey = 0x7761726465'6e746b;

constexpr Statement kStatements[] = {
    {"tickets.expire",
     "DELETE FROM tickets WHERE kind = $1 AND used_at IS NULL AND expires_at <= now()"},
    {"tickets.outstanding",
     "SELECT count(*) FROM tickets WHERE kind = $1 AND used_at IS NULL AND expires_at > now()"},
    {"tickets.insert_enroll",
     "INSERT INTO tickets (hash, kind, node_name, created_by, expires_at) "
     "VALUES (decode($1, 'hex'), 'enroll', $2, $3, now() + $4 * interval '1 second') "
     "RETURNING epoch_us(expires_at)"},
    // The one redeem: whoever runs it first gets the row, everyone after
    // gets nothing, whatever the timing.
    {"tickets.redeem_enroll",
     "UPDATE tickets SET used_at = now() WHERE hash = decode($1, 'hex') AND kind = 'enroll' "
     "AND used_at IS NULL AND expires_at > now() RETURNING node_name"},
    {"enroll.rotate",
     "UPDATE nodes SET credential_hash = decode($2, 'hex'), hostname = $3, agent_version = $4, "
     "protocols = CASE WHEN $5 = '' THEN protocols ELSE string_to_array($5, ',')::text[] END, "
     "updated_at = now() WHERE name = $1 AND state <> 'removed' RETURNING id::text"},
    {"enroll.create",
     "INSERT INTO nodes (name, credential_hash, hostname, agent_version, protocols) "
     "VALUES ($1, decode($2, 'hex'), $3, $4, string_to_array($5, ',')::text[]) "
     "RETURNING id::text"},
    {"tickets.sweep",
     "DELETE FROM tickets WHERE (used_at IS NULL AND expires_at <= now()) "
     "OR used_at < now() - interval '1 day'"},
};

}  // namespace

std::span<const Statement> TicketStatements() { return kStatements; }

absl::StatusOr<absl::Time> TicketStore::CreateEnrollmentTicket(const model::Actor& actor,
                                                               const std::string& node_name,
                                                               const std::string& ticket_hash_hex,
                                                               absl::Duration ttl) {
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
        const absl::Time expires =
            TimeField(tx.exec_prepared1("tickets.insert_enroll", ticket_hash_hex, node_name,
                                        actor.name, absl::ToInt64Seconds(ttl))[0]);
        AppendAudit(tx, actor, "node.enrollment_ticket", absl::StrCat("node_name:", node_name),
                    {{"node_name", node_name}, {"expires_at_us", absl::ToUnixMicros(expires)}});
        return expires;
      });
}

absl::StatusOr<EnrolledNode> TicketStore::Enroll(const std::string& ticket_hash_hex,
                                                 const std::string& credential_hash_hex,
                                                 const NodeFactsRecord& facts,
                                                 const NodeNameCheck& check_name) {
  std::vector<std::string> protocols;
  for (model::Protocol protocol : facts.protocols) protocols.emplace_back(ProtocolName(protocol));
  const std::string protocol_list = absl::StrJoin(protocols, ",");
  return db_.Transact(
      {.operation = "enrol node"}, [&](pqxx::work& tx) -> absl::StatusOr<EnrolledNode> {
        pqxx::result redeemed = tx.exec_prepared("tickets.redeem_enroll", ticket_hash_hex);
        if (redeemed.empty()) {
          return absl::UnauthenticatedError(
              "the enrolment ticket is unknown, already used or expired; ask for a new one");
        }
        EnrolledNode node;
        node.node_name = redeemed[0][0].as<std::string>();
        // Refused here, the transaction rolls back: the ticket stays unused.
        if (absl::Status allowed = check_name(node.node_name); !allowed.ok()) return allowed;
        pqxx::result rotated =
            tx.exec_prepared("enroll.rotate", node.node_name, credential_hash_hex, facts.hostname,
                             facts.agent_version, protocol_list);
        if (!rotated.empty()) {
          node.node_id = rotated[0][0].as<std::string>();
          node.reenrolled = true;
        } else {
          node.node_id = tx.exec_prepared1("enroll.create", node.node_name, credential_hash_hex,
                                           facts.hostname, facts.agent_version, protocol_list)[0]
                             .as<std::string>();
        }
        AppendAudit(tx, model::Actor{node.node_name},
                    node.reenrolled ? "node.reenroll" : "node.enroll",
                    absl::StrCat("node:", node.node_id),
                    {{"hostname", facts.hostname}, {"agent_version", facts.agent_version}});
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
