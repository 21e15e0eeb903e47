// Register-tiled f32 matrix products of attention_train (tensor/grad_attention.cpp): small blocks of query rows
// against a range of keys, the three shapes flash-attention needs,
//   gemm_abt  C (m × n)  = A (m × D) · Btᵀ   Bt stored (D, ld) — logits q·k and dO·v against transposed K / V
//   gemm_pb   C (m × D) (+)= P (m × n) · B    B rows strided — P·V and dS·K
//   gemm_ptx  C (n × D) += Pᵀ (n × m) · X    — dSᵀ·Q and Pᵀ·dO
// AVX-512: 8 rows × 32 keys, 6 rows × 64 features and 6 keys × 64 features of accumulators stay in registers
// (`#pragma GCC unroll` on the tile loops: without it GCC 12 keeps the accumulator arrays on the stack and the
// P·V tiles run at half speed); scalar loops otherwise. Internal to the attention kernels; not a general GEMM (oneDNN
// is, for the linears).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

namespace slm::detail::attn {

#ifdef __AVX512F__
inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// c[r][0..32) = Σ_d a[r·lda + d] · bt[d·ldb + 0..32) for r < R (bt readable 32 columns wide).
template <int R>
void dot_tile(const float* a, int64_t lda, const float* bt, int64_t ldb, int64_t D, float* c, int64_t ldc) {
  __m512 acc[R][2];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t d = 0; d < D; ++d) {
    const __m512 b0 = _mm512_loadu_ps(bt + d * ldb), b1 = _mm512_loadu_ps(bt + d * ldb + 16);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * lda + d]);
      acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc[r][0]);
    _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
  }
}

// c[r][0..16·NV) (= or +=) Σ_{j<n} p[r·ldp + j] · b[j·ldb + ..], r < R; the last vector is masked by `last`.
template <int R, int NV>
void comb_tile(const float* p, int64_t ldp, int64_t n, const float* b, int64_t ldb, float* c, int64_t ldc,
               __mmask16 last, bool accumulate) {
  __m512 acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[r][v] =
          accumulate ? _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xffff, c + r * ldc + 16 * v) : _mm512_setzero_ps();
  for (int64_t j = 0; j < n; ++j) {
    __m512 bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xffff, b + j * ldb + 16 * v);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pr = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(pr, bv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + r * ldc + 16 * v, v == NV - 1 ? last : 0xffff, acc[r][v]);
}

// c[j·ldc + 0..16·NV) += Σ_{r<m} p[r·ldp + j] · x[r·ldx + ..], j < J.
template <int J, int NV>
void tcomb_tile(const float* p, int64_t ldp, int64_t m, const float* x, int64_t ldx, float* c, int64_t ldc,
                __mmask16 last) {
  __m512 acc[J][NV];
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xffff, c + j * ldc + 16 * v);
  for (int64_t r = 0; r < m; ++r) {
    __m512 xv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) xv[v] = _mm512_maskz_loadu_ps(v == NV - 1 ? last : 0xffff, x + r * ldx + 16 * v);
#pragma GCC unroll 8
    for (int j = 0; j < J; ++j) {
      const __m512 pj = _mm512_set1_ps(p[r * ldp + j]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[j][v] = _mm512_fmadd_ps(pj, xv[v], acc[j][v]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < J; ++j)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) _mm512_mask_storeu_ps(c + j * ldc + 16 * v, v == NV - 1 ? last : 0xffff, acc[j][v]);
}

using DotFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, float*, int64_t);
using CombFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, __mmask16, bool);
using TCombFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, __mmask16);

template <int R>
constexpr CombFn kCombRow[4] = {comb_tile<R, 1>, comb_tile<R, 2>, comb_tile<R, 3>, comb_tile<R, 4>};
template <int J>
constexpr TCombFn kTCombRow[4] = {tcomb_tile<J, 1>, tcomb_tile<J, 2>, tcomb_tile<J, 3>, tcomb_tile<J, 4>};

