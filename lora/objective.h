// The seam between the training loop (lora/trainer.h) and what it trains: an Objective owns the
// trainable parameters and turns a packed Batch into a loss sum and gradients. The trainer never sees a
// model, a tape or a tokenizer; the objective never sees an optimizer, a schedule or a checkpoint.
// Not an autograd API: lora/lora_objective.* implements this for a LoRA-wrapped model; tests use toys.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/grad_ops.h"  // struct CrossEntropy {loss_sum, count}
#include "tensor/tensor.h"

namespace slm {

// One packed batch: several examples concatenated into T tokens.
struct Batch {
  std::vector<int32_t> ids;       // (T)
  std::vector<int32_t> labels;    // (T) next-token targets already shifted as transformers does; -100 = ignored
  std::vector<int32_t> segments;  // (T) example index within the batch; attention never crosses segments
  std::vector<int32_t> positions; // (T) position ids, restarting at 0 for each example
  int64_t counted_tokens() const; // labels != -100
};

// The positions a batch's loss counts (label != -100) as I32 rows, and their labels: Model::forward_packed's
// head_rows, so the head skips ignored positions (a masked prompt). rows stays undefined when every position
// counts or none does (the head then runs on all of them, every position ignored in the second case).
struct LossRows {
  Tensor rows, labels;
};
LossRows loss_rows(const Batch& b);

struct NamedParam { std::string name; Tensor value; Tensor grad; };  // f32 master weight and its gradient (same shape)

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::vector<NamedParam> params() = 0;  // trainable parameters, stable order; grads accumulate (+=)
  // Adds grad_scale · ∂(Σ token losses)/∂params to the grads; returns the loss sum and count. dropout_seed makes
  // dropout masks a pure function of (seed, step, micro-batch) so resume reproduces them.
  virtual CrossEntropy forward_backward(const Batch& b, float grad_scale, uint64_t dropout_seed) = 0;
  virtual CrossEntropy evaluate(const Batch& b) = 0;  // no grad, no dropout
};

// Contract details the trainer relies on:
// - params() is called once per train() call; the returned Tensors share storage with the objective's own
//   weights (the trainer updates `value` in place, zeroes `grad` before each step, and reads both for
//   checkpoints). Both are F32 and contiguous. Names are unique.
// - forward_backward must be a pure function of (parameter values, batch, grad_scale, dropout_seed) — no hidden
//   RNG state — so that a resumed run is bit-identical to an uninterrupted one.

}  // namespace slm
