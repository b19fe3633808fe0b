#include "controlplane/webhooks/webhook_sender.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "controlplane/store/webhook_store.h"
#include "controlplane/webhooks/signature.h"
#include "controlplane/webhooks/target_guard.h"

namespace warden::control::webhooks {
namespace {

const logging::Logger Log("control.webhooks");

constexpr absl::Duration kResolveFor = absl::Seconds(30);
constexpr absl::Duration kGather = absl::Milliseconds(5);
constexpr size_t kErrorBytes = 300;

double Jitter() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(random);
}

std::string Shorten(std::string text) {
  if (text.size() > kErrorBytes) text.resize(kErrorBytes);
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

}  // namespace

WebhookSender::WebhookSender(WebhookSenderOptions options, store::WebhookStore& store,
                             SecretBox box, metrics::Registry& metrics)
    : options_(std::move(options)),
      store_(store),
      box_(std::move(box)),
      deliveries_(metrics.AddCounter(
          "warden_webhook_deliveries_total",
          "Webhook delivery attempts made by this replica, by result (delivered: a 2xx answer; "
          "retried: it will be tried again; failed: every attempt failed).",
          {"result"})),
      latency_(metrics
                   .AddHistogram("warden_webhook_delivery_seconds",
                                 "From an event's commit to its endpoint's 2xx answer.", {},
                                 {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
                                  300, 3600, 86400})
                   .With({})),
      queue_depth_(metrics
                       .AddGauge("warden_webhook_queue_depth",
                                 "Webhook deliveries due now and not yet delivered (fleet-wide).")
                       .With({})),
      endpoints_disabled_(metrics
                              .AddGauge("warden_webhook_endpoints_disabled",
                                        "Webhook endpoints disabled (by hand, or after persistent "
                                        "failure).")
                              .With({})) {
  for (const char* result : {"delivered", "retried", "failed"}) deliveries_.With({result});
  InitHttpOnce();
}

WebhookSender::~WebhookSender() { Stop(); }

void WebhookSender::Start() {
  claimer_ = std::thread([this] { ClaimLoop(); });
  for (int i = 0; i < options_.senders; ++i) senders_.emplace_back([this] { SendLoop(); });
}

void WebhookSender::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  work_ready_.notify_all();
  claim_ready_.notify_all();
  for (std::thread& sender : senders_) {
    if (sender.joinable()) sender.join();
  }
  if (claimer_.joinable()) claimer_.join();
  // What was taken but not sent is due again when its lease runs out.
  FlushResults();
}

void WebhookSender::Wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  claim_ready_.notify_one();
}

void WebhookSender::ClaimLoop() {
  const int capacity = options_.senders * 2;
  bool more_due = true;  // look at once on start
  while (true) {
    std::vector<model::DeliveryAttempt> results;
    store::WebhookStore::ClaimRequest claim{.per_webhook = options_.per_endpoint,
                                            .lease = options_.lease};
    {
      std::unique_lock lock(mutex_);
      if (!more_due) {
        claim_ready_.wait_for(lock, absl::ToChronoMilliseconds(options_.idle_poll),
                              [&] { return stopping_ || woken_ || !results_.empty(); });
        // Let answers gather a moment (until all are in, or half the room
        // is free): one transaction records them and takes what is due next.
        claim_ready_.wait_for(lock, absl::ToChronoMilliseconds(kGather), [&] {
          return stopping_ || taken_ == 0 || static_cast<int>(results_.size()) >= capacity / 2;
        });
      }
      if (stopping_) return;
      results.swap(results_);
      woken_ = false;
      claim.limit = std::min(capacity - taken_, options_.claim_batch);
      for (const auto& [endpoint, taken] : taken_per_endpoint_) {
        if (taken >= options_.per_endpoint) claim.busy.push_back(endpoint);
      }
    }
    absl::StatusOr<store::WebhookStore::Cycle> cycle = store_.RecordAndClaim(results, claim);
    more_due = false;
    if (!cycle.ok()) {
      // Their leases run out and they are sent again: at least once.
      Log()->warn("cannot record {} webhook attempts and take more: {}", results.size(),
                  cycle.status().message());
    } else {
      LogDisabled(cycle->disabled);
      more_due = claim.limit > 0 && static_cast<int>(cycle->due.size()) == claim.limit;
      if (cycle->due.empty() && IdleHere()) {
        // An event that committed after the claim saw no sleeping senders
        // and woke no one: look once more after saying so.
        absl::StatusOr<bool> marked = store_.MarkSendersIdle();
        more_due = marked.ok() && *marked;
      }
      if (!cycle->due.empty()) {
        std::lock_guard lock(mutex_);
        for (model::DueDelivery& delivery : cycle->due) {
          ++taken_;
          ++taken_per_endpoint_[delivery.webhook_id];
          jobs_.push_back(Job{std::move(delivery)});
        }
      }
      if (!cycle->due.empty()) work_ready_.notify_all();
    }
    Housekeep();
  }
}

bool WebhookSender::IdleHere() {
  std::lock_guard lock(mutex_);
  return taken_ == 0 && results_.empty();
}

