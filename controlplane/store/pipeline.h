#pragma once

// A libpq connection in pipeline mode: the statements of one step go out
// together and their results come back in one round trip. libpqxx 6 has no
// pipeline mode, so the admission and the close of a session, where round
// trips are most of the cost, talk to libpq directly here.

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/store/errors.h"
#include "controlplane/store/text_result.h"

namespace warden::control::store {

// Statement name → SQL, for preparing on first use.
using StatementTexts = absl::flat_hash_map<std::string, std::string>;

class PipelineConnection {
 public:
  // Connects (blocking, bounded by the connection string's connect_timeout)
  // and enters pipeline mode.
  static absl::StatusOr<std::unique_ptr<PipelineConnection>> Open(
      const std::string& connection_string, const StatementTexts* statements);
  ~PipelineConnection();

  PipelineConnection(const PipelineConnection&) = delete;
  PipelineConnection& operator=(const PipelineConnection&) = delete;

  // Queues a prepared statement (prepared in the same round trip the first
  // time this connection runs it); returns the index of its result.
  size_t Queue(const Call& call);
  // Queues a statement without parameters (BEGIN, COMMIT, ROLLBACK).
  size_t QueueText(absl::string_view sql);

  // Sends what is queued with one sync and reads every result. The first
  // statement that fails fails the round, and the server skips the rest.
  // The status is classified by SQLSTATE (errors.h); `sqlstate()` tells it.
  absl::Status Run(const ErrorContext& context);
  const TextResult& Result(size_t index) const { return results_.at(index); }
  bool idle() const { return pending_.empty(); }
  // Forgets the results read so far (a new transaction begins).
  void Clear() { results_.clear(); }

  const std::string& sqlstate() const { return sqlstate_; }
  // The connection is gone (or out of step); it must not be pooled again.
  bool broken() const { return broken_ || PQstatus(connection_) != CONNECTION_OK; }
  int socket() const { return PQsocket(connection_); }

 private:
  PipelineConnection(PGconn* connection, const StatementTexts* statements)
      : connection_(connection), statements_(statements) {}

  // What one result read back belongs to: a statement's preparation, or
  // the call whose result goes to results_[result].
  struct Pending {
    std::string prepares;
    size_t result = 0;
  };
  absl::Status ReadResults(const ErrorContext& context);
  absl::Status Broken(absl::string_view what, const ErrorContext& context);

  PGconn* connection_;
  const StatementTexts* statements_;
  absl::flat_hash_set<std::string> prepared_;
  std::vector<Pending> pending_;
  // Every result since the last Clear(), by the index Queue returned.
  std::vector<TextResult> results_;
  std::string sqlstate_;
  bool broken_ = false;
};

}  // namespace warden::control::store
