// slm::linear at Qwen2.5-0.5B's shapes, f32 and bf16 weights, decode (T=1, GEMV) and prefill (T=512, GEMM),
// stated as GFLOP/s and as a fraction of this machine's measured peak (peak_* benches in the same binary).
// T=1 runs "cold" by default: it cycles through enough copies of the weight to exceed the last-level cache,
// as decode does (it reads ~1-2 GB of weights per token); "/hot" repeats one weight (cache-resident).
// Not a correctness test (tests/tensor/ owns that). Names: linear_<dtype>/<role>/T:<T>[/hot].
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "benches/bench_common.h"
#include "tensor/matmul_paths.h"
#include "tensor/ops.h"
#include "tensor/threading.h"


namespace {

using namespace slm;
using namespace slm::bench;

constexpr int64_t kColdBytes = int64_t(1) << 30;  // well past the 300 MiB L3 lscpu reports

// ---- peaks -------------------------------------------------------------------------------------------------------
template <class Loop>
void peak_bench(benchmark::State& state, Loop loop, bool available, const char* why_not) {
  if (!available) {
    state.SkipWithError(why_not);
    return;
  }
  double flops = 0;
  LoopClock clock;
  for (auto _ : state) flops += run_on_all_threads(loop, 1 << 20);
  state.counters["GFLOP/s"] = flops / clock.seconds() / 1e9;
  state.counters["threads"] = num_threads();
}

void peak_fma_f32(benchmark::State& s) { peak_bench(s, fma_f32_loop, true, ""); }
void peak_bf16_dot(benchmark::State& s) {
  peak_bench(s, dot_bf16_loop, cpu_has_avx512_bf16(), "no avx512_bf16 on this CPU");
}
void peak_amx_bf16(benchmark::State& s) {
  peak_bench(s, amx_bf16_loop, amx_usable(), "no AMX-BF16 (or the kernel refused tile state)");
}

// ---- linear --------------------------------------------------------------------------------------------------------
struct Shape2 {
  const char* role;
  int64_t N, K;
};
// Qwen2.5-0.5B: C=896, F=4864, H=14, Hkv=2, D=64, V=151936.
const Shape2 kShapes[] = {
    {"q_o", 896, 896},         // q_proj and o_proj
    {"kv", 128, 896},          // k_proj, v_proj
    {"gate_up", 4864, 896},    // gate_proj, up_proj
    {"down", 896, 4864},       // down_proj
    {"lm_head", 151936, 896},  // tied embedding as the head (decode only: prefill takes the last row)
};

enum class Path { Linear, OneDnn };

void linear_bench(benchmark::State& state, Shape2 sh, DType dt, int64_t T, bool hot, Path path) {
  const int64_t wbytes = sh.N * sh.K * int64_t(dtype_size(dt));
  const int64_t copies = hot ? 1 : std::clamp<int64_t>((kColdBytes + wbytes - 1) / wbytes, 2, 8192);
  std::vector<Tensor> ws;
  for (int64_t c = 0; c < copies; ++c) ws.push_back(random_tensor({sh.N, sh.K}, dt, 0.05f, 100 + uint64_t(c)));
  Tensor x = random_tensor({T, sh.K}, DType::F32, 1.0f, 7);
  auto call = [&](const Tensor& w) { return path == Path::OneDnn ? detail::linear_onednn(x, w) : linear(x, w); };
  for (const auto& w : ws) benchmark::DoNotOptimize(call(w));  // warm-up: JIT, page faults
  size_t i = 0;
  LoopClock clock;
  for (auto _ : state) {
    Tensor y = call(ws[i]);
    benchmark::DoNotOptimize(y.raw());
    i = (i + 1) % ws.size();
  }
  const double sec = clock.seconds(), n = double(state.iterations());
  const double flop_rate = 2.0 * double(T) * double(sh.N) * double(sh.K) * n / sec;
  // bf16: the best bf16 unit this CPU has (AMX where usable, else AVX512-BF16)
  const double peak = dt == DType::BF16 ? std::max(peak_amx_bf16_flops(), peak_bf16_dot_flops()) : peak_f32_flops();
  state.counters["GFLOP/s"] = flop_rate / 1e9;
  if (peak > 0) state.counters["pct_peak"] = 100.0 * flop_rate / peak;
  if (dt == DType::BF16 && peak_bf16_dot_flops() > 0)
    state.counters["pct_avx512bf16"] = 100.0 * flop_rate / peak_bf16_dot_flops();
  // weight bytes streamed per second: the figure that matters at T=1
  const double wrate = double(wbytes) * n / sec;
  state.counters["wGB/s"] = wrate / 1e9;
  if (T == 1 && !hot) state.counters["pct_bw"] = 100.0 * wrate / read_bandwidth();
  state.SetLabel("N=" + std::to_string(sh.N) + " K=" + std::to_string(sh.K) + (hot ? " weight cache-resident" : ""));
}

void register_all() {
  benchmark::RegisterBenchmark("peak_fma_f32", peak_fma_f32)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("peak_bf16_dot", peak_bf16_dot)->UseRealTime()->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("peak_amx_bf16", peak_amx_bf16)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (DType dt : {DType::F32, DType::BF16}) {
    const std::string d = dt == DType::F32 ? "f32" : "bf16";
    for (const Shape2& sh : kShapes) {
      for (int64_t T : {int64_t(1), int64_t(512)}) {
        if (T > 1 && std::string(sh.role) == "lm_head") continue;
        const std::string base = "linear_" + d + "/" + sh.role + "/T:" + std::to_string(T);
        const auto unit = T == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond;
        benchmark::RegisterBenchmark(base.c_str(), linear_bench, sh, dt, T, false, Path::Linear)
            ->UseRealTime()
            ->Unit(unit);
        if (T == 1) {
          benchmark::RegisterBenchmark((base + "/hot").c_str(), linear_bench, sh, dt, T, true, Path::Linear)
              ->UseRealTime()
              ->Unit(unit);
          // the two T == 1 implementations side by side (cold)
          benchmark::RegisterBenchmark((base + "/onednn").c_str(), linear_bench, sh, dt, T, false, Path::OneDnn)
              ->UseRealTime()
              ->Unit(unit);
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("peak_f32_GFLOPs", std::to_string(peak_f32_flops() / 1e9));
  benchmark::AddCustomContext("peak_bf16_dot_GFLOPs", std::to_string(peak_bf16_dot_flops() / 1e9));
  benchmark::AddCustomContext("peak_amx_bf16_GFLOPs", std::to_string(peak_amx_bf16_flops() / 1e9));
  benchmark::AddCustomContext("read_GBps", std::to_string(read_bandwidth() / 1e9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
