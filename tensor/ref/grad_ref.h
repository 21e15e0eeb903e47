// Scalar references of the training kernels (tensor/grad_ops.h), in double: each op's forward and its
// vector-Jacobian product written out from the chain rule with plain loops, so that
//   (1) tests/tensor/test_grad_ref.cpp checks every VJP here against central finite differences of the forward
//       here (both double, so the check is tight), and
//   (2) tests/tensor/test_grad_fast.cpp checks every f32 fast path against the VJP here.
// Not fast, not parallel, not used by training: the oracle only. Arrays are dense row-major doubles (DArray)
// because Tensor has no f64 dtype; to_double / to_f32 convert. Formulas follow the HF modules the forwards in
// ops.h follow (nn.Linear, LlamaRMSNorm / GemmaRMSNorm, apply_rotary_pos_emb, eager attention, ACT2FN,
// CrossEntropyLoss(ignore_index=-100, reduction='sum')).
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/grad_ops.h"

namespace slm::ref {

// Dense row-major double array with a shape.
struct DArray {
  Shape shape;
  std::vector<double> v;
  DArray() = default;
  explicit DArray(Shape s) : shape(std::move(s)), v(size_t(shape_numel(shape)), 0.0) {}
  int64_t size(int64_t d) const { return shape[size_t(d)]; }
  int64_t numel() const { return int64_t(v.size()); }
  double& operator[](int64_t i) { return v[size_t(i)]; }
  double operator[](int64_t i) const { return v[size_t(i)]; }
};
DArray to_double(const Tensor& t);             // any float dtype, any strides
Tensor to_f32(const DArray& a);                // rounded to f32, contiguous
std::vector<int32_t> to_ids(const Tensor& t);  // (T) I32 -> vector (empty for an undefined tensor)

// ---- linear: y (T, N) = x (T, K) wᵀ + b ----------------------------------------------------------
DArray linear_fwd(const DArray& x, const DArray& w, const DArray* b = nullptr);
struct LinearGrads {
  DArray dx, dw, db;  // (T, K), (N, K), (N)
};
LinearGrads linear_vjp(const DArray& dy, const DArray& x, const DArray& w);

// ---- embedding: out (T, C) = table (V, C) [ids] -------------------------------------------------
DArray embedding_fwd(const DArray& table, const std::vector<int32_t>& ids);
DArray embedding_vjp(const DArray& dout, const std::vector<int32_t>& ids, int64_t V);  // dtable (V, C)

// ---- RMSNorm: y = x · r · w', r = (mean(x²) + eps)^-1/2, w' = unit_offset ? 1 + w : w ---------------
DArray rmsnorm_fwd(const DArray& x, const DArray& w, double eps, bool unit_offset);
struct RmsNormGrads {
  DArray dx, dw;  // (T, C), (C)
};
RmsNormGrads rmsnorm_vjp(const DArray& dy, const DArray& x, const DArray& w, double eps, bool unit_offset);

// ---- RoPE (rotate_half pairing, partial rotary) ----------------------------------------------------
struct DRope {
  DArray cos, sin;  // (T, rotary_dim)
  int64_t rotary_dim = 0;
};
DRope rope_to_double(const RopeTable& t);
DArray rope_fwd(const DArray& x, const DRope& t);  // x (T, H, D)
DArray rope_vjp(const DArray& dy, const DRope& t);

// ---- attention over packed segments (grad_ops.h's attention_train) ---------------------------------
// Key j visible to query i iff j <= i, seg[j] == seg[i] (any ids, not only runs) and (window == 0 or i - j < window).
struct DAttnParams {
  double scale = 1.0, softcap = 0.0;
  int64_t window = 0;
  std::vector<int32_t> segments;  // (T) or empty for one sequence
  // TrainAttnParams::bf16 on AMX: q, k, v, dout, the probabilities and d(q·k) rounded to bf16 where the kernels'
  // products read them; every sum stays double.
  bool bf16 = false;
};
DAttnParams attn_params(const TrainAttnParams& p);
bool attn_visible(const DAttnParams& p, int64_t i, int64_t j);
struct AttnFwd {
  DArray out, lse;  // (T, H, D), (T, H)
};
AttnFwd attention_train_fwd(const DArray& q, const DArray& k, const DArray& v, const DAttnParams& p);
struct AttnGrads {
  DArray dq, dk, dv;  // (T, H, D), (T, Hkv, D), (T, Hkv, D)
};
AttnGrads attention_train_vjp(const DArray& dout, const DArray& q, const DArray& k, const DArray& v,
                              const DAttnParams& p);

// ---- elementwise --------------------------------------------------------------------------------
double act_fwd(double x, Activation act);    // silu, gelu tanh, gelu erf (tensor/ref/activation.h, in double)
double act_deriv(double x, Activation act);  // d act / dx
DArray gated_act_fwd(const DArray& gate, const DArray& up, Activation act);
struct GatedGrads {
  DArray dgate, dup;
};
GatedGrads gated_act_vjp(const DArray& dy, const DArray& gate, const DArray& up, Activation act);
DArray softcap_fwd(const DArray& x, double cap);                    // cap · tanh(x / cap)
DArray softcap_vjp(const DArray& dy, const DArray& x, double cap);  // dy · (1 - tanh²(x / cap))

// ---- cross-entropy (sum over counted rows; label -100 ignored) --------------------------------------
struct CrossEntropyRef {
  double loss_sum = 0.0;
  int64_t count = 0;
  DArray dlogits;  // grad_scale · (softmax - onehot) on counted rows, 0 on ignored rows
};
CrossEntropyRef cross_entropy(const DArray& logits, const std::vector<int32_t>& labels, double grad_scale = 1.0);

}  // namespace slm::ref
