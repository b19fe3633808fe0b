#include "agent/drivers/openvpn/mgmt_protocol.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden::agent::openvpn {
namespace {

constexpr absl::string_view kPasswordPrompt = "ENTER PASSWORD:";

// A non-negative decimal id or counter: digits only, no sign, no spaces, fits
// in int64_t.
std::optional<int64_t> ParseCount(absl::string_view text) {
  if (text.empty() || text.size() > 19) return std::nullopt;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) return std::nullopt;
  return value;
}

std::optional<ClientEventKind> HeaderKind(absl::string_view name) {
  if (name == "CONNECT") return ClientEventKind::kConnect;
  if (name == "REAUTH") return ClientEventKind::kReauth;
  if (name == "ESTABLISHED") return ClientEventKind::kEstablished;
  if (name == "DISCONNECT") return ClientEventKind::kDisconnect;
  if (name == "CR_RESPONSE") return ClientEventKind::kCrResponse;
  return std::nullopt;
}

bool HeaderHasKid(ClientEventKind kind) {
  return kind == ClientEventKind::kConnect || kind == ClientEventKind::kReauth ||
         kind == ClientEventKind::kCrResponse;
}

// Splits "a,b" at the first ','; nullopt for the second half when there is no ','.
std::pair<absl::string_view, std::optional<absl::string_view>> SplitFirst(absl::string_view text,
                                                                          char sep) {
  const size_t pos = text.find(sep);
  if (pos == absl::string_view::npos) return {text, std::nullopt};
  return {text.substr(0, pos), text.substr(pos + 1)};
}

ProtocolError Error(std::string what, int64_t cid = -1, int64_t kid = -1,
                    std::optional<ClientEventKind> block_kind = std::nullopt) {
  ProtocolError error;
  error.what = std::move(what);
  error.cid = cid;
  error.kid = kid;
  error.block_kind = block_kind;
  return error;
}

// The header fields of a >CLIENT:<KIND>,args line, as far as they parse.
struct ParsedHeader {
  int64_t cid = -1;
  int64_t kid = -1;
  std::string extra;
  bool ok = false;
};

ParsedHeader ParseHeaderArgs(ClientEventKind kind, std::optional<absl::string_view> args) {
  ParsedHeader header;
  if (!args.has_value()) return header;
  auto [cid_text, after_cid] = SplitFirst(*args, ',');
  std::optional<int64_t> cid = ParseCount(cid_text);
  if (!cid.has_value()) return header;
  header.cid = *cid;
  if (kind == ClientEventKind::kOther) {
    // Unknown kind: take a kid when the next field is a number.
    if (after_cid.has_value()) {
      auto [kid_text, rest] = SplitFirst(*after_cid, ',');
      if (std::optional<int64_t> kid = ParseCount(kid_text); kid.has_value()) {
        header.kid = *kid;
        header.extra = std::string(rest.value_or(""));
      } else {
        header.extra = std::string(*after_cid);
      }
    }
    header.ok = true;
    return header;
  }
  if (!HeaderHasKid(kind)) {
    header.extra = std::string(after_cid.value_or(""));
    header.ok = true;
    return header;
  }
  if (!after_cid.has_value()) return header;
  auto [kid_text, rest] = SplitFirst(*after_cid, ',');
  std::optional<int64_t> kid = ParseCount(kid_text);
  if (!kid.has_value()) return header;
  header.kid = *kid;
  header.extra = std::string(rest.value_or(""));
  header.ok = true;
  return header;
}

}  // namespace

std::optional<std::string> ClientEnv::Get(absl::string_view key) const {
  for (const auto& [name, value] : vars) {
    if (name == key) return value;
  }
  return std::nullopt;
}

absl::string_view ClientEventKindName(ClientEventKind kind) {
  switch (kind) {
    case ClientEventKind::kConnect:
      return "CONNECT";
    case ClientEventKind::kReauth:
      return "REAUTH";
    case ClientEventKind::kEstablished:
      return "ESTABLISHED";
    case ClientEventKind::kDisconnect:
      return "DISCONNECT";
    case ClientEventKind::kCrResponse:
      return "CR_RESPONSE";
    case ClientEventKind::kOther:
      break;
  }
  return "OTHER";
}

