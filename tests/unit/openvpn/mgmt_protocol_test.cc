#include "agent/drivers/openvpn/mgmt_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace warden::agent::openvpn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

// --- helpers ---------------------------------------------------------------------

// A transcript from tests/unit/openvpn/transcripts, without its '#' header.
std::string LoadTranscript(absl::string_view name) {
  std::ifstream file(absl::StrCat(WARDEN_OPENVPN_TRANSCRIPTS_DIR, "/", name), std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  std::string text = buffer.str();
  EXPECT_FALSE(text.empty()) << "missing transcript " << name;
  absl::string_view rest = text;
  while (absl::StartsWith(rest, "#")) {
    const size_t newline = rest.find('\n');
    rest.remove_prefix(newline == absl::string_view::npos ? rest.size() : newline + 1);
  }
  return std::string(rest);
}

std::string Crlf(absl::string_view lf) { return absl::StrReplaceAll(lf, {{"\n", "\r\n"}}); }

// Everything a message carries, in one line.
std::string Render(const MgmtMessage& message) {
  struct Visitor {
    std::string operator()(const ClientEvent& e) const {
      std::vector<std::string> vars;
      for (const auto& [key, value] : e.env.vars) {
        vars.push_back(absl::StrCat(absl::CEscape(key), "=", absl::CEscape(value)));
      }
      std::string text = absl::StrCat("EVENT ", ClientEventKindName(e.kind), "/", e.kind_name,
                                      " cid=", e.cid, " kid=", e.kid);
      if (!e.extra.empty()) absl::StrAppend(&text, " extra=", absl::CEscape(e.extra));
      absl::StrAppend(&text, " {", absl::StrJoin(vars, "|"), "}");
      return text;
    }
    std::string operator()(const ClientAddress& a) const {
      return absl::StrCat("ADDRESS cid=", a.cid, " ", absl::CEscape(a.address),
                          " primary=", a.primary);
    }
    std::string operator()(const ByteCount& b) const {
      return absl::StrCat("BYTECOUNT cid=", b.cid, " in=", b.bytes_in, " out=", b.bytes_out);
    }
    std::string operator()(const Notification& n) const {
      return absl::StrCat("NOTE ", absl::CEscape(n.kind), "|", absl::CEscape(n.text));
    }
    std::string operator()(const CommandReply& r) const {
      return absl::StrCat(r.success ? "SUCCESS|" : "ERROR|", absl::CEscape(r.text));
    }
    std::string operator()(const MultilineReply& r) const {
      std::vector<std::string> lines;
      for (const std::string& line : r.lines) lines.push_back(absl::CEscape(line));
      return absl::StrCat("REPLY[", r.lines.size(), r.truncated ? ",truncated" : "", "] ",
                          absl::StrJoin(lines, "|"));
    }
    std::string operator()(const PasswordPrompt&) const { return "PROMPT"; }
    std::string operator()(const ProtocolError& e) const {
      return absl::StrCat("PERR cid=", e.cid, " kid=", e.kid, " kind=",
                          e.block_kind.has_value() ? ClientEventKindName(*e.block_kind) : "-", ": ",
                          e.what);
    }
  };
  return std::visit(Visitor{}, message);
}

// Like Render, but events and replies by size only: for long transcripts.
std::string Summarize(const MgmtMessage& message) {
  if (const auto* e = std::get_if<ClientEvent>(&message)) {
    return absl::StrCat("EVENT ", e->kind_name, " cid=", e->cid, " kid=", e->kid,
                        " vars=", e->env.vars.size());
  }
  if (const auto* r = std::get_if<MultilineReply>(&message)) {
    return absl::StrCat("REPLY[", r->lines.size(), r->truncated ? ",truncated" : "", "]");
  }
  if (const auto* e = std::get_if<ProtocolError>(&message)) {
    return absl::StrCat("PERR cid=", e->cid, " kid=", e->kid);
  }
  return Render(message);
}

std::vector<std::string> RenderAll(const std::vector<MgmtMessage>& messages) {
  std::vector<std::string> rendered;
  for (const MgmtMessage& message : messages) rendered.push_back(Render(message));
  return rendered;
}

// Feeds `input` in pieces of the given sizes (the rest in one piece).
std::vector<MgmtMessage> FeedPieces(absl::string_view input, const std::vector<size_t>& sizes,
                                    MgmtParser::Limits limits = {}) {
  MgmtParser parser(limits);
  std::vector<MgmtMessage> out;
  for (size_t size : sizes) {
    if (input.empty()) break;
    size = std::min(size, input.size());
    parser.Feed(input.substr(0, size), out);
    input.remove_prefix(size);
  }
  parser.Feed(input, out);
  return out;
}

std::vector<MgmtMessage> FeedWhole(absl::string_view input, MgmtParser::Limits limits = {}) {
  return FeedPieces(input, {}, limits);
}

std::vector<MgmtMessage> FeedBytewise(absl::string_view input, MgmtParser::Limits limits = {}) {
  return FeedPieces(input, std::vector<size_t>(input.size(), 1), limits);
}

std::vector<size_t> RandomSizes(size_t total, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<size_t> sizes;
  const size_t max_piece = seed % 2 == 0 ? 16 : std::max<size_t>(total / 3, 1);
  for (size_t fed = 0; fed < total;) {
    const size_t size = std::uniform_int_distribution<size_t>(0, max_piece)(rng);
    sizes.push_back(size);  // empty reads too
    fed += size;
  }
  return sizes;
}

// Parses `input` whole, byte by byte and in random splits; all must agree.
std::vector<MgmtMessage> ParseEverySplit(absl::string_view input, MgmtParser::Limits limits = {}) {
  std::vector<MgmtMessage> whole = FeedWhole(input, limits);
  const std::vector<std::string> expected = RenderAll(whole);
  EXPECT_EQ(RenderAll(FeedBytewise(input, limits)), expected) << "byte by byte";
  for (uint32_t seed = 1; seed <= 24; ++seed) {
    EXPECT_EQ(RenderAll(FeedPieces(input, RandomSizes(input.size(), seed), limits)), expected)
        << "random split, seed " << seed;
  }
  return whole;
}

// --- table tests -------------------------------------------------------------------

struct Case {
  const char* name;
  std::string input;                  // LF line ends; run with LF and with CRLF
  std::vector<std::string> expected;  // Render(); a trailing '*' matches a prefix
};

const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
      {"InfoBanner",
       ">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\n",
       {"NOTE INFO|OpenVPN Management Interface Version 5 -- type \\'help\\' for more info"}},
      {"ConnectBlockWithPassword",
       ">CLIENT:CONNECT,0,1\n"
       ">CLIENT:ENV,n_clients=0\n"
       ">CLIENT:ENV,password=alice-pw\n"
       ">CLIENT:ENV,untrusted_port=48392\n"
       ">CLIENT:ENV,untrusted_ip=10.99.2.2\n"
       ">CLIENT:ENV,username=alice\n"
       ">CLIENT:ENV,IV_PROTO=990\n"
       ">CLIENT:ENV,IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n"
       ">CLIENT:ENV,IV_VER=2.6.14\n"
       ">CLIENT:ENV,IV_PLAT=linux\n"
       ">CLIENT:ENV,END\n",
       {"EVENT CONNECT/CONNECT cid=0 kid=1 {n_clients=0|password=alice-pw|untrusted_port=48392|"
        "untrusted_ip=10.99.2.2|username=alice|IV_PROTO=990|"
        "IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305|IV_VER=2.6.14|IV_PLAT=linux}"}},
      {"ClientAuthSucceeded",
       "SUCCESS: client-auth command succeeded\n",
       {"SUCCESS|client-auth command succeeded"}},
      {"AddressLine", ">CLIENT:ADDRESS,0,10.99.8.2,1\n", {"ADDRESS cid=0 10.99.8.2 primary=1"}},
      {"SecondaryAddress",
       ">CLIENT:ADDRESS,4,10.20.0.0/16,0\n",
       {"ADDRESS cid=4 10.20.0.0/16 primary=0"}},
      {"EstablishedBlock",
       ">CLIENT:ESTABLISHED,0\n"
       ">CLIENT:ENV,common_name=alice\n"
       ">CLIENT:ENV,ifconfig_pool_remote_ip=10.99.8.2\n"
       ">CLIENT:ENV,trusted_ip=10.99.2.2\n"
       ">CLIENT:ENV,trusted_port=48392\n"
       ">CLIENT:ENV,time_unix=1795415347\n"
       ">CLIENT:ENV,time_ascii=2026-11-23 06:29:07\n"
       ">CLIENT:ENV,END\n",
       {"EVENT ESTABLISHED/ESTABLISHED cid=0 kid=-1 {common_name=alice|"
        "ifconfig_pool_remote_ip=10.99.8.2|trusted_ip=10.99.2.2|trusted_port=48392|"
        "time_unix=1795415347|time_ascii=2026-11-23 06:29:07}"}},
      {"Status3Reply",
       "TITLE\tOpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)]\n"
       "TIME\t2026-11-23 06:29:30\t1795415370\n"
       "HEADER\tCLIENT_LIST\tCommon Name\tReal Address\tVirtual Address\n"
       "CLIENT_LIST\talice\t10.99.2.2:58543\t10.99.8.2\n"
       "HEADER\tROUTING_TABLE\tVirtual Address\tCommon Name\n"
       "ROUTING_TABLE\t10.99.8.2\talice\n"
       "GLOBAL_STATS\tdco_enabled\t0\n"
       "END\n",
       {"REPLY[7] TITLE\\tOpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)]|"
        "TIME\\t2026-11-23 06:29:30\\t1795415370|"
        "HEADER\\tCLIENT_LIST\\tCommon Name\\tReal Address\\tVirtual Address|"
        "CLIENT_LIST\\talice\\t10.99.2.2:58543\\t10.99.8.2|"
        "HEADER\\tROUTING_TABLE\\tVirtual Address\\tCommon Name|"
        "ROUTING_TABLE\\t10.99.8.2\\talice|GLOBAL_STATS\\tdco_enabled\\t0"}},
      {"DisconnectBlockWithBytes",
       ">CLIENT:DISCONNECT,0\n"
       ">CLIENT:ENV,time_duration=4\n"
       ">CLIENT:ENV,bytes_sent=2006\n"
       ">CLIENT:ENV,bytes_received=986\n"
       ">CLIENT:ENV,common_name=alice\n"
       ">CLIENT:ENV,END\n",
       {"EVENT DISCONNECT/DISCONNECT cid=0 kid=-1 {time_duration=4|bytes_sent=2006|"
        "bytes_received=986|common_name=alice}"}},
      {"KillAndDenyReplies",
       "SUCCESS: client-kill command succeeded\n"
       "SUCCESS: client-deny command succeeded\n"
       "ERROR: client-kill command failed\n"
       "ERROR:no space\n"
       "SUCCESS:\n",
       {"SUCCESS|client-kill command succeeded", "SUCCESS|client-deny command succeeded",
        "ERROR|client-kill command failed", "ERROR|no space", "SUCCESS|"}},
      {"HoldStateLogNeedOkFatal",
       ">HOLD:Waiting for hold release:0\n"
       ">STATE:1795415300,CONNECTED,SUCCESS,10.99.8.1,,,,\n"
       ">LOG:1795415349,I,TLS: Initial packet from [AF_INET]10.99.2.2:40001\n"
       ">NEED-OK:Need 'token-insertion-request' confirmation MSG:Please insert your token\n"
       ">PASSWORD:Verification Failed: 'Auth'\n"
       ">FATAL:Cannot open TUN/TAP dev /dev/net/tun\n"
       ">ECHO:\n",
       {"NOTE HOLD|Waiting for hold release:0",
        "NOTE STATE|1795415300,CONNECTED,SUCCESS,10.99.8.1,,,,",
        "NOTE LOG|1795415349,I,TLS: Initial packet from [AF_INET]10.99.2.2:40001",
        "NOTE NEED-OK|Need \\'token-insertion-request\\' confirmation MSG:Please insert your "
        "token",
        "NOTE PASSWORD|Verification Failed: \\'Auth\\'",
        "NOTE FATAL|Cannot open TUN/TAP dev /dev/net/tun", "NOTE ECHO|"}},
      {"BytecountPerClient",
       ">BYTECOUNT_CLI:0,1020,1886\n>BYTECOUNT:5,6\n",
       {"BYTECOUNT cid=0 in=1020 out=1886", "NOTE BYTECOUNT|5,6"}},
      {"LogInsideStatusReply",
       "TITLE\tOpenVPN 2.6.14\n"
       ">LOG:1795415400,D,MANAGEMENT: CMD 'status 3'\n"
       "CLIENT_LIST\talice\n"
       ">BYTECOUNT_CLI:3,0,0\n"
       "END\n",
       {"NOTE LOG|1795415400,D,MANAGEMENT: CMD \\'status 3\\'", "BYTECOUNT cid=3 in=0 out=0",
        "REPLY[2] TITLE\\tOpenVPN 2.6.14|CLIENT_LIST\\talice"}},
      {"LogAndAddressInsideEnvBlock",
       ">CLIENT:CONNECT,3,1\n"
       ">CLIENT:ENV,n_clients=1\n"
       ">LOG:1795415349,I,10.99.2.2:40001 TLS: Initial packet\n"
       ">CLIENT:ENV,username=bob\n"
       ">CLIENT:ADDRESS,0,10.99.8.2,1\n"
       "SUCCESS: client-kill command succeeded\n"
       ">CLIENT:ENV,END\n",
       {"NOTE LOG|1795415349,I,10.99.2.2:40001 TLS: Initial packet",
        "ADDRESS cid=0 10.99.8.2 primary=1", "SUCCESS|client-kill command succeeded",
        "EVENT CONNECT/CONNECT cid=3 kid=1 {n_clients=1|username=bob}"}},
      {"EnvValuesKeepEqualsAndCommas",
       ">CLIENT:CONNECT,3,1\n"
       ">CLIENT:ENV,password=b0b=pw,with,commas\n"
       ">CLIENT:ENV,flagonly\n"
       ">CLIENT:ENV,empty=\n"
       ">CLIENT:ENV,=novalue\n"
       ">CLIENT:ENV,\n"
       ">CLIENT:ENV,IV_GUI_VER=OpenVPN_GUI 11.51.0.0\n"
       ">CLIENT:ENV,END\n",
       {"EVENT CONNECT/CONNECT cid=3 kid=1 {password=b0b=pw,with,commas|flagonly=|empty=|"
        "=novalue|=|IV_GUI_VER=OpenVPN_GUI 11.51.0.0}"}},
      {"ReauthAndCrResponse",
       ">CLIENT:REAUTH,0,2\n>CLIENT:ENV,username=alice\n>CLIENT:ENV,END\n"
       ">CLIENT:CR_RESPONSE,3,1,MTIzNDU2\n>CLIENT:ENV,username=bob\n>CLIENT:ENV,END\n",
       {"EVENT REAUTH/REAUTH cid=0 kid=2 {username=alice}",
        "EVENT CR_RESPONSE/CR_RESPONSE cid=3 kid=1 extra=MTIzNDU2 {username=bob}"}},
      {"UnknownClientKindWithIds",
       ">CLIENT:PF,4,2,extra\n>CLIENT:ENV,a=b\n>CLIENT:ENV,END\n",
       {"EVENT OTHER/PF cid=4 kid=2 extra=extra {a=b}"}},
      {"BareEndIsEmptyReply", "END\n", {"REPLY[0] "}},
      {"BlankLinesOutsideReplyAreIgnored", "\n\n", {}},
      {"HelpReplyKeepsIndentedAndBlankLines",
       "Management Interface for OpenVPN 2.6.14\n"
       "Commands:\n"
       "\n"
       "                         release current hold and start tunnel.\n"
       "END\n",
       {"REPLY[4] Management Interface for OpenVPN 2.6.14|Commands:||"
        "                         release current hold and start tunnel."}},
      {"EnvLinesWithoutBlockAreReportedOnce",
       ">CLIENT:ENV,a=b\n>CLIENT:ENV,password=x\n>CLIENT:ENV,END\n>CLIENT:ENV,END\n",
       {"PERR cid=-1 kid=-1 kind=-: >CLIENT:ENV line outside a client block",
        "PERR cid=-1 kid=-1 kind=-: >CLIENT:ENV line outside a client block"}},
      {"NewHeaderBreaksOpenBlock",
       ">CLIENT:CONNECT,5,1\n>CLIENT:ENV,password=lost\n"
       ">CLIENT:CONNECT,6,1\n>CLIENT:ENV,username=carol\n>CLIENT:ENV,END\n",
       {"PERR cid=5 kid=1 kind=CONNECT*", "EVENT CONNECT/CONNECT cid=6 kid=1 {username=carol}"}},
      {"DisconnectBreaksOpenEstablished",
       ">CLIENT:ESTABLISHED,5\n>CLIENT:DISCONNECT,5\n>CLIENT:ENV,END\n",
       {"PERR cid=5 kid=-1 kind=ESTABLISHED*", "EVENT DISCONNECT/DISCONNECT cid=5 kid=-1 {}"}},
      {"NonNumericCid",
       ">CLIENT:CONNECT,abc,1\n>CLIENT:ENV,password=x\n>CLIENT:ENV,END\n",
       {"PERR cid=-1 kid=-1 kind=CONNECT: malformed >CLIENT:CONNECT header"}},
      {"OverflowingKid",
       ">CLIENT:CONNECT,7,99999999999999999999\n>CLIENT:ENV,END\n",
       {"PERR cid=7 kid=-1 kind=CONNECT: malformed >CLIENT:CONNECT header"}},
      {"MissingKid", ">CLIENT:REAUTH,7\n", {"PERR cid=7 kid=-1 kind=REAUTH*"}},
      {"SignedAndSpacedNumbers",
       ">CLIENT:CONNECT,-1,1\n>CLIENT:CONNECT,+1,1\n>CLIENT:CONNECT, 1,1\n>CLIENT:ESTABLISHED,\n",
       {"PERR cid=-1 kid=-1 kind=CONNECT*", "PERR cid=-1 kid=-1 kind=CONNECT*",
        "PERR cid=-1 kid=-1 kind=CONNECT*", "PERR cid=-1 kid=-1 kind=ESTABLISHED*"}},
      {"HeaderWithoutArguments",
       ">CLIENT:DISCONNECT\n>CLIENT:ENV,x=y\n>CLIENT:ENV,END\n",
       {"PERR cid=-1 kid=-1 kind=DISCONNECT*"}},
      {"MalformedEnvLineFailsBlock",
       ">CLIENT:CONNECT,8,1\n>CLIENT:ENV\n>CLIENT:ENV,a=b\n>CLIENT:ENV,END\n",
       {"PERR cid=8 kid=1 kind=CONNECT: >CLIENT:CONNECT block failed: ENV line without ','"}},
      {"MalformedBytecount",
       ">BYTECOUNT_CLI:1,2\n>BYTECOUNT_CLI:1,2,x\n>BYTECOUNT_CLI:\n"
       ">BYTECOUNT_CLI:1,2,3,4\n",
       {"PERR cid=1 kid=-1 kind=-: malformed >BYTECOUNT_CLI",
        "PERR cid=1 kid=-1 kind=-: malformed >BYTECOUNT_CLI",
        "PERR cid=-1 kid=-1 kind=-: malformed >BYTECOUNT_CLI",
        "PERR cid=1 kid=-1 kind=-: malformed >BYTECOUNT_CLI"}},
      {"MalformedAddress",
       ">CLIENT:ADDRESS,1,10.0.0.1,maybe\n>CLIENT:ADDRESS,zz\n>CLIENT:ADDRESS\n"
       ">CLIENT:ADDRESS,2,,1\n",
       {"PERR cid=1 kid=-1 kind=-: malformed >CLIENT:ADDRESS",
        "PERR cid=-1 kid=-1 kind=-: malformed >CLIENT:ADDRESS",
        "PERR cid=-1 kid=-1 kind=-: malformed >CLIENT:ADDRESS",
        "PERR cid=2 kid=-1 kind=-: malformed >CLIENT:ADDRESS"}},
      {"UnrecognisedClientMessageLeavesBlockAlone",
       ">CLIENT:CONNECT,9,1\n>CLIENT:FOO,bar\n>CLIENT:ENV,a=b\n>CLIENT:ENV,END\n",
       {"PERR cid=-1 kid=-1 kind=-: unrecognised >CLIENT: message",
        "EVENT CONNECT/CONNECT cid=9 kid=1 {a=b}"}},
      {"RealtimeWithoutColon",
       ">garbage\n>\n",
       {"PERR cid=-1 kid=-1 kind=-: real-time message without \':\'",
        "PERR cid=-1 kid=-1 kind=-: real-time message without \':\'"}},
      {"GarbageLinesJoinTheNextReply",
       "garbage one\n\x01\x02\x7f\n"
       "END\n",
       {"REPLY[2] garbage one|\\001\\002\\177"}},
      {"RepliesInterleaveWithClientBlocks",
       "TITLE\tOpenVPN\n"
       ">CLIENT:CONNECT,2,1\n"
       "CLIENT_LIST\tmallory\n"
       ">CLIENT:ENV,username=mallory\n"
       "END\n"
       ">CLIENT:ENV,END\n",
       {"REPLY[2] TITLE\\tOpenVPN|CLIENT_LIST\\tmallory",
        "EVENT CONNECT/CONNECT cid=2 kid=1 {username=mallory}"}},
  };
  return *cases;
}

