// linear fast path (see ops.h): y (T, N) = x (T, K) · wᵀ + bias.
//   T == 1 (decode): a hand-written AVX-512 GEMV (tensor/gemv.cpp), faster than oneDNN's matmul at this shape.
//   T >  1, f32 weight, K <= kSmallK (LoRA's rank): tensor/small_k_gemm.cpp, bound by writing y.
//   T >  1 otherwise: oneDNN matmul, the weight (N, K) described as a (K, N) matrix with strides {1, K} (no transpose
//           copy); F32 weights in f32, BF16 weights with x rounded to bf16 and f32 accumulation/dst.
// The bias is added afterwards in f32. linear_add accumulates into an existing y through oneDNN's sum post-op
// (LoRA's low-rank product lands in the base output without a (T, N) temporary). oneDNN calls go through
// tensor/onednn_gemm.h (cached primitives).
// Not here: int4/int8 weights (quant/), LoRA (models call linear through the adapter helper).
// Reference: tensor/ref/matmul_ref.cpp.
#include <cstring>
#include <vector>

#include "tensor/kernel_util.h"
#include "tensor/matmul_paths.h"
#include "tensor/onednn_gemm.h"
#include "tensor/ops.h"

namespace slm {

void gemv_f32(const float* x, const float* w, float* y, int64_t K, int64_t N);      // gemv.cpp
void gemv_bf16(const float* x, const uint16_t* w, float* y, int64_t K, int64_t N);  // gemv.cpp

void linear_check(const Tensor& x, const Tensor& w, const Tensor& bias) {
  detail::check_f32(x, 2, "linear x (T, K)");
  detail::check_float(w, 2, "linear weight (N, K)");
  SLM_CHECK(x.size(1) == w.size(1), "[tensor] linear: x has " + std::to_string(x.size(1)) +
                                        " input features but the weight " + shape_str(w.shape()) + " expects " +
                                        std::to_string(w.size(1)));
  if (bias.defined()) {
    detail::check_float(bias, 1, "linear bias (N)");
    SLM_CHECK(bias.size(0) == w.size(0), "[tensor] linear: bias has " + std::to_string(bias.size(0)) + " entries for " +
                                             std::to_string(w.size(0)) + " outputs");
  }
}

namespace {

void add_bias(Tensor& y, const Tensor& bias) {
  const int64_t T = y.size(0), N = y.size(1);
  std::vector<float> b(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) b[size_t(n)] = detail::load_float(bias.raw(), bias.dtype(), n);
  float* yp = y.data<float>();
#pragma omp parallel for schedule(static) if (T * N >= (1 << 15))
  for (int64_t t = 0; t < T; ++t)
    for (int64_t n = 0; n < N; ++n) yp[t * N + n] += b[size_t(n)];
}

}  // namespace

namespace detail {

// oneDNN matmul for any T (exposed for the T == 1 comparison in benches and tests).
Tensor linear_onednn(const Tensor& x, const Tensor& w) {
  const int64_t T = x.size(0);
  Tensor y = Tensor::empty({T, w.size(0)});
  linear_onednn_into(x, w, y, false);
  return y;
}

void linear_onednn_into(const Tensor& x, const Tensor& w, Tensor& y, bool accumulate) {
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  if (T == 0 || N == 0) return;
  if (K == 0) {
    if (!accumulate) std::memset(y.raw(), 0, size_t(T * N) * sizeof(float));
    return;
  }
  const GemmOperand wt{w.raw(), w.dtype(), 1, K};  // w (N, K) row-major read as its transpose (K, N)
  if (w.dtype() == DType::BF16) {
    Tensor xb = Tensor::empty({T, K}, DType::BF16);
    round_to_bf16(x.data<float>(), T, K, K, xb.data<uint16_t>());
    onednn_gemm(T, N, K, {xb.raw(), DType::BF16, K, 1}, wt, y.data<float>(), N, accumulate);
  } else {
    onednn_gemm(T, N, K, {x.raw(), DType::F32, K, 1}, wt, y.data<float>(), N, accumulate);
  }
}

// The hand-written GEMV for T == 1 (exposed likewise).
Tensor linear_gemv(const Tensor& x, const Tensor& w) {
  const int64_t K = x.size(1), N = w.size(0);
  Tensor y = Tensor::empty({1, N});
  if (w.dtype() == DType::BF16) {
    std::vector<float> xr(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) xr[size_t(k)] = round_bf16(x.data<float>()[k]);
    gemv_bf16(xr.data(), w.data<uint16_t>(), y.data<float>(), K, N);
  } else {
    gemv_f32(x.data<float>(), w.data<float>(), y.data<float>(), K, N);
  }
  return y;
}

// The short-reduction kernel (exposed likewise); the bias is its accumulators' start.
Tensor linear_small_k(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  std::vector<float> wt(size_t(K * N)), b;  // wᵀ (K, N): 4 KB per output column block at rank 16
  const float* wp = w.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) wt[size_t(k * N + n)] = wp[n * K + k];
  if (bias.defined()) {
    b.resize(size_t(N));
    for (int64_t n = 0; n < N; ++n) b[size_t(n)] = load_float(bias.raw(), bias.dtype(), n);
  }
  Tensor y = Tensor::empty({T, N});
  small_k_gemm(T, N, K, x.data<float>(), K, wt.data(), N, b.empty() ? nullptr : b.data(), y.data<float>(), N, false);
  return y;
}

}  // namespace detail

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  linear_check(x, w, bias);
  if (x.size(0) > 1 && w.dtype() == DType::F32 && x.size(1) <= detail::kSmallK)
    return detail::linear_small_k(x, w, bias);
  Tensor y = x.size(0) == 1 ? detail::linear_gemv(x, w) : detail::linear_onednn(x, w);
  if (bias.defined()) add_bias(y, bias);
  return y;
}

FrozenWeights::FrozenWeights(std::vector<Tensor> weights) : weights_(std::move(weights)) {
  for (const Tensor& w : weights_) {
    detail::check_float(w, 2, "FrozenWeights weight (N, K)");
    detail::frozen_register(w.raw(), w.nbytes(), true);
  }
}

FrozenWeights::~FrozenWeights() {
  for (const Tensor& w : weights_) detail::frozen_register(w.raw(), w.nbytes(), false);
}

FrozenWeights& FrozenWeights::operator=(FrozenWeights&& o) noexcept {
  if (this != &o) {
    for (const Tensor& w : weights_) detail::frozen_register(w.raw(), w.nbytes(), false);
    weights_ = std::move(o.weights_);
    o.weights_.clear();
  }
  return *this;
}

void linear_add(const Tensor& x, const Tensor& w, Tensor& y) {
  linear_check(x, w, Tensor());
  detail::check_f32(y, 2, "linear_add y (T, N)");
  SLM_CHECK(y.size(0) == x.size(0) && y.size(1) == w.size(0),
            "[tensor] linear_add: y has shape " + shape_str(y.shape()) + ", expected [" + std::to_string(x.size(0)) +
                ", " + std::to_string(w.size(0)) + "]");
  if (x.size(0) == 1) {
    add_inplace(y, detail::linear_gemv(x, w));
    return;
  }
  detail::linear_onednn_into(x, w, y, true);
}

}  // namespace slm