// --- MgmtParser ------------------------------------------------------------------

MgmtParser::MgmtParser() : MgmtParser(Limits()) {}

MgmtParser::MgmtParser(Limits limits) : limits_(limits) {}

void MgmtParser::Reset() {
  partial_.clear();
  partial_.shrink_to_fit();
  discarding_ = false;
  block_.reset();
  orphan_env_ = false;
  reply_open_ = false;
  reply_truncated_ = false;
  reply_lines_.clear();
  reply_lines_.shrink_to_fit();
  reply_bytes_ = 0;
}

size_t MgmtParser::BufferedBytes() const {
  size_t bytes = partial_.size() + reply_bytes_;
  if (block_.has_value()) bytes += block_->env_bytes;
  return bytes;
}

void MgmtParser::Feed(absl::string_view bytes, std::vector<MgmtMessage>& out) {
  // Every decision depends only on the bytes of the stream, never on where a
  // read ended, so any split of the same stream gives the same messages.
  while (!bytes.empty()) {
    if (discarding_) {
      const size_t newline = bytes.find('\n');
      if (newline == absl::string_view::npos) return;
      bytes.remove_prefix(newline + 1);
      discarding_ = false;
      continue;
    }
    const size_t newline = bytes.find('\n');
    const size_t segment = newline == absl::string_view::npos ? bytes.size() : newline;

    // The password prompt has no newline: recognise it as soon as a line
    // starts with it, and go on with the rest as a new line.
    if (partial_.size() < kPasswordPrompt.size() && absl::StartsWith(kPasswordPrompt, partial_)) {
      const size_t take = std::min(segment, kPasswordPrompt.size() - partial_.size());
      if (bytes.substr(0, take) == kPasswordPrompt.substr(partial_.size(), take)) {
        if (partial_.size() + take == kPasswordPrompt.size()) {
          out.emplace_back(PasswordPrompt{});
          partial_.clear();
          bytes.remove_prefix(take);
          continue;
        }
        if (newline == absl::string_view::npos) {  // still a prompt so far
          partial_.append(bytes.data(), bytes.size());
          return;
        }
      }
    }

    if (newline == absl::string_view::npos) {
      // No line end yet: keep the bytes unless the line is already too long.
      // One byte more is allowed when it is a '\r' (the CR of CRLF).
      const size_t held = partial_.size() + bytes.size();
      const bool fits = held <= limits_.max_line_bytes ||
                        (held == limits_.max_line_bytes + 1 && bytes.back() == '\r');
      if (fits) {
        partial_.append(bytes.data(), bytes.size());
        return;
      }
      const size_t room =
          limits_.max_line_bytes - std::min(partial_.size(), limits_.max_line_bytes);
      partial_.append(bytes.data(), std::min(bytes.size(), room));
      HandleOversizedLine(absl::string_view(partial_).substr(0, limits_.max_line_bytes), out);
      partial_.clear();
      discarding_ = true;
      return;
    }

    size_t length = partial_.size() + newline;
    const bool crlf =
        newline > 0 ? bytes[newline - 1] == '\r' : (!partial_.empty() && partial_.back() == '\r');
    if (crlf) --length;
    if (length > limits_.max_line_bytes) {
      const size_t from_bytes = std::min(
          newline, limits_.max_line_bytes - std::min(partial_.size(), limits_.max_line_bytes));
      partial_.append(bytes.data(), from_bytes);
      HandleOversizedLine(absl::string_view(partial_).substr(0, limits_.max_line_bytes), out);
    } else if (partial_.empty()) {
      HandleLine(bytes.substr(0, length), out);
    } else {
      partial_.append(bytes.data(), newline);
      HandleLine(absl::string_view(partial_).substr(0, length), out);
    }
    partial_.clear();
    bytes.remove_prefix(newline + 1);
  }
}

