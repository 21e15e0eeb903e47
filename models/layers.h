// Shared decoder blocks used by every family file: rope tables per forward, self-attention with a
// KV cache (rope, GQA, sliding window, soft-cap), per-head RMSNorm (Qwen3/Gemma-3 q/k norms).
// Families compose these; none of them knows which family calls it.
#pragma once
#include <cstdint>

#include "models/config.h"
#include "models/model.h"
#include "tensor/ops.h"

namespace slm {

// Cos/sin tables for the given positions of each rope a model uses (full and sliding layers).
// seq_len for dynamic/longrope selection is max(position) + 1, as transformers takes max(position_ids) + 1.
struct RopeTables {
  RopeTable full, sliding;
  void build(const ModelConfig& c, const std::vector<int64_t>& positions);
  const RopeTable& for_layer(const ModelConfig& c, int64_t l) const {
    return c.layer_types[size_t(l)] == LayerType::SlidingAttention ? sliding : full;
  }
};

struct AttnSpec {
  int64_t H = 0, Hkv = 0, D = 0;
  float scale = 1.0f;   // applied to q·k
  int64_t window = 0;   // 0: full causal
  float softcap = 0.0f; // 0: none
  bool bf16 = false;     // training attention's products in bf16 (ComputeMode::BF16; TrainAttnParams::bf16)
};

// Grows every layer of `cache` to hold at least `needed` positions (keeps contents).
void kv_reserve(KVCache& cache, int64_t needed);

// q (T, H*D), k/v (T, Hkv*D), already projected (and q/k-normed where the family does).
// Rotates q and k and attends. With a cache (inference): stores k/v at positions [pos0, pos0+T) of
// layer l and attends over [0, pos0+T) — not differentiable. Without (training): attends within the
// packed batch, causal per segment, recorded for the backward pass.
// Returns (T, H*D).
ag::Var self_attention(const ag::Var& q, const ag::Var& k, const ag::Var& v, const RopeTable& rope,
                       const AttnSpec& spec, const ForwardPass& pass, int64_t l);

// RMSNorm over each head of x (T, H*D) with weight (D).
ag::Var head_rmsnorm(const ag::Var& x, const ag::Var& w, int64_t H, float eps, bool unit_offset);

}  // namespace slm
