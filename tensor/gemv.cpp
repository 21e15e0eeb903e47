// Decode GEMV y (N) = w (N, K) · x (K) for linear with T == 1, AVX-512 with a scalar fallback.
// A block of four rows is read row after row (or, for long rows, side by side sharing each load of x: see
// rows_in_sequence); K tails use masked loads, so any K works. BF16 weights meet x (already
// rounded to bf16 by the caller) either through vdpbf16ps (AVX512_BF16) or widened to f32 with a 16-bit shift;
// both accumulate exact bf16 products in f32 lanes: the semantics of linear_ref (tensor/ref/matmul_ref.cpp) up
// to summation order.
// Rows are split over the OpenMP threads. Not a GEMM: T > 1 goes to oneDNN (tensor/matmul.cpp).
#include <immintrin.h>

#include <cstdint>
#include <vector>

#include "tensor/dtype.h"

namespace slm {

namespace {

constexpr int64_t kRows = 4;

#ifdef __AVX512F__
inline __m512 load_w(const float* w, int64_t k, __mmask16 m) { return _mm512_maskz_loadu_ps(m, w + k); }
inline __m512 load_w(const uint16_t* w, int64_t k, __mmask16 m) {
  __m256i h = _mm256_maskz_loadu_epi16(m, w + k);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// y[0..rows) for `rows` consecutive weight rows starting at w, one whole row after the other: the block's
// weights are read as one sequential stream (x stays in L1), which the hardware prefetchers follow best.
// On the 2-core AMD EPYC (Zen 4) four rows advancing side by side, each a 3.5 KB stream at K = 896, took
// 1.2x (f32) to 1.8x (bf16) as long at gate_up's shape (cold weights): the prefetchers retrain on every block.
template <class W>
inline void dot_rows(const float* x, const W* w, float* y, int64_t K, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r, w += K) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 64 <= K; k += 64) {
      a0 = _mm512_fmadd_ps(load_w(w, k, 0xffff), _mm512_loadu_ps(x + k), a0);
      a1 = _mm512_fmadd_ps(load_w(w, k + 16, 0xffff), _mm512_loadu_ps(x + k + 16), a1);
      a2 = _mm512_fmadd_ps(load_w(w, k + 32, 0xffff), _mm512_loadu_ps(x + k + 32), a2);
      a3 = _mm512_fmadd_ps(load_w(w, k + 48, 0xffff), _mm512_loadu_ps(x + k + 48), a3);
    }
    for (; k < K; k += 16) {
      __mmask16 m = K - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (K - k)) - 1);
      a0 = _mm512_fmadd_ps(load_w(w, k, m), _mm512_maskz_loadu_ps(m, x + k), a0);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}