void MgmtParser::HandleLine(absl::string_view line, std::vector<MgmtMessage>& out) {
  if (line.empty()) {
    // Blank lines mean nothing outside a multi-line reply.
    if (reply_open_) AddReplyLine(line, out);
    return;
  }
  if (line.front() == '>') {
    HandleRealtime(line.substr(1), out);
    return;
  }
  if (absl::ConsumePrefix(&line, "SUCCESS:")) {
    absl::ConsumePrefix(&line, " ");
    out.emplace_back(CommandReply{true, std::string(line)});
    return;
  }
  if (absl::ConsumePrefix(&line, "ERROR:")) {
    absl::ConsumePrefix(&line, " ");
    out.emplace_back(CommandReply{false, std::string(line)});
    return;
  }
  if (line == "END") {
    MultilineReply reply;
    reply.lines = std::move(reply_lines_);
    reply.truncated = reply_truncated_;
    out.emplace_back(std::move(reply));
    reply_lines_ = {};
    reply_bytes_ = 0;
    reply_open_ = false;
    reply_truncated_ = false;
    return;
  }
  AddReplyLine(line, out);
}

void MgmtParser::AddReplyLine(absl::string_view line, std::vector<MgmtMessage>& out) {
  reply_open_ = true;
  if (reply_truncated_) return;
  if (reply_lines_.size() >= limits_.max_multiline_lines ||
      reply_bytes_ + line.size() > limits_.max_multiline_bytes) {
    reply_truncated_ = true;
    out.emplace_back(
        Error(absl::StrCat("multi-line reply exceeds ", limits_.max_multiline_lines, " lines or ",
                           limits_.max_multiline_bytes, " bytes; the rest is dropped")));
    return;
  }
  reply_lines_.emplace_back(line);
  reply_bytes_ += line.size();
}

void MgmtParser::HandleOversizedLine(absl::string_view prefix, std::vector<MgmtMessage>& out) {
  const std::string what =
      absl::StrCat("line longer than ", limits_.max_line_bytes, " bytes discarded");
  if (block_.has_value()) {
    // Whatever the line was, the open block can no longer be trusted complete.
    const ClientEvent& event = block_->event;
    out.emplace_back(
        Error(absl::StrCat(what, " inside a >CLIENT:", ClientEventKindName(event.kind), " block"),
              event.cid, event.kid, event.kind));
    block_->failed = true;
    block_->event.env.vars.clear();
    block_->env_bytes = 0;
    return;
  }
  absl::string_view rest = prefix;
  if (absl::ConsumePrefix(&rest, ">CLIENT:")) {
    auto [name, args] = SplitFirst(rest, ',');
    if (std::optional<ClientEventKind> kind = HeaderKind(name); kind.has_value()) {
      // A header too long to keep (e.g. a huge CR_RESPONSE): fail its block by
      // the ids at its start, and swallow its ENV lines.
      ParsedHeader header;
      if (args.has_value()) {
        auto [cid_text, after_cid] = SplitFirst(*args, ',');
        if (std::optional<int64_t> cid = ParseCount(cid_text); cid.has_value()) {
          header.cid = *cid;
          if (HeaderHasKid(*kind) && after_cid.has_value()) {
            auto [kid_text, more] = SplitFirst(*after_cid, ',');
            std::optional<int64_t> kid = ParseCount(kid_text);
            if (kid.has_value() && more.has_value()) header.kid = *kid;
          }
        }
      }
      OpenBlock block;
      block.event.kind = *kind;
      block.event.kind_name = std::string(name);
      block.event.cid = header.cid;
      block.event.kid = header.kid;
      block.failed = true;
      block_ = std::move(block);
      orphan_env_ = false;
      out.emplace_back(
          Error(absl::StrCat(what, ": a >CLIENT:", ClientEventKindName(*kind), " header"),
                header.cid, header.kid, *kind));
      return;
    }
  }
  if (!prefix.empty() && prefix.front() != '>' && !absl::StartsWith(prefix, "SUCCESS:") &&
      !absl::StartsWith(prefix, "ERROR:")) {
    // Most likely a line of a multi-line reply: mark that reply incomplete.
    reply_open_ = true;
    reply_truncated_ = true;
  }
  out.emplace_back(Error(what));
}

