// AVX-512 exp and tanh for 16 f32 lanes (and f32 -> bf16 rounding), used by the elementwise and attention fast paths.
// Cephes-style: exp by n·ln2 range reduction (ln2 split in two) and a degree-6 polynomial, scaled with
// vscalefps (inf / 0 / denormals come out right); tanh by an odd polynomial for |x| < 0.625 and
// 1 - 2 / (exp(2|x|) + 1) above. Both stay within 1.25 ulp of the exact value (tests/tensor/test_simd_math.cpp),
// as torch's Sleef versions stay within one: neither is bit-identical to torch. Not a general math library: no log,
// erf.
#pragma once
#ifdef __AVX512F__
#include <immintrin.h>

#include <cstdint>

#include "tensor/dtype.h"

namespace slm::simd {

inline __m512 exp_ps(__m512 x) {
  // Clamp to where the result is inf / 0 anyway; x is the second operand so a NaN passes through (vminps/vmaxps
  // return the second operand when either is NaN).
  x = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(89.0f), x));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

inline __m512 tanh_ps(__m512 x) {
  const __m512 sign = _mm512_and_ps(x, _mm512_set1_ps(-0.0f));
  const __m512 ax = _mm512_andnot_ps(_mm512_set1_ps(-0.0f), x);
  // |x| >= 0.625: 1 - 2 / (exp(2|x|) + 1), with the sign put back.
  __m512 e = exp_ps(_mm512_add_ps(ax, ax));
  __m512 big =
      _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
  big = _mm512_or_ps(big, sign);
  // |x| < 0.625: x + x³ P(x²), evaluated on |x| so tanh(-0) = -0
  const __m512 z = _mm512_mul_ps(ax, ax);
  __m512 p = _mm512_set1_ps(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, _mm512_set1_ps(-3.33332819422e-1f));
  __m512 small = _mm512_or_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, z), ax, ax), sign);
  __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.625f), _CMP_LT_OQ);
  return _mm512_mask_blend_ps(is_small, big, small);
}

// 16 lanes of dtype.h's f32_to_bf16 (round to nearest even, NaN kept quiet), each bf16 in the low half of a
// 32-bit lane; bf16x16 narrows them to 16 packed halves.
inline __m512i bf16_bits_epi32(__m512 v) {
  const __m512i u = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                                _mm512_set1_epi32(0x7f800000));
  const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
  return _mm512_mask_mov_epi32(r, nan, q);
}
inline __m256i bf16x16(__m512 v) { return _mm512_cvtepi32_epi16(bf16_bits_epi32(v)); }
// x[0, n) -> d[0, n) in bf16: 16 lanes at a time, the tail by f32_to_bf16 (the same rounding).
inline void bf16_row(const float* x, int64_t n, uint16_t* d) {
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j), bf16x16(_mm512_loadu_ps(x + j)));
  for (; j < n; ++j) d[j] = f32_to_bf16(x[j]);
}

}  // namespace slm::simd
#endif
