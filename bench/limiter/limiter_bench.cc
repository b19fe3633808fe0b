// The cost of one GcraLimiter decision, as the QUIC packet path pays it: one
// limiter per user, 1400-byte packets, the clock read once per batch (the
// decision gets the reading). Uncontended, and two threads on one user's
// limiter (two connections of one user, or both directions).
//
//   build/bench/bench/limiter_bench --benchmark_repetitions=5

#include <benchmark/benchmark.h>

#include <chrono>

#include "common/gcra_limiter.h"

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A rate no packet stream here reaches: every decision takes the passing path.
warden::GcraLimiter& OpenLimiter() {
  static warden::GcraLimiter limiter(int64_t{1} << 40, int64_t{1} << 40, NowNs());
  return limiter;
}

// A rate well below the offered load: most decisions refuse (drop).
warden::GcraLimiter& TightLimiter() {
  static warden::GcraLimiter limiter(1'250'000, 1'250'000, NowNs());
  return limiter;
}

void Decide(benchmark::State& state, warden::GcraLimiter& limiter) {
  int64_t now = NowNs();
  int64_t passed = 0;
  int64_t i = 0;
  for (auto _ : state) {
    if ((++i & 63) == 0) now = NowNs();  // one clock read per 64 packets
    passed += limiter.TryTake(1400, now) ? 1 : 0;
  }
  benchmark::DoNotOptimize(passed);
  state.counters["passed"] =
      benchmark::Counter(static_cast<double>(passed), benchmark::Counter::kAvgThreads);
}

void BM_DecisionPasses(benchmark::State& state) { Decide(state, OpenLimiter()); }
void BM_DecisionDrops(benchmark::State& state) { Decide(state, TightLimiter()); }

BENCHMARK(BM_DecisionPasses);
BENCHMARK(BM_DecisionPasses)->Threads(2);
BENCHMARK(BM_DecisionDrops);
BENCHMARK(BM_DecisionDrops)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
