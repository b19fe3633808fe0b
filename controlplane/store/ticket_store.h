#pragma once

#include <span>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/session.h"

namespace warden::control::store {

class Database;

inline constexpr int kMaxOutstandingEnrollmentTickets = 1000;

struct EnrolledNode {
  std::string node_id;
  std::string node_name;
  bool reenrolled = false;  // the node existed; its credential was replaced
  bool retried = false;     // the same agent again, after a lost answer
  bool trusted_authenticator = false;
};

// What an enrolment ticket grants the node it enrols.
struct EnrollmentGrant {
  std::string node_name;
  // Empty: a new node may carry any protocol, an existing one keeps its own.
  std::vector<model::Protocol> protocols;
  bool trusted_authenticator = false;
};

// What an agent says of itself when it enrols: recorded, never trusted.
struct NodeFactsRecord {
  std::string hostname;
  std::string agent_version;
};

// Single-use tickets, stored only as SHA-256 and redeemed atomically.
class TicketStore {
 public:
  explicit TicketStore(Database& db) : db_(db) {}

  // RESOURCE_EXHAUSTED beyond kMaxOutstandingEnrollmentTickets unused,
  // unexpired tickets (expired ones are removed first).
  absl::StatusOr<absl::Time> CreateEnrollmentTicket(const model::Actor& actor,
                                                    const EnrollmentGrant& grant,
                                                    const std::string& ticket_hash_hex,
                                                    absl::Duration ttl);

  // Redeems the ticket (at most once, ever) and creates its node, or gives an
  // existing node of that name the new credential, with the protocols and
  // trust the ticket grants (the agent's facts only describe it).
  // UNAUTHENTICATED for an unknown, used or expired ticket, except that the
  // agent that redeemed it (the same `request_hash_hex`, the SHA-256 of its
  // request id; "" = none) may redeem it again within ten minutes, after a
  // lost answer: the node then gets this newer credential.
  // `check_name` may refuse the ticket's node (its status is returned and
  // the ticket stays unused), e.g. for a client certificate naming another.
  using NodeNameCheck = absl::FunctionRef<absl::Status(const std::string& node_name)>;
  absl::StatusOr<EnrolledNode> Enroll(const std::string& ticket_hash_hex,
                                      const std::string& request_hash_hex,
                                      const std::string& credential_hash_hex,
                                      const NodeFactsRecord& facts,
                                      const NodeNameCheck& check_name);

  // Removes expired tickets, and used ones after a day; returns how many.
  absl::StatusOr<int64_t> Sweep();

 private:
  Database& db_;
};

}  // namespace warden::control::store
