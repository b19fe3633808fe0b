#include "controlplane/services/admin_service.h"

#include "common/logging.h"
#include "controlplane/services/convert.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.admin");

}  // namespace

AdminService::AdminService(AdminDependencies deps)
    : deps_(deps), unary_(Log, deps.db_workers, &deps.authenticator, /*nodes=*/nullptr) {}

void AdminService::NodeToProto(const model::Node& node, v1::Node* out) const {
  ToProto(node, out);
  out->set_online(node.state != model::NodeState::kRemoved && node.last_seen_at &&
                  absl::Now() - *node.last_seen_at < 3 * deps_.heartbeat_interval);
}

}  // namespace warden::control::services
