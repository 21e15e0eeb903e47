// Eager CPU kernels a decoder needs. Activations are f32 and contiguous; weights may be f32 or bf16.
// Every kernel has a plain scalar reference (`*_ref`, tensor/ref/) that defines its semantics and is the
// oracle its fast path is tested against. Semantics follow HF transformers (cited per function).
// Shape letters: T tokens, S cached positions, C hidden, H query heads, Hkv key/value heads,
// D head dim, F intermediate size, V vocab, N/K output/input features.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace slm {

// ---- matmul -------------------------------------------------------------------------------------
// y (T, N) = x (T, K) · wᵀ + bias, with w (N, K) as HF stores nn.Linear weights; bias (N) or undefined.
// w F32: f32 math.  w BF16: x is rounded to bf16, products accumulate in f32.  T == 1 runs an AVX-512 GEMV
// (tensor/gemv.cpp), T > 1 oneDNN matmul with cached primitives; the bias is added in f32 afterwards.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());
Tensor linear_ref(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());
// y (T, N) += x (T, K) · wᵀ (no bias), y an existing contiguous F32 tensor; same precision rules as linear().
// Its reference is linear_ref followed by an f32 add.
void linear_add(const Tensor& x, const Tensor& w, Tensor& y);

// Frozen weights (LoRA training's base weights) for the lifetime of this object: linear() and
// linear_backward_input() with T >= 128 read a copy of each registered weight packed once into oneDNN's
// preferred layout instead of the plain weight, which oneDNN repacks on every call. The forward (bf16 weights
// only) packs a weight of at most kFrozenPackMaxBytes; the input gradient reads a weight of more than
// 2 · kLinearPiece rows in pieces of kLinearPiece rows and packs each piece (or the whole weight) of at most
// kFrozenPackMaxBytes. Worth it for the attention projections and the head's pieces; the MLP's forward gained
// nothing measurable from packed pieces (A/B LoRA steps, tok/s within noise). The weights must not change while
// registered; results equal the plain path's to f32 rounding (a different summation order inside oneDNN).
constexpr size_t kFrozenPackMaxBytes = size_t(4) << 20;
constexpr int64_t kLinearPiece = 2048;
// Rows of w (N, K) per oneDNN call of the input gradient.
constexpr int64_t linear_piece_rows(int64_t N) { return N > 2 * kLinearPiece ? kLinearPiece : N; }
class FrozenWeights {
 public:
  FrozenWeights() = default;
  explicit FrozenWeights(std::vector<Tensor> weights);
  ~FrozenWeights();
  FrozenWeights(const FrozenWeights&) = delete;
  FrozenWeights& operator=(const FrozenWeights&) = delete;
  FrozenWeights(FrozenWeights&& o) noexcept : weights_(std::move(o.weights_)) { o.weights_.clear(); }
  FrozenWeights& operator=(FrozenWeights&& o) noexcept;

 private:
  std::vector<Tensor> weights_;  // kept alive so their bytes cannot be reused while registered
};

// ---- embedding ----------------------------------------------------------------------------------
// out (T, C) f32 = table (V, C) [F32/BF16/F16] rows at ids (T) I32.  Out-of-range id -> slm::Error.
Tensor embedding(const Tensor& table, const Tensor& ids);
Tensor embedding_ref(const Tensor& table, const Tensor& ids);

// ---- RMSNorm ------------------------------------------------------------------------------------
// out (T, C) = x / sqrt(mean(x²) + eps) * (unit_offset ? 1 + w : w), rows independent.
// unit_offset=true is Gemma's RMSNorm; w (C) may be F32 or BF16.
Tensor rmsnorm(const Tensor& x, const Tensor& w, float eps, bool unit_offset);
Tensor rmsnorm_ref(const Tensor& x, const Tensor& w, float eps, bool unit_offset);

