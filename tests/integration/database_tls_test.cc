// TLS between warden-control and PostgreSQL: a cluster of the test's own
// serving a certificate from a CA the test makes; the control plane started
// with sslmode=verify-full reports what it got, and refuses a server its CA
// file does not vouch for.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "controlplane/control_plane.h"
#include "controlplane/store/database.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/test_ca.h"
#include "tests/support/test_postgres.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class DatabaseTlsTest : public ::testing::Test {
 protected:
  // One TLS cluster for the suite: starting one takes a few seconds.
  static void SetUpTestSuite() {
    if (!TestCa::UnusableReason().empty()) return;
    ca_ = new TestCa();
    ASSERT_TRUE(ca_->Create().ok());
    absl::StatusOr<TestCa::Files> server = ca_->Server();
    ASSERT_TRUE(server.ok()) << server.status();
    other_ca_ = new TestCa();
    ASSERT_TRUE(other_ca_->Create().ok());
    cluster_ = TestPostgres::StartPrivate().release();
    cluster_->ServeTls(server->cert, server->key);
  }
  static void TearDownTestSuite() {
    delete cluster_;
    delete other_ca_;
    delete ca_;
    cluster_ = nullptr;
    other_ca_ = nullptr;
    ca_ = nullptr;
  }
  void SetUp() override {
    if (std::string why = TestCa::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(cluster_, nullptr);
    db_ = cluster_->CreateDatabase();
  }

  std::string VerifyFullUrl(const TestCa& ca) const {
    return absl::StrCat(db_->url(), "?sslmode=verify-full&sslrootcert=", ca.ca_cert());
  }

  static TestCa* ca_;
  static TestCa* other_ca_;
  static TestPostgres* cluster_;
  std::unique_ptr<TestDatabase> db_;
};

TestCa* DatabaseTlsTest::ca_ = nullptr;
TestCa* DatabaseTlsTest::other_ca_ = nullptr;
TestPostgres* DatabaseTlsTest::cluster_ = nullptr;

TEST_F(DatabaseTlsTest, VerifyFullWithTheRightCaConnectsAndSaysSo) {
  absl::StatusOr<control::store::DatabaseTls> tls = control::store::InspectTls(VerifyFullUrl(*ca_));
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_TRUE(tls->encrypted);
  EXPECT_TRUE(tls->verified);
  EXPECT_TRUE(tls->host_verified);
  EXPECT_EQ(tls->sslmode, "verify-full");
  EXPECT_THAT(tls->protocol, HasSubstr("TLS"));
  EXPECT_FALSE(tls->cipher.empty());
  EXPECT_EQ(control::store::TlsWarning(*tls), "");

  auto started = control::ControlPlane::Start(TestControlPlaneConfig(VerifyFullUrl(*ca_)));
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_THAT((*started)->metrics().Expose(),
              HasSubstr("warden_database_tls{sslmode=\"verify-full\",encrypted=\"true\","
                        "verified=\"certificate+host\"} 1"));
}

TEST_F(DatabaseTlsTest, AWrongCaStopsStartUpAtOnceWithAClearError) {
  control::ControlPlaneConfig config = TestControlPlaneConfig(VerifyFullUrl(*other_ca_));
  config.db_wait = absl::Seconds(30);
  const absl::Time start = absl::Now();
  auto started = control::ControlPlane::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kFailedPrecondition) << started.status();
  EXPECT_THAT(started.status().message(), HasSubstr("TLS to the database failed"));
  EXPECT_THAT(started.status().message(), HasSubstr("sslmode=verify-full"));
  EXPECT_THAT(started.status().message(), HasSubstr("certificate"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "a certificate that fails is not retried";
}

TEST_F(DatabaseTlsTest, TheDefaultModeIsReportedAsUnverifiedAndWarnsForARemoteHost) {
  // libpq's default (prefer) takes TLS when offered and checks nothing.
  absl::StatusOr<control::store::DatabaseTls> tls = control::store::InspectTls(db_->url());
  ASSERT_TRUE(tls.ok()) << tls.status();
  EXPECT_EQ(tls->sslmode, "prefer");
  EXPECT_TRUE(tls->encrypted);
  EXPECT_FALSE(tls->verified);
  EXPECT_TRUE(tls->local);
  EXPECT_EQ(control::store::TlsWarning(*tls), "") << "loopback is not worth a warning";
  control::store::DatabaseTls remote = *tls;
  remote.host = "db.example.net";
  remote.local = false;
  EXPECT_THAT(control::store::TlsWarning(remote), HasSubstr("not authenticated"));
  remote.encrypted = false;
  EXPECT_THAT(control::store::TlsWarning(remote), HasSubstr("NOT encrypted"));
  EXPECT_THAT(control::store::DescribeTls(*tls), HasSubstr("sslmode=prefer encrypted=yes"));
}

TEST_F(DatabaseTlsTest, RequiringTlsFromAServerWithoutItFailsClearly) {
  auto plain = TestPostgres::Shared().CreateDatabase(/*migrated=*/false);
  absl::StatusOr<control::store::DatabaseTls> tls =
      control::store::InspectTls(absl::StrCat(plain->url(), "?sslmode=require"));
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), absl::StatusCode::kFailedPrecondition) << tls.status();
  EXPECT_THAT(tls.status().message(), HasSubstr("SSL"));
}

}  // namespace
}  // namespace warden::testing