void ExpectRendered(const std::vector<std::string>& actual,
                    const std::vector<std::string>& expected) {
  ASSERT_EQ(actual.size(), expected.size()) << absl::StrJoin(actual, "\n");
  for (size_t i = 0; i < actual.size(); ++i) {
    absl::string_view want = expected[i];
    if (absl::ConsumeSuffix(&want, "*")) {
      EXPECT_THAT(actual[i], StartsWith(std::string(want))) << "message " << i;
    } else {
      EXPECT_EQ(actual[i], want) << "message " << i;
    }
  }
}

TEST(MgmtParserTest, ParsesTableOfRecordedMessagesUnderAnySplit) {
  for (const Case& c : Cases()) {
    for (bool crlf : {false, true}) {
      SCOPED_TRACE(absl::StrCat(c.name, crlf ? " (CRLF)" : " (LF)"));
      const std::string input = crlf ? Crlf(c.input) : c.input;
      ExpectRendered(RenderAll(ParseEverySplit(input)), c.expected);
    }
  }
}

// --- recorded transcripts --------------------------------------------------------------

TEST(MgmtParserTest, AssemblesConnectBlockAcrossPartialReads) {
  const std::string input = Crlf(
      ">CLIENT:CONNECT,0,1\n>CLIENT:ENV,n_clients=0\n>CLIENT:ENV,password=alice-pw\n"
      ">CLIENT:ENV,username=alice\n>CLIENT:ENV,END\n");
  MgmtParser parser;
  std::vector<MgmtMessage> out;
  // Each read ends mid-line; nothing is emitted before ENV,END.
  const size_t end_of_block = input.size();
  for (size_t fed = 0; fed < end_of_block;) {
    const size_t size = std::min<size_t>(7, end_of_block - fed);
    parser.Feed(absl::string_view(input).substr(fed, size), out);
    fed += size;
    if (fed < end_of_block) {
      ASSERT_THAT(out, IsEmpty()) << "after " << fed << " bytes";
    }
  }
  ASSERT_EQ(out.size(), 1u);
  const auto& event = std::get<ClientEvent>(out[0]);
  EXPECT_EQ(event.kind, ClientEventKind::kConnect);
  EXPECT_EQ(event.cid, 0);
  EXPECT_EQ(event.kid, 1);
  EXPECT_EQ(event.env.Get("username"), "alice");
  EXPECT_EQ(event.env.Get("password"), "alice-pw");
  EXPECT_EQ(event.env.Get("missing"), std::nullopt);
  EXPECT_EQ(parser.BufferedBytes(), 0u);
}

