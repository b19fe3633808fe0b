#pragma once

// The health check's own connection to PostgreSQL. Its round trip is driven
// through libpq's non-blocking calls so that it ends by its deadline: a
// blocking one waits as long as TCP does, which for a host that stops
// answering (a partition, a frozen server) is many minutes, and a replica
// that cannot tell it has lost its database keeps its agents and its place
// behind the load balancer. Connecting blocks instead, because only then
// does libpq apply connect_timeout, to each host of a multi-host URL in turn:
// asynchronously it applies none, and a hung first host would hold every
// check until the deadline, never reaching the primary that replaced it.

#include <libpq-fe.h>

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace warden::control::store {

class PingConnection {
 public:
  explicit PingConnection(std::string connection_string);
  ~PingConnection();

  PingConnection(const PingConnection&) = delete;
  PingConnection& operator=(const PingConnection&) = delete;

  // Connects when needed (within connect_timeout per host), then one round
  // trip within `timeout`. A failure or a timeout drops the connection: the
  // next check starts afresh.
  absl::Status Ping(absl::Duration timeout);

 private:
  absl::Status Connect();
  absl::Status RoundTrip(absl::Time deadline);
  absl::Status AwaitSocket(bool writable, absl::Time deadline);
  absl::Status Failure(absl::string_view what) const;
  void Drop();

  const std::string connection_string_;
  PGconn* connection_ = nullptr;
};

}  // namespace warden::control::store
