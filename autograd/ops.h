// Differentiable ops: forward with the tensor/ kernels (tensor/ops.h), backward with their VJPs
// (tensor/grad_ops.h), recorded on the active Tape only when a gradient can flow (autograd/var.h).
// With no tape recording they are the plain kernels, so inference and training share one model code
// path (models/llama.cpp). Frozen weights are Tensors; only Vars carry gradients.
// Shape letters as in tensor/ops.h.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/var.h"
#include "tensor/grad_ops.h"
#include "tensor/ops.h"

namespace slm::ag {

// y (T, N) = x (T, K) · wᵀ + bias, w (N, K) frozen (f32 or bf16), bias (N) or undefined.
Var linear(const Var& x, const Tensor& w, const Tensor& bias = Tensor());

// For op implementations: adds dy · w (a linear's input gradient) into n's gradient — straight into an existing
// buffer (an input that feeds several linears: q/k/v, gate/up), else into a fresh one.
void accumulate_linear_input(Node& n, const Tensor& dy, const Tensor& w);

// A LoRA adapter on one linear layer (PEFT's lora.Linear): y = x wᵀ + b + scaling · (drop(x) Aᵀ) Bᵀ.
struct LoraWeights {
  Var A;  // (r, K) f32
  Var B;  // (N, r) f32
  float scaling = 1.0f;       // lora_alpha / r, or lora_alpha / sqrt(r) (rsLoRA)
  float dropout = 0.0f;       // probability; applied only while a tape records (training)
  uint64_t dropout_seed = 0;  // the mask is a pure function of this seed (resume and recompute agree)
};
Var lora_linear(const Var& x, const Tensor& w, const Tensor& bias, const LoraWeights& lora);

// out (T, C) = rows of a frozen table (V, C) at ids (T) I32 — a constant (the table gets no gradient).
Var embedding(const Tensor& table, const Tensor& ids);

Var rmsnorm(const Var& x, const Tensor& w, float eps, bool unit_offset);

// x (T, H, D): rotated copy (rope_apply out of place).
Var rope(const Var& x, const RopeTable& t);

// Causal attention over the packed batch (tensor/grad_ops.h attention_train); q (T, H, D), k/v (T, Hkv, D).
Var attention(const Var& q, const Var& k, const Var& v, const TrainAttnParams& p);

Var gated_act(const Var& gate, const Var& up, Activation act);
Var softcap(const Var& x, float cap);
// a + b. With no tape recording it adds in place into a's storage (a is consumed: x = add(x, y)).
Var add(Var a, const Var& b);
Var scale(const Var& x, float s);

// Views and copies.
Var reshape(const Var& x, const Shape& shape);  // x contiguous
// Columns [start, start + len) of x (T, N), as a contiguous copy (fused qkv_proj / gate_up_proj splits).
Var narrow_cols(const Var& x, int64_t start, int64_t len);

// Mean-free cross-entropy of logits (T, V) against labels (T) I32 (-100 ignored): returns the sum and
// count (tensor/grad_ops.h). While recording, seeds logits' gradient with grad_scale · ∂sum/∂logits —
// computed in place over the logits buffer, which is dead afterwards — so Tape::backward can run next.
CrossEntropy cross_entropy(const Var& logits, const Tensor& labels, float grad_scale);
// Rows `rows` (I32 (n)) of x (T, C) -> (n, C), a gather; the backward scatters dy back into those rows (zero
// elsewhere; a row listed twice gets both).
Var take_rows(const Var& x, const Tensor& rows);

// ---- trainable base weights (full training, e.g. pre-training the embedded tiny model) -------------------
// The same ops with the weight (and bias) as Vars: a Var::param gets its gradient accumulated (+=), a constant
// Var behaves as the Tensor overloads above. Weights must be f32.
Var linear(const Var& x, const Var& w, const Var& bias);
Var embedding(const Var& table, const Tensor& ids);
Var rmsnorm(const Var& x, const Var& w, float eps, bool unit_offset);

// Gradient checkpointing: runs f(x) without recording and keeps only x; the backward pass re-runs f on
// a private tape and backpropagates through it. f must be deterministic (dropout masks are seeded).
Var checkpoint(const std::function<Var(const Var&)>& f, const Var& x);

}  // namespace slm::ag