TEST(MgmtParserTest, ParsesRecordedSessionIdenticallyUnderAnySplit) {
  const std::string lf = LoadTranscript("alice_session.txt");
  for (const std::string& input : {lf, Crlf(lf)}) {
    std::vector<MgmtMessage> out = ParseEverySplit(input);
    std::vector<std::string> summary;
    for (const MgmtMessage& message : out) summary.push_back(Summarize(message));
    EXPECT_THAT(
        summary,
        ElementsAre(StartsWith("NOTE INFO|OpenVPN Management Interface Version 5"),
                    "EVENT CONNECT cid=0 kid=1 vars=31", "SUCCESS|client-auth command succeeded",
                    "ADDRESS cid=0 10.99.8.2 primary=1", "EVENT ESTABLISHED cid=0 kid=-1 vars=21",
                    "REPLY[8]", "SUCCESS|client-kill command succeeded",
                    "EVENT CONNECT cid=1 kid=1 vars=31", "SUCCESS|client-auth command succeeded",
                    "ADDRESS cid=1 10.99.8.3 primary=1", "EVENT ESTABLISHED cid=1 kid=-1 vars=21",
                    "SUCCESS|client-kill command succeeded",
                    "EVENT DISCONNECT cid=0 kid=-1 vars=19",
                    "EVENT DISCONNECT cid=1 kid=-1 vars=19", "EVENT CONNECT cid=2 kid=1 vars=31",
                    "SUCCESS|client-deny command succeeded"));
    const auto& disconnect = std::get<ClientEvent>(out[12]);
    EXPECT_EQ(disconnect.env.Get("bytes_sent"), "2006");
    EXPECT_EQ(disconnect.env.Get("bytes_received"), "986");
    EXPECT_EQ(disconnect.env.Get("time_duration"), "4");
    const auto& mallory = std::get<ClientEvent>(out[14]);
    EXPECT_EQ(mallory.env.Get("username"), "mallory");
    EXPECT_EQ(mallory.env.Get("password"), "s3cr3t-VALUE");

    absl::StatusOr<StatusReport> status = ParseStatus(std::get<MultilineReply>(out[5]).lines);
    ASSERT_TRUE(status.ok()) << status.status();
    ASSERT_EQ(status->clients.size(), 1u);
    EXPECT_EQ(status->clients[0].common_name, "alice");
    EXPECT_EQ(status->clients[0].cid, 0);
    EXPECT_EQ(status->time_unix, 1795415370);
  }
}

