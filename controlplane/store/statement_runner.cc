#include "controlplane/store/statement_runner.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::control::store {

pqxx::result RunNow(pqxx::transaction_base& tx, const Call& call) {
  return tx.exec_prepared(std::string(call.statement),
                          pqxx::prepare::make_dynamic_params(call.params));
}

size_t TransactionRunner::Queue(const Call& call) {
  const pqxx::result rows = RunNow(tx_, call);
  std::vector<Param> cells;
  for (const auto& row : rows) {
    for (const auto& field : row) {
      if (field.is_null()) {
        cells.emplace_back(std::nullopt);
      } else {
        cells.emplace_back(std::string(field.c_str(), field.size()));
      }
    }
  }
  results_.emplace_back(static_cast<int>(rows.columns()), std::move(cells));
  return results_.size() - 1;
}

PipelineRunner::PipelineRunner(PipelineConnection& connection, const ErrorContext& context,
                               std::optional<absl::Time> commit_by)
    : connection_(connection), context_(context), commit_by_(commit_by) {
  connection_.Clear();
  connection_.QueueText("BEGIN");
  open_ = true;
}

absl::Status PipelineRunner::Flush(bool last) {
  if (last) {
    // Rolled back rather than committed for a caller that gave up: it
    // would not know of what was written.
    if (commit_by_ && absl::Now() >= *commit_by_) {
      return absl::DeadlineExceededError(absl::StrCat(
          context_.operation, ": finished after the caller's deadline; nothing was recorded"));
    }
    connection_.QueueText("COMMIT");
    commit_sent_ = true;
  }
  ++rounds_;
  absl::Status status = connection_.Run(context_);
  if (last && status.ok()) {
    open_ = false;
    committed_ = true;
  } else if (last && connection_.broken()) {
    return absl::UnavailableError(
        absl::StrCat(context_.operation,
                     ": lost the database during commit; the change may or may not have been "
                     "applied"));
  }
  return status;
}

absl::Status PipelineRunner::Commit() {
  if (committed_) return absl::OkStatus();
  return Flush(/*last=*/true);
}

void PipelineRunner::Rollback() {
  if (!open_ || connection_.broken()) return;
  connection_.QueueText("ROLLBACK");
  ++rounds_;
  // A failure here leaves the connection broken, and it is not pooled again.
  (void)connection_.Run(context_);
  open_ = false;
}

}  // namespace warden::control::store
