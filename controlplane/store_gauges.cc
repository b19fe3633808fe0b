#include "controlplane/store_gauges.h"

#include "common/logging.h"

namespace warden::control {

PoolMetricFamilies AddPoolMetricFamilies(metrics::Registry& registry) {
  return PoolMetricFamilies{
      .wait =
          &registry.AddHistogram("warden_db_pool_wait_seconds",
                                 "Time a caller waited for a free database connection.", {"pool"}),
      .failover_retries = &registry.AddCounter(
          "warden_db_failover_retries_total",
          "Database calls tried again after a pause while the database failed over.", {"pool"})};
}

void ObservePool(const PoolMetricFamilies& families, absl::string_view pool,
                 store::DatabaseOptions& options) {
  options.acquire_wait = &families.wait->With({pool});
  options.failover_retries = &families.failover_retries->With({pool});
}

void AddStoreGauges(metrics::Registry& registry, store::Database& db, store::Database* read_db,
                    store::SessionStore& sessions, int schema_version) {
  registry.AddGauge("warden_schema_version", "Database schema version (last applied migration).")
      .With({})
      .Set(schema_version);
  metrics::Family<metrics::Gauge>& pool_size = registry.AddGauge(
      "warden_db_pool_size",
      "Database connections a pool may open (its pool size for libpqxx and as many pipelined).",
      {"pool"});
  metrics::Family<metrics::Gauge>& connections =
      registry.AddGauge("warden_db_pool_connections",
                        "Open database connections by state (in_use, idle).", {"pool", "state"});
  metrics::Family<metrics::Gauge>& waiting = registry.AddGauge(
      "warden_db_pool_waiting", "Callers waiting for a database connection.", {"pool"});
  metrics::Family<metrics::Gauge>& live = registry.AddGauge(
      "warden_live_sessions",
      "Sessions not closed, fleet-wide, by protocol (the same on every replica).", {"protocol"});
  registry.OnScrape([&db, read_db, &sessions, pool_size = &pool_size, connections = &connections,
                     waiting = &waiting, live = &live, log = logging::Get("control.metrics")] {
    auto report = [&](absl::string_view pool, const store::Database& of) {
      const store::PoolStats stats = of.Stats();
      pool_size->With({pool}).Set(stats.size);
      connections->With({pool, "in_use"}).Set(stats.in_use);
      connections->With({pool, "idle"}).Set(stats.open - stats.in_use);
      waiting->With({pool}).Set(stats.waiting);
    };
    report("primary", db);
    if (read_db != nullptr) report("reads", *read_db);
    absl::StatusOr<std::map<std::string, int64_t>> counts = sessions.CountLiveByProtocol();
    if (!counts.ok()) {
      // Keep the last values: a scrape must not fail with the database.
      log->debug("cannot count live sessions: {}", counts.status().message());
      return;
    }
    for (const char* protocol : {"openvpn", "wireguard", "quic"}) {
      auto found = counts->find(protocol);
      live->With({protocol}).Set(found == counts->end() ? 0 : static_cast<double>(found->second));
    }
  });
}

}  // namespace warden::control