// The same with the rows advancing side by side, each load of x shared by four rows: for long rows, whose x would
// not stay in L1 beside the weight stream if every row reloaded it.
template <class W>
inline void dot_rows_interleaved(const float* x, const W* w, float* y, int64_t K, int64_t rows) {
  __m512 acc[kRows] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t k = 0;
  if (rows == kRows) {
    for (; k + 16 <= K; k += 16) {
      __m512 xv = _mm512_loadu_ps(x + k);
      for (int64_t r = 0; r < kRows; ++r) acc[r] = _mm512_fmadd_ps(load_w(w + r * K, k, 0xffff), xv, acc[r]);
    }
  }
  for (; k < K; k += 16) {
    __mmask16 m = K - k >= 16 ? __mmask16(0xffff) : __mmask16((1u << (K - k)) - 1);
    __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
    for (int64_t r = 0; r < rows; ++r) acc[r] = _mm512_fmadd_ps(load_w(w + r * K, k, m), xv, acc[r]);
  }
  for (int64_t r = 0; r < rows; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}
#else
inline float widen(float v) { return v; }
inline float widen(uint16_t v) {
  uint32_t u = uint32_t(v) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
template <class W>
inline void dot_rows(const float* x, const W* w, float* y, int64_t K, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    float acc = 0.0f;
    for (int64_t k = 0; k < K; ++k) acc += widen(w[r * K + k]) * x[k];
    y[r] = acc;
  }
}
template <class W>
inline void dot_rows_interleaved(const float* x, const W* w, float* y, int64_t K, int64_t rows) {
  dot_rows(x, w, y, K, rows);
}
#endif

#if defined(__AVX512BF16__)
// BF16 x BF16 pairs with vdpbf16ps: products are exact in f32 (8-bit mantissas), sums round to nearest even;
// denormal inputs/outputs are flushed, which the tests' tolerances cover.
inline void dot_rows_dpbf16(const uint16_t* xb, const uint16_t* w, float* y, int64_t K, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r, w += K) {  // row after row, as dot_rows
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t k = 0;
    for (; k + 128 <= K; k += 128) {
      a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_loadu_si512(w + k), (__m512bh)_mm512_loadu_si512(xb + k));
      a1 = _mm512_dpbf16_ps(a1, (__m512bh)_mm512_loadu_si512(w + k + 32), (__m512bh)_mm512_loadu_si512(xb + k + 32));
      a2 = _mm512_dpbf16_ps(a2, (__m512bh)_mm512_loadu_si512(w + k + 64), (__m512bh)_mm512_loadu_si512(xb + k + 64));
      a3 = _mm512_dpbf16_ps(a3, (__m512bh)_mm512_loadu_si512(w + k + 96), (__m512bh)_mm512_loadu_si512(xb + k + 96));
    }
    for (; k < K; k += 32) {
      __mmask32 m = K - k >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << (K - k)) - 1);
      a0 = _mm512_dpbf16_ps(a0, (__m512bh)_mm512_maskz_loadu_epi16(m, w + k),
                            (__m512bh)_mm512_maskz_loadu_epi16(m, xb + k));
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
  }
}
inline void dot_rows_dpbf16_interleaved(const uint16_t* xb, const uint16_t* w, float* y, int64_t K, int64_t rows) {
  __m512 acc[kRows] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  int64_t k = 0;
  if (rows == kRows) {
    for (; k + 32 <= K; k += 32) {
      __m512bh xv = (__m512bh)_mm512_loadu_si512(xb + k);
      for (int64_t r = 0; r < kRows; ++r)
        acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_loadu_si512(w + r * K + k), xv);
    }
  }
  for (; k < K; k += 32) {
    __mmask32 m = K - k >= 32 ? __mmask32(0xffffffffu) : __mmask32((1u << (K - k)) - 1);
    __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(m, xb + k);
    for (int64_t r = 0; r < rows; ++r)
      acc[r] = _mm512_dpbf16_ps(acc[r], (__m512bh)_mm512_maskz_loadu_epi16(m, w + r * K + k), xv);
  }
  for (int64_t r = 0; r < rows; ++r) y[r] = _mm512_reduce_add_ps(acc[r]);
}
#endif

template <class Rows>
void for_row_blocks(int64_t K, int64_t N, Rows rows_fn) {
  const int64_t blocks = (N + kRows - 1) / kRows;
#pragma omp parallel for schedule(static) if (N * K >= (1 << 16))
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t n0 = b * kRows;
    rows_fn(n0, N - n0 < kRows ? N - n0 : kRows);
  }
}

// Rows one after the other while x stays in L1 beside the weight stream (at most half of a 32 KB L1d);
// interleaved above that (f32 down_proj, K = 4864 and x 19 KB, measured no faster row by row on the Zen 4 EPYC).
constexpr int64_t kMaxSequentialXBytes = 16 << 10;
inline bool rows_in_sequence(int64_t x_bytes) { return x_bytes <= kMaxSequentialXBytes; }

template <class W>
void gemv_rows(const float* x, const W* w, float* y, int64_t K, int64_t N) {
  if (rows_in_sequence(K * int64_t(sizeof(float))))
    for_row_blocks(K, N, [&](int64_t n0, int64_t rows) { dot_rows(x, w + n0 * K, y + n0, K, rows); });
  else
    for_row_blocks(K, N, [&](int64_t n0, int64_t rows) { dot_rows_interleaved(x, w + n0 * K, y + n0, K, rows); });
}

}  // namespace

void gemv_f32(const float* x, const float* w, float* y, int64_t K, int64_t N) { gemv_rows(x, w, y, K, N); }

void gemv_bf16_widen(const float* x, const uint16_t* w, float* y, int64_t K, int64_t N) { gemv_rows(x, w, y, K, N); }

// x already rounded to bf16 values. vdpbf16ps where the CPU has it (10-20% faster than widening, measured on
// the 2-core Xeon at K=896, N=4864), the widening loop otherwise.
void gemv_bf16(const float* x, const uint16_t* w, float* y, int64_t K, int64_t N) {
#if defined(__AVX512BF16__)
  std::vector<uint16_t> xb(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) xb[size_t(k)] = f32_to_bf16(x[k]);  // exact: x holds bf16 values
  if (rows_in_sequence(K * int64_t(sizeof(uint16_t))))
    for_row_blocks(K, N, [&](int64_t n0, int64_t rows) { dot_rows_dpbf16(xb.data(), w + n0 * K, y + n0, K, rows); });
  else
    for_row_blocks(
        K, N, [&](int64_t n0, int64_t rows) { dot_rows_dpbf16_interleaved(xb.data(), w + n0 * K, y + n0, K, rows); });
#else
  gemv_bf16_widen(x, w, y, K, N);
#endif
}

}  // namespace slm
