#include "controlplane/store/wake_notifier.h"

#include <vector>

#include "common/logging.h"
#include "controlplane/store/errors.h"
#include "controlplane/store/rows.h"

namespace warden::control::store {
namespace {

const logging::Logger Log("control.store");

// After a failed send: the pause before the next, so that an unreachable
// database is not dialled in a loop (wake-ups queued meanwhile wait).
constexpr absl::Duration kRetryPause = absl::Milliseconds(500);

}  // namespace

WakeNotifier::WakeNotifier(std::string connection_string, size_t max_queued)
    : connection_string_(std::move(connection_string)), max_queued_(max_queued) {}

WakeNotifier::~WakeNotifier() {
  std::thread sender;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    sender = std::move(sender_);
  }
  if (sender.joinable()) sender.join();
}

void WakeNotifier::Wake(std::string channel, std::string payload) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  if (queued_.size() >= max_queued_) {
    ++dropped_;
    return;
  }
  queued_.emplace(std::move(channel), std::move(payload));
  if (!sender_.joinable()) sender_ = std::thread([this] { Run(); });
}

uint64_t WakeNotifier::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

void WakeNotifier::Run() {
  auto ready = [this]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !queued_.empty(); };
  while (true) {
    absl::flat_hash_set<Entry> batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(&ready));
      if (queued_.empty()) return;  // stopping, nothing left
      batch.swap(queued_);
    }
    const absl::Status sent = Send(batch);
    if (sent.ok()) continue;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      dropped_ += batch.size();
      stopping = stopping_;
    }
    Log()->warn("{} wake-up(s) not sent ({}); their readers find the work in the tables",
                batch.size(), sent.message());
    if (stopping) return;
    absl::MutexLock lock(&mu_);
    auto stop_asked = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop_asked), kRetryPause);
  }
}

absl::Status WakeNotifier::Send(const absl::flat_hash_set<Entry>& batch) {
  std::vector<std::string> channels;
  std::vector<std::string> payloads;
  channels.reserve(batch.size());
  payloads.reserve(batch.size());
  for (const auto& [channel, payload] : batch) {
    channels.push_back(channel);
    payloads.push_back(payload);
  }
  const ErrorContext context{.operation = "send wake-ups"};
  try {
    if (connection_ == nullptr || !connection_->is_open()) {
      connection_ = std::make_unique<pqxx::connection>(connection_string_);
      // Prepared once: it runs after nearly every admission and close.
      connection_->prepare("wake",
                           "SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) "
                           "AS w(c, p)");
    }
    pqxx::nontransaction tx(*connection_);
    tx.exec_prepared("wake", PgTextArray(channels), PgTextArray(payloads));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    connection_.reset();  // reconnect for the next batch
    return StatusFromException(e, context);
  }
}

}  // namespace warden::control::store
