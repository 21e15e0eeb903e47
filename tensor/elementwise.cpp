// Elementwise fast paths (see ops.h): gated activation, soft-capping, row softmax, add, scale.
// Plain f32 loops split over both cores with OpenMP; the transcendental functions are libm's (correctly rounded
// or within an ulp), so results match the references (tensor/ref/elementwise_ref.cpp) to an ulp or two.
// Not fused into the matmuls around them.
#include <cmath>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"
#include "tensor/ref/activation.h"

namespace slm {

namespace {

// Elementwise work below this many elements stays on one thread (fork/join costs more than it saves).
constexpr int64_t kParallelMin = 1 << 14;

void check_f32_any(const Tensor& x, const char* what) {
  SLM_CHECK(x.defined() && x.dtype() == DType::F32 && x.is_contiguous(),
            std::string("[tensor] ") + what + ": needs a contiguous F32 tensor, got " +
                (x.defined() ? std::string(dtype_name(x.dtype())) + " " + shape_str(x.shape()) +
                                   (x.is_contiguous() ? "" : " (strided view)")
                             : "undefined"));
}

template <class F>
void gated_loop(const float* g, const float* u, float* o, int64_t n, F act) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) o[i] = act(g[i]) * u[i];
}

}  // namespace

Activation activation_from_name(const std::string& name) {
  if (name == "silu" || name == "swish") return Activation::SiLU;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new") return Activation::GeluTanh;
  if (name == "gelu") return Activation::Gelu;
  throw Error("[tensor] activation '" + name +
              "' is not implemented (supported: silu, swish, gelu, gelu_new, gelu_pytorch_tanh)");
}

void gated_act_check(const Tensor& gate, const Tensor& up) {
  check_f32_any(gate, "gated_act gate (T, F)");
  check_f32_any(up, "gated_act up (T, F)");
  detail::check_same_shape(gate, up, "gated_act gate vs up");
}

Tensor gated_act(const Tensor& gate, const Tensor& up, Activation act) {
  gated_act_check(gate, up);
  Tensor out = Tensor::empty(gate.shape());
  const float* g = gate.data<float>();
  const float* u = up.data<float>();
  float* o = out.data<float>();
  const int64_t n = gate.numel();
  switch (act) {
    case Activation::SiLU: gated_loop(g, u, o, n, detail::silu_f32); break;
    case Activation::GeluTanh: gated_loop(g, u, o, n, detail::gelu_tanh_f32); break;
    case Activation::Gelu: gated_loop(g, u, o, n, detail::gelu_erf_f32); break;
  }
  return out;
}

void softcap_check(const Tensor& x, float cap) {
  check_f32_any(x, "softcap");
  SLM_CHECK(cap > 0.0f && std::isfinite(cap), "[tensor] softcap: cap must be positive, got " + std::to_string(cap));
}

void softcap_inplace(Tensor& x, float cap) {
  softcap_check(x, cap);
  float* p = x.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] = std::tanh(p[i] / cap) * cap;
}

void softmax_check(const Tensor& x) {
  check_f32_any(x, "softmax");
  SLM_CHECK(x.dim() >= 1, "[tensor] softmax: needs at least one dimension");
}

void softmax_inplace(Tensor& x) {
  softmax_check(x);
  const int64_t n = x.size(-1), rows = n ? x.numel() / n : 0;
  float* base = x.data<float>();
#pragma omp parallel for schedule(static) if (x.numel() >= kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    float* v = base + r * n;
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) mx = std::max(mx, v[i]);
    double sum = 0.0;  // as accurate as torch's multi-lane f32 reduction, whatever the row length
    for (int64_t i = 0; i < n; ++i) {
      v[i] = std::exp(v[i] - mx);
      sum += v[i];
    }
    const float inv = 1.0f / float(sum);
    for (int64_t i = 0; i < n; ++i) v[i] *= inv;
  }
}

void add_inplace(Tensor& a, const Tensor& b) {
  check_f32_any(a, "add_inplace a");
  check_f32_any(b, "add_inplace b");
  detail::check_same_shape(a, b, "add_inplace");
  float* p = a.data<float>();
  const float* q = b.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] += q[i];
}

void scale_inplace(Tensor& a, float s) {
  check_f32_any(a, "scale_inplace");
  float* p = a.data<float>();
  const int64_t n = a.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) p[i] *= s;
}

}  // namespace slm