void MgmtParser::HandleRealtime(absl::string_view body, std::vector<MgmtMessage>& out) {
  auto [kind, text] = SplitFirst(body, ':');
  if (!text.has_value()) {
    out.emplace_back(Error("real-time message without ':'"));
    return;
  }
  if (kind == "CLIENT") {
    HandleClient(*text, out);
  } else if (kind == "BYTECOUNT_CLI") {
    HandleBytecount(*text, out);
  } else {
    out.emplace_back(Notification{std::string(kind), std::string(*text)});
  }
}

void MgmtParser::HandleClient(absl::string_view text, std::vector<MgmtMessage>& out) {
  auto [name, args] = SplitFirst(text, ',');
  if (name == "ENV") {
    HandleClientEnv(args, out);
  } else if (name == "ADDRESS") {
    HandleClientAddress(args, out);
  } else {
    HandleClientHeader(name, args, out);
  }
}

void MgmtParser::FailBlock(absl::string_view what, std::vector<MgmtMessage>& out) {
  OpenBlock& block = *block_;
  out.emplace_back(Error(
      absl::StrCat(">CLIENT:", ClientEventKindName(block.event.kind), " block failed: ", what),
      block.event.cid, block.event.kid, block.event.kind));
  block.failed = true;
  block.event.env.vars.clear();
  block.env_bytes = 0;
}

void MgmtParser::HandleClientEnv(std::optional<absl::string_view> args,
                                 std::vector<MgmtMessage>& out) {
  const bool end = args.has_value() && *args == "END";
  if (!block_.has_value()) {
    // Report a run of stray ENV lines once, not line by line.
    if (!orphan_env_) out.emplace_back(Error(">CLIENT:ENV line outside a client block"));
    orphan_env_ = !end;
    return;
  }
  OpenBlock& block = *block_;
  if (end) {
    if (!block.failed) out.emplace_back(std::move(block.event));
    block_.reset();
    return;
  }
  if (block.failed) return;
  if (!args.has_value()) {
    FailBlock("ENV line without ','", out);
    return;
  }
  auto [key, value] = SplitFirst(*args, '=');
  const absl::string_view value_text = value.value_or("");
  if (block.event.env.vars.size() >= limits_.max_env_vars) {
    FailBlock(absl::StrCat("more than ", limits_.max_env_vars, " ENV variables"), out);
    return;
  }
  const size_t bytes = key.size() + value_text.size();
  if (block.env_bytes + bytes > limits_.max_env_bytes) {
    FailBlock(absl::StrCat("more than ", limits_.max_env_bytes, " bytes of ENV"), out);
    return;
  }
  block.event.env.vars.emplace_back(std::string(key), std::string(value_text));
  block.env_bytes += bytes;
}

void MgmtParser::HandleClientHeader(absl::string_view name, std::optional<absl::string_view> args,
                                    std::vector<MgmtMessage>& out) {
  const std::optional<ClientEventKind> known = HeaderKind(name);
  const ClientEventKind kind = known.value_or(ClientEventKind::kOther);
  ParsedHeader header = ParseHeaderArgs(kind, args);
  if (!known.has_value() && !header.ok) {
    // Not a block header we understand; leave any open block alone.
    out.emplace_back(Error("unrecognised >CLIENT: message"));
    return;
  }
  if (block_.has_value() && !block_->failed) {
    const ClientEvent& open = block_->event;
    out.emplace_back(Error(absl::StrCat(">CLIENT:", ClientEventKindName(open.kind),
                                        " block interrupted by a new >CLIENT: header"),
                           open.cid, open.kid, open.kind));
  }
  block_.reset();
  orphan_env_ = false;

  OpenBlock block;
  block.event.kind = kind;
  block.event.kind_name = std::string(name);
  block.event.cid = header.cid;
  block.event.kid = header.kid;
  block.event.extra = std::move(header.extra);
  if (!header.ok) {
    // Swallow its ENV lines: the driver learns of it from this error.
    block.failed = true;
    block.event.extra.clear();
    out.emplace_back(Error(absl::StrCat("malformed >CLIENT:", ClientEventKindName(kind), " header"),
                           header.cid, header.kid, kind));
  }
  block_ = std::move(block);
}

