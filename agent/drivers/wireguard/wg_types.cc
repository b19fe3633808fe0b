#include "agent/drivers/wireguard/wg_types.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <sodium.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::agent::wireguard {
namespace {

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses an IP literal of either family; `address` gets 4 or 16 bytes.
bool ParseIpLiteral(const std::string& text, int& family, std::array<uint8_t, 16>& address) {
  address.fill(0);
  if (text.find('\0') != std::string::npos) return false;
  if (inet_pton(AF_INET, text.c_str(), address.data()) == 1) {
    family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), address.data()) == 1) {
    family = AF_INET6;
    return true;
  }
  return false;
}

std::string FormatIpLiteral(int family, const std::array<uint8_t, 16>& address) {
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, address.data(), out, sizeof(out)) == nullptr) return "?";
  return out;
}

}  // namespace

std::string KeyToBase64(const Key& key) {
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof(out), key.data(), key.size(), sodium_base64_VARIANT_ORIGINAL);
  return out;
}

absl::StatusOr<Key> KeyFromBase64(absl::string_view text) {
  Key key{};
  size_t decoded = 0;
  // No `ignore` characters and a null `b64_end`: trailing or unparsable input
  // fails the call. libsodium also rejects non-zero padding bits.
  if (text.size() != 44 ||
      sodium_base642bin(key.data(), key.size(), text.data(), text.size(), nullptr, &decoded,
                        nullptr, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      decoded != key.size()) {
    return absl::InvalidArgumentError("key must be 44 characters of base64 encoding 32 bytes");
  }
  return key;
}

std::string KeyToHex(const Key& key) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : key) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

absl::StatusOr<Key> KeyFromHex(absl::string_view text) {
  if (text.size() != 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("key must be 64 hex digits, got ", text.size(), " characters"));
  }
  Key key{};
  for (size_t i = 0; i < key.size(); ++i) {
    int hi = HexDigitValue(text[2 * i]);
    int lo = HexDigitValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return absl::InvalidArgumentError("key has a non-hex digit");
    key[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return key;
}

absl::Status ValidatePeerSettings(const WgPeer& peer) {
  if (peer.persistent_keepalive < 0 || peer.persistent_keepalive > 65535) {
    return absl::InvalidArgumentError("persistent_keepalive must be between 0 and 65535");
  }
  if (peer.allowed_ips.size() > kMaxAllowedIpsPerPeer) {
    return absl::InvalidArgumentError(
        absl::StrCat("a peer may have at most ", kMaxAllowedIpsPerPeer, " allowed IPs"));
  }
  return absl::OkStatus();
}

bool IsZeroKey(const Key& key) {
  uint8_t acc = 0;
  for (uint8_t b : key) acc |= b;
  return acc == 0;
}

absl::Status ValidateInterfaceName(absl::string_view name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(
        absl::StrCat("interface name must be 1 to ", IFNAMSIZ - 1, " bytes"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError("interface name must not be \".\" or \"..\"");
  }
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '/' || c == ':' || u <= 0x20 || u == 0x7f) {
      return absl::InvalidArgumentError(
          "interface name must not contain '/', ':', whitespace or control characters");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError("allowed IP must be address/prefix-length");
  }
  IpPrefix prefix;
  if (!ParseIpLiteral(std::string(text.substr(0, slash)), prefix.family, prefix.address)) {
    return absl::InvalidArgumentError("allowed IP has an invalid address");
  }
  absl::string_view len_text = text.substr(slash + 1);
  int max_len = prefix.family == AF_INET ? 32 : 128;
  int len = 0;
  // SimpleAtoi accepts a sign and surrounding spaces; a prefix length is digits only.
  if (len_text.empty() || len_text.size() > 3 ||
      !std::all_of(len_text.begin(), len_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(len_text, &len) || len > max_len) {
    return absl::InvalidArgumentError(
        absl::StrCat("allowed IP prefix length must be 0 to ", max_len));
  }
  prefix.prefix_len = static_cast<uint8_t>(len);
  return prefix;
}

std::string FormatIpPrefix(const IpPrefix& prefix) {
  return absl::StrCat(FormatIpLiteral(prefix.family, prefix.address), "/", prefix.prefix_len);
}

absl::StatusOr<IpEndpoint> ParseEndpoint(absl::string_view text) {
  absl::string_view host, port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return absl::InvalidArgumentError("endpoint must be [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError("endpoint must be ipv4:port or [ipv6]:port");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  IpEndpoint endpoint;
  bool bracketed = !text.empty() && text.front() == '[';
  if (!ParseIpLiteral(std::string(host), endpoint.family, endpoint.address) ||
      (endpoint.family == AF_INET6) != bracketed) {
    return absl::InvalidArgumentError("endpoint must be ipv4:port or [ipv6]:port");
  }
  int port = 0;
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError("endpoint port must be 1 to 65535");
  }
  endpoint.port = static_cast<uint16_t>(port);
  return endpoint;
}

std::string FormatEndpoint(const IpEndpoint& endpoint) {
  std::string host = FormatIpLiteral(endpoint.family, endpoint.address);
  if (endpoint.family == AF_INET6) return absl::StrCat("[", host, "]:", endpoint.port);
  return absl::StrCat(host, ":", endpoint.port);
}

}  // namespace warden::agent::wireguard
