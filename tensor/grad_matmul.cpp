// Backward of linear, bias and embedding (see grad_ops.h).
//   dx (T, K) = dy (T, N) · w (N, K)      f32 w with N <= kSmallK (LoRA's A): small_k_gemm.cpp; otherwise
//                                        oneDNN matmul; bf16 w: dy rounded to bf16, f32 accumulation; a long
//                                        reduction (N) runs in pieces accumulated into dx (see kLinearPiece);
//                                        linear_backward_input_add accumulates into an existing dx (sum post-op)
//   dw (N, K) += dyᵀ (N, T) · x (T, K)   oneDNN matmul reading dy through transposed strides, accumulating
//                                        into dw with a sum post-op (no temporary, no transpose copy)
//   low rank: dx (T, r) = dy · w and dw (N, r) += dyᵀ · x for y = x wᵀ with r ≤ 64 (LoRA's B): one AVX-512 pass
//                                        over dy, rows of r floats in registers, threads split dy's columns
//   db (N) += Σ_t dy[t]                  f32 columns summed in double, columns split over threads
//   dtable (V, C) += scatter of dout     columns split over threads, so repeated ids never race
// oneDNN calls go through tensor/onednn_gemm.h (cached primitives; short T shares one with a run-time M).
// Reference: tensor/ref/grad_ref.cpp (linear_vjp, embedding_vjp).
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"
#include "tensor/matmul_paths.h"
#include "tensor/onednn_gemm.h"

namespace slm {

namespace {

// dx = dy · w, or dx += dy · w. Rows of w (the reduction) per oneDNN call: linear_piece_rows (ops.h). oneDNN
// 2.6's brgemm matmul runs one output block's whole reduction at a time: over the tied lm_head's 151936 rows its
// A and B panels fall out of cache and the bf16 GEMM runs at about half its rate. Pieces of kLinearPiece rows
// accumulate into dx instead (sum post-op), and in bf16 each piece of dy is rounded just before its GEMM, while
// it is in cache.
void backward_input_into(const Tensor& dy, const Tensor& w, Tensor& dx, bool accumulate) {
  const int64_t T = dy.size(0), N = dy.size(1), K = w.size(1);
  const bool bf16 = w.dtype() == DType::BF16;
  if (!bf16 && N <= detail::kSmallK && T > 1) {  // LoRA's dxa · A: w (r, K) is already the (K-reduction, N) panel
    detail::small_k_gemm(T, K, N, dy.data<float>(), N, w.data<float>(), K, nullptr, dx.data<float>(), K, accumulate);
    return;
  }
  const int64_t chunk = linear_piece_rows(N);
  Tensor buf = bf16 ? Tensor::empty({T, chunk}, DType::BF16) : Tensor();
  const size_t wsize = dtype_size(w.dtype());
  for (int64_t n0 = 0; n0 < N; n0 += chunk) {
    const int64_t n = std::min(chunk, N - n0);
    const float* d = dy.data<float>() + n0;
    detail::GemmOperand a{d, DType::F32, N, 1};
    if (bf16) {
      detail::round_to_bf16(d, T, n, N, buf.data<uint16_t>());
      a = {buf.raw(), DType::BF16, n, 1};
    }
    const detail::GemmOperand b{static_cast<const char*>(w.raw()) + size_t(n0 * K) * wsize, w.dtype(), K, 1};
    detail::onednn_gemm(T, K, n, a, b, dx.data<float>(), K, accumulate || n0 > 0);
  }
}

void check_backward_input(const Tensor& dy, const Tensor& w) {
  detail::check_f32(dy, 2, "linear_backward_input dy (T, N)");
  detail::check_float(w, 2, "linear_backward_input weight (N, K)");
  SLM_CHECK(dy.size(1) == w.size(0), "[tensor] linear_backward_input: dy has " + std::to_string(dy.size(1)) +
                                         " features but the weight " + shape_str(w.shape()) + " has " +
                                         std::to_string(w.size(0)) + " outputs");
}

void check_accumulator(const Tensor& d, const Shape& shape, const char* what) {
  detail::check_f32(d, int64_t(shape.size()), what);
  SLM_CHECK(d.shape() == shape, std::string("[tensor] ") + what + ": has shape " + shape_str(d.shape()) +
                                    ", expected " + shape_str(shape) + " (allocate it with Tensor::zeros)");
}

}  // namespace

Tensor linear_backward_input(const Tensor& dy, const Tensor& w) {
  check_backward_input(dy, w);
  const int64_t T = dy.size(0), N = dy.size(1), K = w.size(1);
  if (T == 0 || K == 0) return Tensor::empty({T, K});
  if (N == 0) return Tensor::zeros({T, K});
  Tensor dx = Tensor::empty({T, K});
  backward_input_into(dy, w, dx, false);
  return dx;
}

void linear_backward_input_add(const Tensor& dy, const Tensor& w, Tensor& dx) {
  check_backward_input(dy, w);
  check_accumulator(dx, {dy.size(0), w.size(1)}, "linear_backward_input_add dx (T, K)");
  if (dy.size(0) == 0 || w.size(1) == 0 || dy.size(1) == 0) return;
  backward_input_into(dy, w, dx, true);
}

void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw) {
  detail::check_f32(dy, 2, "linear_backward_weight dy (T, N)");
  detail::check_f32(x, 2, "linear_backward_weight x (T, K)");
  SLM_CHECK(dy.size(0) == x.size(0), "[tensor] linear_backward_weight: dy has " + std::to_string(dy.size(0)) +
                                         " rows but x has " + std::to_string(x.size(0)));
  const int64_t T = dy.size(0), N = dy.size(1), K = x.size(1);
  check_accumulator(dw, {N, K}, "linear_backward_weight dw (N, K)");
  if (T == 0 || N == 0 || K == 0) return;
  // dyᵀ (N, T) through transposed strides; x (T, K) as stored.
  detail::onednn_gemm(N, K, T, {dy.raw(), DType::F32, 1, N}, {x.raw(), DType::F32, K, 1}, dw.data<float>(), K, true);
}