TEST(MgmtParserTest, ParsesInterleavedTranscriptIdenticallyUnderAnySplit) {
  const std::string lf = LoadTranscript("interleaved.txt");
  for (const std::string& input : {lf, Crlf(lf)}) {
    std::vector<MgmtMessage> out = ParseEverySplit(input);
    std::vector<std::string> summary;
    for (const MgmtMessage& message : out) summary.push_back(Summarize(message));
    EXPECT_THAT(
        summary,
        ElementsAre(
            StartsWith("NOTE INFO|"), "NOTE HOLD|Waiting for hold release:0",
            "SUCCESS|real-time state notification set to ON", "SUCCESS|hold release succeeded",
            StartsWith("NOTE STATE|1795415300,CONNECTED"),
            "SUCCESS|real-time log notification set to ON", "SUCCESS|bytecount interval changed",
            StartsWith("NOTE LOG|1795415349,I,"), "BYTECOUNT cid=0 in=1020 out=1886",
            "EVENT CONNECT cid=3 kid=1 vars=7", "SUCCESS|client-auth command succeeded",
            "NOTE LOG|1795415400,D,MANAGEMENT: CMD \\'status 3\\'", "BYTECOUNT cid=3 in=0 out=0",
            "REPLY[8]", "ERROR|client-kill command failed", "EVENT REAUTH cid=0 kid=2 vars=6",
            "SUCCESS|client-auth command succeeded", "EVENT CR_RESPONSE cid=3 kid=1 vars=3",
            "SUCCESS|client-deny command succeeded", "REPLY[6]", StartsWith("NOTE NEED-OK|"),
            "NOTE PASSWORD|Verification Failed: \\'Auth\\'", "REPLY[4]",
            StartsWith("NOTE FATAL|Cannot open TUN/TAP")));
    const auto& bob = std::get<ClientEvent>(out[9]);
    EXPECT_EQ(bob.env.Get("password"), "b0b=pw,with,commas");
    EXPECT_EQ(bob.env.Get("flagonly"), "");
    EXPECT_EQ(std::get<ClientEvent>(out[17]).extra, "MTIzNDU2");

    absl::StatusOr<StatusReport> status3 = ParseStatus(std::get<MultilineReply>(out[13]).lines);
    ASSERT_TRUE(status3.ok()) << status3.status();
    ASSERT_EQ(status3->clients.size(), 2u);
    EXPECT_EQ(status3->clients[1].virtual_ipv6, "fd00::1000");
    EXPECT_EQ(status3->clients[1].cipher, "CHACHA20-POLY1305");
    absl::StatusOr<StatusReport> status2 = ParseStatus(std::get<MultilineReply>(out[19]).lines);
    ASSERT_TRUE(status2.ok()) << status2.status();
    ASSERT_EQ(status2->clients.size(), 1u);
    EXPECT_EQ(status2->clients[0].bytes_received, 1100);
    EXPECT_EQ(status2->time_unix, 1795415460);
  }
}

// --- edge cases ------------------------------------------------------------------------

TEST(MgmtParserTest, DetectsPasswordPromptWithoutNewline) {
  MgmtParser parser;
  std::vector<MgmtMessage> out;
  parser.Feed("ENTER PASS", out);
  EXPECT_THAT(out, IsEmpty());
  parser.Feed("WORD:", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<PasswordPrompt>(out[0]));
  EXPECT_EQ(parser.BufferedBytes(), 0u);
  parser.Feed("SUCCESS: password is correct\r\n", out);
  EXPECT_THAT(RenderAll(out), ElementsAre("PROMPT", "SUCCESS|password is correct"));

  // Almost the prompt is an ordinary line.
  EXPECT_THAT(RenderAll(FeedWhole("ENTER PASSWORD\r\nEND\r\n")),
              ElementsAre("REPLY[1] ENTER PASSWORD"));
}

TEST(MgmtParserTest, ParsesPasswordExchangeUnderAnySplit) {
  const std::string lf = LoadTranscript("password_prompt.txt");
  for (const std::string& input : {lf, Crlf(lf)}) {
    EXPECT_THAT(RenderAll(ParseEverySplit(input)),
                ElementsAre("PROMPT", "ERROR|bad password", "PROMPT", "SUCCESS|password is correct",
                            StartsWith("NOTE INFO|"), "SUCCESS|bytecount interval changed"));
  }
}

TEST(MgmtParserTest, AcceptsCrAtChunkEndBeforeLf) {
  MgmtParser parser;
  std::vector<MgmtMessage> out;
  parser.Feed("SUCCESS: client-kill command succeeded\r", out);
  EXPECT_THAT(out, IsEmpty());
  parser.Feed("\n>CLIENT:ADDRESS,0,10.99.8.2,1\r", out);
  parser.Feed("\n", out);
  EXPECT_THAT(RenderAll(out), ElementsAre("SUCCESS|client-kill command succeeded",
                                          "ADDRESS cid=0 10.99.8.2 primary=1"));
  // Only one CR is a line ending; a CR inside a line stays.
  EXPECT_THAT(RenderAll(FeedWhole(">LOG:a\rb\r\r\n")), ElementsAre("NOTE LOG|a\\rb\\r"));
}

