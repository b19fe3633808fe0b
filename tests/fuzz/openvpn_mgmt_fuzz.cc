// libFuzzer target: the OpenVPN management parser on one stream of bytes.
//
// The first byte picks the parser's limits and how the stream is cut into
// reads; the rest is the stream. One parser reads it whole, another in those
// reads: both must give the same messages, and every message and every read
// must keep the invariants the randomized unit test checks. The commands
// built from the stream's lines must stay one command each.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "agent/drivers/openvpn/mgmt_protocol.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/unit/openvpn/mgmt_invariants.h"

namespace warden::agent::openvpn {
namespace {

// A command ends in its only line end and carries no other control byte.
void CheckOneLine(absl::string_view command) {
  FUZZ_CHECK(!command.empty() && command.back() == '\n');
  for (char c : command.substr(0, command.size() - 1)) {
    FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  }
}

// The first lines of the stream, cut to a little more than a command takes.
void CheckCommands(absl::string_view stream) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(stream, '\n')) {
    if (lines.size() == 8) break;
    lines.emplace_back(line.substr(0, 2 * kMaxCommandTextBytes));
  }
  for (const std::string& line : lines) {
    CheckOneLine(ClientDenyCommand(7, 1, line, line));
    CheckOneLine(ClientKillCommand(7, line));
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