void WebhookSender::SendLoop() {
  HttpSender http(options_.http);
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      // The first job whose endpoint has room: at most per_endpoint of one
      // endpoint's deliveries are on the wire at once.
      auto next = jobs_.end();
      work_ready_.wait(lock, [&] {
        next = std::find_if(jobs_.begin(), jobs_.end(), [&](const Job& candidate) {
          return sending_per_endpoint_[candidate.delivery.webhook_id] < options_.per_endpoint;
        });
        return stopping_ || next != jobs_.end();
      });
      if (stopping_) return;
      job = std::move(*next);
      jobs_.erase(next);
      ++sending_per_endpoint_[job.delivery.webhook_id];
    }
    model::DeliveryAttempt attempt = Attempt(http, job.delivery);
    {
      std::lock_guard lock(mutex_);
      --taken_;
      const std::string& endpoint = job.delivery.webhook_id;
      if (--taken_per_endpoint_[endpoint] <= 0) taken_per_endpoint_.erase(endpoint);
      if (--sending_per_endpoint_[endpoint] <= 0) sending_per_endpoint_.erase(endpoint);
      results_.push_back(std::move(attempt));
    }
    work_ready_.notify_all();  // a job of this endpoint may go now
    claim_ready_.notify_one();
  }
}

absl::StatusOr<std::vector<std::string>> WebhookSender::Pin(const std::string& url) {
  absl::StatusOr<WebhookUrl> parsed = ParseWebhookUrl(url);
  if (!parsed.ok()) return parsed.status();
  const std::string target = absl::StrCat(parsed->host, ":", parsed->port);
  const absl::Time now = absl::Now();
  {
    std::lock_guard lock(resolved_mutex_);
    auto found = resolved_.find(target);
    if (found != resolved_.end() && now - found->second.at < kResolveFor) {
      return found->second.pinned;
    }
  }
  absl::StatusOr<std::vector<std::string>> addresses =
      ResolveTarget(*parsed, options_.allow_private_targets);
  if (!addresses.ok()) return addresses.status();
  std::vector<std::string> pinned;
  // libcurl wants IPv6 addresses in brackets in a resolve entry.
  std::string joined;
  for (const std::string& address : *addresses) {
    if (!joined.empty()) joined += ',';
    joined += address.find(':') == std::string::npos ? address : absl::StrCat("[", address, "]");
  }
  pinned.push_back(absl::StrCat(target, ":", joined));
  std::lock_guard lock(resolved_mutex_);
  resolved_[target] = Resolved{pinned, now};
  return pinned;
}

model::DeliveryAttempt WebhookSender::Attempt(HttpSender& http,
                                              const model::DueDelivery& delivery) {
  model::DeliveryAttempt attempt;
  attempt.id = delivery.id;
  attempt.webhook_id = delivery.webhook_id;
  std::vector<std::string> keys;
  std::string error;
  for (const std::string* sealed : {&delivery.secret_sealed, &delivery.previous_secret_sealed}) {
    if (sealed->empty()) continue;
    absl::StatusOr<std::string> secret = box_.Open(*sealed);
    absl::StatusOr<std::string> bytes =
        secret.ok() ? SecretBytes(*secret) : absl::StatusOr<std::string>(secret.status());
    if (!bytes.ok()) {
      error = absl::StrCat("cannot sign: ", bytes.status().message());
      break;
    }
    keys.push_back(*std::move(bytes));
  }
  absl::StatusOr<std::vector<std::string>> pinned = std::vector<std::string>{};
  if (error.empty()) pinned = Pin(delivery.url);
  if (error.empty() && !pinned.ok()) error = std::string(pinned.status().message());
  if (error.empty()) {
    // Signed afresh on every attempt: receivers refuse old timestamps.
    const int64_t timestamp = absl::ToUnixSeconds(absl::Now());
    HttpPost post{.url = delivery.url,
                  .pinned = *pinned,
                  .headers = {{"Content-Type", "application/json"},
                              {"webhook-id", delivery.message_id},
                              {"webhook-timestamp", absl::StrCat(timestamp)},
                              {"webhook-signature", SignatureHeader(keys, delivery.message_id,
                                                                    timestamp, delivery.payload)}},
                  .body = delivery.payload};
    HttpAnswer answer = http.Post(post);
    attempt.http_status = answer.status;
    if (answer.status == 0) {
      error = answer.error;
    } else if (Judge(answer.status) == AttemptVerdict::kDelivered) {
      attempt.delivered = true;
    } else {
      error = absl::StrCat("HTTP ", answer.status, answer.body.empty() ? "" : ": ",
                           Shorten(answer.body));
    }
  }
  if (attempt.delivered) {
    deliveries_.With({"delivered"}).Increment();
    latency_.ObserveDuration(absl::Now() - delivery.created_at);
    return attempt;
  }
  attempt.error = Shorten(error);
  attempt.retry_in = NextPause(options_.schedule, delivery.attempts, Jitter());
  deliveries_.With({attempt.retry_in ? "retried" : "failed"}).Increment();
  return attempt;
}

void WebhookSender::FlushResults() {
  std::vector<model::DeliveryAttempt> results;
  {
    std::lock_guard lock(mutex_);
    results.swap(results_);
  }
  absl::StatusOr<store::WebhookStore::Cycle> cycle = store_.RecordAndClaim(results, {});
  if (cycle.ok()) LogDisabled(cycle->disabled);
}

void WebhookSender::LogDisabled(const std::vector<std::string>& webhook_ids) {
  for (const std::string& webhook_id : webhook_ids) {
    Log()->warn("webhook_id={} disabled: a delivery failed every attempt of the retry schedule",
                webhook_id);
  }
}

void WebhookSender::Housekeep() {
  const absl::Time now = absl::Now();
  if (now - last_housekeeping_ < absl::Seconds(5)) return;
  last_housekeeping_ = now;
  if (absl::StatusOr<store::WebhookStore::Backlog> backlog = store_.CountBacklog(); backlog.ok()) {
    queue_depth_.Set(static_cast<double>(backlog->due));
    endpoints_disabled_.Set(static_cast<double>(backlog->endpoints_disabled));
  }
}

}  // namespace warden::control::webhooks
