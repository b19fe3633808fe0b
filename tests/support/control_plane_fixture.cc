#include "tests/support/control_plane_fixture.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/prometheus_text.h"

namespace warden::testing {

control::ControlPlaneConfig TestControlPlaneConfig(const std::string& database_url) {
  control::ControlPlaneConfig config;
  config.listen = "127.0.0.1:0";
  config.insecure = true;  // TLS has tests of its own
  config.database_url = database_url;
  config.db_pool_size = 4;
  config.admin_key = kTestAdminKey;
  config.password_cost = {.ops_limit = 1, .mem_limit_bytes = 1 << 20};
  config.password_threads = 2;
  config.health_interval = absl::Milliseconds(100);
  config.db_wait = absl::Seconds(5);
  config.signal_drain = absl::Milliseconds(500);
  return config;
}

void ControlPlaneTest::SetUp() {
  db_ = TestPostgres::Shared().CreateDatabase();
  control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
  ConfigureControlPlane(config);
  StartControlPlane(config);
}

void ControlPlaneTest::TearDown() {
  control_.reset();
  db_.reset();
}

void ControlPlaneTest::StartControlPlane(const control::ControlPlaneConfig& config) {
  control_.reset();
  auto started = control::ControlPlane::Start(config);
  ASSERT_TRUE(started.ok()) << started.status();
  control_ = *std::move(started);
}

int64_t ControlPlaneTest::QueryInt(const std::string& sql) const { return db_->QueryInt(sql); }

void ControlPlaneTest::ExecSql(const std::string& sql) const { db_->Exec(sql); }

double ControlPlaneTest::Metric(const std::string& name,
                                const std::map<std::string, std::string>& labels) const {
  absl::StatusOr<PrometheusText> parsed = PrometheusText::Parse(control_->metrics().Expose());
  return parsed.ok() ? parsed->Value(name, labels) : -1;
}

std::shared_ptr<grpc::Channel> ControlPlaneTest::Channel() const {
  return grpc::CreateChannel(absl::StrCat("127.0.0.1:", control_->port()),
                             grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::AdminService::Stub> ControlPlaneTest::Admin() const {
  return v1::AdminService::NewStub(Channel());
}

int ControlPlaneTest::HealthStatus(const std::string& service) const {
  auto health = grpc::health::v1::Health::NewStub(Channel());
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  if (!health->Check(&context, request, &response).ok()) {
    return grpc::health::v1::HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

std::unique_ptr<grpc::ClientContext> ControlPlaneTest::Context(const std::string& key) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", key));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return context;
}

}  // namespace warden::testing
