#pragma once

// A child process of a test: a real warden-control or warden-agent. Output
// goes to a log file that a failing test prints.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::testing {

class Process {
 public:
  Process(std::string binary, std::vector<std::string> args, std::map<std::string, std::string> env,
          std::string log_path);
  ~Process();  // SIGKILL if still running

  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void Signal(int signal);
  // Waits for exit; returns the exit status (or -1 on timeout).
  int Wait(absl::Duration timeout);
  bool Running();
  std::string Log() const;
  // Polls the log for `text`.
  bool WaitForLog(const std::string& text, absl::Duration timeout) const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  int exit_status_ = -1;
};

// A short command's outcome: its exit code and what it printed.
struct CtlResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `binary` with `args` and exactly `env` as its environment, `input` on
// its standard input, in `work_dir` (its output is kept there too); killed
// after 60 s.
CtlResult RunCaptured(const std::string& binary, const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& env, const std::string& work_dir,
                      const std::string& input = "");

// The number the log shows after `markers` (each found after the one before);
// 0 when it does not show up in time.
int WaitForLoggedNumber(const Process& process, const std::vector<std::string>& markers,
                        absl::Duration timeout);
// The port a warden-control started with --listen 127.0.0.1:0 reports.
int WaitForServingPort(const Process& control, absl::Duration timeout);
// The /metrics port of a process started with --metrics-listen 127.0.0.1:0.
int WaitForMetricsPort(const Process& process, absl::Duration timeout);

}  // namespace warden::testing
