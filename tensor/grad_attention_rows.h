// One row of a training-attention tile, shared by the f32 kernels (tensor/grad_attention.cpp) and the AMX ones
// (tensor/grad_attention_amx.cpp): the forward's masked softmax of raw dots with its log-sum-exp, and the
// backward's probability recomputation and d(logit). AVX-512 where built for it, scalar loops otherwise.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/grad_attention_tiles.h"
#include "tensor/simd_math.h"

namespace slm::detail::attn {

#ifdef __AVX512F__
// Lanes j0..j0+15 inside [lo, hi].
inline __mmask16 range_mask(int64_t j0, int64_t lo, int64_t hi) {
  return __mmask16(tail_mask(hi - j0 + 1) & ~tail_mask(lo - j0));
}

inline __m512 cap_ps(__m512 l, float cap) {
  const __m512 vc = _mm512_set1_ps(cap);
  return _mm512_mul_ps(simd::tanh_ps(_mm512_div_ps(l, vc)), vc);
}

// Raw dots s[lo..hi] -> probabilities, zero elsewhere in [0, n); returns the row's lse.
inline float softmax_row(float* s, int64_t n, int64_t lo, int64_t hi, float scale, float cap) {
  __m512 vmax = _mm512_set1_ps(-INFINITY);
  for (int64_t j = lo; j <= hi; j += 16) {
    const __mmask16 m = tail_mask(hi - j + 1);
    __m512 l = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + j), _mm512_set1_ps(scale));
    if (cap > 0.0f) l = cap_ps(l, cap);
    _mm512_mask_storeu_ps(s + j, m, l);
    vmax = _mm512_mask_max_ps(vmax, m, vmax, l);
  }
  const float mx = _mm512_reduce_max_ps(vmax);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  for (int64_t j = lo; j <= hi; j += 16) {
    const __mmask16 m = tail_mask(hi - j + 1);
    const __m512 e =
        _mm512_maskz_mov_ps(m, simd::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, s + j), _mm512_set1_ps(mx))));
    _mm512_mask_storeu_ps(s + j, m, e);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
  }
  const double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
  const __m512 inv = _mm512_set1_ps(1.0f / float(sum));
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = tail_mask(n - j), vis = range_mask(j, lo, hi);
    _mm512_mask_storeu_ps(s + j, m, _mm512_maskz_mul_ps(vis, _mm512_loadu_ps(s + j), inv));
  }
  return float(double(mx) + std::log(sum));
}

// One tile row: s (raw dots) -> p, dp (dO·v) -> dz = scale · p (dp - di) (1 - tanh²); zero outside [lo, hi].
inline void grad_row(float* s, float* dp, int64_t n, int64_t lo, int64_t hi, float scale, float cap, float lse, float di) {
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 vis = range_mask(j, lo, hi) & tail_mask(n - j);
    __m512 l = _mm512_mul_ps(_mm512_maskz_loadu_ps(vis, s + j), _mm512_set1_ps(scale));
    __m512 dcap = _mm512_set1_ps(scale);
    if (cap > 0.0f) {
      const __m512 t = simd::tanh_ps(_mm512_div_ps(l, _mm512_set1_ps(cap)));
      l = _mm512_mul_ps(t, _mm512_set1_ps(cap));
      dcap = _mm512_mul_ps(dcap, _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(t, t)));
    }
    const __m512 p = _mm512_maskz_mov_ps(vis, simd::exp_ps(_mm512_sub_ps(l, _mm512_set1_ps(lse))));
    const __m512 g = _mm512_sub_ps(_mm512_maskz_loadu_ps(vis, dp + j), _mm512_set1_ps(di));
    _mm512_storeu_ps(s + j, p);
    _mm512_storeu_ps(dp + j, _mm512_mul_ps(_mm512_mul_ps(p, g), dcap));
  }
}
#else
inline float softmax_row(float* s, int64_t n, int64_t lo, int64_t hi, float scale, float cap) {
  float mx = -INFINITY;
  for (int64_t j = lo; j <= hi; ++j) {
    float l = s[j] * scale;
    if (cap > 0.0f) l = std::tanh(l / cap) * cap;
    mx = std::max(mx, s[j] = l);
  }
  double sum = 0.0;
  for (int64_t j = lo; j <= hi; ++j) sum += (s[j] = std::exp(s[j] - mx));
  const float inv = 1.0f / float(sum);
  for (int64_t j = 0; j < n; ++j) s[j] = j >= lo && j <= hi ? s[j] * inv : 0.0f;
  return float(double(mx) + std::log(sum));
}

inline void grad_row(float* s, float* dp, int64_t n, int64_t lo, int64_t hi, float scale, float cap, float lse, float di) {
  for (int64_t j = 0; j < (n + 15) / 16 * 16; ++j) {
    if (j < lo || j > hi || j >= n) {
      s[j] = dp[j] = 0.0f;
      continue;
    }
    float l = s[j] * scale, dcap = scale;
    if (cap > 0.0f) {
      const float t = std::tanh(l / cap);
      l = t * cap;
      dcap *= 1.0f - t * t;
    }
    s[j] = std::exp(l - lse);
    dp[j] = s[j] * (dp[j] - di) * dcap;
  }
}
#endif

}  // namespace slm::detail::attn
