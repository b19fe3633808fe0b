#include "controlplane/store_gauges.h"

#include "common/logging.h"

namespace warden::control {

metrics::Histogram& AddPoolWaitHistogram(metrics::Registry& registry) {
  return registry
      .AddHistogram("warden_db_pool_wait_seconds",
                    "Time a caller waited for a free database connection.", {})
      .With({});
}

metrics::Counter& AddFailoverRetryCounter(metrics::Registry& registry) {
  return registry
      .AddCounter("warden_db_failover_retries_total",
                  "Database calls tried again after a pause while the database failed over.")
      .With({});
}

void AddStoreGauges(metrics::Registry& registry, store::Database& db, store::SessionStore& sessions,
                    int schema_version) {
  registry.AddGauge("warden_schema_version", "Database schema version (last applied migration).")
      .With({})
      .Set(schema_version);
  metrics::Gauge& pool_size =
      registry.AddGauge("warden_db_pool_size", "Database connections the pool may open (--db-pool-size libpqxx and as many pipelined).").With({});
  metrics::Family<metrics::Gauge>& connections =
      registry.AddGauge("warden_db_pool_connections",
                        "Open database connections by state (in_use, idle).", {"state"});
  metrics::Gauge& waiting =
      registry.AddGauge("warden_db_pool_waiting", "Callers waiting for a database connection.")
          .With({});
  metrics::Family<metrics::Gauge>& live = registry.AddGauge(
      "warden_live_sessions",
      "Sessions not closed, fleet-wide, by protocol (the same on every replica).", {"protocol"});
  registry.OnScrape([&db, &sessions, pool_size = &pool_size, connections = &connections,
                     waiting = &waiting, live = &live, log = logging::Get("control.metrics")] {
    const store::PoolStats stats = db.Stats();
    pool_size->Set(stats.size);
    connections->With({"in_use"}).Set(stats.in_use);
    connections->With({"idle"}).Set(stats.open - stats.in_use);
    waiting->Set(stats.waiting);
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
