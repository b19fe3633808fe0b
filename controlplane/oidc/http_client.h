#pragma once

// HTTPS to an OpenID Provider (libcurl): the certificate is always verified
// (against the system's trust store or the provider's ca_file), redirects
// are not followed, time and answer size are bounded. One easy handle per
// request, so any thread may call it.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::control::oidc {

struct HttpRequest {
  std::string url{};
  std::string form_body{};  // POST application/x-www-form-urlencoded when set
  bool post = false;
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string ca_file{};  // "" = the system's trust store
  absl::Duration timeout = absl::Seconds(10);
  size_t max_body_bytes = 1 << 20;
};

struct HttpResponse {
  int status = 0;     // 0: no answer; `error` says why
  std::string error;  // transport error, or an answer over the size limit
  std::string body;
  std::string cache_control;  // the Cache-Control header, as sent
};

HttpResponse Fetch(const HttpRequest& request);

// One name or value, percent-encoded for application/x-www-form-urlencoded
// (and for a URL's query).
std::string FormEscape(absl::string_view text);

// application/x-www-form-urlencoded, in the order given.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

// max-age of a Cache-Control header, clamped to [min, max]; `fallback` when
// absent or no-store/no-cache.
absl::Duration CacheLifetime(const std::string& cache_control, absl::Duration fallback,
                             absl::Duration min, absl::Duration max);

}  // namespace warden::control::oidc
