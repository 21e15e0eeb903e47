// Scalar activation formulas, written as torch's CPU kernels evaluate them in f32 (aten/src/ATen/native/cpu):
//   silu(x)           = x / (1 + exp(-x))
//   gelu tanh (x)     = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x³)))   (gelu(approximate='tanh'))
//   gelu (erf) (x)    = x * 0.5 * (1 + erf(x * sqrt(1/2)))
// Shared by gated_act_ref and the fast path's scalar loop, so the semantics are stated once; the formulas
// themselves are tested against independently known values.
#pragma once
#include <cmath>

namespace slm::detail {

inline float silu_f32(float x) { return x / (1.0f + std::exp(-x)); }

inline float gelu_tanh_f32(float x) {
  const float kBeta = float(M_SQRT2 * M_2_SQRTPI * 0.5);  // sqrt(2/pi)
  const float kKappa = 0.044715f;
  float cube = x * x * x;
  return 0.5f * x * (1.0f + std::tanh(kBeta * (x + kKappa * cube)));
}

inline float gelu_erf_f32(float x) { return x * 0.5f * (1.0f + std::erf(x * float(M_SQRT1_2))); }

}  // namespace slm::detail
