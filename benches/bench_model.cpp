// End-to-end speed of a Qwen2.5-0.5B-shaped model with random weights (nothing downloaded): llama-bench's
// pp512 (prefill 512 tokens, logits of the last one, tok/s) and tg128@d128 (batch-1 decode steps while
// generating 128 tokens after a 128-token prompt: KV depth 128..255; tok/s), in ComputeMode F32 and BF16.
// Decode is stated against its roofline: bytes of weights (+ KV cache) read per token / the streaming-read
// bandwidth measured in this process (counter pct_of_bw_bound). Prefill is stated as GFLOP/s and % of the
// measured peak (f32 FMA; bf16: AMX where usable, else AVX512-BF16).
// profile/* replays the same forward op by op from the public kernel API (models/llama.cpp's order) with a timer
// per op, so the kernel owner sees where a decode step and a prefill spend their time (ms per op, per forward).
// Names: qwen2_0.5b/<f32|bf16>/<pp512|tg128@d128>, profile/<f32|bf16>/<pp512|tg1@d128>.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "benches/bench_common.h"
#include "models/config.h"
#include "models/model.h"
#include "tensor/ops.h"
#include "tensor/threading.h"

namespace {

using namespace slm;
using namespace slm::bench;

// Qwen/Qwen2.5-0.5B-Instruct's config.json (head_dim 64 = 896 / 14 is derived).
const char* kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
  "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
  "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864, "max_position_embeddings": 32768,
  "max_window_layers": 21, "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

constexpr int64_t kPrefill = 512, kDepth = 128, kGen = 128;

// One model at a time (f32 ~2 GB, bf16 ~1 GB); switching modes frees the other.
struct Bench {
  ModelConfig cfg;
  ComputeMode mode;
  WeightMap weights;  // shares storage with the model's
  std::unique_ptr<Model> model;
  int64_t weight_bytes_per_token = 0;  // every weight read once by a decode step
  double linear_params = 0;            // per forward token, all layers (q,k,v,o,gate,up,down)
  bool prefill_warm = false;
};

std::unique_ptr<Bench> g_bench;

DType resident_dtype(TensorRole role, ComputeMode mode) {  // as Model::load_weights keeps them
  const bool mm = role == TensorRole::Linear || role == TensorRole::LmHead || role == TensorRole::Embedding;
  return mode == ComputeMode::BF16 && mm ? DType::BF16 : DType::F32;
}

Bench& bench_for(ComputeMode mode) {
  if (g_bench && g_bench->mode == mode) return *g_bench;
  g_bench.reset();
  auto b = std::make_unique<Bench>();
  b->cfg = parse_config(kQwen25_05B, "bench_model Qwen2.5-0.5B config");
  b->mode = mode;
  std::vector<TensorSpec> table = make_model(b->cfg, mode, {})->tensor_table();
  uint64_t seed = 1;
  for (const TensorSpec& s : table) {
    DType dt = resident_dtype(s.role, mode);
    Tensor t = s.role == TensorRole::Norm
                   ? Tensor::from_f32(std::vector<float>(size_t(shape_numel(s.shape)), 1.0f), s.shape)
                   : random_tensor(s.shape, dt, 0.03f, seed++);
    if (s.role == TensorRole::Linear) b->linear_params += double(t.numel());
    const bool untied_embedding = s.role == TensorRole::Embedding && !b->cfg.tie_word_embeddings;
    b->weight_bytes_per_token +=
        untied_embedding ? b->cfg.hidden_size * int64_t(dtype_size(dt)) : int64_t(t.nbytes());  // one row
    b->weights[s.name] = t;
  }
  b->model = make_model(b->cfg, mode, b->weights);
  g_bench = std::move(b);
  return *g_bench;
}

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    id = int32_t(seed % uint64_t(vocab));
  }
  return ids;
}

const char* mode_name(ComputeMode m) { return m == ComputeMode::F32 ? "f32" : "bf16"; }