TEST(MgmtParserTest, DiscardsOversizedLineWithBoundedMemory) {
  MgmtParser::Limits limits;
  limits.max_line_bytes = 1024;
  MgmtParser parser(limits);
  std::vector<MgmtMessage> out;
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 2560; ++i) {  // 10 MiB without a newline
    parser.Feed(chunk, out);
    ASSERT_LE(parser.BufferedBytes(), limits.max_line_bytes + 1);
  }
  parser.Feed("tail\r\nSUCCESS: still here\r\n", out);
  EXPECT_THAT(RenderAll(out),
              ElementsAre("PERR cid=-1 kid=-1 kind=-: line longer than 1024 bytes discarded",
                          "SUCCESS|still here"));
  EXPECT_EQ(parser.BufferedBytes(), 0u);

  // A line of exactly the limit is fine, with LF or CRLF.
  const std::string at_limit = absl::StrCat(">LOG:", std::string(1024 - 5, 'y'));
  EXPECT_THAT(ParseEverySplit(at_limit + "\r\n" + at_limit + "\n", limits), testing::SizeIs(2));
  EXPECT_THAT(RenderAll(ParseEverySplit(at_limit + "y\r\n", limits)),
              ElementsAre(StartsWith("PERR cid=-1 kid=-1 kind=-: line longer")));
}

TEST(MgmtParserTest, FailsClientBlockOnOversizedEnvLine) {
  MgmtParser::Limits limits;
  limits.max_line_bytes = 256;
  const std::string input = Crlf(absl::StrCat(
      ">CLIENT:CONNECT,4,1\n>CLIENT:ENV,username=dave\n>CLIENT:ENV,password=",
      std::string(5000, 'p'), "\n>CLIENT:ENV,IV_VER=2.6.14\n>CLIENT:ENV,END\nSUCCESS: next\n"));
  EXPECT_THAT(RenderAll(ParseEverySplit(input, limits)),
              ElementsAre("PERR cid=4 kid=1 kind=CONNECT: line longer than 256 bytes discarded "
                          "inside a >CLIENT:CONNECT block",
                          "SUCCESS|next"));
}

TEST(MgmtParserTest, FailsOversizedHeaderByItsIds) {
  MgmtParser::Limits limits;
  limits.max_line_bytes = 256;
  const std::string input =
      Crlf(absl::StrCat(">CLIENT:CR_RESPONSE,12,3,", std::string(1000, 'A'),
                        "\n>CLIENT:ENV,username=erin\n>CLIENT:ENV,END\n>CLIENT:ENV,END\n"));
  EXPECT_THAT(RenderAll(ParseEverySplit(input, limits)),
              ElementsAre("PERR cid=12 kid=3 kind=CR_RESPONSE: line longer than 256 bytes "
                          "discarded: a >CLIENT:CR_RESPONSE header",
                          StartsWith("PERR cid=-1 kid=-1 kind=-: >CLIENT:ENV line outside")));
}

TEST(MgmtParserTest, FailsClientBlockOverEnvLimits) {
  MgmtParser::Limits limits;
  limits.max_env_vars = 3;
  limits.max_env_bytes = 40;
  const std::string too_many = Crlf(
      ">CLIENT:CONNECT,1,1\n>CLIENT:ENV,a=1\n>CLIENT:ENV,b=2\n>CLIENT:ENV,c=3\n>CLIENT:ENV,d=4\n"
      ">CLIENT:ENV,e=5\n>CLIENT:ENV,END\n"
      ">CLIENT:CONNECT,2,1\n>CLIENT:ENV,a=1\n>CLIENT:ENV,b=2\n>CLIENT:ENV,c=3\n>CLIENT:ENV,END\n");
  EXPECT_THAT(
      RenderAll(ParseEverySplit(too_many, limits)),
      ElementsAre("PERR cid=1 kid=1 kind=CONNECT: >CLIENT:CONNECT block failed: more than 3 ENV "
                  "variables",
                  "EVENT CONNECT/CONNECT cid=2 kid=1 {a=1|b=2|c=3}"));
  const std::string too_big = Crlf(absl::StrCat(
      ">CLIENT:REAUTH,1,2\n>CLIENT:ENV,username=", std::string(40, 'u'), "\n>CLIENT:ENV,END\n"));
  EXPECT_THAT(RenderAll(ParseEverySplit(too_big, limits)),
              ElementsAre("PERR cid=1 kid=2 kind=REAUTH: >CLIENT:REAUTH block failed: more than "
                          "40 bytes of ENV"));
}

TEST(MgmtParserTest, TruncatesOverlongMultilineReply) {
  MgmtParser::Limits limits;
  limits.max_multiline_lines = 3;
  EXPECT_THAT(RenderAll(ParseEverySplit("a\nb\nc\nd\ne\nEND\nf\nEND\n", limits)),
              ElementsAre(StartsWith("PERR cid=-1 kid=-1 kind=-: multi-line reply exceeds 3"),
                          "REPLY[3,truncated] a|b|c", "REPLY[1] f"));
  limits.max_multiline_lines = 100;
  limits.max_multiline_bytes = 5;
  EXPECT_THAT(RenderAll(ParseEverySplit("abc\ndef\nEND\n", limits)),
              ElementsAre(StartsWith("PERR"), "REPLY[1,truncated] abc"));
  // An oversized line inside a reply marks it truncated too.
  limits = {};
  limits.max_line_bytes = 64;
  EXPECT_THAT(
      RenderAll(ParseEverySplit(absl::StrCat("TITLE\n", std::string(100, 'z'), "\nEND\n"), limits)),
      ElementsAre(StartsWith("PERR cid=-1 kid=-1 kind=-: line longer"),
                  "REPLY[1,truncated] TITLE"));
}

TEST(MgmtParserTest, SurvivesNulAndBinaryBytes) {
  constexpr char kBlock[] = ">CLIENT:CONNECT,1,1\n>CLIENT:ENV,pass\0word=a\0b\n>CLIENT:ENV,END\n";
  std::string input(kBlock, sizeof(kBlock) - 1);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) input.push_back(static_cast<char>(rng()));
  input += "\nSUCCESS: ok\n";
  std::vector<MgmtMessage> out = ParseEverySplit(input);
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(Render(out[0]), "EVENT CONNECT/CONNECT cid=1 kid=1 {pass\\000word=a\\000b}");
  EXPECT_EQ(Render(out.back()), "SUCCESS|ok");
}

TEST(MgmtParserTest, ResetDropsPartialState) {
  MgmtParser parser;
  std::vector<MgmtMessage> out;
  parser.Feed(">CLIENT:CONNECT,1,1\r\n>CLIENT:ENV,password=abc\r\nTITLE\r\nhalf a li", out);
  EXPECT_THAT(out, IsEmpty());
  EXPECT_GT(parser.BufferedBytes(), 0u);
  parser.Reset();
  EXPECT_EQ(parser.BufferedBytes(), 0u);
  parser.Feed(">CLIENT:ENV,END\r\nEND\r\n", out);
  EXPECT_THAT(RenderAll(out),
              ElementsAre(StartsWith("PERR cid=-1 kid=-1 kind=-: >CLIENT:ENV"), "REPLY[0] "));
}

TEST(MgmtParserTest, KeepsErrorTextsFreeOfInput) {
  MgmtParser::Limits limits;
  limits.max_line_bytes = 64;
  limits.max_env_vars = 1;
  const std::string input = Crlf(
      ">CLIENT:CONNECT,1,1\n>CLIENT:ENV,password=s3cr3t-VALUE\n>CLIENT:ENV,user=s3cr3t-VALUE\n"
      ">CLIENT:ENV,END\n>CLIENT:ENV,password=s3cr3t-VALUE\n>s3cr3t-VALUE\n"
      ">CLIENT:s3cr3t-VALUE,x\n>CLIENT:CONNECT,s3cr3t-VALUE\n"
      ">CLIENT:ESTABLISHED,1\n>CLIENT:ENV,password=s3cr3t-VALUE-s3cr3t-VALUE-s3cr3t-VALUE-s3cr3t-"
      "VALUE\n"
      ">BYTECOUNT_CLI:s3cr3t-VALUE\n>CLIENT:ADDRESS,s3cr3t-VALUE\n");
  std::vector<MgmtMessage> out = ParseEverySplit(input, limits);
  int errors = 0;
  for (const MgmtMessage& message : out) {
    const auto* error = std::get_if<ProtocolError>(&message);
    ASSERT_NE(error, nullptr) << Render(message);
    EXPECT_THAT(error->what, Not(HasSubstr("s3cr3t")));
    ++errors;
  }
  EXPECT_EQ(errors, 8);
}

