#pragma once

// What every message of the management parser must satisfy, whatever the
// input: shared by the randomized unit test and the libFuzzer target
// (tests/fuzz/openvpn_mgmt_fuzz.cc).

#include <algorithm>
#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/drivers/openvpn/mgmt_protocol.h"

namespace warden::agent::openvpn::checks {

// The password the seed transcripts carry; no error text may show it.
inline constexpr absl::string_view kSeedSecret = "s3cr3t";

// Limits for a test parser: 0 the defaults, 1 tiny (every limit is reachable
// by a short input), 2 small.
inline MgmtParser::Limits PickLimits(size_t which) {
  MgmtParser::Limits limits;
  if (which == 1) {
    limits.max_line_bytes = 48;
    limits.max_env_vars = 4;
    limits.max_env_bytes = 96;
    limits.max_multiline_lines = 4;
    limits.max_multiline_bytes = 128;
  } else if (which == 2) {
    limits.max_line_bytes = 160;
    limits.max_env_vars = 16;
    limits.max_env_bytes = 600;
    limits.max_multiline_lines = 24;
    limits.max_multiline_bytes = 2048;
  }
  return limits;
}

inline bool SameEnv(const ClientEnv& a, const ClientEnv& b) { return a.vars == b.vars; }

inline bool SameMessage(const MgmtMessage& a, const MgmtMessage& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<ClientEvent>(&a)) {
    const auto& y = std::get<ClientEvent>(b);
    return x->kind == y.kind && x->kind_name == y.kind_name && x->cid == y.cid && x->kid == y.kid &&
           x->extra == y.extra && SameEnv(x->env, y.env);
  }
  if (const auto* x = std::get_if<ClientAddress>(&a)) {
    const auto& y = std::get<ClientAddress>(b);
    return x->cid == y.cid && x->address == y.address && x->primary == y.primary;
  }
  if (const auto* x = std::get_if<ByteCount>(&a)) {
    const auto& y = std::get<ByteCount>(b);
    return x->cid == y.cid && x->bytes_in == y.bytes_in && x->bytes_out == y.bytes_out;
  }
  if (const auto* x = std::get_if<Notification>(&a)) {
    const auto& y = std::get<Notification>(b);
    return x->kind == y.kind && x->text == y.text;
  }
  if (const auto* x = std::get_if<CommandReply>(&a)) {
    const auto& y = std::get<CommandReply>(b);
    return x->success == y.success && x->text == y.text;
  }
  if (const auto* x = std::get_if<MultilineReply>(&a)) {
    const auto& y = std::get<MultilineReply>(b);
    return x->lines == y.lines && x->truncated == y.truncated;
  }
  if (const auto* x = std::get_if<ProtocolError>(&a)) {
    const auto& y = std::get<ProtocolError>(b);
    return x->what == y.what && x->cid == y.cid && x->kid == y.kid && x->block_kind == y.block_kind;
  }
  return true;  // PasswordPrompt
}

// Checks one message; returns "" or what is wrong.
inline std::string CheckMessage(const MgmtMessage& message, const MgmtParser::Limits& limits) {
  if (const auto* event = std::get_if<ClientEvent>(&message)) {
    if (event->env.vars.size() > limits.max_env_vars) return "too many ENV vars";
    size_t bytes = 0;
    for (const auto& [key, value] : event->env.vars) bytes += key.size() + value.size();
    if (bytes > limits.max_env_bytes) return "too many ENV bytes";
    if (event->cid < 0) return "event without cid";
    if ((event->kind == ClientEventKind::kEstablished ||
         event->kind == ClientEventKind::kDisconnect) &&
        event->kid != -1) {
      return "kid on a cid-only header";
    }
    if ((event->kind == ClientEventKind::kConnect || event->kind == ClientEventKind::kReauth ||
         event->kind == ClientEventKind::kCrResponse) &&
        event->kid < 0) {
      return "CONNECT without kid";
    }
    const std::string description = Describe(*event);
    if (description.find_first_of("\r\n") != std::string::npos) return "Describe has a newline";
    std::vector<std::string> secrets;
    for (const auto& [key, value] : event->env.vars) {
      if (key == "password") secrets.push_back(value);
    }
    secrets.push_back(event->extra);
    for (const std::string& secret : secrets) {
      if (secret.size() < kMinSecretBytes) continue;
      if (absl::StrContains(description, secret) ||
          absl::StrContains(description, absl::CEscape(secret))) {
        return absl::StrCat("Describe shows a secret: ", absl::CEscape(description));
      }
    }
  } else if (const auto* reply = std::get_if<MultilineReply>(&message)) {
    if (reply->lines.size() > limits.max_multiline_lines) return "too many reply lines";
    size_t bytes = 0;
    for (const std::string& line : reply->lines) {
      bytes += line.size();
      if (line.size() > limits.max_line_bytes) return "reply line over the line limit";
      if (line == "END" || line.find('\n') != std::string::npos) return "bad reply line";
      if (!line.empty() && line.front() == '>') return "real-time line inside a reply";
    }
    if (bytes > limits.max_multiline_bytes) return "too many reply bytes";
    // The status parser takes whatever a reply holds.
    absl::StatusOr<StatusReport> status = ParseStatus(reply->lines);
    if (!status.ok() && status.status().code() != absl::StatusCode::kInvalidArgument) {
      return "ParseStatus failed oddly";
    }
  } else if (const auto* error = std::get_if<ProtocolError>(&message)) {
    if (error->what.empty()) return "error without text";
    if (absl::StrContains(error->what, kSeedSecret)) return "error text shows input";
  } else if (const auto* note = std::get_if<Notification>(&message)) {
    if (note->kind.size() + note->text.size() + 2 > limits.max_line_bytes) return "long note";
    if (note->text.find('\n') != std::string::npos) return "newline in a note";
  } else if (const auto* reply = std::get_if<CommandReply>(&message)) {
    if (reply->text.find('\n') != std::string::npos) return "newline in a reply";
  }
  return "";
}

// Checks what one Feed(read) of `parser` gave; returns "" or what is wrong.
inline std::string CheckRead(absl::string_view read, const std::vector<MgmtMessage>& out,
                             const MgmtParser& parser) {
  const MgmtParser::Limits& limits = parser.limits();
  const size_t newlines = std::count(read.begin(), read.end(), '\n');
  size_t prompts = 0, errors = 0;
  for (const MgmtMessage& message : out) {
    if (std::holds_alternative<PasswordPrompt>(message)) ++prompts;
    if (std::holds_alternative<ProtocolError>(message)) ++errors;
    if (std::string problem = CheckMessage(message, limits); !problem.empty()) return problem;
  }
  // A message needs a line end, except for the prompt and the error of a
  // line found too long; a line gives at most one message or two errors.
  if (out.size() - prompts - errors > newlines) return "more messages than line ends";
  if (errors > 2 * newlines + 1) return "more errors than lines";
  if (prompts > read.size() / 15 + 1) return "more prompts than fit";
  if (parser.BufferedBytes() >
      limits.max_line_bytes + 1 + limits.max_env_bytes + limits.max_multiline_bytes) {
    return "buffers over their limits";
  }
  return "";
}

}  // namespace warden::agent::openvpn::checks