// ---- RoPE ---------------------------------------------------------------------------------------
// Parameters of one rotary embedding, as transformers' modeling_rope_utils reads them.
struct RopeParams {
  std::string rope_type = "default";  // default | linear | dynamic | yarn | longrope | llama3
  double rope_theta = 10000.0;
  int64_t head_dim = 0;                // D
  double partial_rotary_factor = 1.0;  // rotary dim = int(D * factor)
  // linear, dynamic, yarn, longrope, llama3.  0 = not given: yarn and longrope derive it as
  // max_position_embeddings / original_max_position_embeddings; linear, dynamic, llama3 need it.
  double factor = 1.0;
  int64_t max_position_embeddings = 0;
  // 0 = not given: llama3, yarn and longrope then use max_position_embeddings (standardize_rope_params).
  int64_t original_max_position_embeddings = 0;
  // llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  // longrope
  std::vector<double> short_factor, long_factor;
  // yarn / longrope
  double attention_factor = 0.0;  // 0 = not given (derived as transformers does)
  double beta_fast = 32.0, beta_slow = 1.0;
  double mscale = 0.0, mscale_all_dim = 0.0;  // 0 = not given
  bool truncate = true;                       // yarn
};

int64_t rope_rotary_dim(const RopeParams& p);

// inv_freq (rotary_dim/2) and attention scaling for a forward whose longest sequence is `seq_len`
// (max position id + 1, which selects dynamic-NTK bases and longrope short/long factors).
// transformers' dynamic_rope_update is stateful (it keeps the largest base seen since the sequence last fell
// under max_position_embeddings); calling this with each forward's seq_len matches it while seq_len only grows,
// as it does during generation.  Unknown rope_type or missing parameters -> slm::Error.
struct RopeFreqs {
  std::vector<float> inv_freq;
  float attention_scaling = 1.0f;
};
RopeFreqs rope_freqs(const RopeParams& p, int64_t seq_len);

// cos/sin tables (T, rotary_dim) for positions pos[0..T), already multiplied by attention_scaling,
// laid out as transformers' cat(freqs, freqs).
struct RopeTable {
  Tensor cos, sin;
  int64_t rotary_dim = 0;
};
RopeTable rope_table(const RopeFreqs& f, const std::vector<int64_t>& positions);

// In place on x (T, H, D): the first rotary_dim features of each head rotated with rotate_half pairing
// (i with i + rotary_dim/2); the rest pass through.
void rope_apply(Tensor& x, const RopeTable& t);
void rope_apply_ref(Tensor& x, const RopeTable& t);

// ---- attention ----------------------------------------------------------------------------------
// out (T, H, D) = softmax(mask(softcap(scale · q kᵀ))) v per head; q (T, H, D), k/v (S, Hkv, D),
// head h reads kv head h / (H / Hkv).  Query i sits at absolute position pos0 + i, key j at j.
// Key j is visible to query i iff j <= pos0 + i and (window == 0 or pos0 + i - j < window).
// softcap > 0: logits = softcap · tanh(logits / softcap) before masking.
// S >= pos0 + T is required (the cache holds every current token), so no row is fully masked.
struct AttnParams {
  float scale = 1.0f;
  int64_t pos0 = 0;
  int64_t window = 0;
  float softcap = 0.0f;
  // A prefill (T > 1) with bf16 products on AMX tiles where the CPU has them (the training forward,
  // tensor/grad_attention_amx.h: q, k, v and the probabilities rounded to bf16, f32 sums); f32 otherwise and for
  // a single query, whose step is bound by reading the cache.
  bool bf16 = false;
};
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p);
Tensor attention_ref(const Tensor& q, const Tensor& k, const Tensor& v, const AttnParams& p);

// ---- elementwise --------------------------------------------------------------------------------
enum class Activation { SiLU, GeluTanh, Gelu };
// Parses HF ACT2FN names: silu, swish -> SiLU; gelu_pytorch_tanh, gelu_new -> GeluTanh (same formula);
// gelu -> Gelu (erf).  Unknown -> slm::Error naming the value.
Activation activation_from_name(const std::string& name);
// out (T, F) = act(gate) * up
Tensor gated_act(const Tensor& gate, const Tensor& up, Activation act);
Tensor gated_act_ref(const Tensor& gate, const Tensor& up, Activation act);

// In place on f32 x: x = cap · tanh(x / cap), cap > 0.
void softcap_inplace(Tensor& x, float cap);
void softcap_inplace_ref(Tensor& x, float cap);
// In place, row-wise over the last dim (f32, max-subtracted, normalised by multiplying with 1/sum as torch does).
void softmax_inplace(Tensor& x);
void softmax_inplace_ref(Tensor& x);
// a += b (same shape, f32)
void add_inplace(Tensor& a, const Tensor& b);
// a *= s
void scale_inplace(Tensor& a, float s);

}  // namespace slm