// --- commands --------------------------------------------------------------------------

// OpenVPN's option lexer (options_util.c parse_line), to read our commands back.
std::optional<std::vector<std::string>> LexLikeOpenVpn(absl::string_view line) {
  std::vector<std::string> params;
  std::string param;
  enum { kInitial, kQuoted, kUnquoted, kSingleQuoted } state = kInitial;
  bool backslash = false;
  auto space = [](char c) { return c == '\0' || std::isspace(static_cast<unsigned char>(c)); };
  for (size_t i = 0; i <= line.size(); ++i) {
    const char in = i < line.size() ? line[i] : '\0';
    char out = 0;
    bool done = false;
    if (!backslash && in == '\\' && state != kSingleQuoted) {
      backslash = true;
      continue;
    }
    if (state == kInitial) {
      if (!space(in)) {
        if (in == ';' || in == '#') break;
        if (!backslash && in == '"') {
          state = kQuoted;
        } else if (!backslash && in == '\'') {
          state = kSingleQuoted;
        } else {
          out = in;
          state = kUnquoted;
        }
      }
    } else if (state == kUnquoted) {
      if (!backslash && space(in)) {
        done = true;
      } else {
        out = in;
      }
    } else if (state == kQuoted) {
      if (!backslash && in == '"') {
        done = true;
      } else {
        out = in;
      }
    } else if (in == '\'') {
      done = true;
    } else {
      out = in;
    }
    if (done) {
      params.push_back(param);
      param.clear();
      state = kInitial;
    }
    if (backslash && out && !(out == '\\' || out == '"' || space(out))) return std::nullopt;
    backslash = false;
    if (out) {
      if (param.size() >= 256) return std::nullopt;
      param.push_back(out);
    }
  }
  if (state != kInitial) return std::nullopt;
  return params;
}

TEST(MgmtCommandsTest, BuildsCommandsOfTheRecordedSession) {
  EXPECT_EQ(ClientAuthCommand(0, 1), "client-auth 0 1\nEND\n");
  EXPECT_EQ(ClientAuthNtCommand(0, 1), "client-auth-nt 0 1\n");
  EXPECT_EQ(StatusCommand(), "status 3\n");
  EXPECT_EQ(ClientKillCommand(0, ""), "client-kill 0\n");
  EXPECT_EQ(ClientKillCommand(1), "client-kill 1 HALT\n");
  EXPECT_EQ(ClientKillCommand(1, "RESTART"), "client-kill 1 RESTART\n");
  EXPECT_EQ(ClientDenyCommand(2, 1, "user not allowed", "seat limit reached (3 of 3)"),
            "client-deny 2 1 \"user not allowed\" \"seat limit reached (3 of 3)\"\n");
  EXPECT_EQ(ClientDenyCommand(2, 1, "user not allowed", ""),
            "client-deny 2 1 \"user not allowed\"\n");
  EXPECT_EQ(ClientDenyCommand(2, 1, "", "\r\n"), "client-deny 2 1 \"\"\n");
  EXPECT_EQ(BytecountCommand(5), "bytecount 5\n");
  EXPECT_EQ(BytecountCommand(0), "bytecount 0\n");
  EXPECT_EQ(BytecountCommand(-3), "bytecount 0\n");
  EXPECT_EQ(ClientAuthCommand(4294967295, 3), "client-auth 4294967295 3\nEND\n");
}

TEST(MgmtCommandsTest, PassesConfigLinesAndDropsUnsafeOnes) {
  EXPECT_EQ(ClientAuthCommand(0, 1,
                              {"push \"route 10.0.0.0 255.0.0.0\"",
                               "ifconfig-push 10.99.8.9 "
                               "255.255.255.0",
                               "END", "", "E\rN\nD",
                               "push \"dhcp-option DNS "
                               "10.0.0.53\"\r\n",
                               std::string(1001, 'x')}),
            "client-auth 0 1\n"
            "push \"route 10.0.0.0 255.0.0.0\"\n"
            "ifconfig-push 10.99.8.9 255.255.255.0\n"
            "push \"dhcp-option DNS 10.0.0.53\"\n"
            "END\n");
  EXPECT_TRUE(CheckConfigLine("push \"route 10.0.0.0 255.0.0.0\"").ok());
  EXPECT_FALSE(CheckConfigLine("END").ok());
  EXPECT_FALSE(CheckConfigLine("").ok());
  EXPECT_FALSE(CheckConfigLine("a\nEND").ok());
  EXPECT_FALSE(CheckConfigLine(std::string(1001, 'x')).ok());
}

TEST(MgmtCommandsTest, QuotesDenyTextsWithQuotesBackslashesAndNewlines) {
  const std::string command =
      ClientDenyCommand(7, 2, "bad \"user\"\\name\r\ninjected", "line1\nclient-kill 0\tx\x7f");
  EXPECT_EQ(command,
            "client-deny 7 2 \"bad \\\"user\\\"\\\\nameinjected\" \"line1client-kill 0x\"\n");
  ASSERT_EQ(std::count(command.begin(), command.end(), '\n'), 1);
  std::optional<std::vector<std::string>> params = LexLikeOpenVpn(absl::StripSuffix(command, "\n"));
  ASSERT_TRUE(params.has_value());
  EXPECT_THAT(*params, ElementsAre("client-deny", "7", "2", "bad \"user\"\\nameinjected",
                                   "line1client-kill 0x"));
  // Texts that would look like comments or options stay one quoted parameter.
  EXPECT_THAT(
      *LexLikeOpenVpn(absl::StripSuffix(ClientDenyCommand(1, 1, "# not", "; either"), "\n")),
      ElementsAre("client-deny", "1", "1", "# not", "; either"));
}

TEST(MgmtCommandsTest, CutsLongTextsOnUtf8Boundary) {
  std::string reason;
  while (reason.size() < 600) reason += "Zugang verweigert \xC3\xBC\xE2\x82\xAC ";
  const std::string command = ClientDenyCommand(1, 1, reason, reason);
  std::optional<std::vector<std::string>> params = LexLikeOpenVpn(absl::StripSuffix(command, "\n"));
  ASSERT_TRUE(params.has_value()) << command;
  ASSERT_EQ(params->size(), 5u);
  for (int i : {3, 4}) {
    const std::string& text = (*params)[i];
    EXPECT_LE(text.size(), kMaxCommandTextBytes);
    EXPECT_GE(text.size(), kMaxCommandTextBytes - 3);
    EXPECT_TRUE(absl::StartsWith(reason, text));
    // Never ends inside a multi-byte sequence.
    const size_t lead = text.find_last_of("\xC3\xE2");
    if (lead != std::string::npos) {
      const size_t need = static_cast<unsigned char>(text[lead]) == 0xC3 ? 2 : 3;
      EXPECT_GE(text.size() - lead, need);
    }
  }
  EXPECT_LT(command.size(), 1024u);
}

TEST(MgmtCommandsTest, QuotesKillMessageOnlyWhenNeeded) {
  EXPECT_EQ(ClientKillCommand(3, "HALT,maintenance"), "client-kill 3 HALT,maintenance\n");
  EXPECT_EQ(ClientKillCommand(3, "HALT,seat taken"), "client-kill 3 \"HALT,seat taken\"\n");
  EXPECT_EQ(ClientKillCommand(3, "#x"), "client-kill 3 \"#x\"\n");
  EXPECT_EQ(ClientKillCommand(3, "\r\n"), "client-kill 3\n");
}

