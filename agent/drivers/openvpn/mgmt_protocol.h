#pragma once

// The OpenVPN management-interface protocol, without sockets: a parser that
// turns the bytes OpenVPN writes into messages, the commands the driver writes
// back, and the `status 3` reply. Written against OpenVPN 2.6 (management
// interface version 5) started with --management-client-auth.
//
// What OpenVPN writes (lines end in CRLF):
//   >KIND:text                 a real-time message, at any time, even between
//                              the lines of a multi-line reply
//   >CLIENT:CONNECT,cid,kid    a client block: ">CLIENT:ENV,key=value" lines
//   ...                        up to ">CLIENT:ENV,END"
//   SUCCESS: text / ERROR: text  the reply to a one-line command
//   line ... END               the reply to a multi-line command (status 3)
//   ENTER PASSWORD:            the management password prompt, no newline
//
// ENV blocks carry the client's plaintext password: never log an ENV line or a
// ClientEnv value; log Describe(event) instead.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::agent::openvpn {

// The variables of a >CLIENT: block, in the order OpenVPN sent them.
struct ClientEnv {
  std::vector<std::pair<std::string, std::string>> vars{};

  // The value of the first variable named `key`.
  std::optional<std::string> Get(absl::string_view key) const;
};

enum class ClientEventKind { kConnect, kReauth, kEstablished, kDisconnect, kCrResponse, kOther };

// A complete >CLIENT:<KIND>,... block, emitted when its >CLIENT:ENV,END arrives.
struct ClientEvent {
  ClientEventKind kind = ClientEventKind::kOther;
  std::string kind_name{};  // as sent: "CONNECT", "REAUTH", ...
  int64_t cid = -1;
  int64_t kid = -1;  // -1 when the header has no kid (ESTABLISHED, DISCONNECT)
  ClientEnv env{};
  // The header after cid[,kid]: the base64 response of CR_RESPONSE. Secret.
  std::string extra{};
};

// >CLIENT:ADDRESS,cid,addr,primary (a single line, no ENV block).
struct ClientAddress {
  int64_t cid = -1;
  std::string address{};
  bool primary = false;
};

// >BYTECOUNT_CLI:cid,bytes_in,bytes_out (bytes received from / sent to the client).
struct ByteCount {
  int64_t cid = -1;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
};

// Any other real-time message ">KIND:text": INFO, LOG, STATE, HOLD, PASSWORD, ...
struct Notification {
  std::string kind{};
  std::string text{};
};

// "SUCCESS: text" or "ERROR: text".
struct CommandReply {
  bool success = false;
  std::string text{};
};

// The lines of a multi-line reply, without the closing "END".
struct MultilineReply {
  std::vector<std::string> lines{};
  // Lines were lost (over a limit, or a line too long): do not trust `lines`
  // as complete, e.g. do not reconcile sessions against a truncated status.
  bool truncated = false;
};

// "ENTER PASSWORD:" (sent without a newline); answer with PasswordCommand().
struct PasswordPrompt {};

// Input the parser could not make sense of. When it concerns a client block,
// `block_kind`, `cid` and (for CONNECT/REAUTH/CR_RESPONSE) `kid` say which one,
// so the driver can deny it: that block will not be emitted as a ClientEvent.
// `what` never contains bytes of the input other than numbers.
struct ProtocolError {
  std::string what{};
  int64_t cid = -1;
  int64_t kid = -1;
  std::optional<ClientEventKind> block_kind{};
};

using MgmtMessage = std::variant<ClientEvent, ClientAddress, ByteCount, Notification, CommandReply,
                                 MultilineReply, PasswordPrompt, ProtocolError>;

// Reassembles messages from the byte stream of one management connection.
// Memory is bounded by Limits whatever the peer sends; malformed input becomes
// a ProtocolError, never an exception or a crash.
class MgmtParser {
 public:
  struct Limits {
    size_t max_line_bytes = 64 * 1024;  // without the line ending
    size_t max_env_vars = 512;          // per client block
    size_t max_env_bytes = 256 * 1024;  // keys + values per client block
    size_t max_multiline_lines = 200000;
    size_t max_multiline_bytes = 32 * 1024 * 1024;
  };

  MgmtParser();
  explicit MgmtParser(Limits limits);

  // Feeds bytes as read from the socket (any split; CRLF or LF) and appends
  // every message they complete to `out`, in stream order.
  void Feed(absl::string_view bytes, std::vector<MgmtMessage>& out);

  // Drops all partial state (after a reconnect).
  void Reset();

  // Bytes held for incomplete lines, blocks and replies (for tests and metrics).
  size_t BufferedBytes() const;

  const Limits& limits() const { return limits_; }

 private:
  struct OpenBlock {
    ClientEvent event;
    size_t env_bytes = 0;
    bool failed = false;  // already reported; swallow lines up to ENV,END
  };

