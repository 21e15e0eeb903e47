// Elementwise fast paths (see ops.h): gated activation, soft-capping, row softmax, add, scale.
// f32 loops split over both cores with OpenMP. SiLU and tanh-GELU use the AVX-512 exp/tanh of simd_math.h
// (≈1.2 ulp) in torch's operation order, so they match tensor/ref/elementwise_ref.cpp (libm) to a few ulp;
// erf-GELU, softcap and softmax call libm and match it exactly. Not fused into the matmuls around them.
#include <cmath>

#include "tensor/kernel_util.h"
#include "tensor/ops.h"
#include "tensor/ref/activation.h"
#include "tensor/simd_math.h"

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

#ifdef __AVX512F__
// 16 lanes at a time (masked tail); `act` maps a vector of gates to activations.
template <class F>
void gated_loop_avx512(const float* g, const float* u, float* o, int64_t n, F act) {
  const int64_t chunks = (n + 15) / 16;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i = c * 16;
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    __m512 a = act(_mm512_maskz_loadu_ps(m, g + i));
    _mm512_mask_storeu_ps(o + i, m, _mm512_mul_ps(a, _mm512_maskz_loadu_ps(m, u + i)));
  }
}

// x / (1 + exp(-x))
inline __m512 silu_ps(__m512 x) {
  __m512 e = simd::exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

// 0.5 * x * (1 + tanh(kBeta * (x + kKappa * x³))), torch's operation order.
inline __m512 gelu_tanh_ps(__m512 x) {
  const __m512 cube = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 inner = _mm512_mul_ps(_mm512_set1_ps(float(M_SQRT2 * M_2_SQRTPI * 0.5)),
                                     _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(0.044715f), cube)));
  const __m512 t = simd::tanh_ps(inner);
  return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), x), _mm512_add_ps(_mm512_set1_ps(1.0f), t));
}
#endif

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
#ifdef __AVX512F__
    case Activation::SiLU:
      gated_loop_avx512(g, u, o, n, silu_ps);
      break;
    case Activation::GeluTanh:
      gated_loop_avx512(g, u, o, n, gelu_tanh_ps);
      break;
#else
    case Activation::SiLU:
      gated_loop(g, u, o, n, detail::silu_f32);
      break;
    case Activation::GeluTanh:
      gated_loop(g, u, o, n, detail::gelu_tanh_f32);
      break;
#endif
    case Activation::Gelu:
      gated_loop(g, u, o, n, detail::gelu_erf_f32);
      break;  // libm erf: rare in LLMs
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
