// Backward of the elementwise ops and the fused cross-entropy loss (see grad_ops.h), f32, split over threads.
//   gated_act: dgate = dy · up · act'(gate), dup = dy · act(gate); SiLU and tanh-GELU with simd_math.h's
//              AVX-512 exp/tanh, erf-GELU with libm (rare in LLMs).
//   softcap:   dx = dy (1 - (y / cap)²) from the forward's output.
//   cross-entropy: one row per task; max, Σ exp(l - max) in double lanes, lse = max + log Σ; the row's loss
//              lse - l[label] in double; the exponentials are stored in dlogits as they are summed and then
//              scaled by grad_scale / Σ (one exp per logit), over the logits when dlogits aliases them (the
//              label's logit is read first).
// Reference: tensor/ref/grad_ref.cpp (gated_act_vjp, softcap_vjp, cross_entropy).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/grad_ops.h"
#include "tensor/kernel_util.h"
#include "tensor/simd_math.h"

namespace slm {

// GCC 12 reports its own _mm512_undefined_* inside min/max/reduction intrinsics as uninitialised (bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {

constexpr int64_t kParallelMin = 1 << 14;
constexpr float kBeta = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kKappa = 0.044715f;

void check_f32_any(const Tensor& x, const char* what) {
  SLM_CHECK(x.defined() && x.dtype() == DType::F32 && x.is_contiguous(),
            std::string("[tensor] ") + what + ": needs a contiguous F32 tensor, got " +
                (x.defined() ? std::string(dtype_name(x.dtype())) + " " + shape_str(x.shape()) : "undefined"));
}

// An output the caller may pass undefined (allocated here) or allocated with the right shape (overwritten).
void prepare_out(Tensor& out, const Shape& shape, const char* what) {
  if (!out.defined()) {
    out = Tensor::empty(shape);
    return;
  }
  check_f32_any(out, what);
  SLM_CHECK(out.shape() == shape, std::string("[tensor] ") + what + ": has shape " + shape_str(out.shape()) +
                                      ", expected " + shape_str(shape));
}

#ifdef __AVX512F__
inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// act(g) and act'(g) for 16 lanes.
inline void silu_grad_ps(__m512 g, __m512& a, __m512& da) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, simd::exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), g))));
  a = _mm512_mul_ps(g, s);
  da = _mm512_mul_ps(s, _mm512_add_ps(one, _mm512_mul_ps(g, _mm512_sub_ps(one, s))));
}

inline void gelu_tanh_grad_ps(__m512 g, __m512& a, __m512& da) {
  const __m512 one = _mm512_set1_ps(1.0f), half = _mm512_set1_ps(0.5f), g2 = _mm512_mul_ps(g, g);
  const __m512 inner = _mm512_mul_ps(_mm512_set1_ps(kBeta),
                                     _mm512_add_ps(g, _mm512_mul_ps(_mm512_set1_ps(kKappa), _mm512_mul_ps(g2, g))));
  const __m512 t = simd::tanh_ps(inner), onept = _mm512_add_ps(one, t);
  a = _mm512_mul_ps(_mm512_mul_ps(half, g), onept);
  const __m512 dinner =
      _mm512_mul_ps(_mm512_set1_ps(kBeta), _mm512_add_ps(one, _mm512_mul_ps(_mm512_set1_ps(3 * kKappa), g2)));
  const __m512 sech2 = _mm512_sub_ps(one, _mm512_mul_ps(t, t));
  da = _mm512_add_ps(_mm512_mul_ps(half, onept), _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(half, g), sech2), dinner));
}

template <class F>
void gated_grad_loop(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n, F grad) {
  const int64_t chunks = (n + 15) / 16;
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i = c * 16;
    const __mmask16 m = tail_mask(n - i);
    __m512 a, da;
    grad(_mm512_maskz_loadu_ps(m, g + i), a, da);
    const __m512 d = _mm512_maskz_loadu_ps(m, dy + i), up = _mm512_maskz_loadu_ps(m, u + i);
    _mm512_mask_storeu_ps(dg + i, m, _mm512_mul_ps(_mm512_mul_ps(d, up), da));
    _mm512_mask_storeu_ps(du + i, m, _mm512_mul_ps(d, a));
  }
}

