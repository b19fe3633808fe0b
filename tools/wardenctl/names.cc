#include "tools/wardenctl/names.h"

#include <array>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace warden::wardenctl {
namespace {

// Operator words: lower case, '-' where the API has '_'.
std::string Word(absl::string_view api_name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(api_name), {{"_", "-"}});
}

std::string Normalised(absl::string_view text) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(text), {{"_", "-"}});
}

absl::Status NotOneOf(absl::string_view what, absl::string_view text,
                      const std::vector<std::string>& words) {
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not a ", what, " (", absl::StrJoin(words, ", "), ")"));
}

}  // namespace

std::string ProtocolName(v1::Protocol protocol) {
  if (protocol == v1::PROTOCOL_UNSPECIFIED) return "";
  return Word(v1::Protocol_Name(protocol));
}

std::string ProtocolsText(const google::protobuf::RepeatedField<int>& protocols) {
  if (protocols.empty()) return "any";
  std::vector<std::string> names;
  for (int protocol : protocols) names.push_back(ProtocolName(static_cast<v1::Protocol>(protocol)));
  return absl::StrJoin(names, ",");
}

std::string PolicyName(v1::LimitPolicy policy) {
  if (policy == v1::LIMIT_POLICY_UNSPECIFIED) return "";
  return Word(v1::LimitPolicy_Name(policy));
}

std::string NodeStateName(v1::NodeState state) {
  if (state == v1::NODE_STATE_UNSPECIFIED) return "";
  return Word(absl::StripPrefix(v1::NodeState_Name(state), "NODE_STATE_"));
}

std::string SessionStateName(v1::SessionState state) {
  if (state == v1::SESSION_STATE_UNSPECIFIED) return "";
  return Word(absl::StripPrefix(v1::SessionState_Name(state), "SESSION_STATE_"));
}

std::string RoleName(v1::ApiKeyRole role) {
  if (role == v1::API_KEY_ROLE_UNSPECIFIED) return "";
  return Word(v1::ApiKeyRole_Name(role));
}

const std::vector<std::string>& ProtocolWords() {
  static const auto* words = new std::vector<std::string>{"wireguard", "openvpn", "quic"};
  return *words;
}

const std::vector<std::string>& PolicyWords() {
  static const auto* words = new std::vector<std::string>{"evict-oldest", "reject"};
  return *words;
}

const std::vector<std::string>& RoleWords() {
  static const auto* words = new std::vector<std::string>{"admin", "viewer"};
  return *words;
}

const std::vector<std::string>& SessionStateWords() {
  static const auto* words = new std::vector<std::string>{"active", "closing", "closed", "any"};
  return *words;
}

absl::StatusOr<v1::Protocol> ParseProtocol(absl::string_view text) {
  const std::string word = Normalised(text);
  for (int value = v1::WIREGUARD; value <= v1::QUIC; ++value) {
    const auto protocol = static_cast<v1::Protocol>(value);
    if (word == ProtocolName(protocol)) return protocol;
  }
  return NotOneOf("protocol", text, ProtocolWords());
}

absl::StatusOr<v1::LimitPolicy> ParsePolicy(absl::string_view text) {
  const std::string word = Normalised(text);
  for (v1::LimitPolicy policy : {v1::EVICT_OLDEST, v1::REJECT}) {
    if (word == PolicyName(policy)) return policy;
  }
  return NotOneOf("limit policy", text, PolicyWords());
}

absl::StatusOr<v1::ApiKeyRole> ParseRole(absl::string_view text) {
  const std::string word = Normalised(text);
  for (v1::ApiKeyRole role : {v1::ADMIN, v1::VIEWER}) {
    if (word == RoleName(role)) return role;
  }
  return NotOneOf("role", text, RoleWords());
}

absl::StatusOr<v1::SessionState> ParseSessionState(absl::string_view text) {
  const std::string normalised = Normalised(text);
  absl::string_view word = normalised;
  absl::ConsumePrefix(&word, "session-state-");
  if (word == "any") return v1::SESSION_STATE_UNSPECIFIED;
  for (v1::SessionState state :
       {v1::SESSION_STATE_ACTIVE, v1::SESSION_STATE_CLOSING, v1::SESSION_STATE_CLOSED}) {
    if (word == SessionStateName(state)) return state;
  }
  return NotOneOf("session state", text, SessionStateWords());
}

std::string BytesText(int64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < kUnits.size()) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  return absl::StrFormat("%.1f %s", value, kUnits[unit]);
}

std::string RateText(int64_t bytes_per_second) {
  if (bytes_per_second == 0) return "unlimited";
  return absl::StrCat(BytesText(bytes_per_second), "/s");
}

absl::StatusOr<int64_t> ParseByteRate(absl::string_view text) {
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  absl::ConsumeSuffix(&rest, "/s");
  size_t digits = 0;
  while (digits < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[digits]))) {
    ++digits;
  }
  int64_t number = 0;
  if (digits == 0 || !absl::SimpleAtoi(rest.substr(0, digits), &number)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a byte rate (say 1048576, 500k, 10MiB)"));
  }
  std::string unit(rest.substr(digits));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  static const std::vector<std::pair<std::string, int64_t>> kMultipliers = {
      {"", 1},
      {"k", 1000},
      {"K", 1000},
      {"M", 1000 * 1000},
      {"G", 1000 * 1000 * 1000},
      {"Ki", 1024},
      {"Mi", 1024 * 1024},
      {"Gi", int64_t{1024} * 1024 * 1024},
      {"T", int64_t{1000} * 1000 * 1000 * 1000},
      {"Ti", int64_t{1024} * 1024 * 1024 * 1024},
  };
  for (const auto& [suffix, multiplier] : kMultipliers) {
    if (unit != suffix) continue;
    if (number > std::numeric_limits<int64_t>::max() / multiplier) {
      return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is too large"));
    }
    return number * multiplier;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\": unknown unit \"", unit, "\" (k, M, G, T, Ki, Mi, Gi, Ti)"));
}

}  // namespace warden::wardenctl
