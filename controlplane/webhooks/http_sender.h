#pragma once

// One keep-alive HTTP client (libcurl) for POSTing webhook messages: TLS
// with certificate verification, no redirects, bounded time and a bounded
// answer. Not thread-safe: each sender thread has its own.

#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::webhooks {

struct HttpSenderOptions {
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration timeout = absl::Seconds(10);
  size_t max_answer_bytes = 4096;  // kept for the delivery's last_error; the rest is dropped
  std::string ca_file{};           // "" = the system's trust store
};

struct HttpPost {
  std::string url;
  // "host:port:address" entries: the connection goes to these addresses
  // (checked by the target guard) whatever DNS answers by then.
  std::vector<std::string> pinned;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct HttpAnswer {
  int status = 0;     // 0: none (error says why)
  std::string error;  // transport error
  std::string body;   // the first max_answer_bytes
};

class HttpSender {
 public:
  explicit HttpSender(HttpSenderOptions options);
  ~HttpSender();
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  HttpAnswer Post(const HttpPost& post);

 private:
  HttpSenderOptions options_;
  void* curl_;  // CURL*
};

// curl_global_init, once per process, before any sender exists.
void InitHttpOnce();

}  // namespace warden::control::webhooks
