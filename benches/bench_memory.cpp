// Streaming read bandwidth of this machine (GB/s): the roofline a decode step is held to, since batch-1
// decode reads every weight once per token. A 1 GiB buffer is far past the L3 (300 MiB as lscpu reports it,
// shared with the host's other guests); the 32 MiB one shows the cache-resident rate for contrast.
// Read only (an AVX-512 sum with 4 accumulators per thread), static split over threads.
// Names: mem_read/MiB:<size>/threads:<n>.
#include <benchmark/benchmark.h>

#include <string>

#include "benches/bench_common.h"
#include "tensor/threading.h"

namespace {

using namespace slm::bench;

void mem_read(benchmark::State& state) {
  const int64_t mib = state.range(0);
  const int threads = int(state.range(1));
  slm::set_num_threads(threads);
  ReadBuffer buf(mib << 20);
  float sink = buf.sum();  // warm-up: pages resident, caches in their steady state
  LoopClock clock;
  for (auto _ : state) {
    sink += buf.sum();
    benchmark::DoNotOptimize(sink);
  }
  state.counters["GB/s"] = double(buf.bytes()) * double(state.iterations()) / clock.seconds() / 1e9;
  slm::set_num_threads(0);
}

}  // namespace

BENCHMARK(mem_read)
    ->ArgNames({"MiB", "threads"})
    ->Apply([](benchmark::internal::Benchmark* b) {
      const int all = omp_get_max_threads();  // every core: what the kernels use
      b->Args({1024, all});
      if (all > 1) b->Args({1024, 1});
      b->Args({32, all});
    })
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
