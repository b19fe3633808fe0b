#include "common/quic/tunnel_protocol.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/kill_reason.h"

namespace warden::quic {
namespace {

constexpr size_t kLengthPrefix = 4;

bool HasControlCharacters(absl::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  }
  return false;
}

absl::Status CheckField(absl::string_view name, absl::string_view value, size_t max) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(absl::StrCat(name, " is longer than ", max, " bytes"));
  }
  if (HasControlCharacters(value)) {
    return absl::InvalidArgumentError(absl::StrCat(name, " contains control characters"));
  }
  return absl::OkStatus();
}

}  // namespace

int ExitStatusFor(uint64_t close_code) {
  switch (static_cast<CloseCode>(close_code)) {
    case CloseCode::kDenied:
      return kExitDenied;
    case CloseCode::kKilled:
      return kExitKilled;
    case CloseCode::kEvicted:
      return kExitEvicted;
    case CloseCode::kShutdown:
      return kExitServerShutdown;
    default:
      return kExitFailure;
  }
}

std::string DescribeClose(uint64_t close_code, absl::string_view reason) {
  switch (static_cast<CloseCode>(close_code)) {
    case CloseCode::kNormal:
      return "closed";
    case CloseCode::kDenied:
      return absl::StrCat("refused: ", reason);
    case CloseCode::kProtocol:
      return absl::StrCat("protocol error: ", reason);
    case CloseCode::kKilled: {
      const KillReason kill = SplitKillReason(reason);
      if (kill.code.empty() || kill.code == "killed_by_admin") {
        return absl::StrCat("disconnected by administrator: ", kill.sentence);
      }
      if (kill.sentence == kill.code) return absl::StrCat("disconnected (", kill.code, ")");
      return absl::StrCat("disconnected (", kill.code, "): ", kill.sentence);
    }
    case CloseCode::kEvicted:
      return "another device took this seat";
    case CloseCode::kShutdown:
      return "the server is shutting down";
    case CloseCode::kUnavailable:
      return absl::StrCat("the server cannot admit anyone now: ", reason);
    case CloseCode::kIdle:
      return "closed after the idle timeout";
  }
  return absl::StrCat("closed with code ", close_code, ": ", reason);
}

CloseCode CloseCodeForKill(absl::string_view reason) {
  const std::string code = SplitKillReason(reason).code;
  if (code == kEvictedReason) return CloseCode::kEvicted;
  if (code == "idle") return CloseCode::kIdle;
  return CloseCode::kKilled;
}

std::string Frame(const google::protobuf::MessageLite& message) {
  const std::string body = message.SerializeAsString();
  const uint32_t length = static_cast<uint32_t>(body.size());
  std::string framed;
  framed.reserve(kLengthPrefix + body.size());
  framed.push_back(static_cast<char>(length >> 24));
  framed.push_back(static_cast<char>(length >> 16));
  framed.push_back(static_cast<char>(length >> 8));
  framed.push_back(static_cast<char>(length));
  framed += body;
  return framed;
}

FrameReader::State FrameReader::Add(absl::string_view bytes) {
  if (state_ != State::kNeedMore) {
    if (!bytes.empty()) state_ = State::kInvalid;
    return state_;
  }
  // Never hold more than one whole frame: a peer cannot make us buffer more.
  const size_t room = kLengthPrefix + kMaxHandshakeMessage - buffer_.size();
  if (bytes.size() > room) {
    state_ = State::kInvalid;
    return state_;
  }
  buffer_.append(bytes.data(), bytes.size());
  if (buffer_.size() < kLengthPrefix) return state_;
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data());
  const uint32_t length =
      (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
  if (length == 0 || length > kMaxHandshakeMessage) {
    state_ = State::kInvalid;
  } else if (buffer_.size() - kLengthPrefix == length) {
    state_ = State::kComplete;
  } else if (buffer_.size() - kLengthPrefix > length) {
    state_ = State::kInvalid;  // only one message may come before the answer
  }
  return state_;
}

absl::string_view FrameReader::message() const {
  if (state_ != State::kComplete) return {};
  return absl::string_view(buffer_).substr(kLengthPrefix);
}

absl::StatusOr<v1::TunnelHello> ParseHello(absl::string_view message) {
  v1::TunnelHello hello;
  if (message.size() > kMaxHandshakeMessage ||
      !hello.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    return absl::InvalidArgumentError("the hello is not a TunnelHello message");
  }
  const bool has_ticket = !hello.connect_ticket().empty();
  const bool has_password = !hello.password().empty();
  if (has_ticket == has_password) {
    return absl::InvalidArgumentError(
        "the hello needs exactly one credential: a connect ticket, or username and password");
  }
  if (has_ticket && !absl::StartsWith(hello.connect_ticket(), "wct_")) {
    return absl::InvalidArgumentError("connect_ticket is not a connect ticket (wct_...)");
  }
  if (has_password && hello.username().empty()) {
    return absl::InvalidArgumentError("a password needs a username");
  }
  if (absl::Status s = CheckField("connect_ticket", hello.connect_ticket(), 128); !s.ok()) return s;
  if (absl::Status s = CheckField("username", hello.username(), 128); !s.ok()) return s;
  if (hello.password().size() > 1024) {
    return absl::InvalidArgumentError("password is longer than 1024 bytes");
  }
  if (absl::Status s = CheckField("device_label", hello.device_label(), 64); !s.ok()) return s;
  if (absl::Status s = CheckField("client_version", hello.client_version(), 64); !s.ok()) return s;
  return hello;
}

absl::StatusOr<v1::TunnelWelcome> ParseWelcome(absl::string_view message) {
  v1::TunnelWelcome welcome;
  if (message.size() > kMaxHandshakeMessage ||
      !welcome.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    return absl::InvalidArgumentError("the welcome is not a TunnelWelcome message");
  }
  if (welcome.tunnel_address().empty()) {
    return absl::InvalidArgumentError("the welcome carries no tunnel address");
  }
  if (welcome.mtu() < 576 || welcome.mtu() > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the welcome's MTU ", welcome.mtu(), " is outside 576..65535"));
  }
  return welcome;
}

}  // namespace warden::quic
