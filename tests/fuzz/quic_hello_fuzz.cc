// libFuzzer target: the QUIC tunnel's handshake framing and hello checks.
//
// The input is what a client wrote on the first stream. The frame reader
// must come to the same state whether the bytes arrive at once or one by one,
// and never hold more than one frame. A hello or welcome that passes its
// checks must pass them again after Frame() and the reader, unchanged. The
// close texts derived from the bytes stay bounded, and a kill reason keeps
// its code through a split and a join.

#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/kill_reason.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/fuzz/fuzz_check.h"

namespace warden::quic {
namespace {

using google::protobuf::util::MessageDifferencer;

FrameReader::State ReadAtOnce(absl::string_view bytes, FrameReader& reader) {
  return reader.Add(bytes);
}

FrameReader::State ReadByteByByte(absl::string_view bytes, FrameReader& reader) {
  for (char c : bytes) reader.Add(absl::string_view(&c, 1));
  return reader.state();
}

// The message after Frame() and a FrameReader.
std::string Reframe(const google::protobuf::MessageLite& message) {
  FrameReader reader;
  FUZZ_CHECK(reader.Add(Frame(message)) == FrameReader::State::kComplete);
  return std::string(reader.message());
}

void CheckHello(absl::string_view message) {
  absl::StatusOr<v1::TunnelHello> hello = ParseHello(message);
  if (!hello.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(hello.status()));
    return;
  }
  FUZZ_CHECK(hello->connect_ticket().empty() != hello->password().empty());
  FUZZ_CHECK(hello->password().empty() || !hello->username().empty());
  FUZZ_CHECK(hello->username().size() <= 128 && hello->device_label().size() <= 64);
  absl::StatusOr<v1::TunnelHello> again = ParseHello(Reframe(*hello));
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString());
  FUZZ_CHECK(MessageDifferencer::Equals(*hello, *again));
}

void CheckWelcome(absl::string_view message) {
  absl::StatusOr<v1::TunnelWelcome> welcome = ParseWelcome(message);
  if (!welcome.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(welcome.status()));
    return;
  }
  FUZZ_CHECK(welcome->mtu() >= 576 && welcome->mtu() <= 65535);
  absl::StatusOr<v1::TunnelWelcome> again = ParseWelcome(Reframe(*welcome));
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString());
  FUZZ_CHECK(MessageDifferencer::Equals(*welcome, *again));
}

void CheckClose(absl::string_view reason) {
  for (uint64_t code : {0x0, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x999}) {
    const std::string text = DescribeClose(code, reason);
    FUZZ_CHECK(text.size() <= reason.size() + 64);
    const int status = ExitStatusFor(code);
    FUZZ_CHECK(status >= kExitFailure && status <= kExitServerShutdown);
  }
  // A kill reason keeps its code through a split and a join.
  const KillReason split = SplitKillReason(reason);
  FUZZ_CHECK(SplitKillReason(JoinKillReason(split.code, split.sentence)).code == split.code);
  const CloseCode kill = CloseCodeForKill(reason);
  FUZZ_CHECK(kill == CloseCode::kKilled || kill == CloseCode::kEvicted || kill == CloseCode::kIdle);
}

}  // namespace
}  // namespace warden::quic

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace warden::quic;
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);

  FrameReader at_once;
  FrameReader byte_by_byte;
  const FrameReader::State state = ReadAtOnce(bytes, at_once);
  FUZZ_CHECK(ReadByteByByte(bytes, byte_by_byte) == state);
  if (state == FrameReader::State::kComplete) {
    FUZZ_CHECK(at_once.message() == byte_by_byte.message());
    FUZZ_CHECK(at_once.message().size() + 4 == size);
    CheckHello(at_once.message());
    CheckWelcome(at_once.message());
  } else {
    FUZZ_CHECK(at_once.message().empty());
  }

  // The unframed bytes as a message, so that the fuzzer need not find the
  // length prefix to reach the checks.
  CheckHello(bytes);
  CheckWelcome(bytes);
  CheckClose(bytes.substr(0, 512));
  return 0;
}
