// The WireGuard driver's poll against a real wireguard-go interface: how much
// a full read of the device (UAPI get + parse) and the driver's processing of
// it cost with 1,000 and 10,000 peers. bench/wireguard/run.sh starts the
// interface (root, in a network namespace) and runs this.
//
//   poll_bench --iface=wgbench0 [--wg-pid=PID] [--counts=1000,10000] [benchmark flags]
//
// CPU times are this process's (all threads): the agent's side. With
// --wg-pid, wg_go_cpu_ms is wireguard-go's CPU per iteration, from /proc.

#include <benchmark/benchmark.h>
#include <sodium.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "agent/drivers/wireguard/uapi.h"
#include "agent/drivers/wireguard/wireguard_driver.h"
#include "common/logging.h"

namespace {

using warden::agent::AdmitAnswer;
using warden::agent::AdmitQuery;
using warden::agent::DriverHost;
using warden::agent::PeerSpec;
using namespace warden::agent::wireguard;  // NOLINT: a benchmark's own file

std::string g_iface;
int g_wg_pid = 0;

// Admits everyone at once; counts.
class CountingHost final : public DriverHost {
 public:
  AdmitAnswer Admit(const AdmitQuery&) override {
    admits.fetch_add(1);
    AdmitAnswer answer;
    answer.admitted = true;
    return answer;
  }
  void Opened(const std::string&, const std::string&) override { opened.fetch_add(1); }
  void Closed(const std::string&, const std::string&, int64_t, int64_t) override {}
  void Usage(const std::string&, int64_t, int64_t) override {}
  std::atomic<int64_t> admits{0}, opened{0};
};

// wireguard-go's utime + stime in ms (0 without --wg-pid).
double WgGoCpuMs() {
  if (g_wg_pid <= 0) return 0;
  std::ifstream in(absl::StrCat("/proc/", g_wg_pid, "/stat"));
  std::string line;
  std::getline(in, line);
  // Fields after the ")" that ends the command name: state is field 3;
  // utime and stime are fields 14 and 15.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  if (fields.size() < 13) return 0;
  int64_t utime = 0, stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) || !absl::SimpleAtoi(fields[12], &stime)) return 0;
  return static_cast<double>(utime + stime) * 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// One driver for the whole run; its owned set is grown to the count each
// benchmark needs (SetPeers configures the interface through UAPI).
struct Rig {
  std::vector<PeerSpec> specs;
  CountingHost host;
  std::unique_ptr<WireGuardDriver> driver;
  std::unique_ptr<UapiBackend> backend;
  size_t configured = 0;

  static Rig& Get() {
    static Rig* rig = new Rig();
    return *rig;
  }

  Rig() {
    if (sodium_init() < 0) std::abort();
    WireGuardOptions options;
    options.iface = g_iface;
    options.poll_interval = absl::Hours(1);  // the benchmark polls
    options.admit_queue = 100000;            // BM_DriverObserve opens every session at once
    driver = std::make_unique<WireGuardDriver>(options);
    if (absl::Status started = driver->Start(host); !started.ok()) {
      std::cerr << "driver: " << started << "\n";
      std::exit(1);
    }
    backend = std::make_unique<UapiBackend>(g_iface,
                                            absl::StrCat("/var/run/wireguard/", g_iface, ".sock"));
  }

  void EnsurePeers(size_t count) {
    if (configured == count) return;
    while (specs.size() < count) {
      Key key{};
      randombytes_buf(key.data(), key.size());
      const size_t i = specs.size();
      PeerSpec spec;
      spec.device_id = absl::StrCat("bench-device-", i);
      spec.public_key = KeyToBase64(key);
      spec.allowed_ips = {
          absl::StrCat("10.", 100 + i / 65536, ".", (i / 256) % 256, ".", i % 256, "/32")};
      spec.username = absl::StrCat("user", i % 5000);
      specs.push_back(std::move(spec));
    }
    const absl::Time start = absl::Now();
    absl::Status set =
        driver->SetPeers(std::vector<PeerSpec>(specs.begin(), specs.begin() + count));
    if (!set.ok()) {
      std::cerr << "SetPeers: " << set << "\n";
      std::exit(1);
    }
    std::cerr << "configured " << count << " peers through UAPI in "
              << absl::FormatDuration(absl::Now() - start) << "\n";
    configured = count;
  }
};

void ReportWgGo(benchmark::State& state, double wg_before) {
  if (g_wg_pid > 0) {
    state.counters["wg_go_cpu_ms"] =
        benchmark::Counter((WgGoCpuMs() - wg_before) / static_cast<double>(state.iterations()));
  }
}

// UAPI get=1 + ParseUapiGet: what every poll costs before the driver looks.
void BM_GetDevice(benchmark::State& state) {
  Rig& rig = Rig::Get();
  rig.EnsurePeers(static_cast<size_t>(state.range(0)));
  size_t reply_bytes = 0;
  const double wg_before = WgGoCpuMs();
  for (auto _ : state) {
    absl::StatusOr<WgDevice> device = rig.backend->GetDevice();
    if (!device.ok() || device->peers.size() != static_cast<size_t>(state.range(0))) {
      state.SkipWithError("GetDevice failed or returned the wrong number of peers");
      break;
    }
    benchmark::DoNotOptimize(device->peers.data());
  }
  ReportWgGo(state, wg_before);
  absl::StatusOr<std::string> reply =
      UapiRequest(rig.backend->socket_path(), kUapiGetRequest, absl::Seconds(5));
  if (reply.ok()) reply_bytes = reply->size();
  state.counters["reply_kib"] = benchmark::Counter(static_cast<double>(reply_bytes) / 1024.0);
}