double peak_for(ComputeMode m) {
  return m == ComputeMode::F32 ? peak_f32_flops() : std::max(peak_amx_bf16_flops(), peak_bf16_dot_flops());
}

// Useful flops of a prefill of T tokens at pos0 = 0 with last-row logits: 2·T·(linear params) + causal
// attention (q·k and p·v over the visible keys) + the head on one row.
double prefill_flops(const Bench& b, int64_t T) {
  const auto& c = b.cfg;
  const double attn = 2.0 * 2.0 * double(c.num_attention_heads * c.head_dim) * double(T) * double(T + 1) / 2.0;
  return 2.0 * double(T) * b.linear_params + attn * double(c.num_hidden_layers) +
         2.0 * double(c.vocab_size * c.hidden_size);
}

// KV bytes a decode step at depth S reads (f32 cache, k and v, every layer).
double kv_bytes(const Bench& b, double S) {
  return 2.0 * double(b.cfg.num_hidden_layers * b.cfg.num_key_value_heads * b.cfg.head_dim) * 4.0 * S;
}

// ---- pp512 / tg128@d128 ------------------------------------------------------------------------------------------
void pp512(benchmark::State& state, ComputeMode mode) {
  Bench& b = bench_for(mode);
  const auto ids = random_ids(kPrefill, b.cfg.vocab_size, 42);
  KVCache cache = b.model->make_cache(kPrefill);
  if (!b.prefill_warm) benchmark::DoNotOptimize(b.model->forward(ids, cache, true)), b.prefill_warm = true;
  LoopClock clock;
  for (auto _ : state) {
    cache.reset();
    Tensor logits = b.model->forward(ids, cache, /*last_only=*/true);
    benchmark::DoNotOptimize(logits.raw());
  }
  const double sec = clock.seconds(), n = double(state.iterations()), flops = prefill_flops(b, kPrefill);
  state.counters["tok/s"] = double(kPrefill) * n / sec;
  state.counters["GFLOP/s"] = flops * n / sec / 1e9;
  state.counters["pct_peak"] = 100.0 * flops * n / sec / peak_for(mode);
}

void tg128(benchmark::State& state, ComputeMode mode) {
  Bench& b = bench_for(mode);
  const auto prompt = random_ids(kDepth, b.cfg.vocab_size, 43);
  const auto gen = random_ids(kGen, b.cfg.vocab_size, 44);
  KVCache cache = b.model->make_cache(kDepth + kGen);
  b.model->forward(prompt, cache, true);
  for (int i = 0; i < 3; ++i) b.model->forward({gen[size_t(i)]}, cache, true);  // warm-up
  cache.length = kDepth;
  // The bound is measured right before and right after the timed loop, under the same machine load: this VM's
  // bandwidth moves by 3x with its neighbours' (7-28 GB/s seen on one afternoon).
  const double bw_before = measure_read_bandwidth(5);
  LoopClock clock;
  for (auto _ : state) {
    if (cache.length == kDepth + kGen) cache.length = kDepth;  // start the 128 generated tokens again
    Tensor logits = b.model->forward({gen[size_t(cache.length - kDepth)]}, cache, true);
    benchmark::DoNotOptimize(logits.raw());
  }
  const double tok_s = double(state.iterations()) / clock.seconds();
  const double bw = (bw_before + measure_read_bandwidth(5)) / 2;
  const double bytes = double(b.weight_bytes_per_token) + kv_bytes(b, kDepth + kGen / 2.0);
  const double bound_tok_s = bw / bytes;
  state.counters["tok/s"] = tok_s;
  state.counters["read_GB/s"] = bw / 1e9;
  state.counters["GB/s"] = bytes * tok_s / 1e9;  // bytes that had to be read, per second
  state.counters["bw_bound_tok/s"] = bound_tok_s;
  state.counters["pct_of_bw_bound"] = 100.0 * tok_s / bound_tok_s;
  state.counters["MB/token"] = bytes / 1e6;
}

