#pragma once

// The health check's own connection to PostgreSQL, driven through libpq's
// non-blocking calls so that every check ends by its deadline. A blocking
// call waits as long as TCP does: when the database's host stops answering
// (a partition, a frozen server) that is many minutes, and a replica that
// cannot tell it has lost its database keeps its agents and its place
// behind the load balancer.

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

  // One round trip (connecting first when needed) within `timeout`. A
  // failure or a timeout drops the connection: the next check starts afresh.
  absl::Status Ping(absl::Duration timeout);

 private:
  absl::Status Connect(absl::Time deadline);
  absl::Status RoundTrip(absl::Time deadline);
  absl::Status AwaitSocket(bool writable, absl::Time deadline);
  absl::Status Failure(absl::string_view what) const;
  void Drop();

  const std::string connection_string_;
  PGconn* connection_ = nullptr;
};

}  // namespace warden::control::store
