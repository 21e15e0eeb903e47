// AVX-512 helpers shared by quant/group_quant.cpp and quant/int4_matmul.cpp (inline: they sit in inner loops).
// Internal to quant/: not a public API. Every value they produce equals dequantize_ref's bit for bit.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12 reports its own _mm512_undefined_* inside the AVX-512 intrinsics as uninitialised (bug 105593);
// silenced for the files that include this header, which are exactly the AVX-512 users in quant/.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <cstdint>

#include "quant/block.h"

namespace slm::quant::simd {

// Rounds each lane to f16 (round-to-nearest-even, overflow to inf) and widens back.
inline __m512 round_f16(__m512 x) {
  return _mm512_cvtph_ps(_mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

// Scale of row n, group g as f32.
inline float scale_at(const QuantizedWeight& q, int64_t i) {
  if (q.q_scale.dtype() == DType::F16)
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(static_cast<const uint16_t*>(q.q_scale.raw())[i])));
  return static_cast<const float*>(q.q_scale.raw())[i];
}

// The 16 values dequantize gives codes 0..15 of a group with this scale: (c - 7) * scale, f16-rounded for f16.
inline __m512 group_lut(float scale, bool f16) {
  const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 v = _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_set1_ps(7.0f)), _mm512_set1_ps(scale));
  return f16 ? round_f16(v) : v;
}

// Dequantised elements 8j..8j+15 of a row from words[j] and words[j + 1] (read only if j + 1 < W).
inline __m512 lookup16(const uint32_t* words, int64_t j, int64_t W, __m512 lut) {
  const __m512i shifts = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28);
  const uint32_t w0 = words[j], w1 = j + 1 < W ? words[j + 1] : 0u;
  const __m512i wv =
      _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(int(w0))), _mm256_set1_epi32(int(w1)), 1);
  // vpermps reads only the low 4 bits of each index: no mask needed after the shift.
  return _mm512_permutexvar_ps(_mm512_srlv_epi32(wv, shifts), lut);
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1); }

}  // namespace slm::quant::simd
#endif