// ---- profile: the same forward, op by op, with a timer per op -----------------------------------------------------
enum Op { kEmbed, kNorm, kQkv, kRope, kKvStore, kAttn, kOProj, kGateUp, kAct, kDown, kAdd, kHead, kNumOps };
const char* kOpNames[kNumOps] = {"embed",  "norm",         "qkv_proj", "rope",      "kv_store",     "attention",
                                 "o_proj", "gate_up_proj", "act",      "down_proj", "residual_add", "lm_head"};

struct Timer {
  double* acc;
  double t0 = now_s();
  explicit Timer(double* a) : acc(a) {}
  ~Timer() { *acc += now_s() - t0; }
};

// Mirrors LlamaModel::forward for Qwen2 (q/k/v bias, tied head, full causal attention). If the model's forward
// changes, this must follow; profile/*'s total_ms against the real pp512/tg numbers shows when it drifted.
void forward_by_op(Bench& b, const std::vector<int32_t>& ids, KVCache& cache, double* t) {
  const ModelConfig& c = b.cfg;
  auto W = [&](const std::string& n) -> const Tensor& { return b.weights.at(n); };
  auto L = [](int64_t l, const char* rest) { return "model.layers." + std::to_string(l) + "." + rest; };
  const int64_t T = int64_t(ids.size()), pos0 = cache.length, H = c.num_attention_heads, Hkv = c.num_key_value_heads,
                D = c.head_dim;
  const float eps = float(c.rms_norm_eps);
  Tensor x;
  {
    Timer tm(&t[kEmbed]);
    x = embedding(W("model.embed_tokens.weight"), Tensor::from_i32(ids, {T}));
  }
  RopeTable rt;
  {
    Timer tm(&t[kRope]);
    std::vector<int64_t> pos(static_cast<size_t>(T));
    for (int64_t i = 0; i < T; ++i) pos[size_t(i)] = pos0 + i;
    rt = rope_table(rope_freqs(c.rope_full, pos0 + T), pos);
  }
  AttnParams ap;
  ap.scale = float(1.0 / std::sqrt(double(D)));
  ap.pos0 = pos0;
  ap.bf16 = b.mode == ComputeMode::BF16;  // as LlamaModel::attn_spec
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    Tensor h, q, k, v, a, o, g, u, m, d;
    {
      Timer tm(&t[kNorm]);
      h = rmsnorm(x, W(L(l, "input_layernorm.weight")), eps, false);
    }
    {
      Timer tm(&t[kQkv]);
      q = linear(h, W(L(l, "self_attn.q_proj.weight")), W(L(l, "self_attn.q_proj.bias")));
      k = linear(h, W(L(l, "self_attn.k_proj.weight")), W(L(l, "self_attn.k_proj.bias")));
      v = linear(h, W(L(l, "self_attn.v_proj.weight")), W(L(l, "self_attn.v_proj.bias")));
    }
    Tensor q3 = q.reshape({T, H, D}), k3 = k.reshape({T, Hkv, D});
    {
      Timer tm(&t[kRope]);
      rope_apply(q3, rt), rope_apply(k3, rt);
    }
    Tensor &kc = cache.k[size_t(l)], &vc = cache.v[size_t(l)];
    {
      Timer tm(&t[kKvStore]);
      kc.narrow(0, pos0, T).copy_from(k3);
      vc.narrow(0, pos0, T).copy_from(v.reshape({T, Hkv, D}));
    }
    {
      Timer tm(&t[kAttn]);
      a = attention(q3, kc.narrow(0, 0, pos0 + T), vc.narrow(0, 0, pos0 + T), ap);
    }
    {
      Timer tm(&t[kOProj]);
      o = linear(a.reshape({T, H * D}), W(L(l, "self_attn.o_proj.weight")));
    }
    {
      Timer tm(&t[kAdd]);
      add_inplace(x, o);
    }
    {
      Timer tm(&t[kNorm]);
      h = rmsnorm(x, W(L(l, "post_attention_layernorm.weight")), eps, false);
    }
    {
      Timer tm(&t[kGateUp]);
      g = linear(h, W(L(l, "mlp.gate_proj.weight")));
      u = linear(h, W(L(l, "mlp.up_proj.weight")));
    }
    {
      Timer tm(&t[kAct]);
      m = gated_act(g, u, Activation::SiLU);
    }
    {
      Timer tm(&t[kDown]);
      d = linear(m, W(L(l, "mlp.down_proj.weight")));
    }
    {
      Timer tm(&t[kAdd]);
      add_inplace(x, d);
    }
  }
  cache.length = pos0 + T;
  Timer tm(&t[kHead]);  // last row only, as forward(..., last_only=true)
  Tensor last = x.narrow(0, T - 1, 1).contiguous();
  Tensor logits = linear(rmsnorm(last, W("model.norm.weight"), eps, false), W("model.embed_tokens.weight"));
  benchmark::DoNotOptimize(logits.raw());
}

