// Backward kernels (vector-Jacobian products) of the ops in ops.h that training needs, plus the two
// training-only forwards (attention over packed sequences with its log-sum-exp, fused cross-entropy).
// Each has a scalar reference in double (tensor/ref/grad_ref.h) that is checked against finite
// differences, and the fast path here is tested against that reference. autograd/ wires these into the
// tape; nothing here knows about a tape.
// Conventions: "dy" is the gradient of the loss w.r.t. an op's output; functions returning a Tensor
// return a fresh f32 gradient (=), functions taking `Tensor& d…` accumulate into it (+=) — parameters
// accumulate over micro-batches, activations are written once. Accumulators must be allocated F32 of the stated
// shape; outputs documented as "written" may be passed undefined (allocated here) or allocated with the
// right shape (overwritten).
// Shape letters as in ops.h; T counts the tokens of a packed batch.
#pragma once
#include <cstdint>

#include "tensor/ops.h"

namespace slm {

// ---- matmul -------------------------------------------------------------------------------------
// y = x wᵀ (linear).  dx (T, K) = dy (T, N) · w (N, K).  w F32: f32 math.  w BF16: dy rounded to bf16,
// f32 accumulation (the mirror of linear()'s bf16 mode).
Tensor linear_backward_input(const Tensor& dy, const Tensor& w);
// dx (T, K) += dy · w, same precision: for an input that feeds several linears (q/k/v, gate/up, LoRA's A path),
// whose gradient is summed in place instead of through a (T, K) temporary.
void linear_backward_input_add(const Tensor& dy, const Tensor& w, Tensor& dx);
// dw (N, K) += dyᵀ · x, all f32.  (LoRA A and B; base weights are frozen and never get here.)
void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw);
// y (T, N) = x (T, r) · wᵀ with a narrow w (N, r) — LoRA's B, r ≤ 64: returns dx (T, r) = dy · w and adds
// dw (N, r) += dyᵀ · x, reading dy once (linear_backward_input + linear_backward_weight otherwise), all f32.
Tensor linear_backward_low_rank(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dw);
// db (N) += Σ_t dy[t]
void bias_backward(const Tensor& dy, Tensor& db);

// ---- embedding ----------------------------------------------------------------------------------
// dtable (V, C) += rows of dout (T, C) scattered to ids (T).
void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable);

// ---- RMSNorm ------------------------------------------------------------------------------------
// Forward as rmsnorm(x, w, eps, unit_offset).  Returns dx (T, C); when dw is non-null, *dw (C) +=
// the weight gradient (same for unit_offset, since d(1 + w) = dw).
Tensor rmsnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& w, float eps, bool unit_offset,
                        Tensor* dw = nullptr);

// ---- RoPE ---------------------------------------------------------------------------------------
// In place on dy (T, H, D): the transpose of rope_apply with the same table (rotation by -θ on the
// rotary part; pass-through features unchanged).
void rope_backward(Tensor& dy, const RopeTable& t);

// ---- attention over packed sequences (training) --------------------------------------------------
// q (T, H, D), k/v (T, Hkv, D): every token of the batch at once, no cache. Key j is visible to query i
// iff j <= i, segment[j] == segment[i] (examples packed into one row never see each other), and
// (window == 0 or i - j < window). segments (T) I32, or undefined for one sequence; each id must form one
// contiguous run (as packing produces), else slm::Error.
// softcap > 0: logits = softcap · tanh(scale · q·k / softcap) before masking, as attention() does.
struct TrainAttnParams {
  float scale = 1.0f;
  int64_t window = 0;
  float softcap = 0.0f;
  Tensor segments;  // (T) I32 or undefined
  // bf16 products with f32 accumulation on AMX tiles where the CPU has them (tensor/grad_attention_amx.h:
  // q, k, v, dout, the probabilities and d(q·k) rounded to bf16 before their products); f32 elsewhere.
  bool bf16 = false;
};
// Returns out (T, H, D); writes lse (T, H) f32 = log Σ_j exp(masked logits) for the backward pass.
// Tiled: no (T, T) matrix is formed (a 32-row scratch per thread).
Tensor attention_train(const Tensor& q, const Tensor& k, const Tensor& v, const TrainAttnParams& p, Tensor& lse);
// dq (T, H, D), dk/dv (T, Hkv, D) written (=), recomputing probabilities from q, k and lse
// (flash-attention style: no (T, T) matrix kept between forward and backward).
void attention_train_backward(const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v,
                              const Tensor& out, const Tensor& lse, const TrainAttnParams& p, Tensor& dq, Tensor& dk,
                              Tensor& dv);

// ---- elementwise --------------------------------------------------------------------------------
// y = act(gate) * up.  Writes dgate and dup (T, F); they may be gate / up / dy themselves (in place).
void gated_act_backward(const Tensor& dy, const Tensor& gate, const Tensor& up, Activation act, Tensor& dgate,
                        Tensor& dup);
// y = cap · tanh(x / cap), given y (the forward output): returns dx = dy · (1 - (y / cap)²).
Tensor softcap_backward(const Tensor& dy, const Tensor& y, float cap);

// ---- loss ---------------------------------------------------------------------------------------
// Cross-entropy of logits (T, V) f32 against labels (T) I32, label -100 ignored (HF's ignore_index).
// Returns Σ over counted tokens of -log softmax(logits)[label] (a sum, in double; the caller divides by
// the number of counted tokens, possibly across micro-batches as transformers' Trainer does), and the
// count.  When dlogits is non-null it is set to grad_scale · (softmax - onehot) on counted rows and 0 on
// ignored ones; dlogits may alias logits (in place, saving a (T, V) buffer). Memory-bound: call it on row
// chunks of the logits while they are still in cache if (T, V) is large.
// A label outside [0, V) other than -100 -> slm::Error.
struct CrossEntropy {
  double loss_sum = 0.0;
  int64_t count = 0;
};
CrossEntropy cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* dlogits = nullptr,
                           float grad_scale = 1.0f);

}  // namespace slm
