#pragma once

// Delivers the webhook outbox. On every replica: a claim thread takes due
// deliveries from the database (SKIP LOCKED, so replicas share the work and
// a delivery is taken by one at a time), sender threads POST them signed,
// and the claim thread records what came of them in batches. A replica that
// dies mid-delivery leaves its deliveries due again when their lease runs
// out: delivery is at least once, with the same webhook-id every time.
// Order is not kept, even for one endpoint; at most `per_endpoint`
// deliveries of an endpoint are in flight on a replica.

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/model/webhook.h"
#include "controlplane/webhooks/http_sender.h"
#include "controlplane/webhooks/retry_schedule.h"
#include "controlplane/webhooks/secret_box.h"

namespace warden::control::store {
class WebhookStore;
}

namespace warden::control::webhooks {

struct WebhookSenderOptions {
  int senders = 16;
  int per_endpoint = 8;
  int claim_batch = 64;  // deliveries taken in one transaction at most
  absl::Duration lease = absl::Seconds(60);
  // Looks for due deliveries this often when not woken (retries come due,
  // and events wake the senders only once they said they sleep).
  absl::Duration idle_poll = absl::Milliseconds(250);
  RetrySchedule schedule = DefaultRetrySchedule();
  bool allow_private_targets = false;
  HttpSenderOptions http{};
};

class WebhookSender {
 public:
  WebhookSender(WebhookSenderOptions options, store::WebhookStore& store, SecretBox box,
                metrics::Registry& metrics);
  ~WebhookSender();

  void Start();
  void Stop();
  // Something is due (a NOTIFY on warden_webhooks).
  void Wake();

 private:
  struct Job {
    model::DueDelivery delivery;
  };

  void ClaimLoop();
  void SendLoop();
  model::DeliveryAttempt Attempt(HttpSender& http, const model::DueDelivery& delivery);
  // The pinned "host:port:address" entries for a URL, or why it is refused.
  absl::StatusOr<std::vector<std::string>> Pin(const std::string& url);
  // On stopping: what was sent is recorded (the rest is due again when its
  // lease runs out).
  void FlushResults();
  void LogDisabled(const std::vector<std::string>& webhook_ids);
  // Nothing taken here waits or is on the wire.
  bool IdleHere();
  void Housekeep();

  const WebhookSenderOptions options_;
  store::WebhookStore& store_;
  const SecretBox box_;

  std::mutex mutex_;
  std::condition_variable work_ready_;   // senders wait for jobs
  std::condition_variable claim_ready_;  // the claim thread waits for room or a wake
  std::deque<Job> jobs_;
  std::map<std::string, int> taken_per_endpoint_;    // queued or in flight here
  std::map<std::string, int> sending_per_endpoint_;  // on the wire
  int taken_ = 0;
  std::vector<model::DeliveryAttempt> results_;
  bool woken_ = false;
  bool stopping_ = false;

  struct Resolved {
    std::vector<std::string> pinned;
    absl::Time at;
  };
  std::mutex resolved_mutex_;
  std::map<std::string, Resolved> resolved_;  // by host:port, for a few seconds

  std::thread claimer_;
  std::vector<std::thread> senders_;
  absl::Time last_housekeeping_ = absl::InfinitePast();

  metrics::Family<metrics::Counter>& deliveries_;
  metrics::Histogram& latency_;
  metrics::Gauge& queue_depth_;
  metrics::Gauge& endpoints_disabled_;
};

}  // namespace warden::control::webhooks
