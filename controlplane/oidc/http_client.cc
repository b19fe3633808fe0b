#include "controlplane/oidc/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "controlplane/webhooks/http_sender.h"

namespace warden::control::oidc {
namespace {

struct Collected {
  std::string body;
  size_t limit = 0;
  bool overflow = false;
  std::string cache_control;
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* collected = static_cast<Collected*>(user);
  const size_t bytes = size * count;
  if (collected->body.size() + bytes > collected->limit) {
    collected->overflow = true;
    return 0;  // ends the transfer
  }
  collected->body.append(data, bytes);
  return bytes;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* collected = static_cast<Collected*>(user);
  absl::string_view line(data, size * count);
  if (absl::StartsWithIgnoreCase(line, "cache-control:")) {
    line.remove_prefix(sizeof("cache-control:") - 1);
    collected->cache_control = std::string(absl::StripAsciiWhitespace(line));
  }
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};
struct ListDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

}  // namespace

HttpResponse Fetch(const HttpRequest& request) {
  webhooks::InitHttpOnce();
  HttpResponse response;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) {
    response.error = "cannot start an HTTP client";
    return response;
  }
  Collected collected;
  collected.limit = request.max_body_bytes;
  std::unique_ptr<curl_slist, ListDeleter> headers;
  for (const auto& [name, value] : request.headers) {
    const std::string line = absl::StrCat(name, ": ", value);
    headers.reset(curl_slist_append(headers.release(), line.c_str()));
  }
  headers.reset(curl_slist_append(headers.release(), "Accept: application/json"));
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!request.ca_file.empty()) {
    // This CA only: libcurl would otherwise also trust its built-in CA path.
    curl_easy_setopt(c, CURLOPT_CAINFO, request.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
  }
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  curl_easy_setopt(
      c, CURLOPT_CONNECTTIMEOUT_MS,
      static_cast<long>(std::min<int64_t>(5000, absl::ToInt64Milliseconds(request.timeout))));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "warden-control");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &collected);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &collected);
  if (request.post) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.form_body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.form_body.size()));
  }
  const CURLcode code = curl_easy_perform(c);
  if (collected.overflow) {
    response.error = absl::StrCat("the answer exceeds ", request.max_body_bytes, " bytes");
    return response;
  }
  if (code != CURLE_OK) {
    response.error = curl_easy_strerror(code);
    return response;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  response.body = std::move(collected.body);
  response.cache_control = std::move(collected.cache_control);
  return response;
}

std::string FormEscape(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, FormEscape(name), "=", FormEscape(value));
  }
  return out;
}

absl::Duration CacheLifetime(const std::string& cache_control, absl::Duration fallback,
                             absl::Duration min, absl::Duration max) {
  for (absl::string_view directive : absl::StrSplit(cache_control, ',')) {
    directive = absl::StripAsciiWhitespace(directive);
    if (absl::EqualsIgnoreCase(directive, "no-store") ||
        absl::EqualsIgnoreCase(directive, "no-cache")) {
      return min;
    }
    if (absl::ConsumePrefix(&directive, "max-age=")) {
      int64_t seconds = 0;
      if (absl::SimpleAtoi(directive, &seconds) && seconds >= 0) {
        return std::clamp(absl::Seconds(seconds), min, max);
      }
    }
  }
  return fallback;
}

}  // namespace warden::control::oidc