namespace {

#ifdef __AVX512F__
// Rows [t0, t0 + R) of dx = dy · w and dw += dyᵀ · x over the columns [n0, n1) of dy, for a narrow w (N, r),
// r ≤ 16 · RV (the last vector masked by `last`); NC columns of dy per step keep NC independent dw chains in
// flight. dx rows accumulate into part (T, r).
template <int R, int RV, int NC>
void low_rank_rows(const float* dy, int64_t N, const float* x, const float* w, float* dw, int64_t r, int64_t t0,
                   int64_t n0, int64_t n1, float* part, __mmask16 last) {
  __m512 acc[R][RV], xv[R][RV];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < RV; ++v) {
      acc[i][v] = _mm512_setzero_ps();
      xv[i][v] = _mm512_maskz_loadu_ps(v == RV - 1 ? last : 0xffff, x + (t0 + i) * r + 16 * v);
    }
  int64_t n = n0;
  for (; n + NC <= n1; n += NC) {
    __m512 b[NC][RV], g[NC][RV];
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c)
#pragma GCC unroll 4
      for (int v = 0; v < RV; ++v) {
        const __mmask16 m = v == RV - 1 ? last : 0xffff;
        b[c][v] = _mm512_maskz_loadu_ps(m, w + (n + c) * r + 16 * v);
        g[c][v] = _mm512_maskz_loadu_ps(m, dw + (n + c) * r + 16 * v);
      }
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c) {
        const __m512 s = _mm512_set1_ps(dy[(t0 + i) * N + n + c]);
#pragma GCC unroll 4
        for (int v = 0; v < RV; ++v) {
          acc[i][v] = _mm512_fmadd_ps(s, b[c][v], acc[i][v]);
          g[c][v] = _mm512_fmadd_ps(s, xv[i][v], g[c][v]);
        }
      }
