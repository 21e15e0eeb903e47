// RMSNorm fast path (see ops.h): rows in parallel, AVX-512 sum of f32 squares accumulated in double, then the
// same f32 operations as the reference (tensor/ref/norm_ref.cpp, transformers' LlamaRMSNorm / GemmaRMSNorm).
// Not fused with the following matmul and not a LayerNorm (no mean subtraction, no bias).
#include <immintrin.h>

#include <cmath>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm {

void rmsnorm_check(const Tensor& x, const Tensor& w) {
  detail::check_f32(x, 2, "rmsnorm x (T, C)");
  detail::check_float(w, 1, "rmsnorm weight (C)");
  SLM_CHECK(w.size(0) == x.size(1), "[tensor] rmsnorm: weight has " + std::to_string(w.size(0)) +
                                        " entries but rows have " + std::to_string(x.size(1)));
}

// Σ double(x[c] * x[c]) with the f32 squares rounded first, as x.pow(2) is.
// (GCC 12 reports its own _mm512_undefined_pd inside the conversion intrinsics as uninitialised: bug 105593.)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static double sum_squares(const float* x, int64_t C) {
  int64_t c = 0;
#ifdef __AVX512F__
  __m512d acc0 = _mm512_setzero_pd(), acc1 = _mm512_setzero_pd();
  for (; c + 16 <= C; c += 16) {
    __m512 v = _mm512_loadu_ps(x + c);
    __m512 sq = _mm512_mul_ps(v, v);
    acc0 = _mm512_add_pd(acc0, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
    acc1 = _mm512_add_pd(acc1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(sq, 1)));
  }
  double ss = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
#else
  double ss = 0.0;
#endif
  for (; c < C; ++c) ss += double(x[c] * x[c]);
  return ss;
}
#pragma GCC diagnostic pop

Tensor rmsnorm(const Tensor& x, const Tensor& w, float eps, bool unit_offset) {
  rmsnorm_check(x, w);
  const int64_t T = x.size(0), C = x.size(1);
  Tensor out = Tensor::empty({T, C});
  // The weight as f32 (1 + w for Gemma, computed in f32 as `1.0 + weight.float()`).
  std::vector<float> wf(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    float wv = detail::load_float(w.raw(), w.dtype(), c);
    wf[size_t(c)] = unit_offset ? 1.0f + wv : wv;
  }
  const float* xp = x.data<float>();
  float* op = out.data<float>();
#pragma omp parallel for schedule(static) if (T > 1)
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = xp + t * C;
    float* o = op + t * C;
    float variance = float(sum_squares(xr, C)) / float(C);
    float r = 1.0f / std::sqrt(variance + eps);
    for (int64_t c = 0; c < C; ++c) o[c] = (xr[c] * r) * wf[size_t(c)];
  }
  return out;
}

}  // namespace slm
