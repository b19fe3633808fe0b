#pragma once

// What the QUIC tunnel's two ends agree on beyond tunnel.proto: the ALPN,
// the application error codes a connection is closed with, and the framing
// of the handshake messages on the first stream.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/quic/quic_tls.h"
#include "warden/v1/tunnel.pb.h"

namespace warden::quic {

inline constexpr absl::string_view kAlpn = kTunnelAlpn;

// Largest handshake message either end accepts (without the length prefix).
inline constexpr size_t kMaxHandshakeMessage = 4096;

// Application error codes of CONNECTION_CLOSE. The reason text travels with
// them; the client prints it and exits with the status below.
enum class CloseCode : uint64_t {
  kNormal = 0x0,         // the client hung up
  kDenied = 0x101,       // admission refused (bad credentials, device limit, disabled user...)
  kProtocol = 0x102,     // bad handshake, data before it, wrong ALPN
  kKilled = 0x103,       // an operator's kill
  kEvicted = 0x104,      // a newer device of the user took this seat
  kShutdown = 0x105,     // the agent is stopping
  kUnavailable = 0x106,  // the control plane cannot be asked now (try again)
  kIdle = 0x107,         // nothing heard within the idle timeout
};

// warden-connect's exit statuses: a script can tell why the tunnel ended.
inline constexpr int kExitInterrupted = 0;  // SIGINT / SIGTERM
inline constexpr int kExitFailure = 1;      // could not connect, or the connection was lost
inline constexpr int kExitUsage = 2;
inline constexpr int kExitDenied = 3;
inline constexpr int kExitKilled = 4;
inline constexpr int kExitEvicted = 5;
inline constexpr int kExitServerShutdown = 6;

int ExitStatusFor(uint64_t close_code);
// The client's words for a close: "disconnected by administrator: <reason>".
std::string DescribeClose(uint64_t close_code, absl::string_view reason);

// The kill reason the control plane gives when EVICT_OLDEST makes room.
inline constexpr absl::string_view kEvictedReason = "evicted";
// The close a kill with `reason` becomes.
CloseCode CloseCodeForKill(absl::string_view reason);

// Length-prefixed framing: 4 bytes big-endian, then the message.
std::string Frame(const google::protobuf::MessageLite& message);

// Collects one framed message from stream bytes that arrive in pieces.
class FrameReader {
 public:
  enum class State { kNeedMore, kComplete, kInvalid };
  // Appends `bytes`; kInvalid once the declared length is 0 or above
  // kMaxHandshakeMessage, or bytes follow the message.
  State Add(absl::string_view bytes);
  // The message, once kComplete.
  absl::string_view message() const;
  State state() const { return state_; }

 private:
  std::string buffer_;
  State state_ = State::kNeedMore;
};

// Decodes and checks a hello: exactly one credential (ticket, or username and
// password), sizes within bounds, printable label. INVALID_ARGUMENT says what
// was wrong.
absl::StatusOr<v1::TunnelHello> ParseHello(absl::string_view message);
absl::StatusOr<v1::TunnelWelcome> ParseWelcome(absl::string_view message);

}  // namespace warden::quic
