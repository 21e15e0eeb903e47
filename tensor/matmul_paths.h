// The paths behind slm::linear, exposed so tests can check each against linear_ref and benches can
// compare them at the same shape: linear() picks the GEMV for T == 1, then the short-reduction kernel for f32 weights
// with K <= kSmallK, and oneDNN otherwise.
#pragma once
#include "tensor/tensor.h"

namespace slm::detail {

Tensor linear_onednn(const Tensor& x, const Tensor& w);  // any T; no bias
Tensor linear_gemv(const Tensor& x, const Tensor& w);    // T == 1; no bias
// y (T, N) = x · wᵀ, or y += x · wᵀ when accumulate; y allocated F32 by the caller.
void linear_onednn_into(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate);

// Products whose reduction is at most kSmallK long (LoRA's rank) skip oneDNN: f32 only (small_k_gemm.cpp).
//   c (T, N) = [bias +] a (T, K) · b (K, N), or c += a · b when accumulate (bias unused then);
//   a, b, c row-major with leading dimensions lda, ldb, ldc; bias (N) or null.
constexpr int64_t kSmallK = 32;
void small_k_gemm(int64_t T, int64_t N, int64_t K, const float* a, int64_t lda, const float* b, int64_t ldb,
                  const float* bias, float* c, int64_t ldc, bool accumulate);
// linear() through small_k_gemm (x · wᵀ with w transposed once): F32 w with K <= kSmallK, any T.
Tensor linear_small_k(const Tensor& x, const Tensor& w, const Tensor& bias);

}  // namespace slm::detail
