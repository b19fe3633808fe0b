#pragma once

// Where a multi-step store operation sends its statements: straight through
// a libpqxx transaction (each statement its own round trip), or through a
// pipeline (everything queued before a Flush in one round trip, BEGIN with
// the first and COMMIT with the last). An operation written against this
// runs on either, with the same statements in the same order.

#include <optional>
#include <pqxx/pqxx>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controlplane/store/errors.h"
#include "controlplane/store/pipeline.h"
#include "controlplane/store/text_result.h"

namespace warden::control::store {

// Runs `call` in `tx` now.
pqxx::result RunNow(pqxx::transaction_base& tx, const Call& call);

class StatementRunner {
 public:
  virtual ~StatementRunner() = default;

  // Queues `call`; its result can be read after the next Flush.
  virtual size_t Queue(const Call& call) = 0;
  // Runs what is queued. `last`: the operation queues nothing after this
  // (a pipeline sends its COMMIT in the same round trip).
  virtual absl::Status Flush(bool last) = 0;
  virtual const TextResult& Result(size_t index) const = 0;
  // The libpqxx transaction underneath, for steps written only for it;
  // nullptr on a pipeline.
  virtual pqxx::work* transaction() = 0;
};

// Each statement runs when it is queued; errors are libpqxx's exceptions.
class TransactionRunner final : public StatementRunner {
 public:
  explicit TransactionRunner(pqxx::work& tx) : tx_(tx) {}

  size_t Queue(const Call& call) override;
  absl::Status Flush(bool /*last*/) override { return absl::OkStatus(); }
  const TextResult& Result(size_t index) const override { return results_.at(index); }
  pqxx::work* transaction() override { return &tx_; }

 private:
  pqxx::work& tx_;
  std::vector<TextResult> results_;
};

// One transaction on a pipeline connection. BEGIN goes out with the first
// round; COMMIT with the round flushed as `last`, unless the caller's
// deadline has passed by then (DEADLINE_EXCEEDED: nothing is committed).
class PipelineRunner final : public StatementRunner {
 public:
  PipelineRunner(PipelineConnection& connection, const ErrorContext& context,
                 std::optional<absl::Time> commit_by);

  size_t Queue(const Call& call) override { return connection_.Queue(call); }
  absl::Status Flush(bool last) override;
  const TextResult& Result(size_t index) const override { return connection_.Result(index); }
  pqxx::work* transaction() override { return nullptr; }

  // Commits when the operation did not flush a last round (a round trip of
  // its own), or rolls back after a failure. Either way the connection is
  // left outside a transaction, or broken.
  absl::Status Commit();
  void Rollback();

  bool committed() const { return committed_; }
  // A round carrying COMMIT went out: when it failed, the change may or may
  // not have been applied.
  bool commit_sent() const { return commit_sent_; }
  int rounds() const { return rounds_; }
  // The SQLSTATE of the statement that failed the last round ("" if none).
  const std::string& sqlstate() const { return connection_.sqlstate(); }

 private:
  PipelineConnection& connection_;
  const ErrorContext context_;
  const std::optional<absl::Time> commit_by_;
  bool open_ = false;  // BEGIN was queued and no COMMIT or ROLLBACK since
  bool committed_ = false;
  bool commit_sent_ = false;
  int rounds_ = 0;
};

}  // namespace warden::control::store
