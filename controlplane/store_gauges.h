#pragma once

// Gauges read from the store at scrape time: the connection pool, the schema
// version, and the fleet's live sessions by protocol. Live sessions are
// counted in PostgreSQL, so every replica reports the same fleet-wide number
// (aggregate with max, not sum).

#include "common/metrics.h"
#include "controlplane/store/database.h"
#include "controlplane/store/session_store.h"

namespace warden::control {

// The pool's wait histogram, created before the Database that observes it.
metrics::Histogram& AddPoolWaitHistogram(metrics::Registry& registry);
// Counts the database calls retried through a failover.
metrics::Counter& AddFailoverRetryCounter(metrics::Registry& registry);

// `db` and `sessions` must outlive every scrape of `registry`.
void AddStoreGauges(metrics::Registry& registry, store::Database& db, store::SessionStore& sessions,
                    int schema_version);

}  // namespace warden::control