TEST(MgmtCommandsTest, KillMessageCarriesTheReasonAfterTheComma) {
  EXPECT_EQ(KillMessage("HALT", "evicted"), "HALT,evicted");
  EXPECT_EQ(KillMessage("RESTART", "killed_by_admin: abuse report 7"),
            "RESTART,killed_by_admin: abuse report 7");
  EXPECT_EQ(KillMessage("HALT", ""), "HALT");
  EXPECT_EQ(KillMessage("HALT", "\r\n"), "HALT");
  EXPECT_EQ(KillMessage("HALT", "idle\nstatus"), "HALT,idlestatus");
  EXPECT_EQ(ClientKillCommand(3, KillMessage("HALT", "killed_by_admin: abuse")),
            "client-kill 3 \"HALT,killed_by_admin: abuse\"\n");
}

TEST(MgmtCommandsTest, SendsPasswordLineRaw) {
  EXPECT_EQ(PasswordCommand("pa ss\"word"), "pa ss\"word\n");
  EXPECT_EQ(PasswordCommand("pw\r\nstatus"), "pwstatus\n");
}

TEST(MgmtCommandsTest, RoundTripsRandomTextsThroughOpenVpnLexer) {
  std::mt19937 rng(42);
  constexpr char kAlphabet[] = "ab \"\\'#;\t\r\n,=\x01\x7f\xC3\xA9";
  const std::string alphabet(kAlphabet, sizeof(kAlphabet) - 1);
  for (int i = 0; i < 3000; ++i) {
    std::string reason, client_reason;
    for (std::string* text : {&reason, &client_reason}) {
      const int size = std::uniform_int_distribution<int>(0, 300)(rng);
      for (int j = 0; j < size; ++j) text->push_back(alphabet[rng() % alphabet.size()]);
    }
    const std::string command = ClientDenyCommand(i, 1, reason, client_reason);
    ASSERT_EQ(command.find('\n'), command.size() - 1) << absl::CEscape(command);
    ASSERT_EQ(command.find('\r'), std::string::npos);
    ASSERT_LT(command.size(), 1024u);
    std::optional<std::vector<std::string>> params =
        LexLikeOpenVpn(absl::StripSuffix(command, "\n"));
    ASSERT_TRUE(params.has_value()) << absl::CEscape(command);
    ASSERT_GE(params->size(), 4u);
    EXPECT_EQ((*params)[0], "client-deny");
    EXPECT_EQ((*params)[1], absl::StrCat(i));
    EXPECT_EQ((*params)[2], "1");
    std::string clean;
    for (char c : reason) {
      if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) clean.push_back(c);
    }
    EXPECT_TRUE(absl::StartsWith(clean, (*params)[3]));

    const std::string kill = ClientKillCommand(i, client_reason);
    std::optional<std::vector<std::string>> kill_params =
        LexLikeOpenVpn(absl::StripSuffix(kill, "\n"));
    ASSERT_TRUE(kill_params.has_value()) << absl::CEscape(kill);
    EXPECT_LE(kill_params->size(), 3u);
  }
}

// --- status --------------------------------------------------------------------------

std::vector<std::string> Tabbed(std::vector<std::string> lines) {
  for (std::string& line : lines) absl::StrReplaceAll({{"|", "\t"}}, &line);
  return lines;
}

TEST(StatusParserTest, ParsesRecordedStatus3) {
  absl::StatusOr<StatusReport> report = ParseStatus(Tabbed({
      "TITLE|OpenVPN 2.6.14 x86_64-pc-linux-gnu [SSL (OpenSSL)] [LZO] [LZ4] [EPOLL]",
      "TIME|2026-11-23 06:29:30|1795415370",
      "HEADER|CLIENT_LIST|Common Name|Real Address|Virtual Address|Virtual IPv6 Address|Bytes "
      "Received|Bytes Sent|Connected Since|Connected Since (time_t)|Username|Client ID|Peer "
      "ID|Data Channel Cipher",
      "CLIENT_LIST|alice|10.99.2.2:58543|10.99.8.2||1020|1886|2026-11-23 "
      "06:29:07|1795415347|alice|0|0|AES-256-GCM",
      "CLIENT_LIST|alice|10.99.2.2:58544|10.99.8.3||900|800|2026-11-23 "
      "06:29:09|1795415349|alice|1|4294967295|AES-256-GCM",
      "HEADER|ROUTING_TABLE|Virtual Address|Common Name|Real Address|Last Ref|Last Ref (time_t)",
      "ROUTING_TABLE|10.99.8.2|alice|10.99.2.2:58543|2026-11-23 06:29:08|1795415348",
      "GLOBAL_STATS|dco_enabled|0",
  }));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->time_unix, 1795415370);
  ASSERT_EQ(report->clients.size(), 2u);
  const StatusClient& alice = report->clients[0];
  EXPECT_EQ(alice.common_name, "alice");
  EXPECT_EQ(alice.real_address, "10.99.2.2:58543");
  EXPECT_EQ(alice.virtual_address, "10.99.8.2");
  EXPECT_EQ(alice.virtual_ipv6, "");
  EXPECT_EQ(alice.bytes_received, 1020);
  EXPECT_EQ(alice.bytes_sent, 1886);
  EXPECT_EQ(alice.connected_since_unix, 1795415347);
  EXPECT_EQ(alice.username, "alice");
  EXPECT_EQ(alice.cid, 0);
  EXPECT_EQ(alice.peer_id, 0);
  EXPECT_EQ(alice.cipher, "AES-256-GCM");
  EXPECT_EQ(report->clients[1].cid, 1);
  EXPECT_EQ(report->clients[1].peer_id, 4294967295);
}

TEST(StatusParserTest, LocatesColumnsByHeaderName) {
  absl::StatusOr<StatusReport> report = ParseStatus(Tabbed({
      "HEADER|CLIENT_LIST|Client ID|Username|Future Column|Common Name|Bytes Sent|Bytes Received",
      "CLIENT_LIST|17|bob|whatever|bob-cn|5|6",
      "END",
      "CLIENT_LIST|99|after-end|x|y|1|1",
  }));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->clients.size(), 1u);
  const StatusClient& bob = report->clients[0];
  EXPECT_EQ(bob.cid, 17);
  EXPECT_EQ(bob.username, "bob");
  EXPECT_EQ(bob.common_name, "bob-cn");
  EXPECT_EQ(bob.bytes_sent, 5);
  EXPECT_EQ(bob.bytes_received, 6);
  EXPECT_EQ(bob.real_address, "");
  EXPECT_EQ(bob.peer_id, -1);
  EXPECT_EQ(bob.connected_since_unix, 0);
}

TEST(StatusParserTest, ReadsOlderHeaderWithoutClientId) {
  // OpenVPN 2.3: no IPv6, Client ID, Peer ID or cipher columns.
  absl::StatusOr<StatusReport> report = ParseStatus(Tabbed({
      "HEADER|CLIENT_LIST|Common Name|Real Address|Virtual Address|Bytes Received|Bytes "
      "Sent|Connected Since|Connected Since (time_t)|Username",
      "CLIENT_LIST|carol|10.0.0.5:1194|10.8.0.6|100|200|Mon Nov 23 06:29:07 2026|1795415347|UNDEF",
  }));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->clients.size(), 1u);
  EXPECT_EQ(report->clients[0].bytes_received, 100);
  EXPECT_EQ(report->clients[0].connected_since_unix, 1795415347);
  EXPECT_EQ(report->clients[0].username, "UNDEF");
  EXPECT_EQ(report->clients[0].cid, -1);
  EXPECT_EQ(report->clients[0].cipher, "");
}

