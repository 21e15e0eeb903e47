// LoRA's low-rank path as one op (see ops.h): PEFT lora.Linear.forward —
//   result = base_layer(x) + lora_B(lora_A(dropout(x))) * scaling
// with nn.Dropout semantics (zero with probability p, survivors scaled by 1/(1-p)) while training.
// The dropout mask is not stored: it is a pure function of (dropout_seed, element index), recomputed by
// the backward pass, so a checkpointed layer's recompute and a resumed run see the same mask.
// Forward: xa = scaling · drop(x) Aᵀ (T, r), y = xa Bᵀ + b, then y += x Wᵀ in place (linear_add).
// Backward (dy (T, N)):
//   dB += dyᵀ xa      dxa = scaling · dy B      dA += dxaᵀ drop(x)
//   dx += drop'(dxa A) + dy W   (drop' applies the same mask and scale), summed into x's gradient in place
#include <cstdint>

#include "autograd/ops.h"
#include "tensor/error.h"

namespace slm::ag {

namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// In place: x[i] = keep(i) ? x[i] / (1 - p) : 0, keep(i) iff a uniform in [0, 1) from (seed, i) >= p.
void apply_dropout(Tensor& x, float p, uint64_t seed) {
  float* d = x.data<float>();
  const int64_t n = x.numel();
  const float keep_scale = 1.0f / (1.0f - p);
  const uint64_t threshold = uint64_t(double(p) * 18446744073709551616.0);  // p · 2^64
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) d[i] = splitmix64(seed ^ (uint64_t(i) * 0xD1B54A32D192ED03ull)) < threshold
                                             ? 0.0f
                                             : d[i] * keep_scale;
}

}  // namespace

Var lora_linear(const Var& x, const Tensor& w, const Tensor& bias, const LoraWeights& lora) {
  const Tensor& A = lora.A.value();  // (r, K)
  const Tensor& B = lora.B.value();  // (N, r)
  SLM_CHECK(A.dim() == 2 && B.dim() == 2 && A.size(1) == w.size(1) && B.size(0) == w.size(0) &&
                A.size(0) == B.size(1),
            "[lora] adapter shapes A " + shape_str(A.shape()) + ", B " + shape_str(B.shape()) +
                " do not fit the weight " + shape_str(w.shape()));
  const bool drop = training() && lora.dropout > 0.0f;
  Tensor xd = x.value();
  if (drop) {
    xd = xd.clone();
    apply_dropout(xd, lora.dropout, lora.dropout_seed);
  }
  Tensor xa = slm::linear(xd, A);  // (T, r)
  scale_inplace(xa, lora.scaling);  // xa = scaling · drop(x) Aᵀ: the low-rank path's input and dB's operand
  // The small product first, then the base GEMM accumulates onto it (oneDNN's sum post-op): one pass over y.
  Tensor y = slm::linear(xa, B, bias);  // (T, N) = xa Bᵀ + b
  linear_add(x.value(), w, y);          // y += x Wᵀ
  if (!must_record({&x, &lora.A, &lora.B})) return Var(std::move(y));

  Var out = Var::tracked(std::move(y));
  Tape::active()->record([xn = x.node(), yn = out.node(), An = lora.A.node(), Bn = lora.B.node(), A, B, w, xd,
                          xa, s = lora.scaling, drop, p = lora.dropout, seed = lora.dropout_seed] {
    Tensor dy = yn->grad;
    yn->grad = Tensor();
    if (!dy.defined()) return;
    Tensor dxa;  // (T, r) = dy B, then scaled
    if (Bn) {
      if (!Bn->grad.defined()) Bn->grad = Tensor::zeros(B.shape());
      dxa = linear_backward_low_rank(dy, xa, B, Bn->grad);  // and dB += dyᵀ xa, one pass over dy
    } else {
      dxa = linear_backward_input(dy, B);
    }
    scale_inplace(dxa, s);
    if (An) {
      if (!An->grad.defined()) An->grad = Tensor::zeros(A.shape());
      linear_backward_weight(dxa, xd, An->grad);
    }
    if (xn) {
      // The low-rank term first (a fresh gradient is written, not read), then the base GEMM accumulates.
      if (drop) {
        Tensor dx_low = linear_backward_input(dxa, A);  // (T, K)
        apply_dropout(dx_low, p, seed);
        accumulate_fresh(*xn, std::move(dx_low));
      } else {
        accumulate_linear_input(*xn, dxa, A);
      }
      linear_backward_input_add(dy, w, xn->grad);  // += dy W
    }
  });
  return out;
}

}  // namespace slm::ag
