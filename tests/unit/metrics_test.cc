// The metrics registry's exposition and the /metrics, /healthz and /readyz HTTP server.

#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/metrics_server.h"
#include "tests/support/prometheus_text.h"

namespace warden::metrics {
namespace {

using ::testing::HasSubstr;
using warden::testing::PrometheusText;
using warden::testing::ScrapeMetrics;

TEST(MetricsTest, ExposesLabelledCountersInTheTextFormat) {
  Registry registry;
  Family<Counter>& admissions =
      registry.AddCounter("warden_admissions_total", "Admissions.", {"result", "reason"});
  admissions.With({"denied", "device_limit_reached"}).Increment();
  admissions.With({"denied", "device_limit_reached"}).Increment(2);
  admissions.With({"admitted", "none"}).Increment();

  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr("# HELP warden_admissions_total Admissions.\n"
                              "# TYPE warden_admissions_total counter\n"));
  EXPECT_THAT(text, HasSubstr("warden_admissions_total{result=\"denied\","
                              "reason=\"device_limit_reached\"} 3\n"));
  absl::StatusOr<PrometheusText> parsed = PrometheusText::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("warden_admissions_total", {{"result", "admitted"}, {"reason", "none"}}),
            1);
  EXPECT_EQ(parsed->Type("warden_admissions_total"), "counter");
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry registry;
  registry.AddGauge("warden_test_gauge", "line one\nback\\slash", {"name"})
      .With({"a \"quoted\" \\ name\nwith a newline"})
      .Set(1.5);
  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr("# HELP warden_test_gauge line one\\nback\\\\slash\n"));
  EXPECT_THAT(text, HasSubstr("{name=\"a \\\"quoted\\\" \\\\ name\\nwith a newline\"} 1.5\n"));
  absl::StatusOr<PrometheusText> parsed = PrometheusText::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("warden_test_gauge", {{"name", "a \"quoted\" \\ name\nwith a newline"}}),
            1.5);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInfAndSum) {
  Registry registry;
  Histogram& latency =
      registry.AddHistogram("warden_test_seconds", "Latency.", {}, {0.01, 0.1, 1}).With({});
  for (double value : {0.005, 0.01, 0.05, 0.5, 3.0}) latency.Observe(value);

  const std::string text = registry.Expose();
  EXPECT_THAT(text, HasSubstr("warden_test_seconds_bucket{le=\"0.01\"} 2\n"  // 0.01 is <= 0.01
                              "warden_test_seconds_bucket{le=\"0.10000000000000001\"} 3\n"
                              "warden_test_seconds_bucket{le=\"1\"} 4\n"
                              "warden_test_seconds_bucket{le=\"+Inf\"} 5\n"
                              "warden_test_seconds_sum 3.5649999999999999\n"
                              "warden_test_seconds_count 5\n"));
  absl::StatusOr<PrometheusText> parsed = PrometheusText::Parse(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Type("warden_test_seconds"), "histogram");
  EXPECT_EQ(parsed->Value("warden_test_seconds_count"), 5);
}

TEST(MetricsTest, FunctionsAndScrapeHooksAreReadAtExposition) {
  Registry registry;
  double queued = 4;
  registry.AddGaugeFunc("warden_test_queued", "Queued.", [&] { return queued; });
  registry.AddCounterFunc("warden_test_dropped_total", "Dropped.", [] { return 9.0; });
  Gauge& pool = registry.AddGauge("warden_test_pool", "Pool.").With({});
  int scrapes = 0;
  registry.OnScrape([&] { pool.Set(++scrapes); });

  queued = 7;
  absl::StatusOr<PrometheusText> parsed = PrometheusText::Parse(registry.Expose());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("warden_test_queued"), 7);
  EXPECT_EQ(parsed->Value("warden_test_dropped_total"), 9);
  EXPECT_EQ(parsed->Type("warden_test_dropped_total"), "counter");
  EXPECT_EQ(parsed->Value("warden_test_pool"), 1);
}

TEST(MetricsTest, RefusesDuplicateNamesAndWrongLabelCounts) {
  Registry registry;
  Family<Counter>& family = registry.AddCounter("warden_test_total", "Test.", {"kind"});
  EXPECT_THROW(registry.AddGauge("warden_test_total", "Again."), std::invalid_argument);
  EXPECT_THROW(family.With({"a", "b"}), std::invalid_argument);
  EXPECT_THROW(registry.AddHistogram("warden_test_bad_seconds", "Bad.", {}, {1, 0.5}).With({}),
               std::invalid_argument);
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  Registry registry;
  Family<Counter>& family = registry.AddCounter("warden_test_total", "Test.", {"thread"});
  Histogram& histogram = registry.AddHistogram("warden_test_seconds", "Test.", {}).With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family.With({t % 2 == 0 ? "even" : "odd"}).Increment();
        histogram.Observe(0.001);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(family.With({"even"}).value() + family.With({"odd"}).value(), 40000);
  EXPECT_EQ(histogram.count(), 40000u);
}

TEST(MetricsServerTest, ServesMetricsOverHttpOnPortZero) {
  Registry registry;
  registry.AddCounter("warden_test_total", "Test.").With({}).Increment(3);
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);

  absl::StatusOr<PrometheusText> scraped = ScrapeMetrics((*server)->port());
  ASSERT_TRUE(scraped.ok()) << scraped.status();
  EXPECT_EQ(scraped->Value("warden_test_total"), 3);

  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result other = client.Get("/admin");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

TEST(MetricsServerTest, AnswersHealthAlwaysAndReadinessAsToldLive) {
  Registry registry;
  std::atomic<bool> ready{false};
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("127.0.0.1:0", registry, [&ready] { return ready.load(); });
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Client client("127.0.0.1", (*server)->port());
  httplib::Result health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Result not_ready = client.Get("/readyz");
  ASSERT_TRUE(not_ready);
  EXPECT_EQ(not_ready->status, 503);
  ready.store(true);
  httplib::Result now_ready = client.Get("/readyz");
  ASSERT_TRUE(now_ready);
  EXPECT_EQ(now_ready->status, 200);

  absl::StatusOr<std::unique_ptr<MetricsServer>> plain =
      MetricsServer::Start("127.0.0.1:0", registry);  // no readiness: always ready
  ASSERT_TRUE(plain.ok()) << plain.status();
  httplib::Result plain_ready = httplib::Client("127.0.0.1", (*plain)->port()).Get("/readyz");
  ASSERT_TRUE(plain_ready);
  EXPECT_EQ(plain_ready->status, 200);
}

// A template that cannot know the address family (Kubernetes' status.hostIP
// in the chart) puts the address in brackets: an IPv4 one binds too.
TEST(MetricsServerTest, TakesAnyAddressInBrackets) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsServer>> server =
      MetricsServer::Start("[127.0.0.1]:0", registry);
  ASSERT_TRUE(server.ok()) << server.status();
  httplib::Result health = httplib::Client("127.0.0.1", (*server)->port()).Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(MetricsServerTest, ReportsBadAndTakenAddresses) {
  Registry registry;
  absl::StatusOr<std::unique_ptr<MetricsServer>> no_port =
      MetricsServer::Start("localhost", registry);
  EXPECT_EQ(no_port.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_port.status().message()), HasSubstr("host:port"));
  EXPECT_EQ(MetricsServer::Start("127.0.0.1:70000", registry).status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::unique_ptr<MetricsServer>> first =
      MetricsServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<MetricsServer>> second =
      MetricsServer::Start(absl::StrCat("127.0.0.1:", (*first)->port()), registry);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen for /metrics"));
}

}  // namespace
}  // namespace warden::metrics
