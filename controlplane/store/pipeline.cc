#include "controlplane/store/pipeline.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace warden::control::store {
namespace {

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using OwnedResult = std::unique_ptr<PGresult, ResultDeleter>;

TextResult CopyRows(const PGresult* result) {
  const int rows = PQntuples(result);
  const int columns = PQnfields(result);
  std::vector<Param> cells;
  cells.reserve(static_cast<size_t>(rows) * static_cast<size_t>(columns));
  for (int row = 0; row < rows; ++row) {
    for (int column = 0; column < columns; ++column) {
      if (PQgetisnull(result, row, column)) {
        cells.emplace_back(std::nullopt);
      } else {
        cells.emplace_back(std::string(PQgetvalue(result, row, column),
                                       static_cast<size_t>(PQgetlength(result, row, column))));
      }
    }
  }
  return TextResult(columns, std::move(cells));
}

std::string Trimmed(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message == nullptr ? "" : message));
}

// The statements sent here are lookups by key whose best plan does not
// depend on their parameters. Left to choose, PostgreSQL plans those that
// touch partitioned tables anew on every call (a generic plan cannot prune
// partitions, so its estimate loses), which cost the admission more CPU
// than running them.
bool PlanOnce(PGconn* connection) {
  PGresult* result = PQexec(connection, "SET plan_cache_mode = force_generic_plan");
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PipelineConnection>> PipelineConnection::Open(
    const std::string& connection_string, const StatementTexts* statements) {
  PGconn* connection = PQconnectdb(connection_string.c_str());
  if (PQstatus(connection) != CONNECTION_OK || !PlanOnce(connection) ||
      PQenterPipelineMode(connection) != 1) {
    absl::Status status = StatusFromSqlState(
        "", Trimmed(PQerrorMessage(connection)), {.operation = "connect to the database"});
    PQfinish(connection);
    return status;
  }
  return std::unique_ptr<PipelineConnection>(new PipelineConnection(connection, statements));
}

PipelineConnection::~PipelineConnection() { PQfinish(connection_); }

size_t PipelineConnection::Queue(const Call& call) {
  const std::string name(call.statement);
  if (!prepared_.contains(name)) {
    auto sql = statements_->find(name);
    // An unknown name is a programming error; the server refuses it below.
    const std::string& text = sql == statements_->end() ? name : sql->second;
    if (PQsendPrepare(connection_, name.c_str(), text.c_str(), 0, nullptr) == 1) {
      // Counted as prepared from now on, so that a second call in this
      // round does not prepare it again; forgotten if it fails.
      prepared_.insert(name);
      pending_.push_back(Pending{.prepares = name, .result = 0});
    } else {
      broken_ = true;
    }
  }
  std::vector<const char*> values;
  values.reserve(call.params.size());
  for (const Param& param : call.params) values.push_back(param ? param->c_str() : nullptr);
  const size_t index = results_.size();
  results_.emplace_back();
  if (PQsendQueryPrepared(connection_, name.c_str(), static_cast<int>(values.size()),
                          values.data(), nullptr, nullptr, 0) == 1) {
    pending_.push_back(Pending{.prepares = "", .result = index});
  } else {
    broken_ = true;
  }
  return index;
}

size_t PipelineConnection::QueueText(absl::string_view sql) {
  const size_t index = results_.size();
  results_.emplace_back();
  const std::string text(sql);
  if (PQsendQueryParams(connection_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 1) {
    pending_.push_back(Pending{.prepares = "", .result = index});
  } else {
    broken_ = true;
  }
  return index;
}

absl::Status PipelineConnection::Broken(absl::string_view what, const ErrorContext& context) {
  broken_ = true;
  pending_.clear();
  return StatusFromSqlState("", absl::StrCat(what, ": ", Trimmed(PQerrorMessage(connection_))),
                            context);
}

absl::Status PipelineConnection::Run(const ErrorContext& context) {
  sqlstate_.clear();
  if (broken()) return Broken("the connection is not usable", context);
  if (PQpipelineSync(connection_) != 1) return Broken("sending the round", context);
  return ReadResults(context);
}

absl::Status PipelineConnection::ReadResults(const ErrorContext& context) {
  absl::Status failed = absl::OkStatus();
  for (const Pending& pending : pending_) {
    // Each statement's results end with a null result.
    for (OwnedResult result(PQgetResult(connection_)); result != nullptr;
         result.reset(PQgetResult(connection_))) {
      const ExecStatusType status = PQresultStatus(result.get());
      const bool ok = status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK;
      if (!ok && !pending.prepares.empty()) prepared_.erase(pending.prepares);
      switch (status) {
        case PGRES_TUPLES_OK:
        case PGRES_COMMAND_OK:
          if (pending.prepares.empty()) results_[pending.result] = CopyRows(result.get());
          break;
        case PGRES_PIPELINE_ABORTED:  // skipped after an earlier failure
          break;
        default: {
          if (!failed.ok()) break;
          const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
          sqlstate_ = state == nullptr ? "" : state;
          if (MeansNewConnection(sqlstate_)) broken_ = true;
          failed = StatusFromSqlState(sqlstate_, Trimmed(PQresultErrorMessage(result.get())),
                                      context);
          break;
        }
      }
    }
    if (PQstatus(connection_) != CONNECTION_OK) return Broken("reading the round", context);
  }
  pending_.clear();
  OwnedResult sync(PQgetResult(connection_));
  if (sync == nullptr || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
    return Broken("the round did not end where it should", context);
  }
  return failed;
}

}  // namespace warden::control::store
