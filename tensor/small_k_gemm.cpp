// Products with a short reduction (see matmul_paths.h): c (T, N) = [bias +] a (T, K) · b (K, N), or c += a · b,
// for K ≤ kSmallK. LoRA's expansion xa · Bᵀ and its input gradient dxa · A (K = the rank) are such products:
// K multiply-adds per output, so the time is writing c. oneDNN 2.6's matmul ran them at 50–60 GFLOP/s
// (≈ 7 GB/s of output, 512 × 4864 × 16 in 1.4 ms); here each thread keeps a 64-column panel of b in L1 and
// writes 4 × 64 outputs per micro-tile. Each output is one thread's K-term FMA chain in k order, so results
// do not depend on the thread count.
// Reference: tensor/ref/matmul_ref.cpp (linear_ref; the gradient's is linear_vjp in ref/grad_ref.cpp).
#include <immintrin.h>

#include <algorithm>

#include "tensor/matmul_paths.h"

namespace slm::detail {

// GCC 12 reports its own _mm512_undefined_* inside AVX-512 intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

constexpr int64_t kRows = 4;     // rows of c per micro-tile
constexpr int64_t kPanel = 64;   // columns of c per micro-tile (4 vectors)
constexpr int64_t kChunk = 64;   // rows of c per task

#ifdef __AVX512F__
// Rows [t, t + R) × columns [n, n + 16·V) of c, the last vector masked by `last`.
template <int R, int V>
void tile(int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb, const float* bias, float* c,
          int64_t ldc, bool accumulate, int64_t t, int64_t n, __mmask16 last) {
  __m512 acc[R][V];
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? last : __mmask16(0xffff);
      acc[i][v] = accumulate ? _mm512_maskz_loadu_ps(m, c + (t + i) * ldc + n + 16 * v)
                  : bias     ? _mm512_maskz_loadu_ps(m, bias + n + 16 * v)
                             : _mm512_setzero_ps();
    }
  for (int64_t k = 0; k < K; ++k) {
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) bv[v] = _mm512_maskz_loadu_ps(v == V - 1 ? last : __mmask16(0xffff), b + k * ldb + n + 16 * v);
#pragma GCC unroll 4
    for (int i = 0; i < R; ++i) {
      const __m512 s = _mm512_set1_ps(a[(t + i) * lda + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(s, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 4
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v)
      _mm512_mask_storeu_ps(c + (t + i) * ldc + n + 16 * v, v == V - 1 ? last : __mmask16(0xffff), acc[i][v]);
}

template <int V>
void rows(int64_t t0, int64_t t1, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
          const float* bias, float* c, int64_t ldc, bool accumulate, int64_t n, __mmask16 last) {
  int64_t t = t0;
  for (; t + kRows <= t1; t += kRows) tile<kRows, V>(K, a, lda, b, ldb, bias, c, ldc, accumulate, t, n, last);
  for (; t < t1; ++t) tile<1, V>(K, a, lda, b, ldb, bias, c, ldc, accumulate, t, n, last);
}
#endif

// The same products in plain C++ (no AVX-512), same k order per output.
[[maybe_unused]] void rows_scalar(int64_t t0, int64_t t1, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                 const float* bias, float* c, int64_t ldc, bool accumulate, int64_t n0, int64_t n1) {
  for (int64_t t = t0; t < t1; ++t)
    for (int64_t n = n0; n < n1; ++n) {
      float s = accumulate ? c[t * ldc + n] : bias ? bias[n] : 0.0f;
      for (int64_t k = 0; k < K; ++k) s = __builtin_fmaf(a[t * lda + k], b[k * ldb + n], s);
      c[t * ldc + n] = s;
    }
}

}  // namespace

void small_k_gemm(int64_t T, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                  const float* bias, float* c, int64_t ldc, bool accumulate) {
  const int64_t chunks = (T + kChunk - 1) / kChunk, panels = (N + kPanel - 1) / kPanel;
#pragma omp parallel for collapse(2) schedule(static) if (T * N >= (1 << 14))
  for (int64_t ci = 0; ci < chunks; ++ci)
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t t0 = ci * kChunk, t1 = std::min(T, t0 + kChunk);
      const int64_t n = p * kPanel, width = std::min(kPanel, N - n);
#ifdef __AVX512F__
      const int vectors = int((width + 15) / 16);
      const __mmask16 last = __mmask16(0xffffu >> (16 * vectors - width));
      switch (vectors) {
        case 4: rows<4>(t0, t1, K, a, lda, b, ldb, bias, c, ldc, accumulate, n, last); break;
        case 3: rows<3>(t0, t1, K, a, lda, b, ldb, bias, c, ldc, accumulate, n, last); break;
        case 2: rows<2>(t0, t1, K, a, lda, b, ldb, bias, c, ldc, accumulate, n, last); break;
        default: rows<1>(t0, t1, K, a, lda, b, ldb, bias, c, ldc, accumulate, n, last); break;
      }
#else
      rows_scalar(t0, t1, K, a, lda, b, ldb, bias, c, ldc, accumulate, n, n + width);
#endif
    }
}

}  // namespace slm::detail
