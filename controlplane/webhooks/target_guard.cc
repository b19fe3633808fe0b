#include "controlplane/webhooks/target_guard.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netdb.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::control::webhooks {
namespace {

struct UrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
struct TextDeleter {
  void operator()(char* text) const { curl_free(text); }
};

std::string Part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* raw = nullptr;
  if (curl_url_get(url, part, &raw, flags) != CURLUE_OK || raw == nullptr) return "";
  std::unique_ptr<char, TextDeleter> text(raw);
  return std::string(raw);
}

bool InV4(uint32_t address, uint32_t network, int prefix) {
  const uint32_t mask = prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix);
  return (address & mask) == (network & mask);
}

constexpr uint32_t V4(int a, int b, int c, int d) {
  return (uint32_t(a) << 24) | (uint32_t(b) << 16) | (uint32_t(c) << 8) | uint32_t(d);
}

bool IsPublicV4(uint32_t a) {
  struct Range {
    uint32_t network;
    int prefix;
  };
  static constexpr Range kNotPublic[] = {
      {V4(0, 0, 0, 0), 8},      {V4(10, 0, 0, 0), 8},     {V4(100, 64, 0, 0), 10},
      {V4(127, 0, 0, 0), 8},    {V4(169, 254, 0, 0), 16}, {V4(172, 16, 0, 0), 12},
      {V4(192, 0, 0, 0), 24},   {V4(192, 0, 2, 0), 24},   {V4(192, 88, 99, 0), 24},
      {V4(192, 168, 0, 0), 16}, {V4(198, 18, 0, 0), 15},  {V4(198, 51, 100, 0), 24},
      {V4(203, 0, 113, 0), 24}, {V4(224, 0, 0, 0), 4},    {V4(240, 0, 0, 0), 4}};
  for (const Range& range : kNotPublic) {
    if (InV4(a, range.network, range.prefix)) return false;
  }
  return true;
}

bool IsPublicV6(const std::array<uint8_t, 16>& b) {
  // IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d): the v4 inside.
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  if (std::memcmp(b.data(), kMapped, 12) == 0 || std::memcmp(b.data(), kNat64, 12) == 0) {
    return IsPublicV4(V4(b[12], b[13], b[14], b[15]));
  }
  // Only global unicast (2000::/3) is public, less documentation (2001:db8::/32).
  if ((b[0] & 0xe0) != 0x20) return false;
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return false;
  return true;
}

}  // namespace

absl::StatusOr<WebhookUrl> ParseWebhookUrl(absl::string_view text) {
  std::unique_ptr<CURLU, UrlDeleter> url(curl_url());
  const std::string copy(text);
  if (url == nullptr || curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), 0) != CURLUE_OK) {
    return absl::InvalidArgumentError(absl::StrCat("url \"", text, "\" is not a URL"));
  }
  WebhookUrl parsed;
  parsed.scheme = absl::AsciiStrToLower(Part(url.get(), CURLUPART_SCHEME));
  if (parsed.scheme != "http" && parsed.scheme != "https") {
    return absl::InvalidArgumentError(
        absl::StrCat("url \"", text, "\": only http:// and https:// are delivered to"));
  }
  if (!Part(url.get(), CURLUPART_USER).empty() || !Part(url.get(), CURLUPART_PASSWORD).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "url \"", text, "\" carries a user name or password; put a token in the path instead"));
  }
  parsed.host = Part(url.get(), CURLUPART_HOST);
  if (parsed.host.size() > 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  }
  if (parsed.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("url \"", text, "\" has no host"));
  }
  if (!absl::SimpleAtoi(Part(url.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT), &parsed.port)) {
    return absl::InvalidArgumentError(absl::StrCat("url \"", text, "\" has no usable port"));
  }
  return parsed;
}

bool IsPublicAddress(absl::string_view address) {
  const std::string text(address);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return IsPublicV4(ntohl(v4.s_addr));
  std::array<uint8_t, 16> v6{};
  if (inet_pton(AF_INET6, text.c_str(), v6.data()) == 1) return IsPublicV6(v6);
  return false;
}

absl::StatusOr<std::vector<std::string>> ResolveTarget(const WebhookUrl& url,
                                                       bool allow_private_targets) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(url.host.c_str(), nullptr, &hints, &found); error != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", url.host, ": ", gai_strerror(error)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> list(found, &freeaddrinfo);
  std::vector<std::string> addresses;
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    const void* raw =
        entry->ai_family == AF_INET
            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(entry->ai_addr)->sin_addr)
            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(entry->ai_addr)->sin6_addr);
    if (inet_ntop(entry->ai_family, raw, text, sizeof text) == nullptr) continue;
    if (!allow_private_targets && !IsPublicAddress(text)) {
      return absl::PermissionDeniedError(
          absl::StrCat(url.host, " resolves to ", text,
                       ", which is not a public address; webhooks to private targets need "
                       "--webhook-allow-private-targets"));
    }
    addresses.emplace_back(text);
  }
  if (addresses.empty()) return absl::UnavailableError(absl::StrCat(url.host, " has no address"));
  return addresses;
}

}  // namespace warden::control::webhooks