void MgmtParser::HandleClientAddress(std::optional<absl::string_view> args,
                                     std::vector<MgmtMessage>& out) {
  if (!args.has_value()) {
    out.emplace_back(Error("malformed >CLIENT:ADDRESS"));
    return;
  }
  std::vector<absl::string_view> fields = absl::StrSplit(*args, absl::MaxSplits(',', 2));
  std::optional<int64_t> cid = ParseCount(fields[0]);
  if (!cid.has_value() || fields.size() != 3 || fields[1].empty() ||
      (fields[2] != "0" && fields[2] != "1")) {
    out.emplace_back(Error("malformed >CLIENT:ADDRESS", cid.value_or(-1)));
    return;
  }
  out.emplace_back(ClientAddress{*cid, std::string(fields[1]), fields[2] == "1"});
}

void MgmtParser::HandleBytecount(absl::string_view text, std::vector<MgmtMessage>& out) {
  std::vector<absl::string_view> fields = absl::StrSplit(text, absl::MaxSplits(',', 2));
  std::optional<int64_t> cid = ParseCount(fields[0]);
  std::optional<int64_t> in = fields.size() == 3 ? ParseCount(fields[1]) : std::nullopt;
  std::optional<int64_t> sent = fields.size() == 3 ? ParseCount(fields[2]) : std::nullopt;
  if (!cid.has_value() || !in.has_value() || !sent.has_value()) {
    out.emplace_back(Error("malformed >BYTECOUNT_CLI", cid.value_or(-1)));
    return;
  }
  out.emplace_back(ByteCount{*cid, *in, *sent});
}

// --- Commands --------------------------------------------------------------------

namespace {

bool IsControl(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

std::string StripControl(absl::string_view text) {
  std::string result;
  result.reserve(text.size());
  for (char c : text) {
    if (!IsControl(c)) result.push_back(c);
  }
  return result;
}

// Cuts to at most `max` bytes without splitting a UTF-8 sequence.
void CutUtf8(std::string& text, size_t max) {
  if (text.size() <= max) return;
  size_t end = max;
  // Back up over at most 3 continuation bytes (invalid UTF-8 is cut as bytes).
  while (end > 0 && max - end < 3 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) {
    --end;
  }
  text.resize(end);
}

std::string QuoteText(absl::string_view text) {
  std::string clean = StripControl(text);
  CutUtf8(clean, kMaxCommandTextBytes);
  std::string quoted = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') quoted.push_back('\\');
    quoted.push_back(c);
  }
  quoted.push_back('"');
  return quoted;
}

// A word OpenVPN's lexer reads back unchanged without quotes.
bool IsPlainWord(absl::string_view text) {
  if (text.empty() || text.front() == '#' || text.front() == ';') return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.' &&
        c != ',' && c != ':' && c != '/' && c != '=' && c != '+' && c != '@') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status CheckConfigLine(absl::string_view line) {
  if (line.empty()) return absl::InvalidArgumentError("config line is empty");
  if (line.size() > kMaxConfigLineBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("config line is longer than ", kMaxConfigLineBytes, " bytes"));
  }
  if (std::any_of(line.begin(), line.end(), IsControl)) {
    return absl::InvalidArgumentError("config line contains a control character");
  }
  if (line == "END") return absl::InvalidArgumentError("config line \"END\" would end the block");
  return absl::OkStatus();
}

std::string ClientAuthCommand(int64_t cid, int64_t kid,
                              const std::vector<std::string>& config_lines) {
  std::string command = absl::StrCat("client-auth ", cid, " ", kid, "\n");
  for (const std::string& line : config_lines) {
    std::string clean = StripControl(line);
    if (!CheckConfigLine(clean).ok()) continue;
    absl::StrAppend(&command, clean, "\n");
  }
  command += "END\n";
  return command;
}

std::string ClientAuthNtCommand(int64_t cid, int64_t kid) {
  return absl::StrCat("client-auth-nt ", cid, " ", kid, "\n");
}

std::string ClientDenyCommand(int64_t cid, int64_t kid, absl::string_view reason,
                              absl::string_view client_reason) {
  std::string command = absl::StrCat("client-deny ", cid, " ", kid, " ", QuoteText(reason));
  if (!StripControl(client_reason).empty())
    absl::StrAppend(&command, " ", QuoteText(client_reason));
  command += "\n";
  return command;
}