TEST(StatusParserTest, FallsBackTo26ColumnOrderWithoutHeader) {
  absl::StatusOr<StatusReport> report = ParseStatus(Tabbed({
      "CLIENT_LIST|alice|10.99.2.2:58543|10.99.8.2|fd00::2|1020|1886|2026-11-23 "
      "06:29:07|1795415347|alice|0|0|AES-256-GCM",
      "CLIENT_LIST|short",
  }));
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->clients.size(), 2u);
  EXPECT_EQ(report->clients[0].virtual_ipv6, "fd00::2");
  EXPECT_EQ(report->clients[0].cid, 0);
  EXPECT_EQ(report->clients[0].cipher, "AES-256-GCM");
  EXPECT_EQ(report->clients[1].common_name, "short");
  EXPECT_EQ(report->clients[1].cid, -1);
}

TEST(StatusParserTest, ParsesStatus2CommaFormat) {
  absl::StatusOr<StatusReport> report = ParseStatus({
      "TITLE,OpenVPN 2.6.14 x86_64-pc-linux-gnu",
      "TIME,2026-11-23 06:31:00,1795415460",
      "HEADER,CLIENT_LIST,Common Name,Real Address,Virtual Address,Virtual IPv6 Address,Bytes "
      "Received,Bytes Sent,Connected Since,Connected Since (time_t),Username,Client ID,Peer "
      "ID,Data Channel Cipher",
      "CLIENT_LIST,alice,10.99.2.2:58543,10.99.8.2,,1100,2000,2026-11-23 "
      "06:29:07,1795415347,alice,0,0,AES-256-GCM\r",
      "END",
  });
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ(report->clients.size(), 1u);
  EXPECT_EQ(report->clients[0].bytes_sent, 2000);
  EXPECT_EQ(report->clients[0].cipher, "AES-256-GCM");
}

TEST(StatusParserTest, ParsesServerWithoutClients) {
  absl::StatusOr<StatusReport> report = ParseStatus(Tabbed({
      "TITLE|OpenVPN 2.6.14",
      "TIME|2026-11-23 06:31:00|1795415460",
      "HEADER|CLIENT_LIST|Common Name|Real Address",
      "HEADER|ROUTING_TABLE|Virtual Address|Common Name",
      "GLOBAL_STATS|dco_enabled|0",
  }));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_THAT(report->clients, IsEmpty());
}

TEST(StatusParserTest, RejectsBadNumber) {
  for (absl::string_view bad : {"x1020", "-5", "99999999999999999999", " 1"}) {
    absl::StatusOr<StatusReport> report = ParseStatus(Tabbed(
        {"TITLE|OpenVPN", absl::StrCat("CLIENT_LIST|alice|a|b||", bad, "|1|t|1|alice|0|0|c")}));
    ASSERT_FALSE(report.ok()) << bad;
    EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(report.status().message()), HasSubstr("Bytes Received"));
    EXPECT_THAT(std::string(report.status().message()), Not(HasSubstr("alice")));
  }
}

TEST(StatusParserTest, RejectsReplyThatIsNotAStatus) {
  for (const std::vector<std::string>& lines : std::vector<std::vector<std::string>>{
           {},
           {"Management Interface for OpenVPN 2.6.14", "Commands:"},
           {"OpenVPN CLIENT LIST", "Updated,2026-11-23 06:31:00",
            "Common Name,Real Address,Bytes Received,Bytes Sent,Connected Since"},
       }) {
    EXPECT_EQ(ParseStatus(lines).status().code(), absl::StatusCode::kInvalidArgument)
        << absl::StrJoin(lines, "\n");
  }
}

// --- Describe ----------------------------------------------------------------------------

ClientEvent ConnectEvent(std::vector<std::pair<std::string, std::string>> vars) {
  ClientEvent event;
  event.kind = ClientEventKind::kConnect;
  event.kind_name = "CONNECT";
  event.cid = 2;
  event.kid = 1;
  event.env.vars = std::move(vars);
  return event;
}

TEST(DescribeTest, NeverShowsPassword) {
  const ClientEvent event = ConnectEvent({{"n_clients", "0"},
                                          {"password", "s3cr3t-VALUE"},
                                          {"untrusted_port", "40022"},
                                          {"untrusted_ip", "10.99.2.2"},
                                          {"username", "mallory"},
                                          {"IV_PLAT", "linux"},
                                          {"IV_VER", "2.6.14"},
                                          {"IV_CIPHERS", "AES-256-GCM"},
                                          {"username", "second"}});
  const std::string text = Describe(event);
  EXPECT_EQ(text,
            "kind=CONNECT cid=2 kid=1 untrusted_port=\"40022\" untrusted_ip=\"10.99.2.2\" "
            "username=\"mallory\" IV_PLAT=\"linux\" IV_VER=\"2.6.14\" "
            "env_keys=n_clients,password,untrusted_port,untrusted_ip,username,IV_PLAT,IV_VER,"
            "IV_CIPHERS,username");
  EXPECT_THAT(text, Not(HasSubstr("s3cr3t")));
  EXPECT_THAT(text, Not(HasSubstr("AES-256-GCM")));
}

TEST(DescribeTest, NeverShowsPasswordOfRecordedSession) {
  for (const MgmtMessage& message : FeedWhole(Crlf(LoadTranscript("alice_session.txt")))) {
    if (const auto* event = std::get_if<ClientEvent>(&message)) {
      const std::string text = Describe(*event);
      EXPECT_THAT(text, Not(HasSubstr("s3cr3t-VALUE")));
      EXPECT_THAT(text, Not(HasSubstr("alice-pw")));
      EXPECT_THAT(text, StartsWith(absl::StrCat("kind=", event->kind_name)));
    }
  }
}

TEST(DescribeTest, WithholdsValuesThatWouldShowThePassword) {
  const std::string same =
      Describe(ConnectEvent({{"username", "alice1234"}, {"password", "alice1234"}}));
  EXPECT_EQ(same, "kind=CONNECT cid=2 kid=1 env_vars=2 (withheld)");
  const std::string escaped =
      Describe(ConnectEvent({{"username", "x\"quoted\"x"}, {"password", "\"quoted\""}}));
  EXPECT_THAT(escaped, Not(HasSubstr("\\\"quoted\\\"")));
  EXPECT_THAT(escaped, Not(HasSubstr("\"quoted\"")));
  // A password equal to the kind name leaves nothing to show.
  EXPECT_EQ(Describe(ConnectEvent({{"password", "CONNECT"}})), "(withheld)");
  // Short passwords are not looked for.
  EXPECT_THAT(Describe(ConnectEvent({{"password", "1"}})), StartsWith("kind=CONNECT cid=2"));
}

TEST(DescribeTest, NeverShowsChallengeResponse) {
  ClientEvent event = ConnectEvent({{"username", "bob"}, {"common_name", "MTIzNDU2"}});
  event.kind = ClientEventKind::kCrResponse;
  event.kind_name = "CR_RESPONSE";
  event.extra = "MTIzNDU2";
  EXPECT_THAT(Describe(event), Not(HasSubstr("MTIzNDU2")));
}

TEST(DescribeTest, EscapesAndCutsUntrustedText) {
  ClientEvent event = ConnectEvent({{"username", std::string("eve\r\nkind=FAKE\0", 15)},
                                    {"common_name", std::string(500, 'c')},
                                    {"bad\nkey", "v"}});
  event.kind_name = "PF\n injected";
  const std::string text = Describe(event);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_THAT(text, StartsWith("kind=PFinjected cid=2 kid=1 username=\"eve\\r\\nkind=FAKE\\000\""));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("common_name=\"", std::string(128, 'c'), "...\"")));
  EXPECT_THAT(text, HasSubstr("bad\\nkey"));
}

TEST(DescribeTest, ListsKeysOfLargeBlocksBriefly) {
  std::vector<std::pair<std::string, std::string>> vars;
  for (int i = 0; i < 500; ++i) vars.emplace_back(absl::StrCat("k", i), "v");
  const std::string text = Describe(ConnectEvent(vars));
  EXPECT_THAT(text, HasSubstr(",k63,...(500 in all)"));
  EXPECT_LT(text.size(), 1000u);
}

}  // namespace
}  // namespace warden::agent::openvpn
