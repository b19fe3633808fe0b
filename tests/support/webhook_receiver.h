#pragma once

// A real webhook endpoint for delivery tests: tests/e2e/webhook_receiver/
// receiver.mjs, which verifies Warden's signatures with the Standard Webhooks
// reference library (npm `standardwebhooks`), records every delivery and
// answers as the test programs it. It runs under node; a test skips when
// Unavailable() says why it cannot run.
//
//   if (std::string why = WebhookReceiver::Unavailable(); !why.empty()) GTEST_SKIP() << why;
//   std::string error;
//   std::unique_ptr<WebhookReceiver> receiver = WebhookReceiver::Start(work_dir_, &error);
//   ASSERT_NE(receiver, nullptr) << error;

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/process.h"

namespace warden::testing {

// One POST the receiver got, in the order it got them.
struct ReceivedMessage {
  std::string path;
  std::string id;         // the webhook-id header
  std::string type;       // the body's "type" ("" when the body is not JSON)
  bool verified = false;  // some secret in the secret file verified it
  std::string error;      // why none did ("" when verified)
  nlohmann::json body;    // null when the body is not JSON
  int64_t received_at_ms = 0;
  int64_t timestamp = 0;  // the webhook-timestamp header, unix seconds
  std::string signature;  // the webhook-signature header: "v1,..." space-separated
  int status = 0;         // what the receiver answered
};

class WebhookReceiver {
 public:
  // Why the receiver cannot run here ("" when it can): node not on PATH, or
  // the npm package not installed next to receiver.mjs.
  static std::string Unavailable();

  // Starts it on a free port with <work_dir>/secrets as its secret file
  // (absent until SetSecrets). nullptr, and `error` says why, when it cannot
  // run or does not report its port within 10 s.
  static std::unique_ptr<WebhookReceiver> Start(const std::string& work_dir, std::string* error);

  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;
  ~WebhookReceiver();  // kills it if still running

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>"; any path records deliveries.
  std::string url(const std::string& path = "/hook") const;

  // Replaces the secret file ("whsec_..." each). The receiver re-reads it on
  // every delivery and accepts a message that any of them verifies, so a
  // rotation test lists the old and the new secret.
  void SetSecrets(const std::vector<std::string>& secrets);

  // The deliveries recorded since it (re)started, from index `since` on;
  // empty when the receiver does not answer.
  std::vector<ReceivedMessage> Messages(size_t since = 0) const;
  // Polls until at least `count` deliveries are recorded; all of them (fewer
  // on timeout).
  std::vector<ReceivedMessage> WaitForMessages(size_t count,
                                               absl::Duration timeout = absl::Seconds(10)) const;

  // The next `count` verified deliveries are answered `status`. A delivery
  // that fails verification (always 400) does not use one up.
  bool FailNext(int count, int status);
  // Every answer waits `ms` first (0 ends it); the delivery is recorded on arrival.
  bool Delay(int ms);
  // Drops the recorded deliveries, the forced answers and the delay.
  bool Reset();

  // Takes it down (SIGTERM, then SIGKILL after 5 s): Warden's deliveries
  // fail to connect until Restart.
  void Stop();
  // Brings it back on the same port with the same secret file. It starts
  // with no recorded deliveries: Messages() shows only those after the
  // restart. False when it did not come back within 10 s (see Log()).
  bool Restart();
  bool Running() { return process_ != nullptr && process_->Running(); }

  // The node process's output (the current run), for a failing test to print.
  std::string Log() const;

 private:
  explicit WebhookReceiver(std::string work_dir) : work_dir_(std::move(work_dir)) {}
  // Spawns node with --port `port` (0: any); false, and `error`, when it
  // does not report listening before `deadline`.
  bool Launch(int port, absl::Time deadline, std::string* error);
  bool Control(const nlohmann::json& request);

  std::string work_dir_;
  std::unique_ptr<Process> process_;
  int runs_ = 0;  // each run logs to its own file, so an old "listening" line never counts
  int port_ = 0;
};

}  // namespace warden::testing
