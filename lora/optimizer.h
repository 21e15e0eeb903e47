// AdamW and gradient clipping for the trainable (LoRA) parameters, f32 master weights and f32 state.
// Follows torch.optim.AdamW (torch/optim/adamw.py → adam.py `_single_tensor_adam` with decoupled weight decay,
// amsgrad=False, maximize=False) op by op:
//   p *= 1 - lr·wd;  m = lerp(m, g, 1 - β1);  v = v·β2 + (1 - β2)·g·g;
//   denom = sqrt(v) / sqrt(1 - β2^t) + eps;  p += -(lr / (1 - β1^t)) · m / denom
// with the bias corrections and step size in double (torch computes them in Python floats) and the element
// math in f32. Clipping follows torch.nn.utils.clip_grad_norm_ (norm_type 2): the total norm over all grads,
// coef = max_norm / (norm + 1e-6) clamped to 1, every grad multiplied by it.
// Not a general optimizer library: one parameter group, no amsgrad/foreach/fused variants.
#pragma once
#include <cstdint>
#include <vector>

#include "lora/objective.h"

namespace slm {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.999;  // torch / transformers TrainingArguments defaults
  double eps = 1e-8;
  double weight_decay = 0.0;           // transformers' default (torch's own AdamW default is 1e-2)
};

class AdamW {
 public:
  explicit AdamW(const AdamWConfig& cfg = {}) : cfg_(cfg) {}

  // Zero moments shaped like each parameter; step_count() = 0.
  void init(const std::vector<NamedParam>& params);
  // One update of every parameter from its grad with learning rate lr (grads are only read).
  void step(const std::vector<NamedParam>& params, double lr);

  const AdamWConfig& config() const { return cfg_; }
  int64_t step_count() const { return step_; }
  // State for checkpoints, one tensor per parameter in params() order: exp_avg (m) and exp_avg_sq (v).
  const std::vector<Tensor>& exp_avg() const { return m_; }
  const std::vector<Tensor>& exp_avg_sq() const { return v_; }
  // Restores a checkpoint's state (shapes checked against init()'s parameters; data copied).
  void load_state(const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq, int64_t step_count);

 private:
  AdamWConfig cfg_;
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;
};

// Σ g² of each parameter's grad, in double (finite for every finite f32 grad, so a non-finite entry means the
// grad holds NaN or inf).
std::vector<double> grad_sum_squares(const std::vector<NamedParam>& params);
// torch.nn.utils.clip_grad_norm_(params, max_norm): returns the total norm before clipping (f32, as torch's
// tensor). Grads are scaled by min(1, max_norm / (norm + 1e-6)). `sum_squares` from grad_sum_squares.
float clip_grad_norm(const std::vector<NamedParam>& params, const std::vector<double>& sum_squares, double max_norm);
// Sets every grad to 0.
void zero_grads(const std::vector<NamedParam>& params);

}  // namespace slm
