#pragma once

// What the end-to-end rigs (OpenVPN, WireGuard) share: running short
// commands with a deadline, and owning network namespaces and temp dirs whose
// names start with "<prefix><pid>-" so that a later rig can sweep what a
// SIGKILLed test process left behind.

#include <sys/types.h>

#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::testing {

// The exit code and the output (stdout and stderr) of a short command.
struct ExecResult {
  int exit_code = -1;  // -1: could not start, killed by a signal, or timed out
  std::string output;
};

// Runs argv[0] (looked up in PATH) with a deadline; kills it when the deadline passes.
ExecResult RunToCompletion(const std::vector<std::string>& argv,
                           absl::Duration timeout = absl::Seconds(10));

// The absolute path of `name` in PATH or the sbin dirs ("" when absent).
std::string FindExecutable(const std::string& name);

// The whole file ("" when it cannot be read).
std::string ReadWholeFile(const std::string& path);

// The last `max_chars` of a log, for a failure message.
std::string Tail(const std::string& text, size_t max_chars = 6000);

// Deletes network namespaces (/run/netns) and /tmp dirs named
// "<prefix><pid>-..." whose pid is gone. Live owners are left alone.
void SweepStaleRigs(absl::string_view prefix);

// Why a namespace rig cannot run here ("" when it can): not root, one of
// `tools` missing, no /dev/net/tun (created with mknod when missing), or no
// network namespaces (probed with one named "<prefix><pid>-probe").
std::string NetnsRigUnusableReason(absl::string_view rig, absl::string_view prefix,
                                   std::initializer_list<const char*> tools);

}  // namespace warden::testing