  void HandleLine(absl::string_view line, std::vector<MgmtMessage>& out);
  void HandleOversizedLine(absl::string_view prefix, std::vector<MgmtMessage>& out);
  void HandleRealtime(absl::string_view body, std::vector<MgmtMessage>& out);
  void HandleClient(absl::string_view text, std::vector<MgmtMessage>& out);
  void HandleClientEnv(std::optional<absl::string_view> args, std::vector<MgmtMessage>& out);
  void HandleClientHeader(absl::string_view name, std::optional<absl::string_view> args,
                          std::vector<MgmtMessage>& out);
  void HandleClientAddress(std::optional<absl::string_view> args, std::vector<MgmtMessage>& out);
  void HandleBytecount(absl::string_view text, std::vector<MgmtMessage>& out);
  void AddReplyLine(absl::string_view line, std::vector<MgmtMessage>& out);
  void FailBlock(absl::string_view what, std::vector<MgmtMessage>& out);

  Limits limits_;
  std::string partial_;      // the current line, without its '\n'
  bool discarding_ = false;  // inside an oversized line, up to its '\n'
  std::optional<OpenBlock> block_;
  bool orphan_env_ = false;  // inside ENV lines without a header (reported once)
  bool reply_open_ = false;
  bool reply_truncated_ = false;
  std::vector<std::string> reply_lines_;
  size_t reply_bytes_ = 0;
};

// --- Commands. Each ends in "\n". ---------------------------------------------
//
// Texts are quoted the way OpenVPN's option lexer reads them: in double quotes,
// with '"' and '\' backslash-escaped. Control characters (CR, LF, ...) are
// removed, and each text is cut to kMaxCommandTextBytes (OpenVPN refuses a
// parameter of 256 bytes or more and a command line of 1024 or more).
inline constexpr size_t kMaxCommandTextBytes = 200;
inline constexpr size_t kMaxConfigLineBytes = 1000;

// "client-auth cid kid\n<config lines>\nEND\n". Config lines are client-connect
// directives (e.g. `push "route 10.0.0.0 255.0.0.0"`); control characters are
// removed and lines that CheckConfigLine() refuses afterwards are left out.
std::string ClientAuthCommand(int64_t cid, int64_t kid,
                              const std::vector<std::string>& config_lines = {});
// OK for a config line ClientAuthCommand() passes on unchanged.
absl::Status CheckConfigLine(absl::string_view line);
std::string ClientAuthNtCommand(int64_t cid, int64_t kid);
// `reason` goes to the server log, `client_reason` to the client
// ("AUTH_FAILED,<client_reason>"); an empty client_reason is left out, and the
// client then sees a plain AUTH_FAILED.
std::string ClientDenyCommand(int64_t cid, int64_t kid, absl::string_view reason,
                              absl::string_view client_reason);
// "HALT" makes the client exit, "RESTART" reconnect; "" sends no message
// (OpenVPN's default, RESTART).
std::string ClientKillCommand(int64_t cid, absl::string_view message = "HALT");
// The control message a killed client receives: "HALT,<reason>" (or
// RESTART,...). OpenVPN clients show the text after the comma as the
// reason they were disconnected.
std::string KillMessage(absl::string_view kind, absl::string_view reason);
// Per-client >BYTECOUNT_CLI every `seconds` (0 turns it off; negative is 0).
std::string BytecountCommand(int seconds);
std::string StatusCommand();  // "status 3\n"
// The answer to "ENTER PASSWORD:": the password line as is (OpenVPN compares
// the raw line), with control characters removed.
std::string PasswordCommand(absl::string_view password);

// --- status 3 ------------------------------------------------------------------

struct StatusClient {
  std::string common_name{}, real_address{}, virtual_address{}, virtual_ipv6{}, username{};
  int64_t bytes_received = 0, bytes_sent = 0, connected_since_unix = 0, cid = -1, peer_id = -1;
  std::string cipher{};
};

struct StatusReport {
  std::vector<StatusClient> clients{};
  int64_t time_unix = 0;  // the TIME line; 0 if absent
};

// Parses the lines of a `status 3` reply (tab-separated) or `status 2` reply
// (comma-separated). Columns are found by name from the HEADER CLIENT_LIST line,
// so added or missing columns in other OpenVPN versions work; without that
// header the 2.6 column order is assumed. Unknown record types are skipped.
// INVALID_ARGUMENT when a number does not parse or nothing looks like a status
// reply. OpenVPN writes "UNDEF" for an unset common name or username; it is
// passed through as is.
absl::StatusOr<StatusReport> ParseStatus(const std::vector<std::string>& lines);

// --- Logging -------------------------------------------------------------------

// A one-line, log-safe summary of a client event: kind, cid, kid, the ENV keys,
// and values only for username, common_name, untrusted_ip, untrusted_port,
// IV_PLAT, IV_VER, IV_GUI_VER, ifconfig_pool_remote_ip, bytes_received,
// bytes_sent and time_duration (escaped, quoted, cut to 128 bytes). It never
// contains the password or `extra` (raw or escaped) when that secret is at
// least kMinSecretBytes long: if it would, fewer details are given.
inline constexpr size_t kMinSecretBytes = 4;
std::string Describe(const ClientEvent& event);

// "CONNECT", "REAUTH", ... ; "OTHER" for kOther.
absl::string_view ClientEventKindName(ClientEventKind kind);

}  // namespace warden::agent::openvpn
