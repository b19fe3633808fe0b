#include "controlplane/store/statements.h"

#include "controlplane/store/api_key_store.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/credential_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/plan_store.h"
#include "controlplane/store/policy_store.h"
#include "controlplane/store/room_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/ticket_store.h"
#include "controlplane/store/usage_store.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {

std::vector<Statement> AllStatements() {
  std::vector<Statement> all;
  for (auto group : {UserStatements(), ApiKeyStatements(), AuditStatements(), NodeStatements(),
                     SessionStatements(), CommandStatements(), TicketStatements(),
                     AttachStatements(), DeviceStatements(), FamilyStatements(), RoomStatements(),
                     CredentialStatements(), PlanStatements(), PolicyStatements(),
                     UsageStatements(), WebhookStatements(), OidcStatements(), HistoryStatements()}) {
    all.insert(all.end(), group.begin(), group.end());
  }
  return all;
}

}  // namespace warden::control::store
