#include "common/quic/tunnel_protocol.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::quic {
namespace {

using State = FrameReader::State;

v1::TunnelHello TicketHello() {
  v1::TunnelHello hello;
  hello.set_connect_ticket("wct_0123456789abcdef");
  hello.set_device_label("laptop");
  hello.set_client_version("warden-connect/1.0");
  return hello;
}

v1::TunnelHello PasswordHello() {
  v1::TunnelHello hello;
  hello.set_username("alice");
  hello.set_password("correct horse battery staple");
  hello.set_device_label("phone");
  hello.set_client_version("warden-connect/1.0");
  return hello;
}

v1::TunnelWelcome GoodWelcome() {
  v1::TunnelWelcome welcome;
  welcome.set_session_id("0f8fad5b-d9cb-469f-a165-70867728950e");
  welcome.set_tunnel_address("10.77.0.2/24");
  welcome.set_gateway_address("10.77.0.1");
  welcome.set_mtu(1400);
  welcome.add_routes("10.77.0.0/24");
  welcome.set_keepalive_seconds(15);
  return welcome;
}

absl::StatusCode HelloCode(const v1::TunnelHello& hello) {
  return ParseHello(hello.SerializeAsString()).status().code();
}

// The 4-byte big-endian length prefix alone.
std::string Prefix(uint32_t length) {
  return std::string{static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                     static_cast<char>(length >> 8), static_cast<char>(length)};
}

TEST(TunnelProtocolTest, FramePrefixesTheBigEndianLength) {
  const v1::TunnelHello hello = TicketHello();
  const std::string body = hello.SerializeAsString();
  const std::string framed = Frame(hello);
  ASSERT_EQ(framed.size(), 4 + body.size());
  EXPECT_EQ(framed.substr(0, 4), Prefix(static_cast<uint32_t>(body.size())));
  EXPECT_EQ(framed.substr(4), body);
}

TEST(TunnelProtocolTest, FrameReaderRoundTripsAByteAtATime) {
  for (const v1::TunnelHello& hello : {TicketHello(), PasswordHello()}) {
    const std::string framed = Frame(hello);
    FrameReader reader;
    EXPECT_EQ(reader.state(), State::kNeedMore);
    EXPECT_TRUE(reader.message().empty());
    for (size_t i = 0; i + 1 < framed.size(); ++i) {
      ASSERT_EQ(reader.Add(framed.substr(i, 1)), State::kNeedMore) << "byte " << i;
      EXPECT_TRUE(reader.message().empty());
    }
    ASSERT_EQ(reader.Add(framed.substr(framed.size() - 1)), State::kComplete);
    EXPECT_EQ(reader.state(), State::kComplete);
    EXPECT_EQ(reader.message(), hello.SerializeAsString());
    // Nothing more is fine; more bytes are not.
    EXPECT_EQ(reader.Add(""), State::kComplete);

    absl::StatusOr<v1::TunnelHello> parsed = ParseHello(reader.message());
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->SerializeAsString(), hello.SerializeAsString());
  }
}

TEST(TunnelProtocolTest, FrameReaderTakesAWholeFrameAtOnce) {
  const v1::TunnelWelcome welcome = GoodWelcome();
  FrameReader reader;
  ASSERT_EQ(reader.Add(Frame(welcome)), State::kComplete);
  absl::StatusOr<v1::TunnelWelcome> parsed = ParseWelcome(reader.message());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->tunnel_address(), "10.77.0.2/24");
  EXPECT_EQ(parsed->mtu(), 1400u);
}

TEST(TunnelProtocolTest, FrameReaderRefusesLengthZero) {
  FrameReader reader;
  EXPECT_EQ(reader.Add(Prefix(0)), State::kInvalid);
  EXPECT_TRUE(reader.message().empty());
  // Once invalid, always invalid.
  EXPECT_EQ(reader.Add("x"), State::kInvalid);

  FrameReader split;
  EXPECT_EQ(split.Add(std::string(3, '\0')), State::kNeedMore);
  EXPECT_EQ(split.Add(std::string(1, '\0')), State::kInvalid);
}

