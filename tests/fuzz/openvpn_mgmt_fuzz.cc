// libFuzzer target: the OpenVPN management parser on one stream of bytes.
//
// The first byte picks the parser's limits and how the stream is cut into
// reads; the rest is the stream. One parser reads it whole, another in those
// reads: both must give the same messages, and every message and every read
// must keep the invariants the randomized unit test checks. The commands
// built from the stream's lines must stay one command each, and OpenVPN's
// lexer must read their texts back as one parameter each.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/drivers/openvpn/mgmt_protocol.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/openvpn/mgmt_invariants.h"

namespace warden::agent::openvpn {
namespace {

FUZZ_UNTRACED bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// A command ends in its only line end and carries no other control byte.
FUZZ_UNTRACED void CheckOneLine(absl::string_view command) {
  FUZZ_CHECK(!command.empty() && command.back() == '\n');
  for (char c : command.substr(0, command.size() - 1)) FUZZ_CHECK(!IsControl(c));
}

// The parameters of a command line as OpenVPN's option lexer reads them:
// blanks separate, double and single quotes group, a backslash escapes the
// next byte (except inside single quotes).
FUZZ_UNTRACED std::vector<std::string> Lex(absl::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false, in_double = false, in_single = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\' && !in_single && i + 1 < line.size()) {
      word.push_back(line[++i]);
      in_word = true;
    } else if (c == '"' && !in_single) {
      in_double = !in_double;
      in_word = true;
    } else if (c == '\'' && !in_double) {
      in_single = !in_single;
      in_word = true;
    } else if ((c == ' ' || c == '\t' || c == '\n') && !in_double && !in_single) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  FUZZ_CHECK(!in_double && !in_single);
  if (in_word) words.push_back(std::move(word));
  return words;
}

// `text` came back as `read` from a command: its control bytes removed and
// cut to at most kMaxCommandTextBytes (less up to 3 bytes of a UTF-8 sequence).
FUZZ_UNTRACED void CheckParameter(absl::string_view read, absl::string_view text) {
  std::string clean;
  for (char c : text) {
    if (!IsControl(c)) clean.push_back(c);
  }
  FUZZ_CHECK(absl::StartsWith(clean, read));
  FUZZ_CHECK(read.size() <= kMaxCommandTextBytes);
  FUZZ_CHECK(read.size() + 3 >= std::min(clean.size(), kMaxCommandTextBytes));
}

// A deny and a kill carry the text as one parameter, whatever it holds.
FUZZ_UNTRACED void CheckTextParameters(absl::string_view text) {
  const std::string deny = ClientDenyCommand(7, 1, text, text);
  CheckOneLine(deny);
  const std::vector<std::string> deny_words = Lex(deny);
  FUZZ_CHECK(deny_words.size() == 4 || deny_words.size() == 5);
  FUZZ_CHECK(deny_words[0] == "client-deny" && deny_words[1] == "7" && deny_words[2] == "1");
  for (size_t i = 3; i < deny_words.size(); ++i) CheckParameter(deny_words[i], text);

  const std::string kill = ClientKillCommand(7, text);
  CheckOneLine(kill);
  const std::vector<std::string> kill_words = Lex(kill);
  FUZZ_CHECK(kill_words.size() == 2 || kill_words.size() == 3);
  FUZZ_CHECK(kill_words[0] == "client-kill" && kill_words[1] == "7");
  if (kill_words.size() == 3) CheckParameter(kill_words[2], text);
}

// The first lines of the stream, cut to a little more than a command takes.
FUZZ_UNTRACED void CheckCommands(absl::string_view stream) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(stream, '\n')) {
    if (lines.size() == 8) break;
    lines.emplace_back(line.substr(0, 2 * kMaxCommandTextBytes));
  }
  for (const std::string& line : lines) {
    CheckTextParameters(line);
    CheckOneLine(PasswordCommand(line));
    CheckOneLine(KillMessage("HALT", line) + "\n");
  }
  // The config lines of a client-auth stay inside their block: one line per
  // accepted config line, none of them "END", and the block ends once.
  const std::string auth = ClientAuthCommand(7, 1, lines);
  std::vector<absl::string_view> auth_lines = absl::StrSplit(auth, '\n');
  FUZZ_CHECK(auth_lines.size() >= 3 && auth_lines.back().empty());
  FUZZ_CHECK(auth_lines[auth_lines.size() - 2] == "END");
  FUZZ_CHECK(auth_lines.size() - 3 <= lines.size());
  for (size_t i = 1; i + 2 < auth_lines.size(); ++i) {
    FUZZ_CHECK(CheckConfigLine(auth_lines[i]).ok());
  }
}

}  // namespace
}  // namespace warden::agent::openvpn

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace warden::agent::openvpn;
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const absl::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const MgmtParser::Limits limits = checks::PickLimits(control % 3);

  MgmtParser whole(limits);
  std::vector<MgmtMessage> whole_out;
  whole.Feed(stream, whole_out);

  // Reads of 1..32 bytes, their sizes drawn from `control`.
  MgmtParser pieces(limits);
  std::vector<MgmtMessage> pieces_out;
  std::vector<MgmtMessage> read_out;
  uint32_t state = control | 0x100u;
  absl::string_view left = stream;
  while (!left.empty()) {
    state = state * 1103515245u + 12345u;
    const absl::string_view read = left.substr(0, 1 + (state >> 16) % 32);
    left.remove_prefix(read.size());
    read_out.clear();
    pieces.Feed(read, read_out);
    const std::string problem = checks::CheckRead(read, read_out, pieces);
    FUZZ_CHECK_MSG(problem.empty(), problem);
    for (MgmtMessage& message : read_out) pieces_out.push_back(std::move(message));
  }

  FUZZ_CHECK(whole_out.size() == pieces_out.size());
  for (size_t m = 0; m < whole_out.size(); ++m) {
    FUZZ_CHECK(checks::SameMessage(whole_out[m], pieces_out[m]));
  }
  FUZZ_CHECK(whole.BufferedBytes() == pieces.BufferedBytes());
  whole.Reset();
  FUZZ_CHECK(whole.BufferedBytes() == 0);

  CheckCommands(stream);
  return 0;
}
