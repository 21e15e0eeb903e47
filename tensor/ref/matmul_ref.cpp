// Scalar reference of linear (see ops.h): y = x · wᵀ + bias with plain loops and a double accumulator.
// It defines the semantics the fast path (tensor/matmul.cpp: oneDNN, AVX-512 GEMV) is tested against:
// for BF16 weights x is first rounded to bf16, as torch does when the activations are bf16.
// Not fast and not blocked; kept forever as the oracle. Reference: torch.nn.functional.linear.
#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void linear_check(const Tensor& x, const Tensor& w, const Tensor& bias);  // matmul.cpp

Tensor linear_ref(const Tensor& x, const Tensor& w, const Tensor& bias) {
  linear_check(x, w, bias);
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  const bool bf16 = w.dtype() == DType::BF16;
  Tensor y = Tensor::empty({T, N});
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        float xv = bf16 ? round_bf16(xp[t * K + k]) : xp[t * K + k];
        acc += double(xv) * double(detail::load_float(w.raw(), w.dtype(), n * K + k));
      }
      float out = float(acc);
      if (bias.defined()) out += detail::load_float(bias.raw(), bias.dtype(), n);
      yp[t * N + n] = out;
    }
  }
  return y;
}

}  // namespace slm
