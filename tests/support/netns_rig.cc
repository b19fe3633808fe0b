#include "tests/support/netns_rig.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

extern char** environ;

namespace warden::testing {
namespace {

namespace fs = std::filesystem;

// The pid in "<prefix><pid>-...", or 0.
pid_t OwnerPid(absl::string_view name, absl::string_view prefix) {
  if (!absl::ConsumePrefix(&name, prefix)) return 0;
  const size_t dash = name.find('-');
  int pid = 0;
  if (dash == absl::string_view::npos || !absl::SimpleAtoi(name.substr(0, dash), &pid)) return 0;
  return static_cast<pid_t>(pid);
}

bool PidAlive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Reads the child's output until EOF or the deadline; true on EOF.
bool DrainUntil(int fd, absl::Time deadline, std::string& output) {
  for (;;) {
    const int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) return false;
    pollfd readable{fd, POLLIN, 0};
    const int ready = ::poll(&readable, 1, static_cast<int>(wait_ms));
    if (ready <= 0) continue;  // EINTR or the deadline: checked above
    char buffer[4096];
    const ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return true;  // EOF: the command (and anything it started) closed its output
    output.append(buffer, static_cast<size_t>(got));
  }
}

}  // namespace

std::string FindExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = absl::StrCat(path == nullptr ? "" : path, ":/usr/sbin:/sbin:/usr/bin:/bin");
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

ExecResult RunToCompletion(const std::vector<std::string>& argv, absl::Duration timeout) {
  ExecResult result;
  if (argv.empty()) return result;
  const std::string binary = FindExecutable(argv[0]);
  if (binary.empty()) {
    result.output = absl::StrCat(argv[0], ": not found");
    return result;
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return result;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);

  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (std::string& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  pid_t pid = -1;
  const int spawned =
      ::posix_spawn(&pid, binary.c_str(), &actions, &attributes, c_args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  ::close(pipe_fds[1]);
  if (spawned != 0) {
    ::close(pipe_fds[0]);
    result.output = absl::StrCat("cannot start ", binary, ": ", std::strerror(spawned));
    return result;
  }

  const absl::Time deadline = absl::Now() + timeout;
  const bool finished_output = DrainUntil(pipe_fds[0], deadline, result.output);
  ::close(pipe_fds[0]);

  int status = 0;
  while (finished_output) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      return result;
    }
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Milliseconds(5));  // polling the exit with a deadline
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  result.output += absl::StrCat("\n[timed out after ", absl::FormatDuration(timeout), "]");
  return result;
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string Tail(const std::string& text, size_t max_chars) {
  return text.size() <= max_chars ? text : "..." + text.substr(text.size() - max_chars);
}

void SweepStaleRigs(absl::string_view prefix) {
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/run/netns", error)) {
    const std::string name = entry.path().filename().string();
    const pid_t owner = OwnerPid(name, prefix);
    if (owner > 0 && !PidAlive(owner)) RunToCompletion({"ip", "netns", "del", name});
  }
  for (const auto& entry : fs::directory_iterator("/tmp", error)) {
    const std::string name = entry.path().filename().string();
    const pid_t owner = OwnerPid(name, prefix);
    if (owner > 0 && !PidAlive(owner) && entry.is_directory(error)) fs::remove_all(entry, error);
  }
}

std::string NetnsRigUnusableReason(absl::string_view rig, absl::string_view prefix,
                                   std::initializer_list<const char*> tools) {
  if (::geteuid() != 0) {
    return absl::StrCat("the ", rig, " rig needs root (network namespaces, tun devices)");
  }
  for (const char* tool : tools) {
    if (FindExecutable(tool).empty()) return absl::StrCat(tool, " is not installed");
  }
  if (::access("/dev/net/tun", F_OK) != 0) {
    ::mkdir("/dev/net", 0755);
    if (::mknod("/dev/net/tun", S_IFCHR | 0600, ::makedev(10, 200)) != 0) {
      return "no /dev/net/tun, and mknod could not create it";
    }
  }
  const int tun = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0) return absl::StrCat("cannot open /dev/net/tun: ", std::strerror(errno));
  ::close(tun);
  const std::string probe = absl::StrCat(prefix, ::getpid(), "-probe");
  const ExecResult made = RunToCompletion({"ip", "netns", "add", probe});
  if (made.exit_code != 0) return absl::StrCat("cannot create a network namespace: ", made.output);
  RunToCompletion({"ip", "netns", "del", probe});
  return "";
}

}  // namespace warden::testing
