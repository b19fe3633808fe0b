#include "common/host_port.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden {
namespace {

constexpr size_t kMaxHostBytes = 253;  // the longest DNS name

bool IsDnsNameOrIpv4(absl::string_view host) {
  if (host.empty() || host.size() > kMaxHostBytes || host.front() == '-' || host.front() == '.') {
    return false;
  }
  for (char c : host) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

bool IsIpv6Literal(absl::string_view inside) {
  if (inside.size() < 2 || inside.size() > 45) return false;
  for (char c : inside) {
    if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') return false;
  }
  return true;
}

}  // namespace

absl::Status ValidateHostPort(absl::string_view field, absl::string_view text) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(field,
                     " must be host:port (e.g. vpn1.example.net:51820 or "
                     "[2001:db8::1]:51820); ",
                     why));
  };
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return invalid("the :port is missing");
  const absl::string_view host = text.substr(0, colon);
  const absl::string_view port = text.substr(colon + 1);
  uint32_t number = 0;
  if (port.empty() || port.size() > 5 || !absl::SimpleAtoi(port, &number) || number < 1 ||
      number > 65535 || !absl::ascii_isdigit(port.front())) {
    return invalid("the port must be 1 to 65535");
  }
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']' || !IsIpv6Literal(host.substr(1, host.size() - 2))) {
      return invalid("the bracketed host must be an IPv6 address");
    }
    return absl::OkStatus();
  }
  if (!IsDnsNameOrIpv4(host)) {
    return invalid("the host must be a DNS name or an IP address (IPv6 in brackets)");
  }
  return absl::OkStatus();
}

}  // namespace warden