#else
// Portable builds: the same formulas one element at a time with libm.
inline void silu_grad_ps(float g, float& a, float& da) {
  const float s = 1.0f / (1.0f + std::exp(-g));
  a = g * s;
  da = s * (1.0f + g * (1.0f - s));
}

inline void gelu_tanh_grad_ps(float g, float& a, float& da) {
  const float t = std::tanh(kBeta * (g + kKappa * (g * g * g)));
  a = 0.5f * g * (1.0f + t);
  da = 0.5f * (1.0f + t) + 0.5f * g * (1.0f - t * t) * (kBeta * (1.0f + 3 * kKappa * g * g));
}

template <class F>
void gated_grad_loop(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n, F grad) {
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float a, da;
    grad(g[i], a, da);
    const float d = dy[i], up = u[i];
    dg[i] = (d * up) * da;
    du[i] = d * a;
  }
}
#endif

void gelu_erf_grad_loop(const float* dy, const float* g, const float* u, float* dg, float* du, int64_t n) {
  const float inv_sqrt_2pi = float(0.5 * M_2_SQRTPI * M_SQRT1_2);
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float x = g[i], cdf = 0.5f * (1.0f + std::erf(x * float(M_SQRT1_2)));
    const float d = dy[i], up = u[i];
    du[i] = d * (x * cdf);
    dg[i] = (d * up) * (cdf + x * std::exp(-0.5f * x * x) * inv_sqrt_2pi);
  }
}

}  // namespace

void gated_act_backward(const Tensor& dy, const Tensor& gate, const Tensor& up, Activation act, Tensor& dgate,
                        Tensor& dup) {
  check_f32_any(dy, "gated_act_backward dy (T, F)");
  check_f32_any(gate, "gated_act_backward gate (T, F)");
  check_f32_any(up, "gated_act_backward up (T, F)");
  detail::check_same_shape(gate, up, "gated_act_backward gate vs up");
  detail::check_same_shape(dy, gate, "gated_act_backward dy vs gate");
  prepare_out(dgate, gate.shape(), "gated_act_backward dgate");
  prepare_out(dup, gate.shape(), "gated_act_backward dup");
  const float *d = dy.data<float>(), *g = gate.data<float>(), *u = up.data<float>();
  float *dg = dgate.data<float>(), *du = dup.data<float>();
  const int64_t n = gate.numel();
  switch (act) {
    case Activation::SiLU:
      gated_grad_loop(d, g, u, dg, du, n, silu_grad_ps);
      break;
    case Activation::GeluTanh:
      gated_grad_loop(d, g, u, dg, du, n, gelu_tanh_grad_ps);
      break;
    case Activation::Gelu:
      gelu_erf_grad_loop(d, g, u, dg, du, n);
      break;
  }
}

Tensor softcap_backward(const Tensor& dy, const Tensor& y, float cap) {
  check_f32_any(dy, "softcap_backward dy");
  check_f32_any(y, "softcap_backward y");
  detail::check_same_shape(dy, y, "softcap_backward dy vs y");
  SLM_CHECK(cap > 0.0f && std::isfinite(cap),
            "[tensor] softcap_backward: cap must be positive, got " + std::to_string(cap));
  Tensor dx = Tensor::empty(dy.shape());
  const float *d = dy.data<float>(), *yp = y.data<float>();
  float* o = dx.data<float>();
  const float inv = 1.0f / cap;
  const int64_t n = dy.numel();
#pragma omp parallel for simd schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    const float t = yp[i] * inv;
    o[i] = d[i] * (1.0f - t * t);
  }
  return dx;
}

namespace {

#ifdef __AVX512F__
float row_max(const float* l, int64_t V) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  for (int64_t c = 0; c < V; c += 16) {  // the tail's load is masked too: it must not read past the row
    const __mmask16 k = tail_mask(V - c);
    m = _mm512_mask_max_ps(m, k, m, _mm512_maskz_loadu_ps(k, l + c));
  }
  return _mm512_reduce_max_ps(m);
}

