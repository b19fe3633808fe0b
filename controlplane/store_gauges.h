#pragma once

// Gauges read from the store at scrape time: the connection pools, the
// schema version, and the fleet's live sessions by protocol. Live sessions
// are counted in PostgreSQL, so every replica reports the same fleet-wide
// number (aggregate with max, not sum). The pools' metrics carry a `pool`
// label: "primary", and "reads" for the --database-read-url pool.

#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "controlplane/store/database.h"
#include "controlplane/store/session_store.h"

namespace warden::control {

// The families a pool's waits and failover retries are counted in.
struct PoolMetricFamilies {
  metrics::Family<metrics::Histogram>* wait;
  metrics::Family<metrics::Counter>* failover_retries;
};
PoolMetricFamilies AddPoolMetricFamilies(metrics::Registry& registry);
// Points `options` at the pool's own series, before its Database is made.
void ObservePool(const PoolMetricFamilies& families, absl::string_view pool,
                 store::DatabaseOptions& options);

// `db`, `read_db` (null without a read pool) and `sessions` must outlive
// every scrape of `registry`.
void AddStoreGauges(metrics::Registry& registry, store::Database& db, store::Database* read_db,
                    store::SessionStore& sessions, int schema_version);

}  // namespace warden::control
