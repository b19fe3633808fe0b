#include "bench/lib/proc_usage.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::bench {
namespace {

// Fields of /proc/<pid>/stat after the command name: state is field 3.
struct Stat {
  int ppid = 0;
  long utime = 0;
  long stime = 0;
};

bool ReadStat(int pid, Stat& stat) {
  std::ifstream file(absl::StrCat("/proc/", pid, "/stat"));
  std::string content((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const size_t name_end = content.rfind(')');
  if (name_end == std::string::npos || name_end + 2 > content.size()) return false;
  std::istringstream fields(content.substr(name_end + 2));
  std::string field;
  for (int i = 3; fields >> field; ++i) {
    if (i == 4) stat.ppid = std::stoi(field);
    if (i == 14) stat.utime = std::stol(field);
    if (i == 15) {
      stat.stime = std::stol(field);
      return true;
    }
  }
  return false;
}

double RssMib(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

}  // namespace

ProcessUsage Usage(int pid) {
  ProcessUsage usage;
  Stat stat;
  if (!ReadStat(pid, stat)) return usage;
  usage.rss_mib = RssMib(pid);
  usage.cpu_seconds = static_cast<double>(stat.utime + stat.stime) / sysconf(_SC_CLK_TCK);
  return usage;
}

TreeUsage UsageWithChildren(int pid) {
  TreeUsage tree;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return tree;
  while (dirent* entry = readdir(proc)) {
    int child = 0;
    if (!absl::SimpleAtoi(entry->d_name, &child)) continue;
    Stat stat;
    if (!ReadStat(child, stat) || (child != pid && stat.ppid != pid)) continue;
    tree.usage.rss_mib += RssMib(child);
    tree.usage.cpu_seconds += static_cast<double>(stat.utime + stat.stime) / sysconf(_SC_CLK_TCK);
    ++tree.processes;
  }
  closedir(proc);
  return tree;
}

MachineCpu ReadMachineCpu() {
  MachineCpu cpu;
  std::ifstream stat("/proc/stat");
  std::string label;
  stat >> label;  // "cpu": the sum over all cores
  long value = 0;
  for (int i = 0; i < 8 && stat >> value; ++i) {  // user nice system idle iowait irq softirq steal
    const double seconds = static_cast<double>(value) / sysconf(_SC_CLK_TCK);
    cpu.total_seconds += seconds;
    if (i != 3 && i != 4) cpu.busy_seconds += seconds;
  }
  return cpu;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * sorted.size()))];
}

}  // namespace warden::bench