// Σ exp(l - mx) with f32 exponentials summed in double lanes; the exponentials go to e when non-null (e may be l).
double row_sum_exp(const float* l, float* e, int64_t V, float mx) {
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  const __m512 vmx = _mm512_set1_ps(mx);
  for (int64_t c = 0; c < V; c += 16) {
    const __mmask16 m = tail_mask(V - c);
    const __m512 x = _mm512_maskz_mov_ps(m, simd::exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, l + c), vmx)));
    if (e) _mm512_mask_storeu_ps(e + c, m, x);
    s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
  }
  return _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
}

// d *= k.
void row_scale(float* d, int64_t V, float k) {
  const __m512 vk = _mm512_set1_ps(k);
  for (int64_t c = 0; c < V; c += 16) {
    const __mmask16 m = tail_mask(V - c);
    _mm512_mask_storeu_ps(d + c, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + c), vk));
  }
}
#else
float row_max(const float* l, int64_t V) {
  float m = -INFINITY;
  for (int64_t c = 0; c < V; ++c) m = std::max(m, l[c]);
  return m;
}

double row_sum_exp(const float* l, float* e, int64_t V, float mx) {
  double s = 0.0;
  for (int64_t c = 0; c < V; ++c) {
    const float x = std::exp(l[c] - mx);
    if (e) e[c] = x;
    s += double(x);
  }
  return s;
}

void row_scale(float* d, int64_t V, float k) {
  for (int64_t c = 0; c < V; ++c) d[c] *= k;
}
#endif

}  // namespace

CrossEntropy cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* dlogits, float grad_scale) {
  detail::check_f32(logits, 2, "cross_entropy logits (T, V)");
  const int64_t T = logits.size(0), V = logits.size(1);
  SLM_CHECK(labels.defined() && labels.dtype() == DType::I32 && labels.dim() == 1 && labels.is_contiguous() &&
                labels.size(0) == T,
            "[tensor] cross_entropy: labels must be a contiguous I32 tensor of " + std::to_string(T) +
                " entries (one per row of logits)");
  const int32_t* y = labels.data<int32_t>();
  for (int64_t t = 0; t < T; ++t)
    SLM_CHECK(y[t] == -100 || (y[t] >= 0 && y[t] < V),
              "[tensor] cross_entropy: label " + std::to_string(y[t]) + " at position " + std::to_string(t) +
                  " is outside the vocabulary of " + std::to_string(V) +
                  " (use -100 to ignore a position); the tokenizer and the model do not match");
  if (dlogits && !(dlogits->defined() && dlogits->raw() == logits.raw()))
    prepare_out(*dlogits, logits.shape(), "cross_entropy dlogits");
  if (dlogits) detail::check_same_shape(*dlogits, logits, "cross_entropy dlogits vs logits");
  const float* lp = logits.data<float>();
  float* dp = dlogits ? dlogits->data<float>() : nullptr;
  std::vector<double> row_loss(static_cast<size_t>(T), 0.0);
#pragma omp parallel for schedule(static) if (T > 1 && T * V >= kParallelMin)
  for (int64_t t = 0; t < T; ++t) {
    const float* l = lp + t * V;
    float* d = dp ? dp + t * V : nullptr;
    if (y[t] == -100) {
      if (d) std::fill(d, d + V, 0.0f);
      continue;
    }
    const float mx = row_max(l, V);
    const float target = l[y[t]];  // read before d (possibly l) is written
    const double sum = row_sum_exp(l, d, V, mx);
    row_loss[size_t(t)] = double(mx) + std::log(sum) - double(target);
    if (d) {
      row_scale(d, V, float(double(grad_scale) / sum));
      d[y[t]] -= grad_scale;
    }
  }
  CrossEntropy r;
  for (int64_t t = 0; t < T; ++t) {
    r.loss_sum += row_loss[size_t(t)];
    r.count += y[t] != -100;
  }
  return r;
}

}  // namespace slm
