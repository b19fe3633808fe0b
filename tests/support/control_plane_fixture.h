#pragma once

// A real warden-control (in process, port 0) on a fresh real database.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "controlplane/control_plane.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/support/test_postgres.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::testing {

inline constexpr char kTestAdminKey[] =
    "wak_0000000000000000000000000000000000000000000000000000000000000001";

// Fast argon2id settings: tests check behaviour, not hash cost.
control::ControlPlaneConfig TestControlPlaneConfig(const std::string& database_url);

class ControlPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Adjusts the configuration SetUp starts the control plane with (e.g. a
  // small WireGuard address pool).
  virtual void ConfigureControlPlane(control::ControlPlaneConfig& config) { (void)config; }

  // Starts (or restarts) the control plane with `config`.
  void StartControlPlane(const control::ControlPlaneConfig& config);

  std::shared_ptr<grpc::Channel> Channel() const;
  // The first column of the first row of `sql` on the test's database (a
  // count, say), and a statement run there: what a test looks at or sets
  // up below the API.
  int64_t QueryInt(const std::string& sql) const;
  void ExecSql(const std::string& sql) const;
  // A sample of the control plane's metrics (as PrometheusText::Value; -1
  // when absent): what a test waits on to know that work has happened.
  double Metric(const std::string& name,
                const std::map<std::string, std::string>& labels = {}) const;
  std::unique_ptr<v1::AdminService::Stub> Admin() const;
  // The gRPC health status of `service` ("" = the server); UNKNOWN on RPC failure.
  int HealthStatus(const std::string& service = "") const;

  // A context that carries `key` as its bearer token and a 10 s deadline.
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& key = kTestAdminKey);

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<control::ControlPlane> control_;
};

}  // namespace warden::testing