std::string KillMessage(absl::string_view kind, absl::string_view reason) {
  const std::string clean = StripControl(reason);
  if (clean.empty()) return std::string(kind);
  return absl::StrCat(kind, ",", clean);
}

std::string ClientKillCommand(int64_t cid, absl::string_view message) {
  std::string clean = StripControl(message);
  CutUtf8(clean, kMaxCommandTextBytes);
  if (clean.empty()) return absl::StrCat("client-kill ", cid, "\n");
  return absl::StrCat("client-kill ", cid, " ", IsPlainWord(clean) ? clean : QuoteText(clean),
                      "\n");
}

std::string BytecountCommand(int seconds) {
  return absl::StrCat("bytecount ", std::max(seconds, 0), "\n");
}

std::string StatusCommand() { return "status 3\n"; }

std::string PasswordCommand(absl::string_view password) {
  return absl::StrCat(StripControl(password), "\n");
}

// --- status 3 --------------------------------------------------------------------

namespace {

enum Column {
  kCommonName,
  kRealAddress,
  kVirtualAddress,
  kVirtualIpv6,
  kBytesReceived,
  kBytesSent,
  kConnectedSinceUnix,
  kUsername,
  kClientId,
  kPeerId,
  kCipher,
  kColumnCount,
};

constexpr std::array<absl::string_view, kColumnCount> kColumnNames = {
    "Common Name",    "Real Address", "Virtual Address",          "Virtual IPv6 Address",
    "Bytes Received", "Bytes Sent",   "Connected Since (time_t)", "Username",
    "Client ID",      "Peer ID",      "Data Channel Cipher",
};

// Field positions (after "CLIENT_LIST") in OpenVPN 2.6's status 2/3 output.
constexpr std::array<int, kColumnCount> kDefaultColumns = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11};

// One CLIENT_LIST row (the `row`-th), its fields where `columns` says.
absl::StatusOr<StatusClient> ParseClientRow(const std::vector<absl::string_view>& fields,
                                            const std::array<int, kColumnCount>& columns, int row) {
  auto field = [&](Column column) -> absl::string_view {
    const int index = columns[column];
    if (index < 0 || static_cast<size_t>(index) >= fields.size()) return "";
    return fields[index];
  };
  std::optional<absl::Status> bad;
  auto number = [&](Column column, int64_t& into) {
    const absl::string_view text = field(column);
    if (text.empty() || bad.has_value()) return;
    std::optional<int64_t> value = ParseCount(text);
    if (!value.has_value()) {
      bad = absl::InvalidArgumentError(absl::StrCat("status CLIENT_LIST row ", row, ": '",
                                                    kColumnNames[column], "' is not a number"));
      return;
    }
    into = *value;
  };
  StatusClient client;
  client.common_name = std::string(field(kCommonName));
  client.real_address = std::string(field(kRealAddress));
  client.virtual_address = std::string(field(kVirtualAddress));
  client.virtual_ipv6 = std::string(field(kVirtualIpv6));
  client.username = std::string(field(kUsername));
  client.cipher = std::string(field(kCipher));
  number(kBytesReceived, client.bytes_received);
  number(kBytesSent, client.bytes_sent);
  number(kConnectedSinceUnix, client.connected_since_unix);
  number(kClientId, client.cid);
  number(kPeerId, client.peer_id);
  if (bad.has_value()) return *bad;
  return client;
}

}  // namespace

