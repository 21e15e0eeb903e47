// Training memory estimate (see memory_plan.h).
#include "lora/memory_plan.h"

#include <algorithm>
#include <cstdio>

#include "tensor/ops.h"

namespace slm {

namespace {
std::string gib(uint64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(b) / double(1ull << 30));
  return buf;
}
}  // namespace

std::string TrainMemoryPlan::describe() const {
  return gib(total()) + " (weights " + gib(weights) + ", activations " + gib(activations) + ", logits " +
         gib(logits) + ", LoRA state " + gib(lora_state) + ", scratch " + gib(scratch) + ")";
}

TrainMemoryPlan plan_training_memory(const ModelConfig& c, ComputeMode mode, int64_t tokens, int64_t lora_params,
                                     int64_t rank, bool grad_checkpoint) {
  const uint64_t T = uint64_t(tokens), C = uint64_t(c.hidden_size), F = uint64_t(c.intermediate_size);
  const uint64_t qd = uint64_t(c.num_attention_heads * c.head_dim), kvd = uint64_t(c.num_key_value_heads * c.head_dim);
  const uint64_t L = uint64_t(c.num_hidden_layers), V = uint64_t(c.vocab_size), r = uint64_t(rank);
  TrainMemoryPlan p;
  const uint64_t wbytes = mode == ComputeMode::BF16 ? 2 : 4;
  const uint64_t linear = L * (C * (qd + 2 * kvd) + qd * C + 3 * C * F) + V * C * (c.tie_word_embeddings ? 1 : 2);
  // Plus the copies of weights packed for oneDNN at training lengths (tensor/ops.h FrozenWeights): the
  // forward's (bf16 only: whole weights up to kFrozenPackMaxBytes) and the input gradient's (weights, or their
  // pieces of kLinearPiece rows, up to kFrozenPackMaxBytes).
  const bool packing = tokens >= 128;
  auto packed = [&](uint64_t N, uint64_t K) {
    uint64_t n = 0;
    if (packing && mode == ComputeMode::BF16 && N * K * wbytes <= kFrozenPackMaxBytes) n += N * K;
    if (packing && uint64_t(linear_piece_rows(int64_t(N))) * K * wbytes <= kFrozenPackMaxBytes) n += N * K;
    return n;
  };
  const uint64_t per_layer_packed =
      packed(qd, C) + 2 * packed(kvd, C) + packed(C, qd) + 2 * packed(F, C) + packed(C, F);
  const uint64_t packed_total = L * per_layer_packed + packed(V, C);  // and the head (tied embedding or lm_head)
  p.weights = (linear + packed_total) * wbytes + L * 4 * C * 4;
  // Per layer, floats the closures keep: two norm inputs (2C), the adapted projections' inputs (C for
  // q/k/v sharing h, qd for o_proj, C for gate/up, F for down) and low-rank products (7r), roped q/k,
  // v, attention output (2qd + 2kvd) and its log-sum-exp (H), the MLP's gate and up (2F).
  const uint64_t per_layer =
      T * (2 * C + C + qd + C + F + 7 * r + 2 * qd + 2 * kvd + uint64_t(c.num_attention_heads) + 2 * F) * 4;
  p.activations = grad_checkpoint ? L * T * C * 4 + per_layer : L * per_layer;
  p.logits = T * V * 4;
  p.lora_state = uint64_t(lora_params) * 4 * 4;
  p.scratch = T * std::max({F * 2, qd + 2 * kvd, C}) * 4 * 3;
  return p;
}

}  // namespace slm