// C (m × n) = A (m × D) · Bt (D × n); c needs ldc >= n rounded up to 32, bt 32-column groups readable.
inline void gemm_abt(const float* a, int64_t lda, int64_t m, const float* bt, int64_t ldb, int64_t n, int64_t D,
                     float* c, int64_t ldc) {
  static constexpr DotFn kDot[8] = {dot_tile<1>, dot_tile<2>, dot_tile<3>, dot_tile<4>,
                                    dot_tile<5>, dot_tile<6>, dot_tile<7>, dot_tile<8>};
  for (int64_t r0 = 0; r0 < m; r0 += 8) {
    const DotFn f = kDot[std::min<int64_t>(8, m - r0) - 1];
    for (int64_t j0 = 0; j0 < n; j0 += 32) f(a + r0 * lda, lda, bt + j0, ldb, D, c + r0 * ldc + j0, ldc);
  }
}

// C (m × D) (= or +=) P (m × n) · B (n × D).
inline void gemm_pb(const float* p, int64_t ldp, int64_t m, int64_t n, const float* b, int64_t ldb, int64_t D, float* c,
                    int64_t ldc, bool accumulate) {
  static constexpr const CombFn* kComb[6] = {kCombRow<1>, kCombRow<2>, kCombRow<3>,
                                             kCombRow<4>, kCombRow<5>, kCombRow<6>};
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    const int64_t dn = std::min<int64_t>(64, D - d0), nv = (dn + 15) / 16;
    const __mmask16 last = tail_mask(dn - 16 * (nv - 1));
    for (int64_t r0 = 0; r0 < m; r0 += 6)
      kComb[std::min<int64_t>(6, m - r0) - 1][nv - 1](p + r0 * ldp, ldp, n, b + d0, ldb, c + r0 * ldc + d0, ldc, last,
                                                      accumulate);
  }
}

// C (n × D) += Pᵀ (n × m) · X (m × D), P stored (m, ldp).
inline void gemm_ptx(const float* p, int64_t ldp, int64_t m, int64_t n, const float* x, int64_t ldx, int64_t D,
                     float* c, int64_t ldc) {
  static constexpr const TCombFn* kTComb[6] = {kTCombRow<1>, kTCombRow<2>, kTCombRow<3>,
                                               kTCombRow<4>, kTCombRow<5>, kTCombRow<6>};
  for (int64_t d0 = 0; d0 < D; d0 += 64) {
    const int64_t dn = std::min<int64_t>(64, D - d0), nv = (dn + 15) / 16;
    const __mmask16 last = tail_mask(dn - 16 * (nv - 1));
    for (int64_t j0 = 0; j0 < n; j0 += 6)
      kTComb[std::min<int64_t>(6, n - j0) - 1][nv - 1](p + j0, ldp, m, x + d0, ldx, c + j0 * ldc + d0, ldc, last);
  }
}
#else
inline void gemm_abt(const float* a, int64_t lda, int64_t m, const float* bt, int64_t ldb, int64_t n, int64_t D,
                     float* c, int64_t ldc) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t j = 0; j < n; ++j) {
      float s = 0.0f;
      for (int64_t d = 0; d < D; ++d) s += a[r * lda + d] * bt[d * ldb + j];
      c[r * ldc + j] = s;
    }
}
inline void gemm_pb(const float* p, int64_t ldp, int64_t m, int64_t n, const float* b, int64_t ldb, int64_t D, float* c,
                    int64_t ldc, bool accumulate) {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t d = 0; d < D; ++d) {
      float s = accumulate ? c[r * ldc + d] : 0.0f;
      for (int64_t j = 0; j < n; ++j) s += p[r * ldp + j] * b[j * ldb + d];
      c[r * ldc + d] = s;
    }
}
inline void gemm_ptx(const float* p, int64_t ldp, int64_t m, int64_t n, const float* x, int64_t ldx, int64_t D,
                     float* c, int64_t ldc) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t r = 0; r < m; ++r)
      for (int64_t d = 0; d < D; ++d) c[j * ldc + d] += p[r * ldp + j] * x[r * ldx + d];
}
#endif

}  // namespace slm::detail::attn