absl::StatusOr<StatusReport> ParseStatus(const std::vector<std::string>& lines) {
  StatusReport report;
  std::array<int, kColumnCount> columns = kDefaultColumns;
  bool recognised = false;
  int row = 0;
  for (absl::string_view line : lines) {
    absl::ConsumeSuffix(&line, "\r");
    if (line == "END") break;
    const size_t sep_pos = line.find_first_of("\t,");
    if (sep_pos == absl::string_view::npos) continue;
    const absl::string_view record = line.substr(0, sep_pos);
    const char sep = line[sep_pos];
    std::vector<absl::string_view> fields = absl::StrSplit(line.substr(sep_pos + 1), sep);

    if (record == "TITLE" || record == "ROUTING_TABLE" || record == "GLOBAL_STATS") {
      recognised = true;
    } else if (record == "TIME") {
      recognised = true;
      if (fields.size() >= 2) {
        if (std::optional<int64_t> time = ParseCount(fields[1]); time.has_value()) {
          report.time_unix = *time;
        }
      }
    } else if (record == "HEADER") {
      recognised = true;
      if (fields[0] != "CLIENT_LIST") continue;
      columns.fill(-1);
      for (size_t i = 1; i < fields.size(); ++i) {
        for (size_t c = 0; c < kColumnNames.size(); ++c) {
          if (fields[i] == kColumnNames[c] && columns[c] < 0) columns[c] = static_cast<int>(i - 1);
        }
      }
    } else if (record == "CLIENT_LIST") {
      recognised = true;
      absl::StatusOr<StatusClient> client = ParseClientRow(fields, columns, ++row);
      if (!client.ok()) return client.status();
      report.clients.push_back(*std::move(client));
    }
  }
  if (!recognised) {
    return absl::InvalidArgumentError(
        "not a status 2/3 reply: no TITLE, TIME, HEADER or CLIENT_LIST line");
  }
  return report;
}

// --- Describe --------------------------------------------------------------------

namespace {

constexpr std::array<absl::string_view, 11> kSafeKeys = {
    "username",       "common_name", "untrusted_ip",  "untrusted_port",
    "IV_PLAT",        "IV_VER",      "IV_GUI_VER",    "ifconfig_pool_remote_ip",
    "bytes_received", "bytes_sent",  "time_duration",
};
constexpr size_t kMaxDescribedValue = 128;
constexpr size_t kMaxDescribedKey = 64;
constexpr size_t kMaxDescribedKeys = 64;

bool IsSafeKey(absl::string_view key) {
  return std::find(kSafeKeys.begin(), kSafeKeys.end(), key) != kSafeKeys.end();
}

std::string EscapeCut(absl::string_view text, size_t max) {
  std::string escaped = absl::CEscape(text.substr(0, max));
  if (text.size() > max) escaped += "...";
  return escaped;
}

std::string SafeKindName(absl::string_view name) {
  std::string safe;
  for (char c : name.substr(0, 32)) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') {
      safe.push_back(c);
    }
  }
  return safe.empty() ? "?" : safe;
}

bool Leaks(absl::string_view text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (absl::StrContains(text, secret)) return true;
  }
  return false;
}

}  // namespace

std::string Describe(const ClientEvent& event) {
  // Secrets and their escaped forms, as they could appear in the output.
  std::vector<std::string> secrets;
  auto add_secret = [&secrets](absl::string_view secret) {
    if (secret.size() < kMinSecretBytes) return;
    secrets.emplace_back(secret);
    secrets.push_back(absl::CEscape(secret));
  };
  for (const auto& [key, value] : event.env.vars) {
    if (key == "password") add_secret(value);
  }
  add_secret(event.extra);

  const std::string head =
      absl::StrCat("kind=", SafeKindName(event.kind_name), " cid=", event.cid, " kid=", event.kid);
  std::string full = head;
  std::vector<absl::string_view> seen;
  for (const auto& [key, value] : event.env.vars) {
    if (!IsSafeKey(key) || std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
    seen.push_back(key);
    absl::StrAppend(&full, " ", key, "=\"", EscapeCut(value, kMaxDescribedValue), "\"");
  }
  std::vector<std::string> keys;
  for (const auto& var : event.env.vars) {
    if (keys.size() == kMaxDescribedKeys) break;
    keys.push_back(EscapeCut(var.first, kMaxDescribedKey));
  }
  absl::StrAppend(&full, " env_keys=", absl::StrJoin(keys, ","));
  if (event.env.vars.size() > keys.size()) {
    absl::StrAppend(&full, ",...(", event.env.vars.size(), " in all)");
  }

  // Fewer details whenever the fuller text would show a secret, e.g. a
  // password equal to the username.
  for (std::string candidate :
       {std::move(full), absl::StrCat(head, " env_vars=", event.env.vars.size(), " (withheld)"),
        std::string("(withheld)")}) {
    if (!Leaks(candidate, secrets)) return candidate;
  }
  return "-";
}

}  // namespace warden::agent::openvpn
