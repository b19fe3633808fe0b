#include "tests/support/admission_race.h"

#include <atomic>
#include <memory>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"

namespace warden::testing {

void FourNodeFleetTest::SetUp() {
  db_ = TestPostgres::Shared().CreateDatabase();
  control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
  config.db_pool_size = 8;
  StartControlPlane(config);
  fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  for (const char* name : {"ams-1", "fra-2", "lon-3", "nyc-4"}) {
    nodes_.push_back(fleet_->CreateNode(name));
  }
}

RaceOutcome RunAdmissionRace(FleetClient& fleet, const std::vector<TestNode>& nodes,
                             const std::string& username, int per_node,
                             const std::string& database_url) {
  struct Call {
    std::unique_ptr<grpc::ClientContext> context;
    v1::AdmitRequest request;
    v1::AdmitResponse response;
  };
  std::vector<Call> calls(nodes.size() * per_node);
  absl::BlockingCounter pending(static_cast<int>(calls.size()));
  std::atomic<int> admitted{0}, denied{0}, errors{0};
  for (size_t i = 0; i < calls.size(); ++i) {
    const TestNode& node = nodes[i % nodes.size()];
    Call& call = calls[i];
    call.context = FleetClient::NodeContext(node.credential);
    call.request.set_protocol(v1::WIREGUARD);
    call.request.set_session_key(absl::StrCat("race:", username, ":", i));
    call.request.mutable_asserted_user()->set_username(username);
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    Call& call = calls[i];
    fleet.agent().async()->Admit(call.context.get(), &call.request, &call.response,
                                 [&, i](grpc::Status status) {
                                   if (!status.ok()) {
                                     errors.fetch_add(1);
                                   } else if (calls[i].response.has_admitted()) {
                                     admitted.fetch_add(1);
                                   } else {
                                     denied.fetch_add(1);
                                   }
                                   pending.DecrementCount();
                                 });
  }
  pending.Wait();

  RaceOutcome outcome{
      .admitted = admitted.load(), .denied = denied.load(), .rpc_errors = errors.load()};
  pqxx::connection connection(database_url);
  pqxx::nontransaction tx(connection);
  pqxx::row row = tx.exec_params1(
      "SELECT count(*) FILTER (WHERE s.state = 'active'), "
      "count(*) FILTER (WHERE s.state <> 'active'), "
      "(SELECT count(*) FROM commands c JOIN sessions k ON k.id = c.session_id "
      "   WHERE k.user_id = u.id), "
      "(SELECT count(DISTINCT c.session_id) FROM commands c JOIN sessions k ON k.id = c.session_id "
      "   WHERE k.user_id = u.id), "
      "(SELECT count(*) FROM commands c JOIN sessions k ON k.id = c.session_id "
      "   WHERE k.user_id = u.id AND k.state = 'active') "
      "FROM users u LEFT JOIN sessions s ON s.user_id = u.id WHERE u.username = $1 "
      "GROUP BY u.id",
      username);
  outcome.active = row[0].as<int64_t>();
  outcome.closing_or_closed = row[1].as<int64_t>();
  outcome.kill_commands = row[2].as<int64_t>();
  outcome.sessions_killed = row[3].as<int64_t>();
  outcome.kills_of_active = row[4].as<int64_t>();
  return outcome;
}

}  // namespace warden::testing
