// Backward of linear, bias and embedding (see grad_ops.h).
//   dx (T, K) = dy (T, N) · w (N, K)      oneDNN matmul; bf16 w: dy rounded to bf16, f32 accumulation; a long
//                                        reduction (N) runs in chunks accumulated into dx (see kReduceChunk);
//                                        linear_backward_input_add accumulates into an existing dx (sum post-op)
//   dw (N, K) += dyᵀ (N, T) · x (T, K)   oneDNN matmul reading dy through transposed strides, accumulating
//                                        into dw with a sum post-op (no temporary, no transpose copy)
//   db (N) += Σ_t dy[t]                  f32 columns summed in double, columns split over threads
//   dtable (V, C) += scatter of dout     columns split over threads, so repeated ids never race
// oneDNN calls go through tensor/onednn_gemm.h (cached primitives; short T shares one with a run-time M).
// Reference: tensor/ref/grad_ref.cpp (linear_vjp, embedding_vjp).
#include <algorithm>

#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"
#include "tensor/onednn_gemm.h"

namespace slm {

namespace {

// Rows of w (the reduction of dx = dy · w) per oneDNN call. oneDNN 2.6's brgemm matmul runs one output block's
// whole reduction at a time: over the tied lm_head's 151936 rows its A and B panels fall out of cache and the
// bf16 GEMM runs at about half its rate. Chunks of kReduceChunk rows accumulate into dx instead (sum post-op),
// and in bf16 each chunk of dy is rounded just before its GEMM, while it is in cache.
constexpr int64_t kReduceChunk = 2048;

// dx = dy · w, or dx += dy · w.
void backward_input_into(const Tensor& dy, const Tensor& w, Tensor& dx, bool accumulate) {
  const int64_t T = dy.size(0), N = dy.size(1), K = w.size(1);
  const bool bf16 = w.dtype() == DType::BF16;
  const int64_t chunk = N > 2 * kReduceChunk ? kReduceChunk : N;
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