#pragma GCC unroll 4
    for (int c = 0; c < NC; ++c)
#pragma GCC unroll 4
      for (int v = 0; v < RV; ++v) _mm512_mask_storeu_ps(dw + (n + c) * r + 16 * v, v == RV - 1 ? last : 0xffff, g[c][v]);
  }
  for (; n < n1; ++n)
#pragma GCC unroll 4
    for (int v = 0; v < RV; ++v) {
      const __mmask16 m = v == RV - 1 ? last : 0xffff;
      const __m512 bv = _mm512_maskz_loadu_ps(m, w + n * r + 16 * v);
      __m512 gv = _mm512_maskz_loadu_ps(m, dw + n * r + 16 * v);
#pragma GCC unroll 8
      for (int i = 0; i < R; ++i) {
        const __m512 s = _mm512_set1_ps(dy[(t0 + i) * N + n]);
        acc[i][v] = _mm512_fmadd_ps(s, bv, acc[i][v]);
        gv = _mm512_fmadd_ps(s, xv[i][v], gv);
      }
      _mm512_mask_storeu_ps(dw + n * r + 16 * v, m, gv);
    }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < RV; ++v) {
      const __mmask16 m = v == RV - 1 ? last : 0xffff;
      float* p = part + (t0 + i) * r + 16 * v;
      _mm512_mask_storeu_ps(p, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), acc[i][v]));
    }
}

// Columns [n0, n1) of dy, every row: blocks of 8 / RV rows, then the remaining rows one at a time.
template <int RV>
void low_rank_columns(const float* dy, int64_t T, int64_t N, const float* x, const float* w, float* dw, int64_t r,
                      int64_t n0, int64_t n1, float* part) {
  constexpr int R = 8 / RV, NC = RV == 1 ? 4 : RV == 2 ? 2 : 1;  // ≤ 8 accumulators, ≤ 8 x rows, ≤ 8 w/dw rows
  const int64_t tail = r - 16 * (RV - 1);  // 1..16 lanes of the last vector
  const __mmask16 last = __mmask16(tail >= 16 ? 0xffffu : (1u << tail) - 1u);
  int64_t t = 0;
  for (; t + R <= T; t += R) low_rank_rows<R, RV, NC>(dy, N, x, w, dw, r, t, n0, n1, part, last);
  for (; t < T; ++t) low_rank_rows<1, RV, NC>(dy, N, x, w, dw, r, t, n0, n1, part, last);
}
#endif

}  // namespace

Tensor linear_backward_low_rank(const Tensor& dy, const Tensor& x, const Tensor& w, Tensor& dw) {
  detail::check_f32(dy, 2, "linear_backward_low_rank dy (T, N)");
  detail::check_f32(x, 2, "linear_backward_low_rank x (T, r)");
  detail::check_f32(w, 2, "linear_backward_low_rank w (N, r)");
  const int64_t T = dy.size(0), N = dy.size(1), r = x.size(1);
  SLM_CHECK(x.size(0) == T && w.size(0) == N && w.size(1) == r,
            "[tensor] linear_backward_low_rank: dy " + shape_str(dy.shape()) + ", x " + shape_str(x.shape()) +
                " and w " + shape_str(w.shape()) + " do not fit y = x wᵀ");
  check_accumulator(dw, {N, r}, "linear_backward_low_rank dw (N, r)");
#ifdef __AVX512F__
  const int64_t RV = (r + 15) / 16;
  if (T > 0 && r > 0 && RV <= 4) {
    // Threads split the columns of dy (each owns its rows of dw) and sum their partial dx in a fixed order.
    const int threads = T * N * r >= (1 << 18) ? std::max(1, omp_get_max_threads()) : 1;
    std::vector<float> parts(size_t(threads) * size_t(T * r), 0.0f);
#pragma omp parallel num_threads(threads)
    {
      const int id = omp_get_thread_num(), nt = omp_get_num_threads();
      const int64_t n0 = N * id / nt, n1 = N * (id + 1) / nt;
      const float *d = dy.data<float>(), *xp = x.data<float>(), *wp = w.data<float>();
      float* part = parts.data() + size_t(id) * size_t(T * r);
      float* g = dw.data<float>();
      if (RV == 1) low_rank_columns<1>(d, T, N, xp, wp, g, r, n0, n1, part);
      if (RV == 2) low_rank_columns<2>(d, T, N, xp, wp, g, r, n0, n1, part);
      if (RV == 3) low_rank_columns<3>(d, T, N, xp, wp, g, r, n0, n1, part);
      if (RV == 4) low_rank_columns<4>(d, T, N, xp, wp, g, r, n0, n1, part);
    }
    Tensor dx = Tensor::empty({T, r});
    float* out = dx.data<float>();
    std::memcpy(out, parts.data(), size_t(T * r) * sizeof(float));
    for (int id = 1; id < threads; ++id)
      for (int64_t i = 0; i < T * r; ++i) out[i] += parts[size_t(id) * size_t(T * r) + size_t(i)];
    return dx;
  }
#endif
  linear_backward_weight(dy, x, dw);
  return linear_backward_input(dy, w);
}