TEST(TunnelProtocolTest, FrameReaderRefusesLengthAboveTheLimit) {
  for (uint32_t length : {uint32_t{kMaxHandshakeMessage + 1}, uint32_t{1} << 24, ~uint32_t{0}}) {
    FrameReader reader;
    EXPECT_EQ(reader.Add(Prefix(length)), State::kInvalid) << length;
  }
  // The limit itself is fine.
  FrameReader reader;
  EXPECT_EQ(reader.Add(Prefix(kMaxHandshakeMessage)), State::kNeedMore);
  EXPECT_EQ(reader.Add(std::string(kMaxHandshakeMessage - 1, 'a')), State::kNeedMore);
  EXPECT_EQ(reader.Add("a"), State::kComplete);
  EXPECT_EQ(reader.message().size(), kMaxHandshakeMessage);
}

TEST(TunnelProtocolTest, FrameReaderRefusesBytesAfterTheFrame) {
  const std::string framed = Frame(TicketHello());
  {
    FrameReader reader;  // in the same piece
    EXPECT_EQ(reader.Add(framed + "x"), State::kInvalid);
    EXPECT_TRUE(reader.message().empty());
  }
  {
    FrameReader reader;  // in a later piece
    ASSERT_EQ(reader.Add(framed), State::kComplete);
    EXPECT_EQ(reader.Add("x"), State::kInvalid);
    EXPECT_TRUE(reader.message().empty());
  }
  {
    FrameReader reader;  // a second frame
    EXPECT_EQ(reader.Add(framed + framed), State::kInvalid);
  }
  {
    FrameReader reader;  // more than one frame can hold, in one piece
    EXPECT_EQ(reader.Add(Prefix(kMaxHandshakeMessage) + std::string(kMaxHandshakeMessage + 1, 'a')),
              State::kInvalid);
  }
}

TEST(TunnelProtocolTest, ParseHelloAcceptsATicketAlone) {
  absl::StatusOr<v1::TunnelHello> hello = ParseHello(TicketHello().SerializeAsString());
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->connect_ticket(), "wct_0123456789abcdef");
  EXPECT_EQ(hello->device_label(), "laptop");

  v1::TunnelHello bare;
  bare.set_connect_ticket("wct_x");
  EXPECT_TRUE(ParseHello(bare.SerializeAsString()).ok());
}

TEST(TunnelProtocolTest, ParseHelloAcceptsUsernameAndPassword) {
  absl::StatusOr<v1::TunnelHello> hello = ParseHello(PasswordHello().SerializeAsString());
  ASSERT_TRUE(hello.ok()) << hello.status();
  EXPECT_EQ(hello->username(), "alice");
  EXPECT_EQ(hello->password(), "correct horse battery staple");

  // A label of printable UTF-8 is fine.
  v1::TunnelHello utf8 = PasswordHello();
  utf8.set_device_label(
      "K\xC3\xBC"
      "che");
  EXPECT_TRUE(ParseHello(utf8.SerializeAsString()).ok());
}

TEST(TunnelProtocolTest, ParseHelloRefusesBothCredentials) {
  v1::TunnelHello hello = PasswordHello();
  hello.set_connect_ticket("wct_0123456789abcdef");
  const absl::Status status = ParseHello(hello.SerializeAsString()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("exactly one credential"), absl::string_view::npos) << status;
}

TEST(TunnelProtocolTest, ParseHelloRefusesNoCredential) {
  v1::TunnelHello hello;
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHello("").status().code(), absl::StatusCode::kInvalidArgument);
  hello.set_device_label("laptop");
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);
  hello.set_username("alice");  // a username alone is no credential
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);
}

TEST(TunnelProtocolTest, ParseHelloRefusesAPasswordWithoutUsername) {
  v1::TunnelHello hello = PasswordHello();
  hello.clear_username();
  const absl::Status status = ParseHello(hello.SerializeAsString()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("username"), absl::string_view::npos) << status;
}

