// Randomized test of the management parser: seeded mutations of the recorded
// transcripts (byte flips, inserted protocol tokens, deletions, splices between
// transcripts), fed in random pieces. The parser must not crash or hang, must
// give the same messages for any split, and must keep its invariants.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/drivers/openvpn/mgmt_protocol.h"
#include "tests/unit/openvpn/mgmt_invariants.h"

namespace warden::agent::openvpn {
namespace {

constexpr uint64_t kSeed = 20261123;
constexpr int kDefaultInputs = 1'000'000;

std::string LoadTranscript(absl::string_view name) {
  std::ifstream file(absl::StrCat(WARDEN_OPENVPN_TRANSCRIPTS_DIR, "/", name), std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  std::string text = buffer.str();
  absl::string_view rest = text;
  while (absl::StartsWith(rest, "#")) {
    const size_t newline = rest.find('\n');
    rest.remove_prefix(newline == absl::string_view::npos ? rest.size() : newline + 1);
  }
  return std::string(rest);
}

std::vector<std::string> Corpus() {
  std::vector<std::string> corpus;
  for (const char* name : {"alice_session.txt", "interleaved.txt", "password_prompt.txt"}) {
    const std::string lf = LoadTranscript(name);
    EXPECT_FALSE(lf.empty()) << name;
    corpus.push_back(lf);
    corpus.push_back(absl::StrReplaceAll(lf, {{"\n", "\r\n"}}));
  }
  return corpus;
}

const std::vector<std::string>& Tokens() {
  static const auto* tokens = new std::vector<std::string>{
      ">CLIENT:ENV,",
      ">CLIENT:ENV,END\r\n",
      "END\r\n",
      "END\n",
      "\n",
      "\r\n",
      "\r",
      ">CLIENT:CONNECT,",
      ">CLIENT:CONNECT,5,1\r\n",
      ">CLIENT:REAUTH,1,",
      ">CLIENT:ESTABLISHED,",
      ">CLIENT:DISCONNECT,3\n",
      ">CLIENT:CR_RESPONSE,4,2,",
      ">CLIENT:ADDRESS,",
      ">CLIENT:",
      ">BYTECOUNT_CLI:",
      ">LOG:",
      ">INFO:",
      "SUCCESS: ",
      "ERROR: ",
      "ENTER PASSWORD:",
      "password=",
      ">CLIENT:ENV,password=s3cr3t-VALUE\r\n",
      "s3cr3t-VALUE",
      "username=",
      ",",
      "=",
      "0",
      "1",
      "99999999999999999999",
      "-1",
      "\t",
      std::string(1, '\0'),
      ">",
      ":",
      "TITLE\t",
      "CLIENT_LIST\t",
      "HEADER\tCLIENT_LIST\tClient ID\t",
  };
  return *tokens;
}

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<std::string> corpus)
      : rng_(seed), corpus_(std::move(corpus)) {}

  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool OneIn(size_t n) { return Below(n) == 0; }

  // A window of 100..600 bytes of a transcript with up to 8 mutations. Half
  // the time the window continues where the last one ended, so that a stream
  // of inputs carries whole client blocks and replies across reads.
  std::string Next() {
    if (OneIn(2) || cursor_ >= corpus_[base_].size()) {
      base_ = Below(corpus_.size());
      const std::string& base = corpus_[base_];
      cursor_ = Below(base.size());
      if (OneIn(2)) {  // often start at a line
        const size_t newline = base.find('\n', cursor_);
        cursor_ = newline == std::string::npos ? 0 : newline + 1;
      }
    }
    const std::string& base = corpus_[base_];
    std::string input = base.substr(cursor_, 100 + Below(501));
    cursor_ += input.size();
    const size_t mutations = OneIn(4) ? 0 : 1 + Below(6);
    for (size_t m = 0; m < mutations; ++m) Mutate(input);
    if (input.size() > 1200) input.resize(1200);
    return input;
  }

