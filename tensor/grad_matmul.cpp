// Backward of linear, bias and embedding (see grad_ops.h).
//   dx (T, K) = dy (T, N) · w (N, K)      oneDNN matmul; bf16 w: dy rounded to bf16, f32 accumulation
//   dw (N, K) += dyᵀ (N, T) · x (T, K)   oneDNN matmul reading dy through transposed strides, accumulating
//                                        into dw with a sum post-op (no temporary, no transpose copy)
//   db (N) += Σ_t dy[t]                  f32 columns summed in double, columns split over threads
//   dtable (V, C) += scatter of dout     columns split over threads, so repeated ids never race
// Primitives are cached per (shape, dtype) like tensor/matmul.cpp's; short T shares one with a run-time M.
// Reference: tensor/ref/grad_ref.cpp (linear_vjp, embedding_vjp).
#include <algorithm>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <vector>

#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"

namespace slm {

namespace {

using dnnl::memory;

enum class Kind { Input, Weight };

struct GradDnn {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::map<std::tuple<int, int64_t, int64_t, int64_t, int>, dnnl::matmul> cache;
  std::mutex mu;
};

GradDnn& grad_dnn() {
  static GradDnn o;
  return o;
}

// Below this many tokens the backward-input primitive takes a run-time M (one primitive for all short
// batches: creating one costs milliseconds); longer batches get one specialised to their T.
constexpr int64_t kRuntimeMBelow = 128;

memory::desc plain(int64_t rows, int64_t cols, memory::data_type t) { return {{rows, cols}, t, memory::dims{cols, 1}}; }

// dx (M=T, N=K) = dy (T, N_out) · w (N_out, K): src dy (T, N_out), weights w as stored.
dnnl::matmul input_primitive(GradDnn& o, int64_t T, int64_t Nout, int64_t K, bool bf16) {
  const int64_t M = T < kRuntimeMBelow ? DNNL_RUNTIME_DIM_VAL : T;
  auto key = std::make_tuple(int(Kind::Input), T < kRuntimeMBelow ? int64_t(-1) : T, Nout, K, int(bf16));
  auto it = o.cache.find(key);
  if (it != o.cache.end()) return it->second;
  if (o.cache.size() >= 256) o.cache.clear();
  const auto in = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory::desc src({M, Nout}, in, memory::dims{Nout, 1});
  memory::desc wei = plain(Nout, K, in);
  memory::desc dst({M, K}, memory::data_type::f32, memory::dims{K, 1});
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), o.engine);
  return o.cache.emplace(key, dnnl::matmul(pd)).first->second;
}

// dw (N, K) += dyᵀ · x: src dy (T, N) read as (N, T) with strides {1, N}; weights x (T, K); sum post-op.
dnnl::matmul weight_primitive(GradDnn& o, int64_t T, int64_t N, int64_t K) {
  auto key = std::make_tuple(int(Kind::Weight), T, N, K, 0);
  auto it = o.cache.find(key);
  if (it != o.cache.end()) return it->second;
  if (o.cache.size() >= 256) o.cache.clear();
  const auto f32 = memory::data_type::f32;
  memory::desc src({N, T}, f32, memory::dims{1, N});
  memory::desc wei = plain(T, K, f32);
  memory::desc dst = plain(N, K, f32);
  dnnl::post_ops po;
  po.append_sum(1.0f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, wei, dst), attr, o.engine);
  return o.cache.emplace(key, dnnl::matmul(pd)).first->second;
}

std::vector<uint16_t> to_bf16(const float* x, int64_t n) {
  std::vector<uint16_t> out(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n >= (1 << 15))
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = f32_to_bf16(x[i]);
  return out;
}

void check_accumulator(const Tensor& d, const Shape& shape, const char* what) {
  detail::check_f32(d, int64_t(shape.size()), what);
  SLM_CHECK(d.shape() == shape, std::string("[tensor] ") + what + ": has shape " + shape_str(d.shape()) +
                                    ", expected " + shape_str(shape) + " (allocate it with Tensor::zeros)");
}

}  // namespace

Tensor linear_backward_input(const Tensor& dy, const Tensor& w) {
  detail::check_f32(dy, 2, "linear_backward_input dy (T, N)");
  detail::check_float(w, 2, "linear_backward_input weight (N, K)");
  SLM_CHECK(dy.size(1) == w.size(0), "[tensor] linear_backward_input: dy has " + std::to_string(dy.size(1)) +
                                         " features but the weight " + shape_str(w.shape()) + " has " +
                                         std::to_string(w.size(0)) + " outputs");
  const int64_t T = dy.size(0), N = dy.size(1), K = w.size(1);
  const bool bf16 = w.dtype() == DType::BF16;
  if (T == 0 || K == 0) return Tensor::empty({T, K});
  if (N == 0) return Tensor::zeros({T, K});
  Tensor dx = Tensor::empty({T, K});
  std::vector<uint16_t> dyb;
  if (bf16) dyb = to_bf16(dy.data<float>(), T * N);
  GradDnn& o = grad_dnn();
  std::lock_guard<std::mutex> lock(o.mu);
  dnnl::matmul prim = input_primitive(o, T, N, K, bf16);
  const auto in = bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  memory src(plain(T, N, in), o.engine, bf16 ? static_cast<void*>(dyb.data()) : dy.raw());
  memory wei(plain(N, K, in), o.engine, w.raw());
  memory dst(plain(T, K, memory::data_type::f32), o.engine, dx.raw());
  prim.execute(o.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  o.stream.wait();
  return dx;
}

void linear_backward_weight(const Tensor& dy, const Tensor& x, Tensor& dw) {
  detail::check_f32(dy, 2, "linear_backward_weight dy (T, N)");
  detail::check_f32(x, 2, "linear_backward_weight x (T, K)");
  SLM_CHECK(dy.size(0) == x.size(0), "[tensor] linear_backward_weight: dy has " + std::to_string(dy.size(0)) +
                                         " rows but x has " + std::to_string(x.size(0)));
  const int64_t T = dy.size(0), N = dy.size(1), K = x.size(1);
  check_accumulator(dw, {N, K}, "linear_backward_weight dw (N, K)");
  if (T == 0 || N == 0 || K == 0) return;
  GradDnn& o = grad_dnn();
  std::lock_guard<std::mutex> lock(o.mu);
  dnnl::matmul prim = weight_primitive(o, T, N, K);
  const auto f32 = memory::data_type::f32;
  memory src({{N, T}, f32, memory::dims{1, N}}, o.engine, dy.raw());
  memory wei(plain(T, K, f32), o.engine, x.raw());
  memory dst(plain(N, K, f32), o.engine, dw.raw());
  prim.execute(o.stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
  o.stream.wait();
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
