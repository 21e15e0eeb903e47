// linear fast path (see ops.h): y (T, N) = x (T, K) · wᵀ + bias.
//   T == 1 (decode): a hand-written AVX-512 GEMV (tensor/gemv.cpp), faster than oneDNN's matmul at this shape.
//   T >  1: oneDNN matmul, the weight (N, K) described as a (K, N) matrix with strides {1, K} (no transpose
//           copy); F32 weights in f32, BF16 weights with x rounded to bf16 and f32 accumulation/dst.
// The bias is added afterwards in f32. Primitives are cached per (T, K, N, dtype).
// Not here: int4/int8 weights (quant/), LoRA (models call linear through the adapter helper).
// Reference: tensor/ref/matmul_ref.cpp.
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "tensor/kernel_util.h"
#include "tensor/matmul_paths.h"
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

using dnnl::memory;

struct OneDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, dnnl::matmul> cache;
  std::mutex mu;
};

OneDnn& onednn() {
  static OneDnn o;
  return o;
}

// Sequence lengths below this share one primitive per (K, N, dtype) with a run-time M: creating a
// primitive costs 1-4 ms, which would dominate decode-by-recompute and short prompts of varying length.
// Long prefills get a primitive specialised to their T (worth its creation cost).
constexpr int64_t kRuntimeMBelow = 128;

// The cached primitive for (T or run-time, K, N, weight dtype); the cache is only cleared (never evicted
// piecemeal) if a caller sweeps many long sequence lengths.
dnnl::matmul matmul_primitive(OneDnn& o, int64_t T, int64_t K, int64_t N, bool bf16) {
  const int64_t M = T < kRuntimeMBelow ? DNNL_RUNTIME_DIM_VAL : T;
  auto key = std::make_tuple(T < kRuntimeMBelow ? int64_t(-1) : T, K, N, int(bf16));
  auto it = o.cache.find(key);
  if (it != o.cache.end()) return it->second;
  if (o.cache.size() >= 256) o.cache.clear();
  const auto in_type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory::desc src({M, K}, in_type, memory::dims{K, 1});
  memory::desc wei({K, N}, in_type, memory::dims{1, K});  // w (N, K) row-major read as its transpose
  memory::desc dst({M, N}, memory::data_type::f32, memory::dims{N, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), o.engine);
  return o.cache.emplace(key, dnnl::matmul(pd)).first->second;
}

std::vector<uint16_t> to_bf16(const float* x, int64_t n) {
  std::vector<uint16_t> out(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = f32_to_bf16(x[i]);
  return out;
}

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
  const int64_t T = x.size(0), K = x.size(1), N = w.size(0);
  const bool bf16 = w.dtype() == DType::BF16;
  Tensor y = Tensor::empty({T, N});
  if (T == 0 || N == 0) return y;
  if (K == 0) return Tensor::zeros({T, N});
  std::vector<uint16_t> xb;
  if (bf16) xb = to_bf16(x.data<float>(), T * K);
  OneDnn& o = onednn();
  std::lock_guard<std::mutex> lock(o.mu);
  dnnl::matmul prim = matmul_primitive(o, T, K, N, bf16);
  const auto in_type = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory src({{T, K}, in_type, memory::dims{K, 1}}, o.engine, bf16 ? static_cast<void*>(xb.data()) : x.raw());
  memory wei({{K, N}, in_type, memory::dims{1, K}}, o.engine, w.raw());
  memory dst({{T, N}, memory::data_type::f32, memory::dims{N, 1}}, o.engine, y.raw());
  prim.execute(o.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  o.stream.wait();
  return y;
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

}  // namespace detail

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  linear_check(x, w, bias);
  Tensor y = x.size(0) == 1 ? detail::linear_gemv(x, w) : detail::linear_onednn(x, w);
  if (bias.defined()) add_bias(y, bias);
  return y;
}

}  // namespace slm
