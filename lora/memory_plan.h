// The memory a LoRA training run needs, estimated before it starts from the config alone: resident base
// weights, the activations the tape keeps per layer (or, with --grad-checkpoint, each layer's input plus
// one layer being recomputed), the logits and their gradient, LoRA parameters with their gradients and
// AdamW moments, and backward-pass scratch. The trainer refuses a plan that does not fit.
// Counts follow what autograd/ops.cpp's closures capture (an estimate: views and the allocator differ).
#pragma once
#include <cstdint>
#include <string>

#include "models/config.h"
#include "models/model.h"

namespace slm {

struct TrainMemoryPlan {
  uint64_t weights = 0;      // frozen base weights in their resident dtype
  uint64_t activations = 0;  // saved for backward
  uint64_t logits = 0;       // (T, V) logits, reused in place as their gradient
  uint64_t lora_state = 0;   // A/B, gradients, AdamW m and v (f32)
  uint64_t scratch = 0;      // transient buffers of the backward pass
  uint64_t total() const { return weights + activations + logits + lora_state + scratch; }
  std::string describe() const;  // "2.31 GiB (weights 0.92, activations 1.10, …)"
};

// tokens: the tokens of one micro-batch; lora_params: the number of trainable scalars.
TrainMemoryPlan plan_training_memory(const ModelConfig& c, ComputeMode mode, int64_t tokens, int64_t lora_params,
                                     int64_t rank, bool grad_checkpoint);

}  // namespace slm
