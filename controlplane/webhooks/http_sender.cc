#include "controlplane/webhooks/http_sender.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace warden::control::webhooks {
namespace {

struct Capture {
  std::string* body;
  size_t limit;
};

size_t KeepStart(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  const size_t bytes = size * count;
  if (capture->body->size() < capture->limit) {
    capture->body->append(data, std::min(bytes, capture->limit - capture->body->size()));
  }
  return bytes;  // read on (and drop) so the connection stays reusable
}

struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::unique_ptr<curl_slist, ListDeleter> ToList(const std::vector<std::string>& lines) {
  curl_slist* list = nullptr;
  for (const std::string& line : lines) list = curl_slist_append(list, line.c_str());
  return std::unique_ptr<curl_slist, ListDeleter>(list);
}

}  // namespace

void InitHttpOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

HttpSender::HttpSender(HttpSenderOptions options)
    : options_(std::move(options)), curl_(curl_easy_init()) {}

HttpSender::~HttpSender() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpAnswer HttpSender::Post(const HttpPost& post) {
  HttpAnswer answer;
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    answer.error = "no HTTP client (curl_easy_init failed)";
    return answer;
  }
  curl_easy_reset(curl);
  std::vector<std::string> header_lines;
  for (const auto& [name, value] : post.headers)
    header_lines.push_back(absl::StrCat(name, ": ", value));
  header_lines.push_back("Expect:");  // no 100-continue round trip
  auto headers = ToList(header_lines);
  auto pinned = ToList(post.pinned);
  Capture capture{&answer.body, options_.max_answer_bytes};
  char error[CURL_ERROR_SIZE] = {};

  curl_easy_setopt(curl, CURLOPT_URL, post.url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "warden-webhooks/1");
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(options_.timeout)));
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post.body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(post.body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  if (pinned) curl_easy_setopt(curl, CURLOPT_RESOLVE, pinned.get());
  if (!options_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &KeepStart);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &capture);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    answer.error = error[0] != '\0' ? std::string(error) : curl_easy_strerror(code);
    return answer;
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  answer.status = static_cast<int>(status);
  return answer;
}

}  // namespace warden::control::webhooks
