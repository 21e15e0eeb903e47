// int4_linear (see int4_matmul.h). Decode (T <= 4, AVX-512): each row's codes become f32 in registers through
// a 16-entry per-group table and feed T FMA accumulators, parallel over rows of W. Otherwise: blocks of rows
// are dequantised (dequantize_row) into a ~1 MiB buffer that slm::linear multiplies. Either way the weights
// are exactly dequantize's values and the whole f32 weight never exists.
#include "quant/int4_matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "quant/group_quant.h"
#include "quant/q4_simd.h"
#include "tensor/error.h"
#include "tensor/kernel_util.h"
#include "tensor/ops.h"

namespace slm::quant {

namespace {

void int4_linear_check(const Tensor& x, const QuantizedWeight& w, const Tensor& bias, const char* what) {
  check_quantized(w, what);
  SLM_CHECK(scheme_info(w.scheme).quantized, std::string("[quant] ") + what + ": weight scheme " +
                                                 scheme_info(w.scheme).name +
                                                 " is not int4; use slm::linear on its q_weight");
  detail::check_f32(x, 2, what);
  SLM_CHECK(x.size(1) == w.cols, std::string("[quant] ") + what + ": x is " + shape_str(x.shape()) +
                                     " but the weight has K = " + std::to_string(w.cols) + " columns");
  if (bias.defined()) {
    detail::check_float(bias, 1, what, /*allow_f16=*/true);
    SLM_CHECK(bias.size(0) == w.rows, std::string("[quant] ") + what + ": bias has " + std::to_string(bias.size(0)) +
                                          " values for N = " + std::to_string(w.rows));
  }
}

#if defined(__AVX512F__)
constexpr int64_t kFusedT = 4;  // up to this many x rows: dequantise in registers, no buffer (decode)

// y[t, n] for t < T <= kFusedT: each 16 dequantised weights are used for all T rows while in a register.
void fused_row(const QuantizedWeight& w, int64_t n, const float* x, int64_t T, float* out) {
  const int64_t K = w.cols, W = w.words_per_row(), G = w.num_groups(), gs = w.group_size;
  const bool f16 = scheme_info(w.scheme).model_dtype == DType::F16;
  const uint32_t* wr = w.words() + n * W;
  __m512 acc[kFusedT];
  for (int64_t t = 0; t < kFusedT; ++t) acc[t] = _mm512_setzero_ps();
  int64_t g = 0;
  if (gs == 32) {  // MLC's q4 presets: whole groups take the 4-word path, the last (maybe partial) does not
    for (; g < K / 32; ++g) {
      const __m512 lut = simd::group_lut(simd::scale_at(w, n * G + g), f16);
      __m512 lo, hi;
      simd::lookup32(wr + 4 * g, lut, &lo, &hi);
      for (int64_t t = 0; t < T; ++t) {
        acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + 32 * g), lo, acc[t]);
        acc[t] = _mm512_fmadd_ps(_mm512_loadu_ps(x + t * K + 32 * g + 16), hi, acc[t]);
      }
    }
  }
  for (; g < G; ++g) {
    const __m512 lut = simd::group_lut(simd::scale_at(w, n * G + g), f16);
    const int64_t k1 = std::min(K, (g + 1) * gs);
    for (int64_t k = g * gs; k < k1; k += 16) {
      const __mmask16 m = k1 - k >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (k1 - k)) - 1);
      const __m512 wv = simd::lookup16(wr, k / 8, W, lut);
      for (int64_t t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + t * K + k), wv, acc[t]);
    }
  }
  for (int64_t t = 0; t < T; ++t) out[t] = _mm512_reduce_add_ps(acc[t]);
}
#endif

}  // namespace

Tensor int4_linear(const Tensor& x, const QuantizedWeight& w, const Tensor& bias) {
  int4_linear_check(x, w, bias, "int4_linear");
  const int64_t T = x.size(0), K = w.cols, N = w.rows;
  Tensor y = Tensor::empty({T, N});
  float* yp = y.data<float>();
#if defined(__AVX512F__)
  if (T <= kFusedT) {
    const float* xp = x.data<float>();
#pragma omp parallel for schedule(static) if (N * K >= (int64_t(1) << 15))
    for (int64_t n = 0; n < N; ++n) {
      float out[kFusedT];
      fused_row(w, n, xp, T, out);
      const float b = bias.defined() ? detail::load_float(bias.raw(), bias.dtype(), n) : 0.0f;
      for (int64_t t = 0; t < T; ++t) yp[t * N + n] = bias.defined() ? out[t] + b : out[t];
    }
    return y;
  }
#endif
  // Prefill: blocks of ~1 MiB of W dequantised into an (Nb, K) buffer and multiplied by slm::linear
  // (oneDNN), so large T runs at f32 GEMM speed on exactly dequantize's values.
  const int64_t Nb = std::min(N, std::max<int64_t>(16, (int64_t(1) << 18) / std::max<int64_t>(K, 1)));
  Tensor buf = Tensor::empty({Nb, K});
  for (int64_t n0 = 0; n0 < N; n0 += Nb) {
    const int64_t nb = std::min(Nb, N - n0);
    Tensor blk = nb == Nb ? buf : buf.narrow(0, 0, nb);
    float* bp = blk.data<float>();
#pragma omp parallel for schedule(static) if (nb * K >= (int64_t(1) << 15))
    for (int64_t r = 0; r < nb; ++r) dequantize_row(w, n0 + r, bp + r * K);
    Tensor yb = linear(x, blk);  // (T, nb)
    const float* ybp = yb.data<float>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t r = 0; r < nb; ++r) {
        const float v = ybp[t * nb + r];
        yp[t * N + n0 + r] = bias.defined() ? v + detail::load_float(bias.raw(), bias.dtype(), n0 + r) : v;
      }
  }
  return y;
}

Tensor int4_linear_ref(const Tensor& x, const QuantizedWeight& w, const Tensor& bias) {
  int4_linear_check(x, w, bias, "int4_linear_ref");
  Tensor wf = dequantize_ref(w);  // (N, K) f32
  Tensor b = bias.defined() ? bias.to(DType::F32) : Tensor();
  return linear_ref(x, wf, b);
}

}  // namespace slm::quant
