#pragma once

// What a process costs the machine, read from /proc: resident memory and
// CPU time (user + system) so far. Shared by the benchmarks that watch
// warden-control and PostgreSQL from outside.

#include <vector>

namespace warden::bench {

struct ProcessUsage {
  double rss_mib = 0;
  double cpu_seconds = 0;
};

// Zeros when the process is gone.
ProcessUsage Usage(int pid);

// The process and its children (for PostgreSQL: the postmaster and every
// backend and helper it forked): summed RSS and CPU time, and how many.
struct TreeUsage {
  ProcessUsage usage;
  int processes = 0;
};
TreeUsage UsageWithChildren(int pid);

// The whole machine's CPU time so far (/proc/stat), all cores together:
// busy (everything but idle and iowait) and in total.
struct MachineCpu {
  double busy_seconds = 0;
  double total_seconds = 0;
};
MachineCpu ReadMachineCpu();

// The value at fraction `p` (0..1) of ascending `sorted`; 0 when empty.
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace warden::bench
