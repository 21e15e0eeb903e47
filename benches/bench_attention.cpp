// slm::attention (tensor/attention.cpp) alone, at the shapes a decoder gives it: a batch-1 decode step (one query
// against S cached keys) and a 512-token prefill, for a GQA model (Qwen2.5-0.5B: 14 query heads, 2 kv heads,
// head dim 64) and a full-MHA one (Phi-3.5-mini: 32 and 32, head dim 96). Reports µs per call and, for decode,
// the K/V bytes read per call over the read bandwidth measured in the same process (the step's bound).
// attention/train_*: the training kernels (tensor/grad_ops.h's attention_train and its backward) on one 512-token
// sequence, f32 beside bf16 (AMX tiles where the CPU has them; f32 otherwise) — the peer is the other dtype.
//   build/benches/bench_attention [--benchmark_filter=decode]
#include <benchmark/benchmark.h>

#include <cmath>

#include "benches/bench_common.h"
#include "tensor/grad_ops.h"
#include "tensor/ops.h"

namespace {

using namespace slm;
using namespace slm::bench;

struct AttnShape {
  const char* name;
  int64_t H, Hkv, D;
};
constexpr AttnShape kShapes[] = {{"qwen2.5-0.5b", 14, 2, 64}, {"phi-3.5-mini", 32, 32, 96}};

// One query (T = 1) at position S - 1 over S cached keys.
void BM_decode(benchmark::State& state, AttnShape s) {
  const int64_t S = state.range(0);
  const Tensor q = random_tensor({1, s.H, s.D}, DType::F32, 1.0f, 1);
  const Tensor k = random_tensor({S, s.Hkv, s.D}, DType::F32, 1.0f, 2);
  const Tensor v = random_tensor({S, s.Hkv, s.D}, DType::F32, 1.0f, 3);
  AttnParams p;
  p.scale = 1.0f / std::sqrt(float(s.D));
  p.pos0 = S - 1;
  const double bw = read_bandwidth();
  LoopClock clock;
  for (auto _ : state) benchmark::DoNotOptimize(attention(q, k, v, p));
  const double sec = clock.seconds() / double(state.iterations());
  const double kv_bytes = 2.0 * double(S * s.Hkv * s.D) * 4.0;
  state.counters["us"] = sec * 1e6;
  state.counters["kv_GBps"] = kv_bytes / sec / 1e9;
  state.counters["pct_bw"] = 100.0 * kv_bytes / sec / bw;
}

// A causal prefill of T tokens from an empty cache.
void BM_prefill(benchmark::State& state, AttnShape s) {
  const int64_t T = state.range(0);
  const Tensor q = random_tensor({T, s.H, s.D}, DType::F32, 1.0f, 4);
  const Tensor k = random_tensor({T, s.Hkv, s.D}, DType::F32, 1.0f, 5);
  const Tensor v = random_tensor({T, s.Hkv, s.D}, DType::F32, 1.0f, 6);
  AttnParams p;
  p.scale = 1.0f / std::sqrt(float(s.D));
  LoopClock clock;
  for (auto _ : state) benchmark::DoNotOptimize(attention(q, k, v, p));
  const double sec = clock.seconds() / double(state.iterations());
  const double flops = 2.0 * 2.0 * double(s.H * s.D) * double(T) * double(T + 1) / 2.0;  // q·k and p·v, causal
  state.counters["us"] = sec * 1e6;
  state.counters["GFLOP_s"] = flops / sec / 1e9;
}

// Training attention, forward or forward + backward, causal over T tokens.
void BM_train(benchmark::State& state, AttnShape s, bool bf16, bool backward) {
  const int64_t T = state.range(0);
  const Tensor q = random_tensor({T, s.H, s.D}, DType::F32, 1.0f, 7);
  const Tensor k = random_tensor({T, s.Hkv, s.D}, DType::F32, 1.0f, 8);
  const Tensor v = random_tensor({T, s.Hkv, s.D}, DType::F32, 1.0f, 9);
  const Tensor dout = random_tensor({T, s.H, s.D}, DType::F32, 1.0f, 10);
  TrainAttnParams p;
  p.scale = 1.0f / std::sqrt(float(s.D));
  p.bf16 = bf16;
  Tensor lse, dq, dk, dv;
  const Tensor out = attention_train(q, k, v, p, lse);
  LoopClock clock;
  for (auto _ : state) {
    if (backward)
      attention_train_backward(dout, q, k, v, out, lse, p, dq, dk, dv);
    else
      benchmark::DoNotOptimize(attention_train(q, k, v, p, lse));
  }
  const double sec = clock.seconds() / double(state.iterations());
  const double products = backward ? 5.0 : 2.0;  // forward: q·k, p·v; backward adds dO·v, dS·k, dSᵀ·q, Pᵀ·dO
  const double flops = products * 2.0 * double(s.H * s.D) * double(T) * double(T + 1) / 2.0;
  state.counters["us"] = sec * 1e6;
  state.counters["GFLOP_s"] = flops / sec / 1e9;
}

void register_all() {
  for (const AttnShape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("attention/decode/") + s.name).c_str(), BM_decode, s)
        ->Arg(512)->Arg(2048)->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("attention/prefill/") + s.name).c_str(), BM_prefill, s)
        ->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
    for (bool bf16 : {false, true})
      for (bool backward : {false, true})
        benchmark::RegisterBenchmark((std::string("attention/train_") + (backward ? "backward/" : "forward/") +
                                      (bf16 ? "bf16/" : "f32/") + s.name)
                                         .c_str(),
                                     BM_train, s, bf16, backward)
            ->Arg(512)->Unit(benchmark::kMillisecond)->UseRealTime();
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
