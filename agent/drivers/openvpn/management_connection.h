#pragma once

// One connection to an OpenVPN management interface (a unix socket or TCP
// on loopback). Commands are answered strictly in order, so each command
// written joins a queue and the next SUCCESS:/ERROR: line or END-terminated
// block answers the oldest. Everything else that arrives (real-time
// messages) is handed to the reader.
//
// One thread reads (ReadSome); any thread may Send. Reply callbacks run on
// the reading thread and must not block.

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/drivers/openvpn/mgmt_protocol.h"

namespace warden::agent::openvpn {

struct ManagementReply {
  bool success = false;
  std::string text;                // after "SUCCESS: " / "ERROR: "
  std::vector<std::string> lines;  // of an END-terminated reply
  bool truncated = false;          // lines were lost over a limit: not the whole answer
};

class ManagementConnection {
 public:
  using ReplyCallback = absl::AnyInvocable<void(absl::StatusOr<ManagementReply>) &&>;

  // `address`: "unix:/path", "/path", or "host:port".
  static absl::StatusOr<std::unique_ptr<ManagementConnection>> Connect(const std::string& address,
                                                                       absl::Duration timeout);
  ~ManagementConnection();  // answers what is still queued with UNAVAILABLE

  ManagementConnection(const ManagementConnection&) = delete;
  ManagementConnection& operator=(const ManagementConnection&) = delete;

  // Writes `command` (one or more lines ending in '\n'); `on_reply` gets its
  // answer, or UNAVAILABLE when the connection ends first.
  absl::Status Send(absl::string_view command, ReplyCallback on_reply);
  // Send and wait; never call it on the reading thread.
  absl::StatusOr<ManagementReply> Call(absl::string_view command, absl::Duration timeout);

  // Waits up to `timeout` for input and appends the real-time messages it
  // completes. UNAVAILABLE once the peer has closed the connection.
  absl::Status ReadSome(absl::Duration timeout, std::vector<MgmtMessage>& out);

  // Makes a blocked ReadSome return and every later Send fail.
  void Shutdown();

 private:
  explicit ManagementConnection(int fd) : fd_(fd) {}
  void Answer(absl::StatusOr<ManagementReply> reply);
  void FailQueued(const absl::Status& why);

  const int fd_;
  MgmtParser parser_;  // only the reading thread touches it
  absl::Mutex write_mu_;
  std::deque<ReplyCallback> waiting_ ABSL_GUARDED_BY(write_mu_);
  bool closed_ ABSL_GUARDED_BY(write_mu_) = false;
};

}  // namespace warden::agent::openvpn
