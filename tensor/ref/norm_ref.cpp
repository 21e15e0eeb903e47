// Scalar reference of rmsnorm (see ops.h), in transformers' order of f32 operations:
//   LlamaRMSNorm: variance = mean(x²); h = x * rsqrt(variance + eps); out = weight * h
//   GemmaRMSNorm: h = x * rsqrt(mean(x²) + eps); out = h * (1.0 + weight.float())
// rsqrt is 1/sqrt (torch's CPU kernel); the f32 squares are summed in double and rounded once, which any
// summation order of torch's f32 reduction approaches; mean = sum / C as torch's mean does. Not vectorised: the oracle
// of tensor/norm.cpp.
#include <cmath>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void rmsnorm_check(const Tensor& x, const Tensor& w);  // norm.cpp

Tensor rmsnorm_ref(const Tensor& x, const Tensor& w, float eps, bool unit_offset) {
  rmsnorm_check(x, w);
  const int64_t T = x.size(0), C = x.size(1);
  Tensor out = Tensor::empty({T, C});
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x.data<float>() + t * C;
    float* o = out.data<float>() + t * C;
    double ss = 0.0;
    for (int64_t c = 0; c < C; ++c) ss += double(xr[c] * xr[c]);  // x.pow(2) is rounded to f32
    float variance = float(ss) / float(C);
    float r = 1.0f / std::sqrt(variance + eps);
    for (int64_t c = 0; c < C; ++c) {
      float h = xr[c] * r;
      float wv = detail::load_float(w.raw(), w.dtype(), c);
      o[c] = unit_offset ? h * (1.0f + wv) : wv * h;
    }
  }
  return out;
}

}  // namespace slm