// The UAPI exchange alone: connect, get=1, read the whole reply.
void BM_UapiGetRaw(benchmark::State& state) {
  Rig& rig = Rig::Get();
  rig.EnsurePeers(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    absl::StatusOr<std::string> reply =
        UapiRequest(rig.backend->socket_path(), kUapiGetRequest, absl::Seconds(5));
    if (!reply.ok()) {
      state.SkipWithError("UAPI get failed");
      break;
    }
    benchmark::DoNotOptimize(reply->data());
  }
}

// ParseUapiGet alone, on a reply read once.
void BM_ParseUapiGet(benchmark::State& state) {
  Rig& rig = Rig::Get();
  rig.EnsurePeers(static_cast<size_t>(state.range(0)));
  absl::StatusOr<std::string> reply =
      UapiRequest(rig.backend->socket_path(), kUapiGetRequest, absl::Seconds(5));
  if (!reply.ok()) {
    state.SkipWithError("UAPI get failed");
    return;
  }
  for (auto _ : state) {
    absl::StatusOr<WgDevice> device = ParseUapiGet(*reply);
    benchmark::DoNotOptimize(device);
  }
}

// The driver's PollOnce: GetDevice + its processing, every peer owned, no
// handshakes (an idle fleet).
void BM_DriverPoll(benchmark::State& state) {
  Rig& rig = Rig::Get();
  rig.EnsurePeers(static_cast<size_t>(state.range(0)));
  const double wg_before = WgGoCpuMs();
  for (auto _ : state) {
    absl::Status polled = rig.driver->PollOnce();
    if (!polled.ok()) {
      state.SkipWithError("PollOnce failed");
      break;
    }
  }
  ReportWgGo(state, wg_before);
}

// The driver's processing alone (Observe), on a device read once: idle
// peers, or (live) every peer with a fresh handshake and a live session.
void BM_DriverObserve(benchmark::State& state, bool live) {
  Rig& rig = Rig::Get();
  rig.EnsurePeers(static_cast<size_t>(state.range(0)));
  absl::StatusOr<WgDevice> device = rig.backend->GetDevice();
  if (!device.ok()) {
    state.SkipWithError("GetDevice failed");
    return;
  }
  if (live) {
    const absl::Time now = absl::Now();  // after the peers were added
    for (WgPeer& peer : device->peers) {
      peer.last_handshake_unix_sec = absl::ToUnixSeconds(now);
      peer.last_handshake_nsec = absl::ToUnixNanos(now) % 1000000000;
      peer.endpoint = "198.51.100.7:51820";
      peer.rx_bytes = 1000;
      peer.tx_bytes = 2000;
    }
    // Open every session first (admissions run on the driver's pool; a
    // full queue is retried on the next Observe).
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (rig.driver->Inventory().size() < static_cast<size_t>(state.range(0))) {
      if (absl::Now() > deadline) {
        state.SkipWithError("sessions did not open");
        return;
      }
      rig.driver->Observe(*device, absl::Now());
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  for (auto _ : state) {
    for (WgPeer& peer : device->peers) {  // new bytes each poll: usage is considered
      peer.rx_bytes += 1;
    }
    rig.driver->Observe(*device, absl::Now());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> counts = {1000, 10000};
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (absl::ConsumePrefix(&arg, "--iface=")) {
      g_iface = std::string(arg);
    } else if (absl::ConsumePrefix(&arg, "--wg-pid=")) {
      (void)absl::SimpleAtoi(arg, &g_wg_pid);
    } else if (absl::ConsumePrefix(&arg, "--counts=")) {
      counts.clear();
      for (absl::string_view n : absl::StrSplit(arg, ',')) {
        int count = 0;
        if (absl::SimpleAtoi(n, &count) && count > 0) counts.push_back(count);
      }
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (g_iface.empty()) {
    std::cerr << "usage: poll_bench --iface=<wireguard-go interface> [--wg-pid=PID] "
                 "[--counts=1000,10000] [benchmark flags]\n";
    return 2;
  }
  (void)warden::logging::Configure("warn", "text");
  int rest_argc = static_cast<int>(rest.size());
  benchmark::Initialize(&rest_argc, rest.data());
  // Every benchmark of one count runs before the next count is configured.
  for (int count : counts) {
    benchmark::RegisterBenchmark("GetDevice", BM_GetDevice)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
    benchmark::RegisterBenchmark("UapiGetRaw", BM_UapiGetRaw)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
    benchmark::RegisterBenchmark("ParseUapiGet", BM_ParseUapiGet)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
    benchmark::RegisterBenchmark("DriverPoll", BM_DriverPoll)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
    benchmark::RegisterBenchmark("DriverObserveIdle", BM_DriverObserve, false)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
    benchmark::RegisterBenchmark("DriverObserveLive", BM_DriverObserve, true)
        ->Arg(count)
        ->Unit(benchmark::kMillisecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
