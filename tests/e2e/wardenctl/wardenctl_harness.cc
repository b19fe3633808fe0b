#include "tests/e2e/wardenctl/wardenctl_harness.h"

#include <fstream>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The length of `shape` matched at `at` ('h' a lowercase hex digit, 'd' a
// digit, anything else itself), or 0.
size_t MatchShape(const std::string& text, size_t at, absl::string_view shape) {
  if (at + shape.size() > text.size()) return 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    const char c = text[at + i];
    if (shape[i] == 'h' ? !IsHex(c) : shape[i] == 'd' ? !IsDigit(c) : c != shape[i]) return 0;
  }
  return shape.size();
}

size_t MatchUuid(const std::string& text, size_t at) {
  return MatchShape(text, at, "hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh");
}

// RFC 3339 with Z or an offset, and optional fractions of a second.
size_t MatchTime(const std::string& text, size_t at) {
  size_t length = MatchShape(text, at, "dddd-dd-ddTdd:dd:dd");
  if (length == 0) return 0;
  if (at + length < text.size() && text[at + length] == '.') {
    size_t digits = 0;
    while (at + length + 1 + digits < text.size() && IsDigit(text[at + length + 1 + digits])) {
      ++digits;
    }
    if (digits > 0) length += 1 + digits;
  }
  if (at + length < text.size() && text[at + length] == 'Z') return length + 1;
  for (absl::string_view offset : {"+dd:dd", "-dd:dd"}) {
    if (size_t more = MatchShape(text, at + length, offset); more > 0) return length + more;
  }
  return 0;
}

size_t MatchSecret(const std::string& text, size_t at) {
  for (absl::string_view prefix : {"wak_", "wnc_", "wet_"}) {
    if (MatchShape(text, at, prefix) > 0 && MatchShape(text, at + 4, std::string(64, 'h')) > 0) {
      return 4 + 64;
    }
  }
  return 0;
}

// Replaces each match (left to right, not overlapping) with what `mark`
// returns for it, padded to the match's width with `keep_width`.
std::string ReplaceAll(const std::string& text,
                       const std::function<size_t(const std::string&, size_t)>& match,
                       const std::function<std::string(const std::string&)>& mark,
                       bool keep_width) {
  std::string out;
  size_t at = 0;
  while (at < text.size()) {
    const size_t length = match(text, at);
    if (length == 0) {
      out += text[at++];
      continue;
    }
    const std::string found = text.substr(at, length);
    std::string replacement = mark(found);
    if (keep_width && replacement.size() < found.size()) {
      replacement.append(found.size() - replacement.size(), ' ');
    }
    out += replacement;
    at += length;
  }
  return out;
}

}  // namespace

std::string Masked(const std::string& text, bool keep_width) {
  std::map<std::string, int> ids;
  std::string masked = ReplaceAll(
      text, MatchUuid,
      [&ids](const std::string& id) {
        auto [it, inserted] = ids.emplace(id, static_cast<int>(ids.size()) + 1);
        return absl::StrCat("<id", it->second, ">");
      },
      keep_width);
  masked = ReplaceAll(
      masked, MatchTime, [](const std::string&) { return "<time>"; }, keep_width);
  // Secrets stand in sentences, not in columns: no padding.
  masked = ReplaceAll(
      masked, MatchSecret,
      [](const std::string& secret) { return secret.substr(0, 4) + "<secret>"; }, false);
  std::vector<std::string> lines = absl::StrSplit(masked, '\n');
  for (std::string& line : lines) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
  }
  return absl::StrJoin(lines, "\n");
}

void WardenctlTest::SetUp() {
  FleetProcessTest::SetUp();
  control_ = &StartControl("a");
  key_file_ = WriteFile("admin.key", std::string(kTestAdminKey) + "\n");
}

std::string WardenctlTest::Server() const { return absl::StrCat("127.0.0.1:", control_->port); }

std::string WardenctlTest::WriteFile(const std::string& name, const std::string& content) const {
  const std::string path = absl::StrCat(work_dir_, "/", name);
  std::ofstream(path) << content;
  return path;
}

CtlResult WardenctlTest::Ctl(std::vector<std::string> args, std::map<std::string, std::string> env,
                             const std::string& input) {
  std::vector<std::string> all{"--insecure", "--server", Server(), "--key-file", key_file_};
  all.insert(all.end(), args.begin(), args.end());
  env.emplace("HOME", work_dir_);
  return RunCaptured(WARDENCTL_BIN, all, env, work_dir_, input);
}

CtlResult WardenctlTest::Bare(const std::vector<std::string>& args,
                              std::map<std::string, std::string> env) {
  env.emplace("HOME", work_dir_);
  return RunCaptured(WARDENCTL_BIN, args, env, work_dir_);
}

}  // namespace warden::testing
