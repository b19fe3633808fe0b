#include "agent/drivers/memory/memory_protocol.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace warden::agent::memory {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = absl::ascii_tolower(static_cast<unsigned char>(c));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool NeedsEncoding(unsigned char c) { return c <= ' ' || c >= 0x7f || c == '%' || c == '='; }

}  // namespace

std::string EncodeWord(absl::string_view word) {
  std::string out;
  for (char c : word) {
    if (NeedsEncoding(static_cast<unsigned char>(c))) {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::string> DecodeWord(absl::string_view word) {
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (word[i] != '%') {
      out.push_back(word[i]);
      continue;
    }
    const bool two_more = i + 2 < word.size();
    const int high = two_more ? HexValue(word[i + 1]) : -1;
    const int low = two_more ? HexValue(word[i + 2]) : -1;
    if (high < 0 || low < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", word, "\": '%' must be followed by two hex digits"));
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
}

absl::StatusOr<Request> ParseRequest(absl::string_view line) {
  Request request;
  std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (words.empty()) return absl::InvalidArgumentError("empty request");
  request.verb = std::string(words[0]);
  for (size_t i = 1; i < words.size(); ++i) {
    const size_t equals = words[i].find('=');
    absl::StatusOr<std::string> value =
        DecodeWord(equals == absl::string_view::npos ? words[i] : words[i].substr(equals + 1));
    if (!value.ok()) return value.status();
    if (equals == absl::string_view::npos) {
      request.args.push_back(*std::move(value));
    } else {
      request.options[std::string(words[i].substr(0, equals))] = *std::move(value);
    }
  }
  return request;
}

std::string ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kWireGuard:
      return "wireguard";
    case Protocol::kOpenVpn:
      return "openvpn";
    case Protocol::kQuic:
      return "quic";
  }
  return "openvpn";
}

std::optional<Protocol> ProtocolNamed(absl::string_view name) {
  for (Protocol protocol : {Protocol::kWireGuard, Protocol::kOpenVpn, Protocol::kQuic}) {
    if (absl::EqualsIgnoreCase(name, ProtocolName(protocol))) return protocol;
  }
  return std::nullopt;
}

absl::StatusOr<OpenRequest> ParseOpen(const Request& request) {
  if (request.args.size() < 2 || request.args.size() > 3) {
    return absl::InvalidArgumentError(
        "open <key> <username> [password | wct_ticket] [label=<label>] "
        "[protocol=openvpn|wireguard|quic]");
  }
  OpenRequest open;
  open.session_key = request.args[0];
  open.username = request.args[1];
  open.device_label = open.session_key;
  if (request.args.size() == 3) {
    if (absl::StartsWith(request.args[2], kConnectTicketPrefix)) {
      open.connect_ticket = request.args[2];
    } else {
      open.password = request.args[2];
    }
  }
  for (const auto& [name, value] : request.options) {
    if (name == "label") {
      open.device_label = value;
    } else if (name == "protocol") {
      std::optional<Protocol> protocol = ProtocolNamed(value);
      if (!protocol) {
        return absl::InvalidArgumentError(
            absl::StrCat("protocol \"", value, "\": openvpn, wireguard or quic"));
      }
      open.protocol = *protocol;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option \"", name, "\"; known: label, protocol"));
    }
  }
  return open;
}

}  // namespace warden::agent::memory
