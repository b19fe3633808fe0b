#pragma once

// The real wardenctl binary against a real warden-control (and, where a
// test needs sessions, a real warden-agent with the memory driver): each
// call runs wardenctl as an operator would and keeps its stdout, stderr and
// exit code apart.

#include <map>
#include <string>
#include <vector>

#include "tests/support/fleet_processes.h"
#include "tests/support/process.h"

namespace warden::testing {

// Output with what changes from run to run masked: every id becomes <id1>,
// <id2>, ... by first appearance (the same id, the same mark), RFC 3339
// times (with Z or an offset) <time>, secrets wak_/wnc_/wet_<secret>. With `keep_width` each mark
// is padded to the width it replaces, so that a table's alignment is still
// checked; trailing blanks are then dropped.
std::string Masked(const std::string& text, bool keep_width = true);

class WardenctlTest : public FleetProcessTest {
 protected:
  void SetUp() override;

  // wardenctl against the test's control plane with the admin key (from a
  // file, as an operator keeps it) in plaintext.
  CtlResult Ctl(std::vector<std::string> args, std::map<std::string, std::string> env = {},
                const std::string& input = "");
  // wardenctl with only the arguments and environment given (and HOME).
  CtlResult Bare(const std::vector<std::string>& args, std::map<std::string, std::string> env = {});
  std::string Server() const;
  std::string WriteFile(const std::string& name, const std::string& content) const;

  Control* control_ = nullptr;
  std::string key_file_;
};

}  // namespace warden::testing