void bias_backward(const Tensor& dy, Tensor& db) {
  detail::check_f32(dy, 2, "bias_backward dy (T, N)");
  const int64_t T = dy.size(0), N = dy.size(1);
  check_accumulator(db, {N}, "bias_backward db (N)");
  const float* d = dy.data<float>();
  float* out = db.data<float>();
  constexpr int64_t kCols = 256;  // columns per task: a few KB of double accumulators
  const int64_t tasks = (N + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (T * N >= (1 << 15))
  for (int64_t c = 0; c < tasks; ++c) {
    const int64_t n0 = c * kCols, n1 = std::min(N, n0 + kCols);
    double acc[kCols] = {};
    for (int64_t t = 0; t < T; ++t)
#pragma omp simd
      for (int64_t n = n0; n < n1; ++n) acc[n - n0] += double(d[t * N + n]);
    for (int64_t n = n0; n < n1; ++n) out[n] += float(acc[n - n0]);
  }
}

void embedding_backward(const Tensor& dout, const Tensor& ids, Tensor& dtable) {
  detail::check_f32(dout, 2, "embedding_backward dout (T, C)");
  detail::check_f32(dtable, 2, "embedding_backward dtable (V, C)");
  SLM_CHECK(ids.defined() && ids.dtype() == DType::I32 && ids.dim() == 1 && ids.is_contiguous() &&
                ids.size(0) == dout.size(0),
            "[tensor] embedding_backward: ids must be a contiguous I32 tensor of " + std::to_string(dout.size(0)) +
                " entries (one per row of dout)");
  SLM_CHECK(dtable.size(1) == dout.size(1), "[tensor] embedding_backward: dtable rows have " +
                                                std::to_string(dtable.size(1)) + " features, dout rows " +
                                                std::to_string(dout.size(1)));
  const int64_t T = dout.size(0), C = dout.size(1), V = dtable.size(0);
  const int32_t* id = ids.data<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    SLM_CHECK(id[t] >= 0 && id[t] < V, "[tensor] embedding_backward: token id " + std::to_string(id[t]) +
                                           " at position " + std::to_string(t) + " is outside the table's " +
                                           std::to_string(V) + " rows");
  const float* src = dout.data<float>();
  float* dst = dtable.data<float>();
  constexpr int64_t kCols = 64;
  const int64_t tasks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (T * C >= (1 << 15))
  for (int64_t c = 0; c < tasks; ++c) {
    const int64_t c0 = c * kCols, c1 = std::min(C, c0 + kCols);
    for (int64_t t = 0; t < T; ++t) {
      float* row = dst + int64_t(id[t]) * C;
#pragma omp simd
      for (int64_t j = c0; j < c1; ++j) row[j] += src[t * C + j];
    }
  }
}

}  // namespace slm