TEST(TunnelProtocolTest, ParseHelloRefusesATicketWithoutItsPrefix) {
  for (const char* ticket : {"0123456789abcdef", "WCT_0123", "wct", "wc_t0123", " wct_0123"}) {
    v1::TunnelHello hello = TicketHello();
    hello.set_connect_ticket(ticket);
    EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument) << ticket;
  }
}

TEST(TunnelProtocolTest, ParseHelloRefusesControlCharacters) {
  for (const char* label : {"lap\ttop", "laptop\n", "\x1b[31mred", "del\x7f"}) {
    v1::TunnelHello hello = TicketHello();
    hello.set_device_label(label);
    const absl::Status status = ParseHello(hello.SerializeAsString()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << label;
    EXPECT_NE(status.message().find("device_label"), absl::string_view::npos) << status;
  }
  v1::TunnelHello nul = TicketHello();
  nul.set_device_label(std::string("lap\0top", 7));
  EXPECT_EQ(HelloCode(nul), absl::StatusCode::kInvalidArgument);

  v1::TunnelHello username = PasswordHello();
  username.set_username("ali\nce");
  EXPECT_EQ(HelloCode(username), absl::StatusCode::kInvalidArgument);
  v1::TunnelHello ticket = TicketHello();
  ticket.set_connect_ticket("wct_\r\n");
  EXPECT_EQ(HelloCode(ticket), absl::StatusCode::kInvalidArgument);
  v1::TunnelHello version = TicketHello();
  version.set_client_version("1.0\x01");
  EXPECT_EQ(HelloCode(version), absl::StatusCode::kInvalidArgument);
}

TEST(TunnelProtocolTest, ParseHelloRefusesOverLongFields) {
  v1::TunnelHello hello = TicketHello();
  hello.set_connect_ticket("wct_" + std::string(124, 'a'));  // 128: the limit
  EXPECT_TRUE(ParseHello(hello.SerializeAsString()).ok());
  hello.set_connect_ticket("wct_" + std::string(125, 'a'));
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);

  hello = PasswordHello();
  hello.set_username(std::string(128, 'u'));
  EXPECT_TRUE(ParseHello(hello.SerializeAsString()).ok());
  hello.set_username(std::string(129, 'u'));
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);

  hello = PasswordHello();
  hello.set_password(std::string(1024, 'p'));
  EXPECT_TRUE(ParseHello(hello.SerializeAsString()).ok());
  hello.set_password(std::string(1025, 'p'));
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);

  hello = TicketHello();
  hello.set_device_label(std::string(64, 'd'));
  EXPECT_TRUE(ParseHello(hello.SerializeAsString()).ok());
  hello.set_device_label(std::string(65, 'd'));
  const absl::Status status = ParseHello(hello.SerializeAsString()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("device_label is longer than 64"), absl::string_view::npos)
      << status;

  hello = TicketHello();
  hello.set_client_version(std::string(64, 'v'));
  EXPECT_TRUE(ParseHello(hello.SerializeAsString()).ok());
  hello.set_client_version(std::string(65, 'v'));
  EXPECT_EQ(HelloCode(hello), absl::StatusCode::kInvalidArgument);
}

