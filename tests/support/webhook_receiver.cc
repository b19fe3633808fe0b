#include "tests/support/webhook_receiver.h"

#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/wait.h"

#ifndef WARDEN_SOURCE_DIR
#error "WARDEN_SOURCE_DIR (the repository root, a string) must be defined"
#endif

namespace warden::testing {
namespace {

constexpr char kReceiverDir[] = WARDEN_SOURCE_DIR "/tests/e2e/webhook_receiver";
// What receiver.mjs prints, followed by its port, once it serves.
constexpr std::string_view kListening = "listening ";

// Process runs a path, not a command: node's absolute path ("" when absent).
std::string NodeOnPath() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr ? path : "", ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/node");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string SecretFile(const std::string& work_dir) { return work_dir + "/secrets"; }

// A client per call: tests may ask from more than one thread, and a
// connection per request keeps no state between a Stop and a Restart.
httplib::Client ClientFor(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  return client;
}

ReceivedMessage ToMessage(const nlohmann::json& json) {
  ReceivedMessage message;
  message.path = json.value("path", "");
  message.id = json.value("id", "");
  message.type = json.value("type", "");
  message.verified = json.value("verified", false);
  message.error = json.value("error", "");
  message.body = json.value("body", nlohmann::json());
  message.received_at_ms = json.value("received_at_ms", int64_t{0});
  // null when the header was missing or not a number.
  if (json.contains("timestamp") && json["timestamp"].is_number()) {
    message.timestamp = json["timestamp"].get<int64_t>();
  }
  message.signature = json.value("signature", "");
  message.status = json.value("status", 0);
  return message;
}

}  // namespace

std::string WebhookReceiver::Unavailable() {
  if (NodeOnPath().empty()) return "node is not on PATH (./scripts/test installs it)";
  const std::string module =
      absl::StrCat(kReceiverDir, "/node_modules/standardwebhooks/package.json");
  if (::access(module.c_str(), R_OK) != 0) {
    return absl::StrCat("the npm package standardwebhooks is not installed in ", kReceiverDir,
                        " (npm ci --prefix ", kReceiverDir, ")");
  }
  return "";
}

std::unique_ptr<WebhookReceiver> WebhookReceiver::Start(const std::string& work_dir,
                                                        std::string* error) {
  if (std::string why = Unavailable(); !why.empty()) {
    *error = why;
    return nullptr;
  }
  std::unique_ptr<WebhookReceiver> receiver(new WebhookReceiver(work_dir));
  // node's first start on a busy two-core machine has taken over 10 s.
  if (!receiver->Launch(0, absl::Now() + absl::Seconds(30), error)) return nullptr;
  return receiver;
}

WebhookReceiver::~WebhookReceiver() = default;

bool WebhookReceiver::Launch(int port, absl::Time deadline, std::string* error) {
  ++runs_;
  process_ = std::make_unique<Process>(
      NodeOnPath(),
      std::vector<std::string>{absl::StrCat(kReceiverDir, "/receiver.mjs"), "--port",
                               absl::StrCat(port), "--secret-file", SecretFile(work_dir_)},
      std::map<std::string, std::string>{},
      absl::StrCat(work_dir_, "/webhook-receiver-", runs_, ".log"));
  // Not WaitForLoggedNumber: a child that exits (its port taken) should not
  // cost the whole timeout.
  while (absl::Now() < deadline) {
    // The whole line, or a half-written port could be read.
    const std::string log = process_->Log();
    const size_t at = log.find(kListening);
    if (at != std::string::npos && log.find('\n', at) != std::string::npos) {
      port_ = std::atoi(log.c_str() + at + kListening.size());
      return true;
    }
    if (!process_->Running()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  *error = absl::StrCat("the webhook receiver did not report its port:\n", process_->Log());
  return false;
}

std::string WebhookReceiver::url(const std::string& path) const {
  return absl::StrCat("http://127.0.0.1:", port_, path);
}

void WebhookReceiver::SetSecrets(const std::vector<std::string>& secrets) {
  // Written aside and renamed into place: a delivery arriving mid-write must
  // see the old secrets or the new ones, never half a file.
  const std::string file = SecretFile(work_dir_);
  const std::string partial = file + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    for (const std::string& secret : secrets) out << secret << "\n";
  }
  std::rename(partial.c_str(), file.c_str());
}

std::vector<ReceivedMessage> WebhookReceiver::Messages(size_t since) const {
  httplib::Client client = ClientFor(port_);
  httplib::Result response = client.Get(absl::StrCat("/messages?since=", since).c_str());
  if (!response || response->status != 200) return {};
  const nlohmann::json list = nlohmann::json::parse(response->body, nullptr, false);
  std::vector<ReceivedMessage> messages;
  if (!list.is_array()) return messages;
  for (const nlohmann::json& entry : list) messages.push_back(ToMessage(entry));
  return messages;
}

std::vector<ReceivedMessage> WebhookReceiver::WaitForMessages(size_t count,
                                                              absl::Duration timeout) const {
  std::vector<ReceivedMessage> messages;
  WaitFor(
      [&] {
        messages = Messages();
        return messages.size() >= count;
      },
      timeout);
  return messages;
}

bool WebhookReceiver::Control(const nlohmann::json& request) {
  httplib::Client client = ClientFor(port_);
  httplib::Result response = client.Post("/control", request.dump(), "application/json");
  return response && response->status == 200;
}

bool WebhookReceiver::FailNext(int count, int status) {
  return Control({{"fail_next", count}, {"status", status}});
}

bool WebhookReceiver::Delay(int ms) { return Control({{"delay_ms", ms}}); }

bool WebhookReceiver::Reset() { return Control({{"reset", true}}); }

void WebhookReceiver::Stop() {
  if (!Running()) return;
  process_->Signal(SIGTERM);
  if (process_->Wait(absl::Seconds(5)) < 0) {
    process_->Signal(SIGKILL);
    process_->Wait(absl::Seconds(5));
  }
}

bool WebhookReceiver::Restart() {
  Stop();
  // node binds with SO_REUSEADDR, so the port is free at once; the retries
  // cover the rare case that something else grabbed it meanwhile.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::string error;
  while (absl::Now() < deadline) {
    if (Launch(port_, deadline, &error)) return true;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return false;
}

std::string WebhookReceiver::Log() const { return process_ != nullptr ? process_->Log() : ""; }

}  // namespace warden::testing