void report_ops(benchmark::State& state, const double* t) {
  double total = 0;
  for (int i = 0; i < kNumOps; ++i) {
    state.counters[std::string("ms_") + kOpNames[i]] =
        benchmark::Counter(t[i] * 1e3, benchmark::Counter::kAvgIterations);
    total += t[i];
  }
  state.counters["ms_total"] = benchmark::Counter(total * 1e3, benchmark::Counter::kAvgIterations);
}

void profile_prefill(benchmark::State& state, ComputeMode mode) {
  Bench& b = bench_for(mode);
  const auto ids = random_ids(kPrefill, b.cfg.vocab_size, 42);
  KVCache cache = b.model->make_cache(kPrefill);
  double t[kNumOps] = {};
  forward_by_op(b, ids, cache, t);  // warm-up
  std::fill(t, t + kNumOps, 0.0);
  for (auto _ : state) {
    cache.reset();
    forward_by_op(b, ids, cache, t);
  }
  report_ops(state, t);
}

void profile_decode(benchmark::State& state, ComputeMode mode) {
  Bench& b = bench_for(mode);
  const auto prompt = random_ids(kDepth, b.cfg.vocab_size, 43);
  const auto gen = random_ids(kGen, b.cfg.vocab_size, 44);
  KVCache cache = b.model->make_cache(kDepth + kGen);
  b.model->forward(prompt, cache, true);
  double t[kNumOps] = {};
  for (int i = 0; i < 3; ++i) forward_by_op(b, {gen[size_t(i)]}, cache, t);  // warm-up
  std::fill(t, t + kNumOps, 0.0);
  cache.length = kDepth;
  for (auto _ : state) {
    if (cache.length == kDepth + kGen) cache.length = kDepth;
    forward_by_op(b, {gen[size_t(cache.length - kDepth)]}, cache, t);
  }
  report_ops(state, t);
}

void register_all() {
  for (ComputeMode m : {ComputeMode::F32, ComputeMode::BF16}) {
    const std::string d = mode_name(m);
    benchmark::RegisterBenchmark(("qwen2_0.5b/" + d + "/pp512").c_str(), pp512, m)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("qwen2_0.5b/" + d + "/tg128@d128").c_str(), tg128, m)
        ->UseRealTime()
        ->MinTime(2.0)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("profile/" + d + "/pp512").c_str(), profile_prefill, m)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("profile/" + d + "/tg1@d128").c_str(), profile_decode, m)
        ->UseRealTime()
        ->MinTime(2.0)
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("model", "Qwen2.5-0.5B shape, random weights");
  benchmark::AddCustomContext("threads", std::to_string(num_threads()));
  benchmark::AddCustomContext("read_GBps", std::to_string(read_bandwidth() / 1e9));
  benchmark::AddCustomContext("peak_f32_GFLOPs", std::to_string(peak_f32_flops() / 1e9));
  benchmark::AddCustomContext("peak_bf16_GFLOPs", std::to_string(peak_for(ComputeMode::BF16) / 1e9));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_bench.reset();
}