TEST(TunnelProtocolTest, ParseHelloRefusesWhatIsNotAHello) {
  EXPECT_EQ(ParseHello("\xff\xff\xff").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseHello(Frame(TicketHello())).status().code(),  // still framed
            absl::StatusCode::kInvalidArgument);
  // Longer than any handshake message, even when it would parse: a good hello
  // and an unknown field 15 of 4096 bytes.
  std::string big = PasswordHello().SerializeAsString();
  big += std::string{'\x7a', '\x80', '\x20'} + std::string(kMaxHandshakeMessage, 'x');
  v1::TunnelHello parsed;
  ASSERT_TRUE(parsed.ParseFromString(big));
  EXPECT_EQ(ParseHello(big).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TunnelProtocolTest, ParseWelcomeAcceptsAGoodWelcome) {
  absl::StatusOr<v1::TunnelWelcome> welcome = ParseWelcome(GoodWelcome().SerializeAsString());
  ASSERT_TRUE(welcome.ok()) << welcome.status();
  EXPECT_EQ(welcome->gateway_address(), "10.77.0.1");
  ASSERT_EQ(welcome->routes_size(), 1);
  EXPECT_EQ(welcome->routes(0), "10.77.0.0/24");
}

TEST(TunnelProtocolTest, ParseWelcomeRefusesAnEmptyAddress) {
  v1::TunnelWelcome welcome = GoodWelcome();
  welcome.clear_tunnel_address();
  const absl::Status status = ParseWelcome(welcome.SerializeAsString()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("tunnel address"), absl::string_view::npos) << status;
}

TEST(TunnelProtocolTest, ParseWelcomeRefusesAnMtuOutsideItsRange) {
  v1::TunnelWelcome welcome = GoodWelcome();
  for (uint32_t mtu : {0u, 1u, 575u, 65536u, 100000u, ~0u}) {
    welcome.set_mtu(mtu);
    const absl::Status status = ParseWelcome(welcome.SerializeAsString()).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << mtu;
    EXPECT_NE(status.message().find("576..65535"), absl::string_view::npos) << status;
  }
  for (uint32_t mtu : {576u, 1280u, 65535u}) {
    welcome.set_mtu(mtu);
    EXPECT_TRUE(ParseWelcome(welcome.SerializeAsString()).ok()) << mtu;
  }
  EXPECT_EQ(ParseWelcome("\xff").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TunnelProtocolTest, KilledClosesSayWhoAndWhy) {
  const auto code = static_cast<uint64_t>(CloseCode::kKilled);
  EXPECT_EQ(ExitStatusFor(code), kExitKilled);
  EXPECT_EQ(DescribeClose(code, "terms of service"),
            "disconnected by administrator: terms of service");
}

TEST(TunnelProtocolTest, EvictedClosesNameTheOtherDevice) {
  const auto code = static_cast<uint64_t>(CloseCode::kEvicted);
  EXPECT_EQ(ExitStatusFor(code), kExitEvicted);
  EXPECT_EQ(DescribeClose(code, "evicted"), "another device took this seat");
}

TEST(TunnelProtocolTest, DeniedClosesCarryTheReason) {
  const auto code = static_cast<uint64_t>(CloseCode::kDenied);
  EXPECT_EQ(ExitStatusFor(code), kExitDenied);
  EXPECT_EQ(DescribeClose(code, "device limit reached"), "refused: device limit reached");
}

TEST(TunnelProtocolTest, OtherClosesMapToTheirExitStatuses) {
  EXPECT_EQ(ExitStatusFor(static_cast<uint64_t>(CloseCode::kShutdown)), kExitServerShutdown);
  EXPECT_EQ(ExitStatusFor(static_cast<uint64_t>(CloseCode::kProtocol)), kExitFailure);
  EXPECT_EQ(ExitStatusFor(static_cast<uint64_t>(CloseCode::kUnavailable)), kExitFailure);
  EXPECT_EQ(ExitStatusFor(static_cast<uint64_t>(CloseCode::kIdle)), kExitFailure);
  EXPECT_EQ(ExitStatusFor(0x999), kExitFailure);
  EXPECT_EQ(DescribeClose(static_cast<uint64_t>(CloseCode::kShutdown), ""),
            "the server is shutting down");
  EXPECT_EQ(DescribeClose(0x999, "odd"), "closed with code 2457: odd");
  // The exit statuses are all different, so a script can tell them apart.
  EXPECT_NE(kExitDenied, kExitKilled);
  EXPECT_NE(kExitKilled, kExitEvicted);
  EXPECT_NE(kExitEvicted, kExitServerShutdown);
}

TEST(TunnelProtocolTest, CloseCodeForKillTellsEvictionFromKills) {
  EXPECT_EQ(CloseCodeForKill("evicted"), CloseCode::kEvicted);
  EXPECT_EQ(CloseCodeForKill(kEvictedReason), CloseCode::kEvicted);
  for (const char* reason : {"", "admin", "Evicted", "evicted ", "evicted by admin", "policy"}) {
    EXPECT_EQ(CloseCodeForKill(reason), CloseCode::kKilled) << "\"" << reason << "\"";
  }
}

TEST(TunnelProtocolTest, KilledClientsAreToldTheEndReason) {
  EXPECT_EQ(CloseCodeForKill("idle"), CloseCode::kIdle);
  EXPECT_EQ(CloseCodeForKill("evicted"), CloseCode::kEvicted);
  EXPECT_EQ(CloseCodeForKill("killed_by_admin: spam"), CloseCode::kKilled);
  const auto killed = static_cast<uint64_t>(CloseCode::kKilled);
  EXPECT_EQ(DescribeClose(killed, "killed_by_admin: spam"), "disconnected by administrator: spam");
  EXPECT_EQ(DescribeClose(killed, "quota_exceeded"), "disconnected (quota_exceeded)");
  EXPECT_EQ(DescribeClose(killed, "device_revoked: device revoked"),
            "disconnected (device_revoked): device revoked");
}

// --- randomized handshakes ------------------------------------------------------
// Seeded random byte strings and mutated framed hellos, fed to FrameReader in
// random pieces and to ParseHello. Nothing may crash or read out of bounds
// (ASan/UBSan builds), the reader's verdict must not depend on the split, and
// every accepted hello must keep ParseHello's promises. Deterministic: the same
// seed every run. WARDEN_QUIC_FUZZ_INPUTS overrides the number of inputs.

constexpr uint64_t kFuzzSeed = 20260417;
constexpr int kDefaultFuzzInputs = 1'000'000;

int FuzzInputCount() {
  int count = kDefaultFuzzInputs;
  if (const char* env = std::getenv("WARDEN_QUIC_FUZZ_INPUTS")) {
    if (!absl::SimpleAtoi(env, &count) || count < 0) count = kDefaultFuzzInputs;
  }
  return count;
}

class HelloFuzzer {
 public:
  explicit HelloFuzzer(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool OneIn(size_t n) { return Below(n) == 0; }

  std::string RandomBytes(size_t n) {
    std::string out(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      uint64_t word = rng_();
      for (size_t j = i; j < std::min(n, i + 8); ++j, word >>= 8) out[j] = static_cast<char>(word);
    }
    return out;
  }

  // Printable ASCII, `min`..`max` bytes.
  std::string Printable(size_t min, size_t max) {
    std::string out(min + Below(max - min + 1), '\0');
    for (char& c : out) c = static_cast<char>(0x20 + Below(0x7f - 0x20));
    return out;
  }

  // A hello ParseHello accepts, sometimes with fields at their limits, framed.
  std::string ValidFramedHello() {
    v1::TunnelHello hello;
    if (OneIn(2)) {
      hello.set_connect_ticket("wct_" + (OneIn(8) ? std::string(124, 't') : Printable(0, 60)));
      if (OneIn(4)) hello.set_username(Printable(0, 32));  // allowed beside a ticket
    } else {
      hello.set_username(OneIn(8) ? std::string(128, 'u') : Printable(1, 40));
      hello.set_password(OneIn(8) ? std::string(1024, 'p') : Printable(1, 80));
    }
    switch (Below(4)) {
      case 0:
        break;
      case 1:
        hello.set_device_label(std::string(64, 'd'));
        break;
      case 2:
        hello.set_device_label(
            "K\xC3\xBC"
            "che");
        break;
      default:
        hello.set_device_label(Printable(0, 64));
        break;
    }
    if (!OneIn(4))
      hello.set_client_version(absl::StrCat("warden-connect/", Below(100), ".", Below(10)));
    return Frame(hello);
  }

  // 1..4 edits: bit flips, truncations, insertions, overwrites; then, most of
  // the time, a length prefix that matches again so the reader completes.
  std::string Mutate(std::string s) {
    const size_t edits = 1 + Below(4);
    for (size_t e = 0; e < edits; ++e) {
      const size_t at = Below(s.size() + 1);
      switch (Below(7)) {
        case 0:  // flip a bit
          if (!s.empty()) s[Below(s.size())] ^= static_cast<char>(1u << Below(8));
          break;
        case 1:  // truncate
          s.resize(Below(s.size() + 1));
          break;
        case 2:  // insert random bytes
          s.insert(at, RandomBytes(1 + Below(8)));
          break;
        case 3: {  // insert a whole field: a second credential, a duplicate, an unknown field
          static constexpr char kTags[] = {0x0a, 0x12, 0x1a, 0x22, 0x2a, 0x7a};
          std::string field(1, kTags[Below(sizeof(kTags))]);
          const std::string value = OneIn(2) ? "wct_" + Printable(0, 20) : Printable(0, 70);
          field.push_back(static_cast<char>(value.size()));
          s.insert(at, field + value);
          break;
        }
        case 4:  // overwrite a byte with an interesting value
          if (!s.empty()) {
            static constexpr uint8_t kValues[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x7f,
                                                  0x80, 0xc3, 0xff, 0x12, 0x1a, 0x22};
            s[Below(s.size())] = static_cast<char>(kValues[Below(sizeof(kValues))]);
          }
          break;
        default:  // overwrite a byte
          if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
          break;
      }
    }
    if (s.size() >= 4 && !OneIn(4)) {
      const size_t length = s.size() - 4;
      s[0] = static_cast<char>(length >> 24);
      s[1] = static_cast<char>(length >> 16);
      s[2] = static_cast<char>(length >> 8);
      s[3] = static_cast<char>(length);
    }
    return s;
  }

  // Read sizes: sometimes 0, mostly small, sometimes the rest.
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

 private:
  std::mt19937_64 rng_;
};

// What FrameReader must say for `input`, however it is split.
State ExpectedState(absl::string_view input) {
  if (input.size() < 4) return State::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(input.data());
  const size_t length = (size_t{p[0]} << 24) | (size_t{p[1]} << 16) | (size_t{p[2]} << 8) | p[3];
  if (length == 0 || length > kMaxHandshakeMessage) return State::kInvalid;
  if (input.size() - 4 == length) return State::kComplete;
  return input.size() - 4 < length ? State::kNeedMore : State::kInvalid;
}

bool HasControl(absl::string_view text) {
  return std::any_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Returns "" or which promise of ParseHello an accepted hello breaks.
std::string CheckAcceptedHello(const v1::TunnelHello& hello) {
  const bool ticket = !hello.connect_ticket().empty();
  const bool password = !hello.password().empty();
  if (ticket == password) return "not exactly one credential";
  if (password && hello.username().empty()) return "a password without a username";
  if (ticket && !absl::StartsWith(hello.connect_ticket(), "wct_")) return "ticket without wct_";
  if (hello.connect_ticket().size() > 128) return "ticket over 128 bytes";
  if (hello.username().size() > 128) return "username over 128 bytes";
  if (hello.password().size() > 1024) return "password over 1024 bytes";
  if (hello.device_label().size() > 64) return "device_label over 64 bytes";
  if (hello.client_version().size() > 64) return "client_version over 64 bytes";
  if (HasControl(hello.device_label())) return "control characters in device_label";
  if (HasControl(hello.connect_ticket())) return "control characters in connect_ticket";
  if (HasControl(hello.username())) return "control characters in username";
  if (HasControl(hello.client_version())) return "control characters in client_version";
  // What was accepted once is accepted again after a round trip.
  FrameReader reader;
  if (reader.Add(Frame(hello)) != State::kComplete) return "re-framed hello incomplete";
  if (!ParseHello(reader.message()).ok()) return "re-framed hello refused";
  return "";
}

TEST(TunnelProtocolFuzzTest, SurvivesAMillionRandomHandshakes) {
  const int inputs = FuzzInputCount();
  std::cout << "[ fuzz     ] seed=" << kFuzzSeed << " inputs=" << inputs << std::endl;
  // Proto3 strings with invalid UTF-8 make protobuf log an error per parse.
  google::protobuf::LogSilencer quiet;
  HelloFuzzer fuzzer(kFuzzSeed);
  const auto started = std::chrono::steady_clock::now();

  uint64_t accepted = 0, rejected = 0, mutated_accepted = 0, random_accepted = 0;
  uint64_t complete = 0, need_more = 0, invalid = 0, bytes = 0;
  for (int i = 0; i < inputs; ++i) {
    const bool random = i % 2 == 0;
    std::string input;
    if (random) {
      input = fuzzer.RandomBytes(fuzzer.Below(601));
    } else {
      const std::string valid = fuzzer.ValidFramedHello();
      ASSERT_TRUE(ParseHello(absl::string_view(valid).substr(4)).ok()) << absl::CEscape(valid);
      input = fuzzer.Mutate(valid);
    }
    bytes += input.size();

    FrameReader reader;
    absl::string_view left = input;
    State state;
    do {
      const absl::string_view piece = left.substr(0, fuzzer.NextChunk(left.size()));
      left.remove_prefix(piece.size());
      state = reader.Add(piece);
      ASSERT_EQ(state, reader.state());
    } while (!left.empty());
    ASSERT_EQ(state, ExpectedState(input))
        << "seed " << kFuzzSeed << ", input " << i << ": " << absl::CEscape(input);
    switch (state) {
      case State::kComplete:
        ++complete;
        ASSERT_EQ(reader.message(), absl::string_view(input).substr(4))
            << "seed " << kFuzzSeed << ", input " << i << ": " << absl::CEscape(input);
        break;
      case State::kNeedMore:
        ++need_more;
        ASSERT_TRUE(reader.message().empty());
        break;
      case State::kInvalid:
        ++invalid;
        ASSERT_TRUE(reader.message().empty());
        break;
    }

    // Random bytes go to the parser whole; a mutated hello without its prefix
    // (what the reader gives once it is complete).
    const absl::string_view message =
        random ? absl::string_view(input)
               : absl::string_view(input).substr(std::min<size_t>(4, input.size()));
    const absl::StatusOr<v1::TunnelHello> hello = ParseHello(message);
    if (hello.ok()) {
      ++accepted;
      (random ? random_accepted : mutated_accepted) += 1;
      const std::string problem = CheckAcceptedHello(*hello);
      ASSERT_EQ(problem, "") << "seed " << kFuzzSeed << ", input " << i << ": "
                             << absl::CEscape(input);
    } else {
      ++rejected;
      ASSERT_EQ(hello.status().code(), absl::StatusCode::kInvalidArgument)
          << "seed " << kFuzzSeed << ", input " << i << ": " << hello.status();
      ASSERT_FALSE(hello.status().message().empty());
    }
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "[ fuzz     ] seed=" << kFuzzSeed << " inputs=" << inputs << " bytes=" << bytes
            << " frames_complete=" << complete << " need_more=" << need_more
            << " invalid=" << invalid << " hellos_accepted=" << accepted << " (random "
            << random_accepted << ", mutated " << mutated_accepted << ")"
            << " rejected=" << rejected << " seconds=" << seconds << std::endl;
  RecordProperty("inputs", inputs);
  if (inputs >= 1000) {
    EXPECT_GT(accepted, 0u) << "seed " << kFuzzSeed;
    EXPECT_GT(mutated_accepted, 0u) << "seed " << kFuzzSeed;
    EXPECT_GT(rejected, 0u) << "seed " << kFuzzSeed;
    EXPECT_GT(complete, 0u) << "seed " << kFuzzSeed;
    EXPECT_GT(invalid, 0u) << "seed " << kFuzzSeed;
  }
}

}  // namespace
}  // namespace warden::quic
