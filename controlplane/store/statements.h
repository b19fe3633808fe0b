#pragma once

#include <span>
#include <vector>

#include "controlplane/store/database.h"

namespace warden::control::store {

// Every prepared statement of every repository, registered on each new
// connection of the pool.
std::vector<Statement> AllStatements();

// Each repository's statements (in its .cc).
std::span<const Statement> ApiKeyStatements();
std::span<const Statement> AttachStatements();
std::span<const Statement> AuditStatements();
std::span<const Statement> CommandStatements();
std::span<const Statement> CredentialStatements();
std::span<const Statement> DeviceStatements();
std::span<const Statement> FamilyStatements();
std::span<const Statement> HistoryStatements();
std::span<const Statement> NodeStatements();
std::span<const Statement> OidcStatements();
std::span<const Statement> PlanStatements();
std::span<const Statement> PolicyStatements();
std::span<const Statement> RoomStatements();
std::span<const Statement> SessionStatements();
std::span<const Statement> TicketStatements();
std::span<const Statement> UsageStatements();
std::span<const Statement> UserStatements();
std::span<const Statement> WebhookStatements();

}  // namespace warden::control::store