  // Random read sizes, sometimes 0, mostly small.
  size_t NextChunk(size_t left) {
    switch (Below(4)) {
      case 0:
        return std::min(left, Below(4));
      case 1:
        return std::min(left, 1 + Below(16));
      case 2:
        return std::min(left, 1 + Below(128));
      default:
        return left;
    }
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  void Mutate(std::string& s) {
    const size_t at = Below(s.size() + 1);
    switch (Below(8)) {
      case 0:  // flip a bit
        if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
        break;
      case 1:  // replace a byte
        if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
        break;
      case 2:  // insert a byte
        s.insert(at, 1, static_cast<char>(Below(256)));
        break;
      case 3:
      case 4: {  // insert a protocol token
        const std::vector<std::string>& tokens = Tokens();
        s.insert(at, tokens[Below(tokens.size())]);
        break;
      }
      case 5:  // delete a range
        s.erase(std::min(at, s.size()), 1 + Below(32));
        break;
      case 6: {  // splice from another transcript
        const std::string& other = corpus_[Below(corpus_.size())];
        const size_t from = Below(other.size());
        s.insert(at, other.substr(from, 1 + Below(120)));
        break;
      }
      default:  // duplicate a range
        if (!s.empty()) {
          const size_t from = Below(s.size());
          s.insert(at, s.substr(from, 1 + Below(64)));
        }
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> corpus_;
  size_t base_ = 0;    // the transcript being read
  size_t cursor_ = 0;  // where its next window starts
};

int InputCount() {
  int count = kDefaultInputs;
  if (const char* env = std::getenv("WARDEN_OPENVPN_FUZZ_INPUTS")) {
    if (!absl::SimpleAtoi(env, &count) || count < 0) count = kDefaultInputs;
  }
  return count;
}

TEST(MgmtParserFuzzTest, SurvivesMutatedTranscriptsInAnySplit) {
  const int inputs = InputCount();
  Mutator mutator(kSeed, Corpus());
  const auto started = std::chrono::steady_clock::now();
  const std::clock_t cpu_started = std::clock();

  // Two parsers read the same stream: `whole` in one Feed per input,
  // `pieces` in random reads. A stream runs over several inputs, so state
  // carries from one input to the next, until a reset.
  size_t limits_choice = 0;
  MgmtParser::Limits limits = checks::PickLimits(limits_choice);
  MgmtParser whole(limits);
  MgmtParser pieces(limits);
  std::vector<MgmtMessage> whole_out;
  std::vector<MgmtMessage> pieces_out;
  std::vector<MgmtMessage> read_out;
  uint64_t bytes_fed = 0;
  uint64_t messages = 0;
  uint64_t events = 0;
  uint64_t errors = 0;

  for (int i = 0; i < inputs; ++i) {
    if (mutator.OneIn(16)) {
      limits_choice = mutator.Below(3);
      limits = checks::PickLimits(limits_choice);
      whole = MgmtParser(limits);
      pieces = MgmtParser(limits);
    } else if (mutator.OneIn(16)) {
      whole.Reset();
      pieces.Reset();
    }
    const std::string input = mutator.Next();
    bytes_fed += input.size();

    whole_out.clear();
    whole.Feed(input, whole_out);

    pieces_out.clear();
    absl::string_view left = input;
    while (!left.empty()) {
      const absl::string_view read = left.substr(0, mutator.NextChunk(left.size()));
      left.remove_prefix(read.size());
      read_out.clear();
      pieces.Feed(read, read_out);

      const std::string problem = checks::CheckRead(read, read_out, pieces);
      ASSERT_EQ(problem, "") << "input " << i << ": " << absl::CEscape(input);
      for (MgmtMessage& message : read_out) pieces_out.push_back(std::move(message));
    }

    ASSERT_EQ(whole_out.size(), pieces_out.size()) << "input " << i << ": " << absl::CEscape(input);
    for (size_t m = 0; m < whole_out.size(); ++m) {
      ASSERT_TRUE(checks::SameMessage(whole_out[m], pieces_out[m]))
          << "input " << i << ", message " << m << ": " << absl::CEscape(input);
    }
    ASSERT_EQ(whole.BufferedBytes(), pieces.BufferedBytes()) << "input " << i;
    messages += whole_out.size();
    for (const MgmtMessage& message : whole_out) {
      events += std::holds_alternative<ClientEvent>(message);
      errors += std::holds_alternative<ProtocolError>(message);
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;
  std::cout << "[ fuzz     ] inputs=" << inputs << " bytes=" << bytes_fed
            << " messages=" << messages << " client_events=" << events
            << " protocol_errors=" << errors << " seed=" << kSeed << " seconds=" << seconds
            << " cpu_seconds=" << cpu_seconds << std::endl;
  RecordProperty("inputs", inputs);
  // Mutations must leave enough structure for real messages to get through.
  if (inputs >= 10000) {
    EXPECT_GT(events, static_cast<uint64_t>(inputs) / 20);
    EXPECT_GT(errors, static_cast<uint64_t>(inputs) / 20);
  }
}

}  // namespace
}  // namespace warden::agent::openvpn
